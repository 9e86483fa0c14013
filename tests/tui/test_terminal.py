"""``mlx-harmony`` in a real pseudo-terminal: the bytes a terminal sends, the screen a person sees, signals.

Each test starts the console script with its own data and config folders and
reads the screen through a VT100 emulator (tests/support/terminal.py).
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from mlx_harmony_tui.tui.hang_up import SAVE_WAIT_S
from tests.cli.test_chat_cli import chat_env, chat_logs
from tests.cli.test_generate_cli import _script, write_json
from tests.support.terminal import ScreenTerminal

F2 = b"\x1bOQ"  # what xterm (and tmux, GNOME Terminal, the Linux console) send for F2
CTRL_Q = b"\x11"


def app_terminal(tmp_path: Path, *args: str) -> ScreenTerminal:
    return ScreenTerminal([_script("mlx-harmony"), *args], chat_env(tmp_path), tmp_path)


def status_line(term: ScreenTerminal) -> str:
    return next((line for line in reversed(term.lines()) if "model " in line and "profile " in line), "")


def only_log(tmp_path: Path) -> dict:
    (path,) = chat_logs(tmp_path)
    data = json.loads(path.read_text(encoding="utf-8"))
    return data["chats"][data["active_chat_id"]]


def test_alt_digits_and_f2_then_a_digit_switch_profiles_and_quitting_says_how_to_resume(default_model_dir, tmp_path):
    write_json(tmp_path / "short.json", {"temperature": 0, "max_tokens": 6})
    profiles = write_json(tmp_path / "profiles.json", {"zebra": {"prompt_config": "short.json"}, "quokka": {"prompt_config": "short.json"}})
    term = app_terminal(tmp_path, "--profiles-file", str(profiles))
    try:
        term.wait_for(lambda _: " ready" in status_line(term))
        assert "profile —" in status_line(term)
        term.type(b"\x1b2")  # alt+2 as xterm and tmux send it: ESC then "2"
        term.wait_for(lambda _: "profile quokka" in status_line(term))
        assert "¡" not in term.text() and "™" not in term.text()  # nothing typed into the message box
        term.type(F2)
        term.wait_for(lambda text: "1. zebra" in text)
        term.type(b"1")  # F2 then a digit: works where the terminal keeps alt+digit for itself
        term.wait_for(lambda text: "profile zebra" in status_line(term) and "1. zebra" not in text)
        term.type(b"Say hi.\r")
        term.wait_for(lambda _: "stop ·" in term.text() or "length ·" in term.text())
        term.type(CTRL_Q)
        assert term.wait_for_exit() == 0
    finally:
        term.close()
    saved = only_log(tmp_path)
    assert saved["metadata"]["profile"] == "zebra" and [m["role"] for m in saved["messages"]] == ["user", "assistant"]
    assert term.after_alternate_screen() == [f"resume with: mlx-harmony --chat {saved['chat_id']}"]


@pytest.mark.parametrize("how", ["terminal closed", "ctrl+q"])
def test_leaving_mid_answer_saves_the_partial_answer_as_cancelled(default_model_dir, tmp_path, how):
    write_json(tmp_path / "long.json", {"temperature": 0, "max_tokens": 400})
    term = app_terminal(tmp_path, "--prompt-config", str(tmp_path / "long.json"))
    try:
        term.wait_for(lambda _: " ready" in status_line(term))
        term.type(b"Write a long story about a lighthouse keeper and a storm.\r")
        term.wait_for(lambda _: "generating" in status_line(term) and "tok/s" in status_line(term))
        if how == "ctrl+q":
            term.type(CTRL_Q)
        else:
            term.proc.send_signal(signal.SIGHUP)  # what the terminal closing does
        # It leaves once the cancelled answer is saved (well under a second here), not when the app gives up waiting
        # for that after SAVE_WAIT_S (it once did: the answer's thread could no longer tell the app it was done).
        term.wait_for_exit(timeout=SAVE_WAIT_S / 2)
    finally:
        term.close()
    answer = only_log(tmp_path)["messages"][-1]
    assert answer["role"] == "assistant" and answer["cancelled"] is True and answer["finish_reason"] == "cancelled"
    assert 0 < answer["completion_tokens"] < 400 and answer["content"].strip()


def test_an_empty_chat_leaves_no_file_and_no_resume_line(default_model_dir, tmp_path):
    term = app_terminal(tmp_path)
    try:
        term.wait_for(lambda _: " ready" in status_line(term))
        term.type(CTRL_Q)
        assert term.wait_for_exit() == 0
    finally:
        term.close()
    assert chat_logs(tmp_path) == [] and term.after_alternate_screen() == []


def test_the_slow_bundled_blas_is_announced_once_with_the_fix(tiny_gpt_oss_dir, tmp_path):
    """With MLX's reference BLAS forced, the app says so (and how to fix it) once, and the status bar names the BLAS."""
    def run(loaded) -> str:
        command = [_script("mlx-harmony"), "--model", str(tiny_gpt_oss_dir)]
        term = ScreenTerminal(command, chat_env(tmp_path) | {"MLX_HARMONY_BLAS": "none"}, tmp_path)
        try:
            shown = " ".join(term.wait_for(lambda text: loaded(" ".join(text.split()))).split())
            term.type(CTRL_Q)
            assert term.wait_for_exit() == 0
        finally:
            term.close()
        return shown

    # the notice stays up 30 s, over the right end of the status bar: wait for it and for the model
    first = run(lambda text: "Slow CPU maths" in text and "(cpu, slow bundled BLAS)" in text)
    assert "pip install -e '.[cpu]'" in first and "libopenblas0-pthread" in first
    saved = json.loads((tmp_path / "config" / "settings.json").read_text(encoding="utf-8"))
    assert saved["slow_blas_noticed"] is True
    second = run(lambda text: "(cpu, slow bundled BLAS) │ profile — │ ready" in text)
    assert "Slow CPU maths" not in second  # once is enough

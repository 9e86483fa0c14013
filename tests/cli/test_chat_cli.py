"""``mlx-harmony-chat`` run for real: piped scripts, a resumed chat, and Ctrl-C in a pseudo-terminal.

Each test starts the console script as a subprocess with its own data and
config folders, so the chat log it writes is the only one there. Sampling
is greedy and answers short: the default model decodes a few tokens a
second on a small CPU.
"""

from __future__ import annotations

import fcntl
import io
import json
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from tests.cli.test_generate_cli import _script, assert_one_error_line, write_json

FRANCE = "What is the capital of France? Answer in one sentence."
ITALY = "What is the capital of Italy? Answer in one sentence."
STORY = "Write a long story about a lighthouse keeper and a storm."


def chat_env(tmp_path: Path) -> dict[str, str]:
    env = os.environ.copy()
    env["MLX_HARMONY_DATA_DIR"] = str(tmp_path / "data")
    env["MLX_HARMONY_CONFIG_DIR"] = str(tmp_path / "config")
    return env


def chat(tmp_path: Path, *args: str, stdin: str = "", timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [_script("mlx-harmony-chat"), *args], input=stdin, capture_output=True, text=True,
        env=chat_env(tmp_path), cwd=tmp_path, timeout=timeout,
    )


def chat_logs(tmp_path: Path) -> list[Path]:
    return sorted(p for p in (tmp_path / "data" / "chats").glob("*.json") if not p.name.startswith("."))


def saved_chat(tmp_path: Path) -> dict:
    """The one chat log the run wrote, as JSON."""
    logs = chat_logs(tmp_path)
    assert len(logs) == 1, logs
    data = json.loads(logs[0].read_text(encoding="utf-8"))
    return data["chats"][data["active_chat_id"]]


def roles_and_text(chat_record: dict) -> list[tuple[str, str]]:
    return [(m["role"], m["content"]) for m in chat_record["messages"]]


# --- piped input ------------------------------------------------------------------------------


def test_piped_messages_are_answered_in_order_and_saved(default_model_dir, tmp_path):
    debug = tmp_path / "debug.txt"
    script = f"{FRANCE}\n{ITALY}\n\\save\n"
    result = chat(tmp_path, "--temperature", "0", "--max-tokens", "24", "--debug-file", str(debug), "--debug-tokens", "both", stdin=script)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stdout.splitlines()
    assert "Paris" in lines[0] and "Rome" in lines[1], result.stdout
    assert "\x1b[" not in result.stdout  # no escape codes when not a terminal

    saved = saved_chat(tmp_path)
    messages = roles_and_text(saved)
    assert [role for role, _ in messages] == ["user", "assistant", "user", "assistant"]
    assert messages[0][1] == FRANCE and messages[2][1] == ITALY
    assert messages[1][1].strip() == lines[0].strip() and messages[3][1].strip() == lines[1].strip()
    assert lines[2].startswith("saved as it goes: ") and saved["chat_id"] in lines[2]

    text = debug.read_text(encoding="utf-8")
    assert text.count("===== turn ") == 2
    second_turn = text.split("===== turn 2")[1]
    assert FRANCE in second_turn and ITALY in second_turn  # the second prompt carries the first exchange
    assert "<|im_start|>" in second_turn  # raw: the chat template's special tokens are there
    ids = re.findall(r"----- output token ids -----\n\[([\d, ]+)\]", text)
    assert len(ids) == 2 and all(ids)
    assert "----- prompt token ids -----" in text


def test_commands_check_settings_switch_profiles_and_leave_other_lines_to_the_model(default_model_dir, tmp_path):
    write_json(tmp_path / "short.json", {"temperature": 0, "max_tokens": 4})
    write_json(tmp_path / "tiny.json", {"system_model_identity": "You answer in one word.", "temperature": 0, "max_tokens": 3})
    profiles = write_json(tmp_path / "profiles.json", {"short": {"prompt_config": "short.json"}, "tiny": {"prompt_config": "tiny.json"}})
    script = textwrap.dedent(
        '''\
        \\set temperature=nan
        \\set top_p=2
        \\set colour=blue
        \\set temperature=0.25 top-p=0.9 seed=7 presence_penalty=0.5
        \\list
        /notacommand hello
        """
        first line
        second line
        """
        one \\
        two
        \\models
        \\profile nosuch
        /profile tiny
        \\show
        \\set max_context_tokens=8
        too long for the context
        \\set max_context_tokens=none
        short again
        \\quit
        never sent
        '''
    )
    result = chat(tmp_path, "--profile", "short", "--profiles-file", str(profiles), stdin=script)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert errors[0] == "error: temperature: must be a finite number (got nan)"
    assert errors[1] == "error: top_p: must be <= 1 (got 2)"
    assert errors[2].startswith("error: unknown setting 'colour'; settable: temperature, top_p,")
    assert "xtc_probability" in errors[2] and "max_context_tokens" in errors[2]
    assert errors[3].startswith("error: \\profile: no profile named 'nosuch'")
    assert errors[4].startswith("error: max_context_tokens: the prompt needs ")
    assert len(errors) == 5, result.stderr

    first_list, second_list = result.stdout.split("settings (\\set name=value):")[1:3]
    assert re.search(r"^  temperature = 0\.25$", first_list, re.M), first_list
    assert re.search(r"^  top_p = 0\.9$", first_list, re.M) and re.search(r"^  seed = 7$", first_list, re.M)
    assert re.search(r"^  max_tokens = 4$", first_list, re.M)  # from the profile's prompt config
    assert re.search(r"^  presence_penalty = 0\.5$", first_list, re.M)
    assert re.search(r"^profile\s+short$", result.stdout, re.M)
    assert re.search(r"^ \* short\b", result.stdout, re.M) and re.search(r"^   tiny\b", result.stdout, re.M)  # \models
    assert "profile tiny: same model" in result.stdout
    assert re.search(r"^profile\s+tiny$", result.stdout, re.M) and re.search(r"^  max_tokens = 3$", second_list, re.M)

    messages = saved_chat(tmp_path)["messages"]
    users = [m["content"] for m in messages if m["role"] == "user"]
    assert users == ["/notacommand hello", "first line\nsecond line", "one \ntwo", "short again"]
    assert "never sent" not in result.stdout
    # The refused message left nothing in the log; the next one continues from the answer before it.
    last = messages[-2]
    assert last["content"] == "short again" and last["parent_id"] == messages[-3]["id"] and messages[-3]["role"] == "assistant"
    assert messages[-1]["role"] == "assistant"


# --- how answers look ------------------------------------------------------------------------------


def _without_escapes(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)


@pytest.mark.parametrize("hide", [False, True])
def test_terminal_answer_is_markdown_with_reasoning_dimmed_or_folded(hide):
    from rich.console import Console

    from mlx_harmony_tui.cli.chat_view import LiveAnswer

    screen = io.StringIO()
    view = LiveAnswer(Console(file=screen, force_terminal=True, width=60, height=12, color_system="standard"), hide_analysis=hide)
    view.add("analysis", "The user wants three bees. ")
    view.add("analysis", "Keep it short.")
    for piece in ["**Bees**", " make honey.\n\n", "- one\n", "- two\n", "- three\n"]:
        view.add("final", piece)
    view.close()
    shown = _without_escapes(screen.getvalue())
    final_lines = shown[shown.rindex("Bees make honey.") :].splitlines()
    assert [line.strip() for line in final_lines[2:5]] == ["• one", "• two", "• three"]  # rendered as Markdown
    assert "**" not in shown
    if hide:
        assert "(reasoning: 8 words)" in shown and "three bees" not in shown
    else:
        assert "\x1b[2" in screen.getvalue() and "The user wants three bees. Keep it short." in shown


def test_plain_answer_streams_raw_text_and_keeps_reasoning_off_stdout(capsys):
    from mlx_harmony_tui.cli.chat_view import PlainAnswer

    view = PlainAnswer(None, hide_analysis=False)
    view.add("analysis", "thinking about bees")
    view.add("final", "**Bees** make honey.")
    view.close()
    out, err = capsys.readouterr()
    assert out == "**Bees** make honey.\n"
    assert err == "thinking about bees\n"


# --- resuming a saved chat -----------------------------------------------------------------------


def test_chat_option_resumes_a_saved_conversation(default_model_dir, tmp_path):
    saved_user, saved_answer = "My name is Ada and I keep bees.", "Nice to meet you, Ada! Bees are wonderful."
    code = textwrap.dedent(
        f"""
        from mlx_harmony_tui.logs.schema import Message
        from mlx_harmony_tui.logs.store import ChatStore
        log = ChatStore().create()
        log.append(Message(role="user", content={saved_user!r}))
        log.append(Message(role="assistant", content={saved_answer!r}), hyperparameters={{"temperature": 0.0, "top_k": 17, "max_tokens": 3}})
        print(log.chat_id)
        """
    )
    made = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=chat_env(tmp_path), timeout=60)
    assert made.returncode == 0, made.stderr
    chat_id = made.stdout.strip()
    debug = tmp_path / "debug.txt"
    result = chat(tmp_path, "--chat", chat_id[:8], "--max-tokens", "12", "--debug-file", str(debug), stdin="What is my name?\n")
    assert result.returncode == 0, result.stderr
    assert "resumed" in result.stderr and saved_answer in result.stderr  # the last turns, shown briefly
    assert result.stdout.strip()

    prompt = debug.read_text(encoding="utf-8").split("----- prompt")[1].split("----- output")[0]
    assert saved_user in prompt and saved_answer in prompt  # the model saw the saved conversation
    messages = saved_chat(tmp_path)["messages"]
    assert [m["content"] for m in messages[:3]] == [saved_user, saved_answer, "What is my name?"]
    assert messages[2]["parent_id"] == messages[1]["id"]  # the new turn continues the saved one
    assert messages[3]["role"] == "assistant" and messages[3]["content"].strip() == result.stdout.strip()
    used = messages[3]["hyperparameters"]
    assert used["top_k"] == 17 and used["max_tokens"] == 12  # the chat's sampling came back; the flag wins over it


def test_a_reopened_chat_goes_on_from_the_cache_on_disk(default_model_dir, tmp_path):
    first = chat(tmp_path, "--temperature", "0", "--max-tokens", "16", stdin="Tell me about lighthouses in detail.\n")
    assert first.returncode == 0, first.stderr
    messages = saved_chat(tmp_path)["messages"]
    chat_id = saved_chat(tmp_path)["chat_id"]
    # A new process: its memory holds no cache; the one written to disk after the first answer serves the next turn.
    second = chat(tmp_path, "--chat", chat_id, "--temperature", "0", "--max-tokens", "8", stdin="And storms?\n")
    assert second.returncode == 0, second.stderr
    answer = saved_chat(tmp_path)["messages"][-1]
    assert answer["role"] == "assistant" and len(saved_chat(tmp_path)["messages"]) == len(messages) + 2
    assert answer["cached_tokens"] >= messages[1]["prompt_tokens"] - 1  # the whole first prompt came from the file


# --- Ctrl-C in a real terminal ---------------------------------------------------------------------


class Terminal:
    """The chat on a pseudo-terminal that is its controlling terminal, so ^C raises SIGINT as typed."""

    def __init__(self, tmp_path: Path, *args: str):
        master, slave = pty.openpty()
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
        env = chat_env(tmp_path) | {"TERM": "xterm-256color"}
        self.proc = subprocess.Popen(
            [_script("mlx-harmony-chat"), *args], stdin=slave, stdout=slave, stderr=slave, env=env, cwd=tmp_path,
            start_new_session=True, preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
        )
        os.close(slave)
        self.master = master
        self.output = bytearray()

    def type(self, data: bytes) -> int:
        """Send keys; return where the output stood, for :meth:`wait_for`."""
        start = len(self.output)
        os.write(self.master, data)
        return start

    def wait_for(self, test, since: int = 0, timeout: float = 240) -> str:
        end = time.monotonic() + timeout
        while not test(self.text(since)):
            assert time.monotonic() < end, f"timed out; output so far:\n{self.text()}"
            ready, _, _ = select.select([self.master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:  # the child closed the terminal
                    chunk = b""
                assert chunk, f"the chat ended early; output:\n{self.text()}"
                self.output.extend(chunk)
        return self.text(since)

    def text(self, since: int = 0) -> str:
        return self.output[since:].decode("utf-8", errors="replace")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)
        os.close(self.master)


def test_ctrl_c_stops_only_the_streaming_answer(default_model_dir, tmp_path):
    term = Terminal(tmp_path, "--temperature", "0", "--max-tokens", "400")
    try:
        term.wait_for(lambda text: ">>> " in text)
        start = term.type(STORY.encode() + b"\r")
        term.wait_for(lambda text: len(text) > len(STORY) + 300, since=start)  # the story is streaming
        term.type(b"\x03")
        after = term.wait_for(lambda text: "[cancelled" in text and text.rstrip().endswith(">>>"), since=start)
        assert "Traceback" not in after
        start = term.type(b"\\set max_tokens=12\r" + FRANCE.encode() + b"\r")
        term.wait_for(lambda text: "Paris" in text and text.count(">>> ") >= 2, since=start)
        term.type(b"\x04")  # Ctrl-D at the prompt leaves
        assert term.proc.wait(60) == 0
    finally:
        term.close()

    story, france = saved_chat(tmp_path)["messages"][1], saved_chat(tmp_path)["messages"][3]
    assert story["role"] == "assistant" and story["cancelled"] is True and story["finish_reason"] == "cancelled"
    assert 0 < story["completion_tokens"] < 400 and story["content"].strip()
    assert "Paris" in france["content"] and not france.get("cancelled")


def test_a_narrow_terminal_shows_each_line_of_the_answer_once(default_model_dir, tmp_path):
    from tests.support.terminal import ScreenTerminal

    question = "Explain in two paragraphs why the sky is blue."
    term = ScreenTerminal([_script("mlx-harmony-chat"), "--temperature", "0", "--max-tokens", "120"], chat_env(tmp_path), tmp_path,
                          columns=30, rows=10)  # the answer outgrows the screen: its Live region scrolls
    try:
        term.wait_for(lambda text: text.rstrip().endswith(">>>"))
        term.type(question.encode() + b"\r")
        term.wait_for(lambda text: sum(row.startswith(">>>") for row in term.scrollback()) == 2 and text.rstrip().endswith(">>>"))
        term.type(b"\x04")
        assert term.wait_for_exit() == 0
    finally:
        term.close()
    rows = term.scrollback()
    start = max(i for i, row in enumerate(rows) if row.endswith("sky is blue."))  # the question, as readline wrapped it
    end = max(i for i, row in enumerate(rows) if row.startswith(">>>"))  # the next prompt
    answer = [row for row in rows[start + 1 : end] if row.strip() and not row.startswith("[stopped")]
    assert all(len(row) < 30 for row in answer), answer  # no line reaches the last column, where terminals wrap differently
    saved = saved_chat(tmp_path)["messages"][1]["content"]
    assert " ".join(answer).split() == saved.split()  # every word once, in order: no line drawn twice, none lost
    assert rows.count(answer[0]) == 1


# --- bad input ---------------------------------------------------------------------------------------


BAD_INPUT = {
    "unknown-profile": (lambda d: ["--profile", "nosuch", "--profiles-file", str(write_json(d / "p.json", {"a": {}}))], ["'nosuch'", "p.json"]),
    "damaged-prompt-config": (lambda d: ["--prompt-config", str(_broken(d / "broken.json"))], ["broken.json", "line 2"]),
    "missing-model": (lambda d: ["--model", str(d / "no-such-model")], ["no-such-model"]),
    "unknown-chat": (lambda d: ["--chat", "0123456789abcdef"], ["0123456789abcdef", "no such chat log"]),
    "bad-sampling-flag": (lambda d: ["--xtc-threshold", "0.9"], ["--xtc-threshold", "0.5"]),
    "missing-workspace": (lambda d: ["--apply-patch", "--workspace", str(d / "nowhere")], ["--workspace", "nowhere", "not a folder"]),
}


def _broken(path: Path) -> Path:
    path.write_text('{"temperature": 0,\n  "max_tokens": }\n', encoding="utf-8")
    return path


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_gives_one_error_line(case, tmp_path):
    build, expected = BAD_INPUT[case]
    result = chat(tmp_path, *build(tmp_path), stdin="hello\n", timeout=120)
    line = assert_one_error_line(result)
    assert result.returncode == 2
    for text in expected:
        assert text in line, line
    assert chat_logs(tmp_path) == []  # nothing was started, so nothing was saved


def test_help_lists_the_flags_without_importing_mlx(tmp_path):
    code = textwrap.dedent(
        """
        import contextlib, io, sys
        from mlx_harmony_tui.cli import chat
        with contextlib.redirect_stdout(io.StringIO()) as out:
            try:
                chat.main(["--help"])
            except SystemExit as exc:
                assert exc.code == 0, exc.code
        heavy = sorted(m for m in ("mlx_lm", "mlx.core", "mlx") if m in sys.modules)
        assert not heavy, heavy
        print(out.getvalue())
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=chat_env(tmp_path), timeout=60)
    assert result.returncode == 0, result.stderr
    for flag in ("--xtc-probability", "--min-tokens-to-keep", "--max-context-tokens", "--seed", "--reseed-each-turn",
                 "--no-markdown", "--debug-file", "--debug-tokens", "--chat", "--profiles-file", "--prompt-config",
                 "--python", "--browser", "--apply-patch", "--workspace", "--auto-approve-tools"):
        assert flag in result.stdout, flag


def test_tool_approval_asks_y_n_and_always_switches_to_auto(tmp_path, capsys):
    from types import SimpleNamespace

    from mlx_harmony_tui.cli.chat import LineChat
    from mlx_harmony_tui.cli.chat_debug import TurnDebug
    from mlx_harmony_tui.cli.chat_view import ChatOutput
    from mlx_harmony_tui.tools.toolbox import ApprovalRequest, ToolBox, ToolOptions

    tools = ToolBox(ToolOptions(python=True), tmp_path)
    answers = iter(["n", "y", "a"])
    line_chat = LineChat(SimpleNamespace(tools=tools), ChatOutput(False, markdown=False, hide_analysis=False), TurnDebug(False, None, None))
    line_chat._read = lambda prompt: next(answers)
    request = ApprovalRequest("python", "python", "print('hi')")
    assert [line_chat.approve(request) for _ in range(3)] == [False, True, True]
    assert tools.options.approval == "auto"  # "always": no more questions this session
    assert "print('hi')" in capsys.readouterr().out

    piped = LineChat(SimpleNamespace(tools=tools), ChatOutput(False, markdown=False, hide_analysis=False), TurnDebug(False, None, None))
    assert piped.approve(request) is False  # nobody to ask: declined, and said so
    assert "--auto-approve-tools" in capsys.readouterr().err


def test_a_new_chat_with_the_same_prompt_config_starts_from_the_earlier_ones_opening(default_model_dir, tmp_path):
    # A tag of this run: the test cache's prompt-cache files outlive a run, and must not start the first chat.
    rules = f"Run {uuid.uuid4().hex[:8]}. " + " ".join(f"Rule {i}: name the file you read and keep every answer short." for i in range(25))
    config = tmp_path / "agent.json"
    config.write_text(json.dumps({"developer_instructions": rules, "temperature": 0, "max_tokens": 6}), encoding="utf-8")
    first = chat(tmp_path, "--prompt-config", str(config), stdin="Which file holds the settings?\n")
    assert first.returncode == 0, first.stderr
    # Another process, a new chat: memory holds nothing; the first chat's cache file on disk starts it.
    second = chat(tmp_path, "--prompt-config", str(config), stdin="Where is the retry loop?\n")
    assert second.returncode == 0, second.stderr
    logs = [json.loads(path.read_text(encoding="utf-8")) for path in chat_logs(tmp_path)]
    answers = [[m for m in log["chats"][log["active_chat_id"]]["messages"] if m["role"] == "assistant"][0] for log in logs]
    cached = sorted(a["cached_tokens"] for a in answers)
    assert cached[0] < 10 and cached[1] > 300  # the instructions (25 rules) came from the first chat's cache

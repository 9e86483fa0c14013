"""``mlx-harmony --hosts 127.0.0.1,127.0.0.1`` in a real pseudo-terminal: the full-screen app restarts itself through
mlx.launch on two ring ranks; rank 0 takes the terminal, the status bar shows the ranks, an answer arrives and is saved."""

from __future__ import annotations

import json

from tests.cli.test_chat_cli import chat_env, chat_logs
from tests.cli.test_generate_cli import _script, write_json
from tests.support.ranks import consecutive_free_ports
from tests.support.terminal import ScreenTerminal

CTRL_Q = b"\x11"


def test_the_app_on_two_ranks_answers_and_shows_them(tiny_gpt_oss_dir, tmp_path):
    short = write_json(tmp_path / "short.json", {"temperature": 0, "max_tokens": 6})
    env = chat_env(tmp_path) | {"MLX_HARMONY_LAUNCH_PORT": str(consecutive_free_ports(2))}
    term = ScreenTerminal([_script("mlx-harmony"), "--hosts", "127.0.0.1,127.0.0.1", "--model", str(tiny_gpt_oss_dir),
                           "--prompt-config", str(short)], env, tmp_path)
    try:
        status = term.wait_for(lambda text: " ready" in text and "2 ranks" in text)
        assert "GB" in status.split("2 ranks", 1)[1].split("│", 1)[0]  # each rank's memory beside the count
        term.type(b"Say hi.\r")
        term.wait_for(lambda text: "length ·" in text or "stop ·" in text)
        term.type(CTRL_Q)
        assert term.wait_for_exit() == 0
    finally:
        term.close()
    (path,) = chat_logs(tmp_path)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert [m["role"] for m in data["chats"][data["active_chat_id"]]["messages"]] == ["user", "assistant"]
    assert "Node with rank" not in term.text()  # both ranks ended cleanly (the launcher warns otherwise)

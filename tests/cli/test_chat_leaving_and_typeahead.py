"""The line chat as a new user meets it (issue 28, item 9): keys typed while an answer streams, and leaving.

Real console scripts: piped, and in a pseudo-terminal read through a VT100 emulator (tests/support/terminal.py).
"""

from __future__ import annotations

from tests.cli.test_chat_cli import chat, chat_env, saved_chat
from tests.cli.test_generate_cli import _script
from tests.support.terminal import ScreenTerminal

QUESTION = "Explain in two paragraphs why the sky is blue."


def test_enter_pressed_while_an_answer_streams_draws_no_line_twice(default_model_dir, tmp_path):
    term = ScreenTerminal([_script("mlx-harmony-chat"), "--temperature", "0", "--max-tokens", "120"], chat_env(tmp_path),
                          tmp_path, columns=60, rows=20)
    try:
        term.wait_for(lambda text: text.rstrip().endswith(">>>"))
        term.type(QUESTION.encode() + b"\r")
        words = lambda text: len(text.split(QUESTION)[-1].split())  # noqa: E731
        term.wait_for(lambda text: words(text) >= 25)  # the answer streams, over more than one line
        term.type(b"\r")  # impatient Enters while it streams
        seen = words(term.text())
        term.wait_for(lambda text: words(text) > seen + 3)
        term.type(b"\r")
        term.wait_for(lambda text: sum(row.startswith(">>>") for row in term.scrollback()) >= 4)
        term.type(b"\x04")
        assert term.wait_for_exit() == 0
    finally:
        term.close()
    rows = term.scrollback()
    start = max(i for i, row in enumerate(rows) if row.endswith(QUESTION))
    end = min(i for i, row in enumerate(rows) if i > start and row.startswith(">>>"))
    answer = [row for row in rows[start + 1 : end] if not row.startswith("[stopped")]
    assert all(row.strip() for row in answer), answer  # no gap where the Enters were echoed
    chat_id = saved_chat(tmp_path)["chat_id"]
    saved = saved_chat(tmp_path)["messages"][1]["content"]
    assert " ".join(answer).split() == saved.split(), answer  # every line once: the first is not drawn again
    assert " ".join(rows[-3:]).split() == ["resume", "with:", "mlx-harmony-chat", "--chat", chat_id]  # as the screen wraps it


def test_leaving_names_the_command_that_resumes_the_chat(default_model_dir, tmp_path):
    result = chat(tmp_path, "--temperature", "0", "--max-tokens", "3", stdin="Hi\n")
    assert result.returncode == 0, result.stderr
    chat_id = saved_chat(tmp_path)["chat_id"]
    assert result.stderr.splitlines()[-1] == f"resume with: mlx-harmony-chat --chat {chat_id}"
    assert "resume with" not in result.stdout  # a script reading the answers reads only the answers

    again = chat(tmp_path, "--chat", chat_id, "--temperature", "0", "--max-tokens", "3", stdin="And again\n")
    assert again.returncode == 0, again.stderr
    assert again.stderr.splitlines()[-1] == f"resume with: mlx-harmony-chat --chat {chat_id}"
    assert len(saved_chat(tmp_path)["messages"]) == 4  # the command it printed went on with the same chat

    (tmp_path / "empty").mkdir()
    nothing = chat(tmp_path / "empty", stdin="")  # nothing was said: nothing to resume
    assert nothing.returncode == 0 and "resume with" not in nothing.stderr

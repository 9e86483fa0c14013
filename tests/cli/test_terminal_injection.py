"""Control sequences in what a model, a tool or a saved chat says never reach the terminal from a line-mode CLI.

The model (the tiny GPT-OSS, its output scripted through the real generation loop) writes OSC 52 (the clipboard),
OSC 0 (the window title), a C1 CSI and a bell into its reasoning and its answer, and calls python with code that
prints them; what the line chat, ``mlx-harmony-generate`` and ``mlx-harmony logs`` print holds none of them.
"""

from __future__ import annotations

import re

import pytest

from mlx_harmony_tui.chat.session import ChatSession
from mlx_harmony_tui.cli import generate
from mlx_harmony_tui.cli.chat import LineChat
from mlx_harmony_tui.cli.chat_debug import TurnDebug
from mlx_harmony_tui.cli.chat_view import ChatOutput
from mlx_harmony_tui.cli.main import main
from mlx_harmony_tui.config.resolve import resolve_run_settings
from mlx_harmony_tui.engine.token_generator import TokenGenerator
from mlx_harmony_tui.logs.schema import ChatMetadata, Message
from mlx_harmony_tui.logs.store import ChatStore
from mlx_harmony_tui.tools.toolbox import ToolBox, ToolOptions
from tests.support.engine import ScriptedSteps

CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # anything but tab and newline
CLIPBOARD, TITLE = "\x1b]52;c;cHduZWQ=\x07", "\x1b]0;pwned-title\x07"
# The code is plain text with escapes in its strings (its output holds the real bytes) and a raw sequence in a comment.
CODE = f'print("\\x1b]52;c;cHduZWQ=\\x07\\x1b]0;pwned-title\\x07" + "printed")  # {TITLE}'
CALL = f"<|channel|>analysis to=python<|message|>{CODE}<|call|>"
ANSWER = (f"<|channel|>analysis<|message|>Thinking {TITLE}hard.<|end|>"
          f"<|start|>assistant<|channel|>final<|message|>Here {CLIPBOARD}it\x9b is.\x07<|return|>")


def assert_inert(text: str) -> None:
    found = CONTROL.search(text)
    assert found is None, f"a control character reached the terminal: {text[max(found.start() - 30, 0):found.end() + 30]!r}"


@pytest.mark.parametrize("markdown", [False, True], ids=["piped", "terminal"])
def test_line_chat_prints_model_and_tool_text_without_control_sequences(markdown, tiny_gpt_oss_dir, enc, tmp_path, capsys):
    tools = ToolBox(ToolOptions(python=True), tmp_path / "python")
    session = ChatSession(resolve_run_settings(model=str(tiny_gpt_oss_dir)), tools=tools)
    try:
        chat = LineChat(session, ChatOutput(markdown, markdown=markdown, hide_analysis=False), TurnDebug())
        tools.approve = chat.approve
        chat._read = lambda prompt: "y"  # the user approves the call
        ScriptedSteps(session.generator, [enc.encode(s, allowed_special="all") for s in (CALL, ANSWER)])
        chat.ask("Show me something.")
        out, err = capsys.readouterr()
    finally:
        session.close()
    tool = session.history[2]
    assert tool["role"] == "tool" and CLIPBOARD + TITLE + "printed" in tool["content"]  # the sandbox really printed it
    assert_inert(out)
    assert_inert(err)
    shown = out + err
    assert "Here it is." in shown and "Thinking hard." in shown  # the text around the sequences stays
    assert "printed" in shown and 'print("\\x1b]52;c;' in shown  # the tool's output and the code asked about


def test_generate_prints_the_answer_and_reasoning_without_control_sequences(tiny_gpt_oss_dir, enc, monkeypatch, capsys):
    class Scripted(TokenGenerator):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            ScriptedSteps(self, [enc.encode(ANSWER, allowed_special="all")])

    monkeypatch.setattr(generate, "TokenGenerator", Scripted)  # the real generator, its output steered to ANSWER
    assert generate.main(["--model", str(tiny_gpt_oss_dir), "--prompt", "Hi", "--show-analysis"]) == 0
    out, err = capsys.readouterr()
    assert_inert(out)
    assert_inert(err)
    assert out.strip() == "Here it is." and "Thinking hard." in err


def test_logs_list_and_export_print_a_saved_chat_without_control_sequences(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MLX_HARMONY_DATA_DIR", str(tmp_path))
    store = ChatStore()
    log = store.create(ChatMetadata())
    log.append(Message(role="user", content=f"Hello{TITLE} there"))
    log.append(Message(role="assistant", content=f"Answer {CLIPBOARD}here\x9b.", analysis=f"Why{TITLE}"))
    assert main(["logs", "list"]) == 0
    assert main(["logs", "export", log.chat_id]) == 0
    assert main(["logs", "export", log.chat_id, "--format", "json"]) == 0
    out, err = capsys.readouterr()
    assert_inert(out + err)
    assert "Hello there" in out and "Answer here." in out

"""Line-mode chat with tools on a real model: the call is shown, asked about, run, and the answer follows."""

from __future__ import annotations

from mlx_harmony_tui.chat.session import ChatSession
from mlx_harmony_tui.cli.chat import LineChat
from mlx_harmony_tui.cli.chat_debug import TurnDebug
from mlx_harmony_tui.cli.chat_view import ChatOutput
from mlx_harmony_tui.config.resolve import resolve_run_settings
from mlx_harmony_tui.tools.toolbox import ToolBox, ToolOptions
from tests.support.engine import ScriptedSteps

CALL = "<|channel|>analysis to=python<|message|>print(6 * 7)<|call|>"


def test_python_call_is_asked_about_run_and_answered(tiny_gpt_oss_dir, enc, tmp_path, capsys):
    tools = ToolBox(ToolOptions(python=True), tmp_path / "python")
    session = ChatSession(resolve_run_settings(model=str(tiny_gpt_oss_dir)), tools=tools)
    try:
        chat = LineChat(session, ChatOutput(False, markdown=False, hide_analysis=False), TurnDebug())
        tools.approve = chat.approve
        answers = iter(["y", "n"])
        chat._read = lambda prompt: next(answers)  # what the user types at the approval question
        steps = [CALL, "<|channel|>final<|message|>It is 42.<|return|>", CALL, "<|channel|>final<|message|>Skipped.<|return|>"]
        ScriptedSteps(session.generator, [enc.encode(s, allowed_special="all") for s in steps])

        chat.ask("What is 6 times 7?")
        out, err = capsys.readouterr()
        assert "print(6 * 7)" in out and "It is 42." in out  # the code shown for approval, then the answer
        assert "[python: done in" in err and "42" in err
        assert [m["role"] for m in session.history] == ["user", "assistant", "tool", "assistant"]

        chat.ask("Again?")
        out, err = capsys.readouterr()
        assert "[python: declined" in err and "Skipped." in out
    finally:
        session.close()

"""Tool calls in the app: the approval screen, the call running for real, its result in the tools pane."""

from __future__ import annotations

from mlx_harmony_tui.config.settings import AppSettings
from mlx_harmony_tui.tools.toolbox import ToolOptions
from mlx_harmony_tui.tui.app import HarmonyApp, StartOptions
from mlx_harmony_tui.tui.widgets import AssistantTurn, ToolCallsPane
from tests.support.engine import ScriptedSteps

from .test_app import SIZE, approval_shown, ready, run_async, send, wait_for

CALL = "<|channel|>analysis to=python<|message|>print(6 * 7)<|call|>"


@run_async
async def test_python_call_is_approved_runs_and_the_answer_follows(tiny_gpt_oss_dir, enc, tmp_path):
    app = HarmonyApp(StartOptions(model=str(tiny_gpt_oss_dir), tools=ToolOptions(python=True, workspace=tmp_path)), AppSettings())
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        scripts = [CALL, "<|channel|>final<|message|>It is 42.<|return|>", CALL, "<|channel|>final<|message|>No code then.<|return|>"]
        ScriptedSteps(app.session.generator, [enc.encode(s, allowed_special="all") for s in scripts])

        await send(pilot, app, "What is 6 times 7?")
        await approval_shown(pilot, app)
        assert "print(6 * 7)" in app.screen.request.preview
        await pilot.press("y")
        await wait_for(pilot, lambda: not app.busy)
        views = list(app.query_one(ToolCallsPane).query("ToolCallView"))
        assert len(views) == 1 and views[0].status == "done" and "42" in str(views[0].output.render())
        assert [t.answer_text for t in app.query(AssistantTurn)][-1] == "It is 42."
        assert [m["role"] for m in app.session.history] == ["user", "assistant", "tool", "assistant"]

        await send(pilot, app, "And again?")
        await approval_shown(pilot, app)
        await pilot.press("n")
        await wait_for(pilot, lambda: not app.busy)
        views = list(app.query_one(ToolCallsPane).query("ToolCallView"))
        assert views[-1].status == "declined"
        assert app.session.history[-2]["role"] == "tool" and "declined" in app.session.history[-2]["content"]
        assert [t.answer_text for t in app.query(AssistantTurn)][-1] == "No code then."

"""An MCP server's tool called by the model in the app: the approval window, the tools pane, the log and its replay."""

from __future__ import annotations

from mlx_harmony_tui.config.settings import AppSettings
from mlx_harmony_tui.logs.branches import path_to
from mlx_harmony_tui.tools.toolbox import ToolOptions
from mlx_harmony_tui.tui.app import HarmonyApp, StartOptions
from mlx_harmony_tui.tui.screens.approval import ToolApproval
from mlx_harmony_tui.tui.screens.replay import ReplayScreen
from mlx_harmony_tui.tui.widgets import AssistantTurn, ToolCallsPane
from tests.support.engine import ScriptedSteps
from tests.support.mcp_servers import stdio_server

from .test_app import SIZE, approval_shown, ready, run_async, send, wait_for

CALL = '<|channel|>commentary to=functions.notes__add <|constrain|>json<|message|>{{"a": {a}, "b": {b}}}<|call|>'
FINAL = "<|channel|>final<|message|>{}<|return|>"


def _calls(pane: ToolCallsPane) -> list:
    return list(pane.query("ToolCallView"))


@run_async
async def test_mcp_call_is_approved_per_server_shown_saved_and_replayed(tiny_gpt_oss_dir, enc, tmp_path):
    tools = ToolOptions(workspace=tmp_path, mcp_servers={"notes": stdio_server()})
    app = HarmonyApp(StartOptions(model=str(tiny_gpt_oss_dir), tools=tools), AppSettings())
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        steps = [CALL.format(a=2, b=40), FINAL.format("It is 42."), CALL.format(a=1, b=1), FINAL.format("Two.")]
        scripted = ScriptedSteps(app.session.generator, [enc.encode(s, allowed_special="all") for s in steps])

        await send(pilot, app, "What is 2 + 40?")
        await approval_shown(pilot, app)
        request = app.screen.request
        assert request.server == "notes" and '"b": 40' in request.preview
        assert "Always allow notes's tools" in str(app.screen.query_one("#always").label)
        await pilot.press("a")  # always allow this server's tools
        await wait_for(pilot, lambda: not app.busy)
        views = _calls(app.query_one(ToolCallsPane))
        assert [(v.recipient, v.status) for v in views] == [("functions.notes__add", "done")]
        assert str(views[0].output.render()) == "42"
        assert [t.answer_text for t in app.query(AssistantTurn)][-1] == "It is 42."
        assert "notes__add" in enc.decode(scripted.prompts[0])  # declared to the model in its functions namespace

        await send(pilot, app, "And 1 + 1?")  # the server is allowed now: no window
        await wait_for(pilot, lambda: not app.busy)
        assert not isinstance(app.screen, ToolApproval)
        assert [v.status for v in _calls(app.query_one(ToolCallsPane))] == ["done", "done"]

        chat = app.session.log.read()
        saved = [m for m in path_to(chat, None) if m.role == "tool"]
        assert [(m.name, m.content, m.finish_reason) for m in saved] == [("functions.notes__add", "42", "done"),
                                                                         ("functions.notes__add", "2", "done")]

        screen = ReplayScreen("replay", path_to(chat, None))
        await app.push_screen(screen)
        await pilot.press("i")  # instant
        await wait_for(pilot, lambda: screen.finished)
        replayed = _calls(screen.query_one(ToolCallsPane))
        assert [(v.recipient, str(v.output.render())) for v in replayed] == [("functions.notes__add", "42"),
                                                                             ("functions.notes__add", "2")]

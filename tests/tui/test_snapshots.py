"""Snapshot tests of the app's screens (pytest-textual-snapshot).

The model side is left out here (the Pilot tests in test_app.py run it for
real): these pin down what each screen looks like, with fixed content, so a
layout change shows up as a diff. Update with ``pytest --snapshot-update``.
"""

from __future__ import annotations

from mlx_harmony_tui.config.settings import AppSettings
from mlx_harmony_tui.tui.app import HarmonyApp, StartOptions
from mlx_harmony_tui.tui.widgets import AssistantTurn, ChatInput, StatusBar, ToolCallsPane, UserTurn

ANALYSIS = "The user asks for the capital of France. That is Paris; answer briefly."
ANSWER = "The capital of France is **Paris**.\n\n```python\nprint('Paris')\n```"


class StillApp(HarmonyApp):
    """The app with a fixed status and no model behind it."""

    def start_session(self) -> None:
        for widget in self.query("ChatInput, Input"):
            widget.cursor_blink = False  # a blinking cursor would make every snapshot a coin toss
        status = self.query_one(StatusBar)
        status.model, status.profile, status.state = "tiny-gpt-oss", "default", "ready"
        status.ttft, status.speed, status.context, status.memory = "0.21 s", "31.0 tok/s", "412/131072", "0.42 GB"


def still_app() -> StillApp:
    return StillApp(StartOptions(), AppSettings(theme="harmony-dark"))


async def harmony_turn(pilot) -> None:
    app = pilot.app
    conversation = app.query_one("#conversation")
    await conversation.mount(UserTurn("What is the capital of France?"))
    turn = AssistantTurn()
    await conversation.mount(turn)
    await turn.add_reasoning(ANALYSIS)
    await turn.add_answer(ANSWER)
    await turn.finish("stop · 42 tokens · TTFT 0.21 s · 31.0 tok/s")
    view = await app.query_one(ToolCallsPane).add_call("browser.search", '{"query": "capital of France"}', "analysis")
    view.status = "done"
    view.title = "browser.search · done · 0.84 s"
    view.output.update("【0†Paris - Wikipedia】 Paris is the capital and largest city of France.")
    await pilot.pause()


def test_empty_chat(snap_compare):
    assert snap_compare(still_app(), terminal_size=(120, 36))


def test_harmony_turn_with_reasoning_collapsed(snap_compare):
    assert snap_compare(still_app(), terminal_size=(120, 36), run_before=harmony_turn)


def test_harmony_turn_with_reasoning_expanded(snap_compare):
    async def expand(pilot):
        await harmony_turn(pilot)
        await pilot.press("f3")

    assert snap_compare(still_app(), terminal_size=(120, 36), run_before=expand)


def test_sliders_focused(snap_compare):
    async def focus(pilot):
        pilot.app.query_one("#slider-temperature").focus()
        await pilot.press("right", "right", "shift+right")

    assert snap_compare(still_app(), terminal_size=(120, 36), run_before=focus)


def test_command_palette_lists_profiles(snap_compare):
    async def search(pilot):
        from textual.command import CommandList

        await pilot.press("ctrl+p", *"Profile:")
        for _ in range(200):  # the palette searches in the background; wait for all four profiles
            lists = pilot.app.screen.query(CommandList)
            if lists and lists.first().option_count == 4:
                break
            await pilot.pause(0.05)
        await pilot.pause(0.3)

    assert snap_compare(still_app(), terminal_size=(120, 36), run_before=search)


def test_help_lists_every_binding(snap_compare):
    assert snap_compare(still_app(), terminal_size=(120, 40), press=["f1"])


def test_error_notification(snap_compare):
    async def fail(pilot):
        pilot.app.notify("prompt.json: temperature: must be <= 2 (got 3.5)", severity="error", timeout=60)
        await pilot.pause()

    assert snap_compare(still_app(), terminal_size=(120, 36), run_before=fail)


def test_narrow_terminal(snap_compare):
    async def type_something(pilot):
        await harmony_turn(pilot)
        pilot.app.query_one(ChatInput).text = "A follow-up question"

    assert snap_compare(still_app(), terminal_size=(80, 24), run_before=type_something)

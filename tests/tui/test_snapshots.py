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
        status.device = "cpu, Intel MKL"


def still_app() -> StillApp:
    return StillApp(StartOptions(), AppSettings(theme="harmony-dark"))


async def harmony_turn(pilot) -> None:
    app = pilot.app
    conversation = app.query_one("#conversation")
    turn = AssistantTurn()
    await conversation.add(UserTurn("What is the capital of France?"), turn)
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


def test_help_ends_with_the_folders_the_app_uses(snap_compare, monkeypatch):
    for name, folder in [("CONFIG", "/home/you/.config/mlx-harmony"), ("DATA", "/home/you/.local/share/mlx-harmony"),
                         ("CACHE", "/home/you/.cache/mlx-harmony"), ("EXPORT", "/home/you/Documents/mlx-harmony")]:
        monkeypatch.setenv(f"MLX_HARMONY_{name}_DIR", folder)  # the same on every machine

    async def scroll_to_the_end(pilot):
        await pilot.press("f1")
        await pilot.pause()
        pilot.app.screen.query_one("#help VerticalScroll").scroll_end(animate=False)
        await pilot.pause()

    assert snap_compare(still_app(), terminal_size=(120, 40), run_before=scroll_to_the_end)


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


def _fixed_logs(root):
    """Three chats and a damaged file with fixed times, so the browser looks the same every run."""
    from mlx_harmony_tui.logs.schema import ChatMetadata, Message, Timestamp
    from mlx_harmony_tui.logs.store import ChatStore

    store = ChatStore(root)
    for day, (title, model, question, answer) in enumerate([
        ("Tomato growing", "/models/SmolLM2-135M-Instruct", "How do I grow tomatoes?", "Full sun, deep watering, and support."),
        ("Quasars", "/models/gpt-oss-20b", "What is a quasar?", "An active galactic nucleus, very bright."),
        ("Packing list", "/models/SmolLM2-135M-Instruct", "What should I pack for a hike?", "Water, layers, map, snacks."),
    ]):
        at = Timestamp(unix=1_790_000_000 + day * 86_400, iso="")
        at.iso = f"2026-09-{21 + day:02d}T13:46:40Z"
        log = store.create(ChatMetadata(model_path=model, last_model_path=model, created_at=at, updated_at=at))
        log.append(Message(role="user", content=question, timestamp=at))
        log.append(Message(role="assistant", content=answer, timestamp=at))
        log.rename(title)
    (root / "damaged.json").write_text('{"schema_version": 2, "chats": {', encoding="utf-8")
    return store


def test_log_browser_with_a_damaged_entry(snap_compare, tmp_path):
    from mlx_harmony_tui.tui.screens.log_browser import LogBrowser

    store = _fixed_logs(tmp_path)

    async def browse(pilot):
        browser = LogBrowser(store)
        await pilot.app.push_screen(browser)
        for _ in range(200):
            if browser.listed_s is not None:
                break
            await pilot.pause(0.05)
        browser.query_one("#browser-filter").cursor_blink = False
        await pilot.pause(0.5)  # the preview of the highlighted chat

    assert snap_compare(still_app(), terminal_size=(130, 30), run_before=browse)


def test_replay_paused_mid_chat(snap_compare):
    from mlx_harmony_tui.logs.schema import Message, ToolCallRecord
    from mlx_harmony_tui.tui.screens.replay import ReplayScreen

    messages = [
        Message(role="user", content="What is the weather in Paris?"),
        Message(role="assistant", content="", analysis="I should look it up.",
                tool_calls=[ToolCallRecord(recipient="browser.search", arguments='{"query": "Paris weather"}')],
                chunks=[[0.1, "I should look it up.", "analysis"]]),
        Message(role="tool", name="browser.search", content="[0] Paris weather: 18 °C, light rain"),
        Message(role="assistant", content="It is **18 °C** with light rain.", chunks=[[0.2, "It is **18 °C** with light rain.", "final"]]),
        Message(role="user", content="Do I need an umbrella?"),
        Message(role="assistant", content="Yes, take one."),
    ]

    async def replay(pilot):
        screen = ReplayScreen("Weather", messages)
        await pilot.app.push_screen(screen)
        await pilot.press("space")  # pause at once, then step through the first four messages
        for _ in range(4):
            await pilot.press("n")
            for _ in range(200):
                if not screen._steps:
                    break
                await pilot.pause(0.02)
        await pilot.pause(0.3)

    assert snap_compare(still_app(), terminal_size=(120, 30), run_before=replay)


def test_rerun_side_by_side(snap_compare, default_model_dir):
    from mlx_harmony_tui.logs.schema import Message
    from mlx_harmony_tui.logs.store import ChatStore
    from mlx_harmony_tui.tui.screens.rerun import RerunScreen

    log = ChatStore().create()
    log.append(Message(role="user", content="What is the capital of France? Answer in one sentence."))
    log.append(Message(role="assistant", content="The capital of France is Lyon."))

    async def rerun(pilot):
        app = pilot.app
        for _ in range(2400):
            if app.session is not None:
                break
            await pilot.pause(0.05)
        app.session.update_sampling(temperature=0.0, max_tokens=12)
        screen = RerunScreen(app.session, log)
        await app.push_screen(screen)
        for _ in range(4000):
            if not screen.running:
                break
            await pilot.pause(0.05)
        for turn in screen.new_answers:
            turn.footer.update("stop · timings left out of the snapshot")
        await pilot.pause(0.3)

    app = HarmonyApp(StartOptions(), AppSettings(theme="harmony-dark"))
    assert snap_compare(app, terminal_size=(120, 30), run_before=rerun)

"""What a new user meets in the first ten minutes (issue 17), driven through Textual's Pilot.

Focus and keys, damaged config files, resumed branches, empty chats, export,
the status bar, streamed code, the empty screen, help, sliders and copying.
The tests that need the model use the real default model.
"""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

import pytest
from rich.console import Console

from mlx_harmony_tui.chat.startup import load_app_settings
from mlx_harmony_tui.config.settings import AppSettings
from mlx_harmony_tui.logs.schema import Message
from mlx_harmony_tui.logs.store import ChatStore, read_chat_file
from mlx_harmony_tui.tui.app import HarmonyApp, StartOptions
from mlx_harmony_tui.tui.screens.help import HelpScreen
from mlx_harmony_tui.tui.widgets import AssistantTurn, ChatInput, Slider, SliderSpec, StatusBar, UserTurn
from tests.tui.test_app import SIZE, last_turn, ready, run_async, send, wait_for
from tests.tui.test_snapshots import StillApp


def notes(app) -> list[str]:
    return [n.message for n in app._notifications]


def plain(renderable, width: int = 80) -> str:
    console = Console(width=width, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


# --- focus -------------------------------------------------------------------------------------


@run_async
async def test_tab_visits_the_sliders_once_arrows_move_inside_typing_goes_to_the_box_and_esc_comes_back():
    app = StillApp(StartOptions(), AppSettings())
    async with app.run_test(size=SIZE) as pilot:
        box = app.query_one(ChatInput)
        assert app.focused is box
        stops = []
        for _ in range(12):
            await pilot.press("tab")
            stops.append(app.focused)
            if app.focused is box:
                break
        assert stops[-1] is box, [type(w).__name__ for w in stops]  # the cycle comes back to the box
        sliders = [w for w in stops if isinstance(w, Slider)]
        assert len(sliders) == 1 and len(stops) <= 5, [type(w).__name__ for w in stops]  # the ten sliders are one stop

        slider = sliders[0]
        slider.focus()
        await pilot.press("down")
        below = app.focused
        assert isinstance(below, Slider) and below is not slider  # arrows move between sliders
        before = below.value
        await pilot.press("left")
        assert below.value < before  # and left/right still move the value
        await pilot.press("shift+tab")
        assert not isinstance(app.focused, Slider)  # shift+tab leaves the sliders too

        below.focus()
        await pilot.pause()
        await pilot.press("h", "i")  # typed while a slider has focus: meant for the message box
        assert app.focused is box and box.text == "hi"

        await app.query_one("#conversation").add(UserTurn("An earlier question"))
        app.query_one(UserTurn).focus()
        await pilot.pause()
        await pilot.press("escape")  # Esc always brings focus back to the message box
        assert app.focused is box


@run_async
async def test_the_focused_message_is_marked_in_both_themes():
    app = StillApp(StartOptions(), AppSettings())
    async with app.run_test(size=SIZE) as pilot:
        conversation = app.query_one("#conversation")
        await conversation.add(UserTurn("first"), UserTurn("second"))
        focused, other = app.query(UserTurn)
        for theme in ("harmony-dark", "harmony-paper"):
            app.theme = theme
            focused.focus()
            await pilot.pause()
            assert focused.has_focus
            mark, plain_turn = focused.styles, other.styles
            assert mark.background != plain_turn.background, theme
            assert mark.border_left[1] != plain_turn.border_left[1], theme
            screen_bg = app.screen.styles.background
            distance = sum(abs(a - b) for a, b in zip(mark.background.rgb, screen_bg.rgb))
            assert distance > 40, (theme, mark.background, screen_bg)  # a tint one can see, not a rounding


# --- damaged config files --------------------------------------------------------------------------


@run_async
async def test_damaged_settings_and_profiles_files_are_announced_with_line_and_column_and_kept(tmp_path, monkeypatch):
    config = tmp_path / "config"
    config.mkdir()
    monkeypatch.setenv("MLX_HARMONY_CONFIG_DIR", str(config))
    damaged_settings = b'{\n  "theme": "harmony-paper"\n  "keymap": {}\n}\n'  # a comma missing
    (config / "settings.json").write_bytes(damaged_settings)
    (config / "profiles.json").write_text('{"fast": {"model": "x"}\n  "slow": {}}\n', encoding="utf-8")
    settings, startup_notes = load_app_settings()
    app = StillApp(StartOptions(), settings, startup_notes)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        said = notes(app)
        settings_note = next(n for n in said if "settings.json" in n)
        profiles_note = next(n for n in said if "profiles.json" in n)
        assert str(config / "settings.json") in settings_note and "line 3, column 3" in settings_note
        assert str(config / "profiles.json") in profiles_note and "line 2, column 3" in profiles_note
        app.theme = "harmony-paper"  # a change that would save the settings
        await pilot.pause()
        assert any("settings not saved" in n for n in notes(app))
    assert (config / "settings.json").read_bytes() == damaged_settings  # never overwritten


# --- resuming, branches --------------------------------------------------------------------------


def _two_versions() -> tuple:
    """A saved chat whose first question has two versions, the second one newest."""
    log = ChatStore().create()
    log.append(Message(role="user", content="Name a fruit."))
    first_answer = log.append(Message(role="assistant", content="An apple."))
    log.append(Message(role="user", content="Name a vegetable.", parent_id=None))
    log.append(Message(role="assistant", content="A carrot."))
    return log, first_answer


@run_async
async def test_resuming_with_chat_keeps_versions_switching_and_the_branch_that_was_shown(default_model_dir):
    log, first_answer = _two_versions()
    app = HarmonyApp(StartOptions(chat=log.chat_id), AppSettings())
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await wait_for(pilot, lambda: app.query(UserTurn) and app.query_one(UserTurn).versions == (2, 2))
        assert "version 2 of 2" in str(app.query_one(UserTurn).render())
        app.query_one(UserTurn).focus()
        await pilot.pause()
        await pilot.press("left")  # the other version, with what followed it
        await wait_for(pilot, lambda: [t.text for t in app.query(UserTurn)] == ["Name a fruit."] and app.query_one(UserTurn).versions == (1, 2))
        assert last_turn(app).answer_text == "An apple."
    assert read_chat_file(log.path)[0].active().metadata.shown_branch == first_answer.id

    app = HarmonyApp(StartOptions(chat=log.chat_id), AppSettings())  # closed and opened again: the same branch
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await wait_for(pilot, lambda: app.query(UserTurn) and app.query_one(UserTurn).versions == (1, 2))
        assert [t.text for t in app.query(UserTurn)] == ["Name a fruit."] and last_turn(app).answer_text == "An apple."
        assert [m["content"] for m in app.session.history] == ["Name a fruit.", "An apple."]


# --- empty chats, export, the status bar ---------------------------------------------------------------


@run_async
async def test_an_empty_chat_is_not_saved_export_says_where_and_a_new_chat_clears_the_figures(default_model_dir, tmp_path):
    exports = tmp_path / "my exports"
    app = HarmonyApp(StartOptions(), AppSettings(export_dir=str(exports)))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        log = app.session.log
        assert not log.path.exists()  # nothing said yet: no file
        app.action_export()
        await pilot.pause()
        assert any("Nothing to export yet" in n for n in notes(app)), notes(app)
        app.session.update_sampling(temperature=0.0, max_tokens=4)
        await send(pilot, app, "Hi.")
        await wait_for(pilot, lambda: not app.busy and last_turn(app).finished)
        assert log.path.exists()
        status = app.query_one(StatusBar)
        assert status.ttft and status.speed and status.context and status.memory
        app.action_export()
        await pilot.pause()
        exported = exports / f"chat-{log.chat_id[:8]}.md"
        assert exported.is_file() and f"Exported to {exported}" in notes(app)  # the full path, in the configured folder
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: app.session.log is not log and app.query_one(StatusBar).state == "ready")
        assert (status.ttft, status.speed, status.context, status.memory) == ("", "", "", "")
        assert not app.session.log.path.exists()
    assert sorted(p.name for p in log.path.parent.iterdir() if p.name.startswith(".") and p.name != ".index.json") == []  # no lock files left


def test_export_goes_to_documents_unless_settings_say_otherwise(tmp_path, monkeypatch):
    import platformdirs

    from mlx_harmony_tui.config.settings import export_folder

    monkeypatch.delenv("MLX_HARMONY_EXPORT_DIR")
    assert export_folder(AppSettings()) == platformdirs.user_documents_path() / "mlx-harmony"
    assert export_folder(AppSettings(export_dir="~/chats")) == Path.home() / "chats"


# --- streamed code, the empty screen, help, sliders -------------------------------------------------------


@run_async
async def test_an_open_code_fence_streams_as_code_not_backticks():
    app = StillApp(StartOptions(), AppSettings())
    async with app.run_test(size=SIZE) as pilot:
        turn = AssistantTurn()
        await app.query_one("#conversation").add(turn)
        await turn.add_answer("Here it is.\n\n```python\ndef area(r):\n    return 3.14 * r * r\n")
        await pilot.pause()
        shown = plain(turn.tail.content)
        assert "```" not in shown and "def area(r):" in shown and "    return 3.14 * r * r" in shown
        await turn.add_answer("```\n\nDone.")
        await turn.finish("stop")
        assert "```" not in plain(turn.tail.content) and turn.answer_text.endswith("Done.")


@run_async
async def test_the_empty_screen_says_how_to_start_and_help_shows_the_real_folders():
    from mlx_harmony_tui.config.settings import settings_path
    from mlx_harmony_tui.paths import cache_dir, data_dir, export_dir

    app = StillApp(StartOptions(), AppSettings())
    async with app.run_test(size=SIZE) as pilot:
        box = app.query_one(ChatInput)
        assert "Enter" in str(box.placeholder)
        hint = str(app.query_one("#empty-hint").render())
        assert "Enter" in hint and "F1" in hint and "ctrl+p" in hint
        await app.query_one("#conversation").add(UserTurn("a question"))
        assert not app.query("#empty-hint")  # gone once there is something to read
        await pilot.press("f1")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen) and bool(app.screen.query("#help-folders")))
        folders = plain(app.screen.query_one("#help-folders").content, width=200)
        for path in (settings_path(), data_dir() / "chats", cache_dir(), export_dir()):
            assert str(path) in folders, (path, folders)
        rows = plain(app.screen.query_one("#help-keys").content, width=200)
        assert "f2, then 1..9" in rows and "alt+1" in rows


@pytest.mark.parametrize("width", [26, 44, 70])
def test_slider_labels_and_values_are_cut_with_an_ellipsis_and_never_touch_the_bar(width):
    async def body():
        app = StillApp(StartOptions(), AppSettings())
        async with app.run_test(size=(width + 10, 10)) as pilot:
            long = SliderSpec("max_tokens", "a very long label", 16, 100_000_000, 16, 256, integer=True)
            slider = Slider(long, 12_345_678)
            slider.styles.width = width
            await app.screen.mount(slider)
            await pilot.pause()
            text = slider.render().plain
            bar = [i for i, c in enumerate(text) if c in "━─"]
            assert text[bar[0] - 1] == " " and text[bar[-1] + 1] == " ", text  # a space each side of the bar
            assert "…" in text[: bar[0]] and text.rstrip().endswith("…"), text  # name and value cut, visibly
            assert len(text) == width

    asyncio.run(body())


# --- copying -------------------------------------------------------------------------------------------


@run_async
async def test_copy_says_whether_a_clipboard_got_it(tmp_path, monkeypatch):
    tools = tmp_path / "bin"
    tools.mkdir()
    app = StillApp(StartOptions(), AppSettings())
    async with app.run_test(size=SIZE) as pilot:
        turn = AssistantTurn.done("The answer.")
        await app.query_one("#conversation").add(turn)
        monkeypatch.setenv("PATH", str(tools))  # no clipboard tool at all
        await pilot.press("ctrl+y")
        assert any("OSC 52" in n and "may ignore" in n for n in notes(app))

        copied = tmp_path / "copied.txt"
        xclip = tools / "xclip"  # a clipboard tool that takes the text (the real xclip needs an X display)
        xclip.write_text(f"#!/bin/sh\nexec /bin/cat > '{copied}'\n", encoding="utf-8")
        xclip.chmod(xclip.stat().st_mode | stat.S_IXUSR)
        await pilot.press("ctrl+y")
        assert "Copied 11 characters with xclip." in notes(app) and copied.read_text() == "The answer."

        xclip.write_text("#!/bin/sh\nexit 1\n", encoding="utf-8")  # a tool that fails (xclip without a display does)
        await pilot.press("ctrl+y")
        assert notes(app)[-1].startswith("Sent 11 characters to the terminal (OSC 52)")

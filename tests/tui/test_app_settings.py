"""Settings in the app: the theme choice persists, key bindings can be remapped by id."""

from __future__ import annotations

import asyncio

from mlx_harmony_tui.config.settings import AppSettings, load_settings
from mlx_harmony_tui.tui.app import StartOptions
from tests.tui.test_snapshots import StillApp


def test_theme_choice_is_saved_and_own_themes_are_registered():
    async def body():
        app = StillApp(StartOptions(), AppSettings(theme="harmony-dark"))
        async with app.run_test(size=(100, 30)) as pilot:
            assert {"harmony-dark", "harmony-paper"} <= set(app.available_themes)
            assert app.theme == "harmony-dark"
            app.theme = "harmony-paper"
            await pilot.pause()
        assert load_settings().theme == "harmony-paper"

    asyncio.run(body())


def test_a_binding_remapped_in_settings_works_and_help_shows_it():
    async def body():
        app = StillApp(StartOptions(), AppSettings(keymap={"toggle_sampling": "f9"}))
        async with app.run_test(size=(120, 30)) as pilot:
            rows = {binding_id: keys for keys, _, binding_id in app.binding_rows()}
            assert rows["toggle_sampling"] == "f9" and rows["cancel"] == "escape"
            assert set(rows) >= {"cancel", "new_chat", "regenerate", "edit_last", "pick_profile", "help", "quit", "profile_1"}
            panel = app.query_one("#sampling")
            assert panel.display
            await pilot.press("f9")
            assert not panel.display
            await pilot.press("f4")  # the old key no longer does it
            assert not panel.display

    asyncio.run(body())

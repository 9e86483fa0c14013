"""F1's folders name the profiles files the app really read (issue 28, item 10): before, the "profiles" row named
``<config dir>/profiles.json``, which a new user does not have, while the profiles offered came from ``configs/``."""

from __future__ import annotations

import json
from pathlib import Path

from mlx_harmony_tui.config.profiles import PROJECT_CONFIGS
from mlx_harmony_tui.config.settings import AppSettings
from mlx_harmony_tui.paths import config_dir
from mlx_harmony_tui.tui.app import StartOptions
from mlx_harmony_tui.tui.screens.help import HelpScreen
from tests.tui.test_app import SIZE, run_async, wait_for
from tests.tui.test_first_minutes import plain
from tests.tui.test_snapshots import StillApp


async def profiles_row(options: StartOptions) -> str:
    app = StillApp(options, AppSettings())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f1")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen) and bool(app.screen.query("#help-folders")))
        folders = plain(app.screen.query_one("#help-folders").content, width=400)
    return next(line for line in folders.splitlines() if line.startswith("profiles")).removeprefix("profiles").strip()


@run_async
async def test_the_profiles_row_names_the_files_the_profiles_came_from(tmp_path):
    user_file = config_dir() / "profiles.json"
    assert not user_file.exists()  # a new user's config folder
    row = await profiles_row(StartOptions())
    assert PROJECT_CONFIGS == Path.cwd() / "configs"  # the suite runs from the repository's folder
    assert row == "configs/profiles.example.json"  # where the offered profiles came from, as the user would type it

    user_file.parent.mkdir(parents=True, exist_ok=True)
    user_file.write_text(json.dumps({"mine": {"sampling": {"temperature": 0.3}}}))
    try:
        row = await profiles_row(StartOptions())
        assert row == f"{user_file}, then configs/profiles.example.json"  # read in this order
    finally:
        user_file.unlink()

    named = tmp_path / "team-profiles.json"
    named.write_text(json.dumps({"team": {}}))
    assert await profiles_row(StartOptions(profiles_file=str(named))) == str(named)

"""A new chat in the app (ctrl+n) starts from the cache of the one before: its system prompt is not computed again."""

from __future__ import annotations

import json
import re

from mlx_harmony_tui.config.settings import AppSettings
from mlx_harmony_tui.tui.app import HarmonyApp, StartOptions
from tests.tui.test_app import SIZE, last_turn, ready, run_async, send, wait_for


@run_async
async def test_a_new_chat_reuses_the_opening_its_profile_shares(default_model_dir, tmp_path):
    rules = " ".join(f"Rule {i}: answer in one line and name your source." for i in range(30))
    config = tmp_path / "rules.json"
    config.write_text(json.dumps({"developer_instructions": rules, "temperature": 0, "max_tokens": 6}))
    app = HarmonyApp(StartOptions(prompt_config=str(config)), AppSettings(disk_cache_mb=0))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await send(pilot, app, "What is a lighthouse?")
        await wait_for(pilot, lambda: not app.busy and len(app.session.history) == 2)
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: app.session.history == [] and not app.busy)
        await send(pilot, app, "Who keeps it?")
        await wait_for(pilot, lambda: not app.busy and len(app.session.history) == 2 and "tok/s" in last_turn(app).footer_text)
        found = re.search(r"(\d+) prompt tokens from cache", last_turn(app).footer_text)
        assert found and int(found.group(1)) > 300, last_turn(app).footer_text  # the 30 rules were not read again

"""Make the README's SVG screenshots from the real app, headless, on the default model.

    python screenshots/make_screenshots.py

Writes screenshots/chat.svg (a finished answer), screenshots/help.svg (F1),
screenshots/palette.svg (ctrl+p) and screenshots/browser.svg (the log browser,
ctrl+o, after a second chat). The chat log it creates goes to a temporary
data folder, not yours.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


async def main() -> None:
    from mlx_harmony_tui.config.settings import AppSettings
    from mlx_harmony_tui.tui.app import HarmonyApp, StartOptions
    from mlx_harmony_tui.tui.widgets import ChatInput, StatusBar

    app = HarmonyApp(StartOptions(), AppSettings())
    async with app.run_test(size=(130, 38)) as pilot:
        start = time.monotonic()
        while app.session is None or app.query_one(StatusBar).state != "ready":
            if time.monotonic() - start > 600:
                raise SystemExit("the model did not load")
            await pilot.pause(0.1)
        app.session.update_sampling(temperature=0.0, max_tokens=120)
        app.query_one("SamplingPanel").set_values(app.session.generator.sampling.model_dump())
        box = app.query_one(ChatInput)
        box.text = "Give me three tips for writing clear Python code, as a short Markdown list."
        await pilot.press("enter")
        while app.busy:
            await pilot.pause(0.1)
        await pilot.pause(0.5)
        (HERE / "chat.svg").write_text(app.export_screenshot(title="mlx-harmony"), encoding="utf-8")
        await pilot.press("f1")
        await pilot.pause(0.3)
        (HERE / "help.svg").write_text(app.export_screenshot(title="mlx-harmony: help"), encoding="utf-8")
        await pilot.press("escape")
        await pilot.press("ctrl+p")
        await pilot.pause(0.3)
        await pilot.press(*"profile")
        await pilot.pause(0.5)
        (HERE / "palette.svg").write_text(app.export_screenshot(title="mlx-harmony: command palette"), encoding="utf-8")
        await pilot.press("escape")
        await pilot.press("ctrl+n")
        while app.busy or app.query_one(StatusBar).state != "ready":
            await pilot.pause(0.1)
        app.session.update_sampling(max_tokens=48)
        box.text = "What is a quasar? Answer in two sentences."
        await pilot.press("enter")
        while app.busy:
            await pilot.pause(0.1)
        await pilot.press("ctrl+o")
        while app.screen.__class__.__name__ != "LogBrowser" or app.screen.listed_s is None:
            await pilot.pause(0.1)
        app.screen.query_one("#browser-filter").cursor_blink = False
        await pilot.pause(0.5)
        (HERE / "browser.svg").write_text(app.export_screenshot(title="mlx-harmony: log browser"), encoding="utf-8")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as data:
        os.environ.setdefault("MLX_HARMONY_DATA_DIR", data)
        os.environ.setdefault("MLX_HARMONY_CONFIG_DIR", data)
        asyncio.run(main())
    print("wrote", ", ".join(p.name for p in sorted(HERE.glob("*.svg"))))

"""Closing the terminal (SIGHUP) or being told to stop (SIGTERM): the app leaves as it does on ctrl+q.

Without this, either signal ends the process at once and the answer being
written is lost. With it, the app cancels the answer, waits until the
cancelled answer is saved (at most :data:`SAVE_WAIT_S`), and exits.
"""

from __future__ import annotations

import asyncio
import signal
from dataclasses import dataclass, field

from textual.app import App

SIGNALS = (signal.SIGHUP, signal.SIGTERM)
SAVE_WAIT_S = 30.0  # an answer cancelled at the next token is saved well within this


@dataclass
class HangUp:
    """The signal handlers an app installed, and whether one of the signals came."""

    loop: asyncio.AbstractEventLoop
    received: list[int] = field(default_factory=list)

    def stop(self) -> None:
        for sig in SIGNALS:
            self.loop.remove_signal_handler(sig)


def watch_hang_up(app: App) -> HangUp:
    """Make SIGHUP and SIGTERM exit ``app`` cleanly (its on_unmount saves what is running)."""
    loop = asyncio.get_running_loop()
    watch = HangUp(loop)

    def received(sig: int) -> None:
        watch.received.append(sig)
        app.exit()

    for sig in SIGNALS:
        loop.add_signal_handler(sig, received, sig)
    return watch

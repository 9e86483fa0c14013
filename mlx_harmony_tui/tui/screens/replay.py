"""Replay: a saved chat played back as it happened, at the recorded pace or faster, with pause and step.

Assistant turns stream from their recorded chunk timings (seconds since the
request, text, channel); a turn saved without timings streams at a steady
pace. The same widgets as the live conversation show it, so analysis folds
and tool calls appear exactly as they did.
"""

from __future__ import annotations

import asyncio
import math

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Footer, Label

from ...chat.terminal_text import show_controls
from ..commands import ScreenActions
from ..widgets import AssistantTurn, ToolCallsPane, UserTurn

SPEEDS = {"1": 1.0, "2": 2.0, "0": 10.0, "i": math.inf}
STEADY_CHARS_PER_S = 80.0  # about 20 tokens a second, for turns saved without timings
STEADY_PIECE = 6  # characters per piece at the steady pace
PAUSE_BETWEEN_S = 0.6  # before each user message, at 1x
LONGEST_GAP_S = 2.0  # a recorded gap longer than this (the model was busy elsewhere) is shortened to it


def timed_pieces(message) -> list[tuple[float, str, str]]:
    """(delay before this piece at 1x, text, channel) for an assistant message."""
    if message.chunks:
        pieces, last = [], 0.0
        for at, text, channel in message.chunks:
            pieces.append((min(max(at - last, 0.0), LONGEST_GAP_S), text, channel))
            last = at
        return pieces
    pieces = []
    for channel, text in (("analysis", message.analysis or ""), ("final", message.content or "")):
        for i in range(0, len(text), STEADY_PIECE):
            pieces.append((STEADY_PIECE / STEADY_CHARS_PER_S, text[i : i + STEADY_PIECE], channel))
    return pieces


class ReplayScreen(Screen[None]):
    """Plays ``messages`` (one branch of a saved chat); space pauses, n steps, 1/2/0/i set the speed."""

    COMMANDS = {ScreenActions}
    BINDINGS = [
        Binding("escape,q", "close", "Close", id="replay_close"),
        Binding("space", "pause", "Pause/play", id="replay_pause"),
        Binding("n,right", "step", "Step", id="replay_step"),
        Binding("1", "speed('1')", "1x", id="replay_1x"),
        Binding("2", "speed('2')", "2x", id="replay_2x"),
        Binding("0", "speed('0')", "10x", id="replay_10x"),
        Binding("i", "speed('i')", "Instant", id="replay_instant"),
    ]
    DEFAULT_CSS = """
    #replay-main { height: 1fr; }
    #replay-conversation { width: 1fr; height: 1fr; padding: 0 1; }
    #replay-tools { width: 44; height: 1fr; border-left: solid $panel; padding: 0 1; }
    #replay-status { height: 1; background: $panel; padding: 0 1; }
    """

    speed: reactive[float] = reactive(1.0)
    paused: reactive[bool] = reactive(False)
    position: reactive[int] = reactive(0)  # messages fully shown

    def __init__(self, title: str, messages: list):
        super().__init__()
        self.title_text = show_controls(title)
        self.messages = [m for m in messages if m.role in ("user", "assistant", "tool")]
        self._resume = asyncio.Event()
        self._resume.set()
        self._steps = 0  # messages to show at once while paused
        self.finished = False

    def compose(self) -> ComposeResult:
        with Horizontal(id="replay-main"):
            yield VerticalScroll(id="replay-conversation")
            yield ToolCallsPane(id="replay-tools")
        yield Label("", id="replay-status")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#replay-conversation", VerticalScroll).anchor()
        self._show_status()
        self.run_worker(self._play(), exclusive=True, group="replay")

    def _show_status(self) -> None:
        if not self.is_mounted:
            return
        speed = "instant" if math.isinf(self.speed) else f"{self.speed:g}x"
        state = "finished" if self.finished else "paused" if self.paused else "playing"
        self.query_one("#replay-status", Label).update(
            f"replay · {self.title_text} · message {self.position}/{len(self.messages)} · {speed} · {state}"
            "   (space pause · n step · 1/2/0/i speed · esc close)"
        )

    def watch_speed(self) -> None:
        self._show_status()

    def watch_paused(self) -> None:
        self._show_status()

    def watch_position(self) -> None:
        self._show_status()

    async def _wait(self, seconds: float) -> None:
        """Sleep ``seconds`` at the current speed, holding while paused; a step or instant speed skips it."""
        remaining = seconds
        while remaining > 0 and not math.isinf(self.speed) and not self._steps:
            await self._resume.wait()
            if self._steps:
                return
            tick = min(remaining / self.speed, 0.05)
            await asyncio.sleep(tick)
            remaining -= tick * self.speed
        if not self._steps:
            await self._resume.wait()

    async def _play(self) -> None:
        conversation = self.query_one("#replay-conversation", VerticalScroll)
        tools = self.query_one(ToolCallsPane)
        pending_calls: list = []
        for message in self.messages:
            if message.role == "user":
                await self._wait(PAUSE_BETWEEN_S)
                await conversation.mount(UserTurn(message.content))
            elif message.role == "tool":
                view = pending_calls.pop(0) if pending_calls else await tools.add_call(message.name or "tool", "", "commentary")
                view.set_result(message.finish_reason or "done", message.content, (message.stats or {}).get("duration_s"), live=False)
            else:
                turn = AssistantTurn()
                await conversation.mount(turn)
                for delay, text, channel in timed_pieces(message):
                    await self._wait(delay)
                    if channel == "final":
                        await turn.add_answer(text)
                    else:
                        await turn.add_reasoning(text)
                for call in message.tool_calls or []:
                    pending_calls.append(await tools.add_call(call.recipient, call.arguments, call.channel))
                reason = "cancelled" if message.cancelled else message.finish_reason
                await turn.finish(" · ".join(filter(None, [reason, "replayed"])))
            self.position += 1
            if self._steps:
                self._steps -= 1
                if not self._steps:
                    self._resume.clear()  # a step shows one message, then holds again
        self.finished = True
        self._show_status()

    def action_pause(self) -> None:
        self.paused = not self.paused
        if self.paused:
            self._resume.clear()
        else:
            self._steps = 0
            self._resume.set()

    def action_step(self) -> None:
        """Show the rest of the current message at once, then hold."""
        self.paused = True
        self._steps = 1
        self._resume.set()

    def action_speed(self, key: str) -> None:
        self.speed = SPEEDS[key]

    def action_close(self) -> None:
        self.workers.cancel_group(self, "replay")
        self.dismiss(None)

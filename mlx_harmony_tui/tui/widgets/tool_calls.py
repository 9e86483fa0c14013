"""The tool-calls pane: each call's tool, arguments, status, duration and output (control characters written out)."""

from __future__ import annotations

import time

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Collapsible, Label, Static

from ...chat.terminal_text import show_controls


class ToolCallView(Collapsible):
    """One tool call: name, arguments, status, duration and output."""

    def __init__(self, recipient: str, arguments: str, channel: str):
        self.started = time.perf_counter()
        self.recipient = recipient
        self.status = "requested"
        self.body = Static(Text(show_controls(arguments)), classes="tool-arguments")
        self.output = Static("", classes="tool-output")
        super().__init__(self.body, self.output, title=self._heading(), collapsed=False)
        self.channel = channel

    def _heading(self, duration: float | None = None) -> str:
        took = f" · {duration:.2f} s" if duration is not None else ""
        return show_controls(f"{self.recipient} · {self.status}{took}")

    def set_result(self, status: str, output: str, duration_s: float | None = None, live: bool = True) -> None:
        """Show how the call ended; ``duration_s`` is the tool's own run time, else (``live``) the time since the call."""
        self.status = status
        self.title = self._heading(duration_s if duration_s is not None or not live else time.perf_counter() - self.started)
        self.output.update(Text(show_controls(output), style="red" if status in ("error", "declined") else ""))


class ToolCallsPane(VerticalScroll):
    def compose(self) -> ComposeResult:
        yield Label("Tool calls", classes="pane-title")
        yield Static("none yet", id="no-tool-calls", classes="muted")

    async def clear(self) -> None:
        """Forget the calls shown (a new or another chat)."""
        await self.remove_children(ToolCallView)
        if not self.query("#no-tool-calls"):
            await self.mount(Static("none yet", id="no-tool-calls", classes="muted"))

    async def add_call(self, recipient: str, arguments: str, channel: str) -> ToolCallView:
        placeholder = self.query("#no-tool-calls")
        if placeholder:
            await placeholder.remove()
        view = ToolCallView(recipient, arguments, channel)
        await self.mount(view)
        view.scroll_visible()
        return view

"""The message box: Enter sends, ctrl+j or alt+enter start a new line."""

from __future__ import annotations

from textual import events
from textual.message import Message
from textual.strip import Strip
from textual.widgets import TextArea


class ChatInput(TextArea):
    """Multi-line input: Enter sends; ctrl+j, alt+enter or shift+enter start a new line."""

    NEWLINE_KEYS = ("ctrl+j", "alt+enter", "shift+enter", "ctrl+enter")

    class Submitted(Message):
        def __init__(self, text: str):
            super().__init__()
            self.text = text

    def render_line(self, y: int) -> Strip:
        if self.content_size.width < 1 and not self.text:
            return Strip.blank(0)  # Textual 8.2 cannot wrap the placeholder into no width (a terminal squeezed to nothing)
        return super().render_line(y)

    async def _on_key(self, event: events.Key) -> None:
        if event.key == "enter":
            event.stop()
            event.prevent_default()
            text = self.text
            if text.strip():
                self.post_message(self.Submitted(text))
            return
        if event.key in self.NEWLINE_KEYS:
            event.stop()
            event.prevent_default()
            self.insert("\n")
            return
        await super()._on_key(event)

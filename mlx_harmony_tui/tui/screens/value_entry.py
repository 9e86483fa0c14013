"""Typing a slider's value."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label


class ValueEntry(ModalScreen):
    """Type a slider's value; Enter applies, Esc leaves it as it was."""

    BINDINGS = [("escape", "dismiss", "cancel")]
    DEFAULT_CSS = """
    ValueEntry { align: center middle; }
    #value-entry { width: 80%; max-width: 100; height: auto; max-height: 80%; background: $panel; border: round $primary; padding: 1 2; }
    """

    def __init__(self, slider):
        super().__init__()
        self.slider = slider

    def compose(self) -> ComposeResult:
        spec = self.slider.spec
        with Vertical(id="value-entry"):
            yield Label(f"{spec.label}: a value from {spec.low:g} to {spec.high:g}")
            yield Input(self.slider.text_value(), id="value-input")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        try:
            value = float(event.value)
        except ValueError:
            self.notify(f"{self.slider.spec.label}: {event.value!r} is not a number", severity="error")
            return
        if not (self.slider.spec.low <= value <= self.slider.spec.high):
            self.notify(f"{self.slider.spec.label}: must be from {self.slider.spec.low:g} to {self.slider.spec.high:g}", severity="error")
            return
        self.slider.set_value(value)
        self.dismiss(value)

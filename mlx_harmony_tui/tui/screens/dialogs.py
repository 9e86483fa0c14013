"""Small modal dialogs: confirm a step, type a line of text, read a report."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from ...chat.terminal_text import show_controls


class Confirm(ModalScreen[bool]):
    """A yes/no question: y or Enter on Yes confirms, n or Esc declines."""

    BINDINGS = [
        Binding("y", "answer(True)", "yes", id="confirm_yes"),
        Binding("n,escape", "answer(False)", "no", id="confirm_no"),
    ]
    DEFAULT_CSS = "Confirm { align: center middle; }"

    def __init__(self, question: str, yes: str = "Yes"):
        super().__init__()
        self.question = question
        self.yes = yes

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.question)
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"{self.yes} (y)", id="yes", variant="error")
                yield Button("No (n)", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


class TextPrompt(ModalScreen[str | None]):
    """Type one line (a new title, say); Enter gives it back, Esc gives None."""

    BINDINGS = [Binding("escape", "cancel", "cancel", id="prompt_cancel")]
    DEFAULT_CSS = "TextPrompt { align: center middle; }"

    def __init__(self, label: str, value: str = ""):
        super().__init__()
        self.label = label
        self.value = value

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.label)
            yield Input(self.value, id="prompt-input")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class Report(ModalScreen[bool | None]):
    """Text to read, with an optional action: Enter runs it, Esc closes."""

    BINDINGS = [Binding("escape,q", "dismiss", "close", id="report_close")]
    DEFAULT_CSS = "Report { align: center middle; }"

    def __init__(self, title: str, body: str, action: str | None = None):
        super().__init__()
        self.title_text = show_controls(title)
        self.body = show_controls(body)  # a check report may quote a log's messages
        self.action_label = action

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="pane-title")
            with VerticalScroll(classes="report-body"):
                yield Static(self.body, markup=False)
            with Horizontal(classes="dialog-buttons"):
                if self.action_label:
                    yield Button(self.action_label, id="act", variant="primary")
                yield Button("Close", id="close")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(True if event.button.id == "act" else None)

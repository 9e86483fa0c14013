"""Two answers to one question side by side (a comparison), and the choice of which one to keep."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, Label

from .assistant_turn import AssistantTurn


class CompareTurn(Vertical):
    """Answer A (the chat's own settings) beside answer B (the other settings), streaming at once."""

    DEFAULT_CSS = """
    CompareTurn { height: auto; }
    CompareTurn .compare-pair { height: auto; }
    CompareTurn .compare-side { width: 1fr; height: auto; }
    CompareTurn .compare-heading { color: $text-muted; text-style: bold; padding: 0 1; }
    CompareTurn .compare-keep { height: auto; padding: 0 1; display: none; }
    CompareTurn .compare-keep.offered { display: block; }
    CompareTurn .compare-keep Label { padding: 1 1 0 0; }
    CompareTurn .compare-keep Button { margin-right: 2; }
    """

    class Kept(Message):
        """The user chose the answer of ``side`` ("a" or "b") to go on from."""

        def __init__(self, compare: "CompareTurn", side: str):
            super().__init__()
            self.compare = compare
            self.side = side

    def __init__(self, label_a: str, label_b: str):
        super().__init__()
        self.labels = {"a": label_a, "b": label_b}
        self.answers = {"a": AssistantTurn(), "b": AssistantTurn()}
        self.kept: str | None = None

    def compose(self) -> ComposeResult:
        with Horizontal(classes="compare-pair"):
            for side in ("a", "b"):
                with Vertical(classes="compare-side"):
                    yield Label(f"{side.upper()} · {self.labels[side]}", classes="compare-heading")
                    yield self.answers[side]
        with Horizontal(classes="compare-keep"):
            yield Label("Keep which? (A new question goes on from A.)")
            yield Button("Keep A", id="keep-a", variant="primary")
            yield Button("Keep B", id="keep-b")

    def offer(self) -> None:
        """Both answers are in: offer to keep one (the buttons wait for a click or Tab; the focus stays where it is)."""
        self.query_one(".compare-keep").add_class("offered")

    def settle(self, side: str) -> None:
        """``side`` was kept: no more choice to make."""
        self.kept = side
        self.query_one(".compare-keep").remove_class("offered")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if self.kept is None and event.button.id in ("keep-a", "keep-b"):
            self.post_message(self.Kept(self, event.button.id[-1]))

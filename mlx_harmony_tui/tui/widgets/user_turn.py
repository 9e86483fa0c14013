"""A message the user sent: its text, its versions, and keys to edit it or switch versions."""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Static

from ...chat.terminal_text import show_controls


class UserTurn(Static, can_focus=True):
    """What the user sent, shown as they wrote it, with its place among edited versions when there are several.

    Focused (click or tab), e edits it (the edit becomes a new branch) and
    left/right show the other versions of it.
    """

    DEFAULT_CLASSES = "turn user-turn"
    DEFAULT_CSS = """
    UserTurn { margin: 1 0 0 0; background: $surface; padding: 0 1; border-left: thick $secondary; }
    UserTurn:focus { background: $accent 25%; border-left: thick $accent; text-style: bold; }
    UserTurn.-editing { border-left: thick $warning; color: $text-muted; }
    """
    BINDINGS = [
        Binding("e", "edit", "edit (new branch)", id="turn_edit"),
        Binding("left", "version(-1)", "previous version", id="turn_previous_version"),
        Binding("right", "version(1)", "next version", id="turn_next_version"),
    ]

    class EditRequested(Message):
        def __init__(self, turn: "UserTurn"):
            super().__init__()
            self.turn = turn

    class VersionRequested(Message):
        def __init__(self, turn: "UserTurn", step: int):
            super().__init__()
            self.turn = turn
            self.step = step

    def __init__(self, text: str, log_id: str | None = None):
        super().__init__(Text(show_controls(text)), markup=False)
        self.text = text
        self.log_id = log_id
        self.versions: tuple[int, int] | None = None  # (this one, how many), 1-based

    def show_versions(self, versions: tuple[int, int] | None) -> None:
        self.versions = versions if versions and versions[1] > 1 else None
        text = Text(show_controls(self.text))
        if self.versions:
            text.append(f"\n⑂ version {self.versions[0]} of {self.versions[1]} · focus it, ←/→ switch, e edits", style="dim")
        self.update(text)

    def action_edit(self) -> None:
        self.post_message(self.EditRequested(self))

    def action_version(self, step: int) -> None:
        if self.versions:
            self.post_message(self.VersionRequested(self, step))

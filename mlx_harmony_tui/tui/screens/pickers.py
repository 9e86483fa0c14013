"""Pickers: a profile to switch to, a branch of this chat to show."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option


class ProfilePicker(ModalScreen[str]):
    """Choose a profile; returns its name."""

    BINDINGS = [Binding("escape", "dismiss", "close", id="picker_close")]
    DEFAULT_CSS = """
    ProfilePicker { align: center middle; }
    #profile-picker { width: 80%; max-width: 100; height: auto; max-height: 80%; background: $panel; border: round $primary; padding: 1 2; }
    """

    def __init__(self, names: list[str], current: str | None):
        super().__init__()
        self.names = names
        self.current = current

    def compose(self) -> ComposeResult:
        options = [Option(f"{i + 1}. {name}" + ("  (current)" if name == self.current else ""), id=name) for i, name in enumerate(self.names)]
        with Vertical(id="profile-picker"):
            yield Label("Profiles (alt+1..9 picks directly)", classes="pane-title")
            yield OptionList(*options)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)


class BranchPicker(ModalScreen[str]):
    """Choose a branch of this chat; returns the id of its last message."""

    BINDINGS = [Binding("escape", "dismiss", "close", id="branch_picker_close")]
    DEFAULT_CSS = """
    BranchPicker { align: center middle; }
    #branch-picker { width: 80%; max-width: 100; height: auto; max-height: 80%; background: $panel; border: round $primary; padding: 1 2; }
    """

    def __init__(self, choices: list):
        super().__init__()
        self.choices = choices  # chat.branches.BranchChoice, oldest first

    def compose(self) -> ComposeResult:
        options = [Option(c.label + ("  (shown)" if c.shown else ""), id=c.leaf_id) for c in self.choices]
        with Vertical(id="branch-picker"):
            yield Label("Branches of this chat (newest last)", classes="pane-title")
            yield OptionList(*options)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

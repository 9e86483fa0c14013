"""Pickers: a profile to switch to, a branch of this chat to show, what to compare the next answer with."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option


class ProfilePicker(ModalScreen[str]):
    """Choose a profile; returns its name."""

    BINDINGS = [Binding("escape", "dismiss", "close", id="picker_close")] + [
        Binding(str(i), f"pick({i})", f"profile {i}", show=False, id=f"picker_profile_{i}") for i in range(1, 10)
    ]
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
            yield Label("Profiles: press a number or Enter (alt+1..9 from the chat)", classes="pane-title")
            yield OptionList(*options)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_pick(self, number: int) -> None:
        if number <= len(self.names):
            self.dismiss(self.names[number - 1])


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


class ComparePicker(ModalScreen[int]):
    """Choose what the next answer is compared with; returns its index in ``labels``."""

    BINDINGS = [Binding("escape", "dismiss", "close", id="compare_picker_close")]
    DEFAULT_CSS = """
    ComparePicker { align: center middle; }
    #compare-picker { width: 80%; max-width: 100; height: auto; max-height: 80%; background: $panel; border: round $primary; padding: 1 2; }
    """

    def __init__(self, labels: list[str]):
        super().__init__()
        self.labels = labels

    def compose(self) -> ComposeResult:
        with Vertical(id="compare-picker"):
            yield Label("Answer the next question twice at once: A with this chat's settings, B with…", classes="pane-title")
            yield OptionList(*[Option(label, id=str(i)) for i, label in enumerate(self.labels)])

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(int(event.option.id))

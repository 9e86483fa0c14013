"""Modal screens: help with every binding, the profile picker and the branch picker."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList, Static
from textual.widgets.option_list import Option


class HelpScreen(ModalScreen):
    """Every key binding with its id (the name to use in settings.json ``keymap``)."""

    BINDINGS = [Binding("escape,f1,q", "dismiss", "close", id="help_close")]

    def __init__(self, rows: list[tuple[str, str, str]]):
        super().__init__()
        self.rows = rows  # (keys, what it does, binding id)

    def compose(self) -> ComposeResult:
        table = Table(box=None, expand=True, pad_edge=False)
        table.add_column("key", style="bold", no_wrap=True)
        table.add_column("does")
        table.add_column("id (for settings keymap)", style="dim")
        for keys, description, binding_id in self.rows:
            table.add_row(keys, description, binding_id)
        table.add_row("enter", "send the message", "")
        table.add_row("ctrl+j / alt+enter", "new line in the message", "")
        table.add_row("ctrl+p", "command palette: profiles, themes, panes, export", "")
        table.add_row("←/→, shift+←/→, enter", "move a focused slider finely, coarsely, or type its value", "")
        table.add_row("e, ←/→ on a message", "edit a focused message of yours (a new branch); switch its versions", "")
        table.add_row("log browser", "enter open · f5 replay · f6 re-run · f2 rename · f8 delete · f3/f4 export · f7 check", "")
        with Vertical(id="help"):
            yield Label("mlx-harmony: keys", classes="pane-title")
            with VerticalScroll():
                yield Static(table)
            yield Label("Remap a key in <config dir>/settings.json, e.g. {\"keymap\": {\"cancel\": \"ctrl+x\"}}", classes="muted")


class ProfilePicker(ModalScreen[str]):
    """Choose a profile; returns its name."""

    BINDINGS = [Binding("escape", "dismiss", "close", id="picker_close")]

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

    def __init__(self, rows: list[tuple[str, str]]):
        super().__init__()
        self.rows = rows  # (last message id, label)

    def compose(self) -> ComposeResult:
        with Vertical(id="branch-picker"):
            yield Label("Branches of this chat (newest last)", classes="pane-title")
            yield OptionList(*[Option(label, id=leaf) for leaf, label in self.rows])

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

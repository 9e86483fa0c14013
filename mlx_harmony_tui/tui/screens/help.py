"""Help: every key binding with the id to remap it in settings.json, and the folders the app uses."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static


class HelpScreen(ModalScreen):
    """Every key binding with its id (the name to use in settings.json ``keymap``)."""

    BINDINGS = [Binding("escape,f1,q", "dismiss", "close", id="help_close")]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    #help { width: 80%; max-width: 100; height: auto; max-height: 80%; background: $panel; border: round $primary; padding: 1 2; }
    """

    def __init__(self, rows: list[tuple[str, str, str]], folders: list[tuple[str, str]] | None = None):
        super().__init__()
        self.rows = rows  # (keys, what it does, binding id)
        self.folders = folders or []  # (what, where)

    def compose(self) -> ComposeResult:
        table = Table(box=None, expand=True, pad_edge=False)
        table.add_column("key", style="bold", no_wrap=True)
        table.add_column("does")
        table.add_column("id (for settings keymap)", style="dim")
        for keys, description, binding_id in self.rows:
            table.add_row(keys, description, binding_id)
        table.add_row("enter", "send the message", "")
        table.add_row("ctrl+j / alt+enter", "new line in the message", "")
        table.add_row("f2, then 1..9", "switch to profile 1..9 (in every terminal; alt+1..9 where the terminal sends it)", "")
        table.add_row("escape", "back to the message box (and stop the answer being written)", "")
        table.add_row("tab / shift+tab", "next / previous part; the sliders are one stop: ↑/↓ pick a slider", "")
        table.add_row("ctrl+p", "command palette: profiles, themes, panes, export", "")
        table.add_row("←/→, shift+←/→, enter", "move a focused slider finely, coarsely, or type its value", "")
        table.add_row("e, ←/→ on a message", "edit a focused message of yours (a new branch); switch its versions", "")
        table.add_row("log browser", "enter open · f5 replay · f6 re-run · f2 rename · f8 delete · f3/f4 export · f7 check", "")
        with Vertical(id="help"):
            yield Label("mlx-harmony: keys", classes="pane-title")
            with VerticalScroll():
                yield Static(table, id="help-keys")
                if self.folders:
                    places = Table(box=None, expand=True, pad_edge=False, title="Folders", title_justify="left", title_style="bold")
                    places.add_column("what", style="bold", no_wrap=True)
                    places.add_column("where", overflow="fold")
                    for what, where in self.folders:
                        places.add_row(what, where)
                    yield Static(places, id="help-folders")
            yield Label("Remap a key in <config dir>/settings.json, e.g. {\"keymap\": {\"cancel\": \"ctrl+x\"}}", classes="muted")

"""Asking before a tool changes anything: the python code, the patch's diff or an MCP call's arguments, with run,
decline or always (every call, or an MCP server's tools)."""

from __future__ import annotations

from rich.syntax import Syntax
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from ...chat.terminal_text import show_controls


class ToolApproval(ModalScreen[str]):
    """Returns ``run``, ``decline`` or ``always`` (run such calls without asking for the rest of the session)."""

    BINDINGS = [
        Binding("y", "answer('run')", "run", id="approval_run"),
        Binding("n,escape", "answer('decline')", "decline", id="approval_decline"),
        Binding("a", "answer('always')", "always", id="approval_always"),
    ]
    AUTO_FOCUS = "#decline"  # the safe answer has the focus
    DEFAULT_CSS = """
    ToolApproval { align: center middle; }
    #approval { width: 90%; max-width: 120; height: auto; max-height: 90%; background: $panel; border: round $warning; padding: 1 2; }
    #approval-preview { height: auto; max-height: 30; margin: 1 0; }
    """

    def __init__(self, request):
        super().__init__()
        self.request = request

    def compose(self) -> ComposeResult:
        r = self.request
        what, always = r.what(), r.always()
        lexer = "json" if r.server is not None else "python" if r.tool == "python" else "diff"
        with Vertical(id="approval"):
            yield Label(show_controls(f"The model wants to {what} ({r.recipient})."), classes="pane-title", markup=False)
            with VerticalScroll(id="approval-preview"):
                yield Static(Syntax(show_controls(r.preview), lexer, word_wrap=True, theme="ansi_dark"))
            with Horizontal(classes="dialog-buttons"):
                yield Button("Run (y)", id="run", variant="warning")
                yield Button("Decline (n)", id="decline")
                yield Button(f"{always} (a)", id="always")

    def action_answer(self, answer: str) -> None:
        self.dismiss(answer)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id)

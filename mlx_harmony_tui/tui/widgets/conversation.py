"""The conversation: user and assistant turns, newest at the bottom, with long chats kept light.

The screen keeps the last :data:`KEEP_TURNS` turns; older ones leave it (they
stay in the log) and a note at the top says how many, a click on it (or
:meth:`Conversation.show_earlier`) brings :data:`SHOW_ON_OPEN` back at a time.
A saved chat opens with its last :data:`SHOW_ON_OPEN` messages shown.
"""

from __future__ import annotations

from textual import on
from textual.containers import VerticalScroll
from textual.events import Click
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Static

from .assistant_turn import AssistantTurn
from .user_turn import UserTurn

KEEP_TURNS = 60  # older turns leave the screen (they stay in the log) so long chats stay fast
SHOW_ON_OPEN = 20  # messages shown when a saved chat opens (opening a 2,000-message chat stays well under 1 s)


HINT = "Type a question in the box below and press Enter  ·  F1: keys and folders  ·  ctrl+p: commands"


class EmptyHint(Static):
    """What an empty chat shows: how to ask, and where to find the rest."""


class EarlierTurns(Static):
    """The note above the conversation about messages off screen; a click brings some back."""


class Conversation(VerticalScroll):
    """The chat's turns on screen; records of those scrolled off are kept to bring back."""

    DEFAULT_CSS = """
    Conversation { height: 1fr; padding: 0 1; }
    """

    def __init__(self, id: str | None = None):
        super().__init__(id=id)
        self.hidden: list[dict] = []  # messages off the top of the screen, oldest first

    @property
    def turns(self) -> list[Widget]:
        return [w for w in self.children if isinstance(w, (UserTurn, AssistantTurn))]

    async def on_mount(self) -> None:
        await self._show_hint()

    async def _show_hint(self) -> None:
        """The hint while there is nothing to read; gone with the first message."""
        hints = self.query(EmptyHint)
        if self.turns:
            await hints.remove()
        elif not hints:
            await self.mount(EmptyHint(HINT, id="empty-hint", classes="muted"))

    async def clear(self) -> None:
        await self.remove_children()
        self.hidden = []
        await self._show_hint()

    async def show_history(self, history: list[dict]) -> None:
        """Show a saved conversation: its last messages, the rest noted as off screen."""
        shown = [e for e in history if e["role"] in ("user", "assistant")]
        cut = max(len(shown) - SHOW_ON_OPEN, 0)
        await self._note_hidden(shown[:cut])
        await self.mount_all(turn_widgets(shown[cut:]))
        await self._show_hint()

    async def add(self, *widgets: Widget) -> None:
        """Add new turns at the bottom, follow them, and let the oldest leave the screen."""
        await self.mount_all(widgets)
        self.anchor()
        await self._prune()
        await self._show_hint()

    async def remove_from(self, widget: Widget) -> None:
        """Remove ``widget`` and every turn after it."""
        children = list(self.children)
        await self.remove_children(children[children.index(widget):])
        await self._show_hint()

    async def _prune(self) -> None:
        turns = self.turns
        extra = len(turns) - KEEP_TURNS
        if extra > 0:
            records = [
                {"role": "user", "content": w.text, "log_id": w.log_id} if isinstance(w, UserTurn)
                else {"role": "assistant", "content": w.answer_text, "analysis": w.reasoning_text, "footer": w.footer_text}
                for w in turns[:extra]
            ]
            await self.remove_children(turns[:extra])
            await self._note_hidden(records)

    async def _note_hidden(self, records: list[dict]) -> None:
        """Add ``records`` (the oldest first) to the messages off screen, and say how many there are."""
        self.hidden += records
        notes = self.query("#earlier-turns")
        if not self.hidden:
            await notes.remove()
            return
        text = f"{len(self.hidden)} earlier messages are off screen: click here or press ctrl+l to show {SHOW_ON_OPEN} more."
        if notes:
            notes.first(Static).update(text)
        else:
            note = EarlierTurns(text, id="earlier-turns", classes="muted")
            await (self.mount(note, before=0) if self.children else self.mount(note))

    async def show_earlier(self) -> bool:
        """Bring the newest :data:`SHOW_ON_OPEN` of the messages off screen back; False when there were none."""
        if not self.hidden:
            return False
        back, self.hidden = self.hidden[-SHOW_ON_OPEN:], self.hidden[:-SHOW_ON_OPEN]
        await self.mount_all(turn_widgets(back), after=self.query_one("#earlier-turns"))
        await self._note_hidden([])
        return True

    @on(Click, "#earlier-turns")
    async def _earlier_clicked(self) -> None:
        if await self.show_earlier():
            self.post_message(self.EarlierShown())

    class EarlierShown(Message):
        """Turns came back on screen (their version marks need showing)."""

    def show_versions(self, found: dict[str, tuple[int, int]]) -> None:
        """Mark each user turn with its place among the versions the log holds."""
        for turn in self.query(UserTurn):
            turn.show_versions(found.get(turn.log_id) if turn.log_id else None)

    def focus_turn(self, log_id: str | None) -> None:
        for turn in self.query(UserTurn):
            if turn.log_id == log_id:
                turn.focus()


def turn_widgets(entries: list[dict]) -> list[Widget]:
    """Finished turn widgets for history ``entries`` (user and assistant messages)."""
    widgets: list[Widget] = []
    for entry in entries:
        if entry["role"] == "user":
            widgets.append(UserTurn(entry["content"], entry.get("log_id")))
        else:
            widgets.append(AssistantTurn.done(entry["content"], entry.get("analysis") or "", entry.get("footer", "")))
    return widgets

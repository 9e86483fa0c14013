"""Editing a question already asked: ctrl+e (the last one) or e on a focused one puts it in the message box.

Nothing changes until the edit is sent: the question and what followed it
stay in the chat and on screen, marked, and the status bar says what Enter
and Esc do. Enter takes them back and asks the edited question, a new
version of it (the old one stays in the log: ←/→ on the question); Esc
puts back what the message box held and leaves the chat as it was.
"""

from __future__ import annotations

from dataclasses import dataclass

from .widgets import ChatInput, UserTurn

EDITED = "-editing"  # the class that marks the question being edited


@dataclass
class Edit:
    turn: UserTurn  # the question being edited: it and what followed it go when the edit is sent
    draft: str  # what the message box held before, for Esc to put back
    state: str  # what the status bar said before (a comparison armed, say)


class Editing:
    """The chat view's editing: a mixin of :class:`..chat_view.ChatView` (it uses the view's session and status)."""

    _editing: Edit | None = None

    async def action_edit_last(self) -> None:
        """ctrl+e: edit the last question; Enter sends the edit as a new version, Esc leaves it as it was."""
        users = list(self.query(UserTurn))
        if users:
            self._start_edit(users[-1], "your last question")

    def on_user_turn_edit_requested(self, message: UserTurn.EditRequested) -> None:
        if message.turn.log_id is not None:
            self._start_edit(message.turn, "this question")

    def _start_edit(self, turn: UserTurn, which: str) -> None:
        if self.busy or self.session is None:
            return
        box = self.query_one(ChatInput)
        before = self._editing
        self._stop_editing()
        self._editing = before if before is not None else Edit(turn, box.text, self.status.state)
        self._editing.turn = turn
        turn.add_class(EDITED)
        box.text = turn.text
        box.move_cursor(box.document.end)  # where one goes on typing
        box.focus()
        self.status.state = f"editing {which}: Enter sends it as a new version · Esc leaves it as it was"

    def _stop_editing(self) -> bool:
        """Leave the edit, the message box back as it was before; False when nothing was being edited."""
        edit, self._editing = self._editing, None
        if edit is None:
            return False
        edit.turn.remove_class(EDITED)
        box = self.query_one(ChatInput)
        box.text = edit.draft
        box.move_cursor(box.document.end)
        if not self.busy:
            self.status.state = edit.state
        return True

    async def _send_edit(self, text: str) -> None:
        """The edit is sent: the question (and what followed it) leaves the chat, and ``text`` is asked in its place."""
        edit, self._editing = self._editing, None
        turn = edit.turn
        turn.remove_class(EDITED)
        taken = self.session.take_back_to(turn.log_id) if turn.log_id else self.session.take_back()
        if taken is not None and turn.is_attached:
            await self.conversation.remove_from(turn)
        await self._ask(text)

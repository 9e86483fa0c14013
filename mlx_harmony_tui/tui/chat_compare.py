"""Comparing two answers in the chat view: ctrl+t picks what to compare with, the next question is answered twice at once.

Side A is the chat's own turn (its tools and figures show as usual), side B
streams beside it; both are saved as versions of the question (see
:mod:`..chat.compare`, which also says what an undecided comparison is: A).
The user keeps one with a button under them; the message box keeps the
focus, so a new question without a choice goes on from A.
"""

from __future__ import annotations

import threading

from textual import work

from ..chat.compare import SIDES, Comparison, Contender, contenders
from ..engine.events import Done, TextDelta, ToolCall
from ..errors import UserError
from .batching import TextBatcher
from .messages import CompareEnded, CompareEvent, CompareKept, EngineEvent, WorkFailed
from .screens.pickers import ComparePicker
from .widgets import ChatInput, UserTurn
from .widgets.assistant_turn import done_footer
from .widgets.compare_turn import CompareTurn


class Comparing:
    """The chat view's comparison: a mixin of :class:`..chat_view.ChatView` (it uses the view's session, panes and status)."""

    compare_next: Contender | None = None  # the next question is answered twice: by the session and by this
    _comparing: Comparison | None = None  # the comparison answering now
    _unsettled: tuple[Comparison, CompareTurn] | None = None  # both answered, neither kept yet (the chat is on A)

    # --- comparing two answers ----------------------------------------------------------------------

    def _label_a(self) -> str:
        settings = self.session.settings
        return f"profile {settings.profile}" if settings.profile else "this chat's settings"

    def action_compare(self) -> None:
        """ctrl+t: answer the next question twice at once, with this chat's settings and with others (ctrl+t again: off)."""
        if self.session is None:
            self.notify("The model is still loading.", severity="warning")
            return
        if self.compare_next is not None:
            self.compare_next = None
            self.status.state = "ready" if not self.busy else self.status.state
            self.notify("Compare off: the next question gets one answer.")
            return
        found = contenders(self.session, list(self.app.profiles()))

        def chosen(index: int | None) -> None:
            if index is None:
                return
            self.compare_next = found[index]
            if not self.busy:
                self.status.state = f"next question: compare with {found[index].label}"
            self.notify(f"The next question gets two answers at once: A ({self._label_a()}) and B ({found[index].label}). "
                        "Both are saved; you keep one. ctrl+t again: off.")
            self.query_one(ChatInput).focus()

        self.app.push_screen(ComparePicker([c.label for c in found]), chosen)

    @work(thread=True, group="generate")
    def _compare(self, text: str, contender: Contender, view: CompareTurn, user_turn: UserTurn) -> None:
        failures: dict[str, Exception] = {}
        comparison = None
        idle = self.app.chat_idle  # now: once the app is closing, self.app fails on this thread
        try:
            comparison = Comparison(self.session, contender)
            self._comparing = comparison
            first, second = comparison.sides(text)
            other = threading.Thread(target=self._run_side, args=("b", second, view, user_turn, failures), daemon=True)
            other.start()  # both answers decode together in the engine's batch
            self._run_side("a", first, view, user_turn, failures)
            other.join()
        except UserError as exc:
            for side in SIDES:
                failures.setdefault(side, exc)
        finally:
            self._comparing = None
            going_on = self._going_on(comparison, failures)  # in the log before the app may close
            self.post_message(CompareEnded(comparison, view, user_turn, failures, text, going_on))
            idle.set()

    def _going_on(self, comparison: Comparison | None, failures: dict) -> str | None:
        """(On the worker.) The side the chat goes on from, as the chat layer decides and records it."""
        answered = [side for side in SIDES if side not in failures]
        if comparison is None:
            return None
        try:
            return comparison.ended(answered)
        except UserError as exc:
            self.post_message(WorkFailed(f"chat log not updated: {exc}"))
            return answered[0] if answered else None

    def _run_side(self, side: str, events, view: CompareTurn, user_turn: UserTurn, failures: dict) -> None:
        turn = view.answers[side]
        wrap = EngineEvent if side == "a" else CompareEvent  # A is the chat's own turn: its tools and figures show as usual
        batch = TextBatcher(lambda delta: self.post_message(wrap(delta, turn)))
        try:
            for event in events:
                if side == "a" and user_turn.log_id is None:
                    user_turn.log_id = self.session.last_user_id
                if isinstance(event, TextDelta):
                    batch.add(event)
                    continue
                batch.flush()
                self.post_message(wrap(event, turn))
            batch.flush()
        except UserError as exc:  # TurnFailed included: that side left nothing behind
            failures[side] = exc
        except Exception as exc:  # a bug: show it for this side, keep the app alive
            failures[side] = RuntimeError(f"internal error: {type(exc).__name__}: {exc}")

    async def on_compare_event(self, message: CompareEvent) -> None:
        event, turn = message.event, message.turn
        if isinstance(event, TextDelta):
            await (turn.add_answer(event.text) if event.channel == "final" else turn.add_reasoning(event.text))
        elif isinstance(event, ToolCall):
            await turn.add_answer(f"\n\n_(calls {event.recipient}: not run in a comparison)_")
        elif isinstance(event, Done):
            await turn.finish(done_footer(event))

    async def on_compare_ended(self, message: CompareEnded) -> None:
        self.busy = False
        self.status.state = "ready"
        self._show_running()
        self._pending_calls.clear()
        view, failures = message.view, message.failures
        box = self.query_one(ChatInput)
        box.focus()  # what the user types next is their next question, whether or not they choose
        for side, failure in failures.items():
            await view.answers[side].finish(f"failed: {failure}")
        if message.going_on is None:
            await self.conversation.remove_from(message.user_turn)  # nothing of the turn stays
            if not box.text:
                box.text = message.text
            self.notify(str(failures["a"]), severity="error", timeout=10)
            return
        for side, failure in failures.items():
            self.notify(f"answer {side.upper()} failed: {failure}", severity="error", timeout=10)
        if message.going_on == "b":  # A failed and left nothing: the chat goes on from B
            await self._went_on(view, "b")
            return
        if not failures:
            self._unsettled = (message.comparison, view)
            view.offer()
        self._mark_versions()

    def on_compare_turn_kept(self, message: CompareTurn.Kept) -> None:
        if self.busy or self._unsettled is None or self._unsettled[1] is not message.compare:
            return
        comparison, view = self._unsettled
        self._unsettled = None
        self._keep(comparison, view, message.side)

    def _drop_choice(self) -> None:
        """The chat moved on (a new question, a new chat, another branch): the comparison's choice is no longer offered.

        The chat already goes on from A and the log shows A (see :meth:`..chat.compare.Comparison.ended`).
        """
        if self._unsettled is None:
            return
        view = self._unsettled[1]
        self._unsettled = None
        if view.is_attached:  # ctrl+n, ctrl+r, ctrl+e or a branch switch may have taken it off the screen
            view.settle("a")

    @work(thread=True, group="generate")
    def _keep(self, comparison: Comparison, view: CompareTurn, side: str) -> None:
        try:
            comparison.keep(side)
        except UserError as exc:
            self.post_message(WorkFailed(str(exc)))
            return
        self.post_message(CompareKept(view, side))

    async def on_compare_kept(self, message: CompareKept) -> None:
        await self._went_on(message.view, message.side)

    async def _went_on(self, view: CompareTurn, side: str) -> None:
        view.settle(side)
        if side == "b":
            await self._show(list(self.session.history))  # the chat as it now goes on: B's answer, A a version of it
        else:
            self._mark_versions()
        self.query_one(ChatInput).focus()
        self.notify(f"Kept {side.upper()}: the chat goes on from it; the other answer stays in the log "
                    "as a version of the question (←/→ on it).")

    def cancel_comparison(self) -> None:
        comparison = self._comparing
        if comparison is not None:
            comparison.cancel()


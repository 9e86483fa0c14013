"""What the app's worker threads send back to it: typed messages, never shared state."""

from __future__ import annotations

from typing import Any

from textual.message import Message

from ..chat.session import TurnFailed
from .widgets import AssistantTurn, UserTurn


class Loading(Message):
    """The model is loading: how far, in words and as a fraction."""

    def __init__(self, stage: str, fraction: float):
        super().__init__()
        self.stage = stage
        self.fraction = fraction


class SessionReady(Message):
    """A session is ready: started, resumed, switched or reloaded.

    ``history``, when given, replaces what the conversation shows (a chat was opened).
    """

    def __init__(self, notes: list[str] | None = None, history: list[dict] | None = None):
        super().__init__()
        self.notes = notes or []
        self.history = history


class WorkFailed(Message):
    """A worker could not do its job; ``text`` says why in one line."""

    def __init__(self, text: str):
        super().__init__()
        self.text = text


class EngineEvent(Message):
    """An engine event of the turn whose answer ``turn`` shows."""

    def __init__(self, event: Any, turn: AssistantTurn):
        super().__init__()
        self.event = event
        self.turn = turn


class TurnEnded(Message):
    """The worker has finished the whole turn (every tool step included), or the turn failed.

    A failed turn left nothing in the conversation or the log; its widgets,
    from ``user_turn`` on, are to go.
    """

    def __init__(self, user_turn: UserTurn, failure: TurnFailed | None = None):
        super().__init__()
        self.user_turn = user_turn
        self.failure = failure


class VersionsFound(Message):
    """How many versions each shown user message has in the log."""

    def __init__(self, found: dict[str, tuple[int, int]]):
        super().__init__()
        self.found = found


class CompareEvent(Message):
    """An engine event of side B of a comparison, whose answer ``turn`` shows."""

    def __init__(self, event: Any, turn: AssistantTurn):
        super().__init__()
        self.event = event
        self.turn = turn


class CompareEnded(Message):
    """Both answers of a comparison are in (or failed: ``failures`` maps a side to why); the chat goes on from side
    ``going_on`` until the user keeps one (None: neither answered)."""

    def __init__(self, comparison: Any, view: Any, user_turn: UserTurn, failures: dict[str, Exception], text: str,
                 going_on: str | None):
        super().__init__()
        self.comparison = comparison
        self.view = view
        self.user_turn = user_turn
        self.failures = failures
        self.text = text
        self.going_on = going_on


class CompareKept(Message):
    """The chat goes on from ``side``'s answer of a comparison (the session has it)."""

    def __init__(self, view: Any, side: str):
        super().__init__()
        self.view = view
        self.side = side


class SlowBlas(Message):
    """MLX runs on its slow bundled BLAS: ``text`` says so and how to fix it."""

    def __init__(self, text: str):
        super().__init__()
        self.text = text

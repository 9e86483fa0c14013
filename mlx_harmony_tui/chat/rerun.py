"""Re-run a saved chat: every user message asked again, in order, with the current model, profile and sampling.

The new answers are saved in the same chat as a new branch beside the
original (the first re-asked message shares the original's parent), so the
two versions can be compared and either continued.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from ..engine.events import Event
from ..logs.branches import path_to
from ..logs.store import ChatLog
from .session import ChatSession


@dataclass(frozen=True)
class OriginalTurn:
    question: str
    answer: str  # the final text of the turn's last answer ("" when it had none)


def original_turns(chat, head: str | None = None) -> tuple[list[OriginalTurn], str | None]:
    """The branch ending at ``head`` (default: the newest) as question/answer pairs, and where a re-run branches from."""
    branch = path_to(chat, head)
    turns: list[OriginalTurn] = []
    root_parent = None
    for message in branch:
        if message.role == "user":
            if not turns:
                root_parent = message.parent_id
            turns.append(OriginalTurn(message.content, ""))
        elif message.role == "assistant" and turns and message.content:
            turns[-1] = OriginalTurn(turns[-1].question, message.content)
    return turns, root_parent


class Rerun:
    """Asks each question of ``log``'s branch ending at ``head`` again, beside ``session``'s own conversation.

    ``session`` is the app's live session: its model, settings and sampling
    are used; its own conversation and cache are left as they were, and it
    can answer at the same time (the engine batches both).
    """

    def __init__(self, session: ChatSession, log: ChatLog, head: str | None = None):
        self.turns, root_parent = original_turns(log.read(), head)
        generator = session.generator
        self.runner = ChatSession(session.settings, generator=generator, profiles_file=session.profiles_file,
                                  system=session.system, conversation_id=generator.new_conversation_id())
        self.runner.reasoning_effort = session.reasoning_effort
        self.runner.log = ChatLog(log.path, log.chat_id)
        self.runner.log.head = root_parent

    def __iter__(self) -> Iterator[tuple[int, Event]]:
        """(turn index, event) for every answer, in order; the answers are saved as a new branch."""
        for i, turn in enumerate(self.turns):
            for event in self.runner.send(turn.question):
                yield i, event

    def cancel(self) -> None:
        """Stop the answer being re-run (from any thread)."""
        self.runner.cancel()

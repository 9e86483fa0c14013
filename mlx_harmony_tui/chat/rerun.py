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


def rerun(session, log, head: str | None = None) -> Iterator[tuple[int, Event]]:
    """Ask each question of ``log``'s branch again through ``session``'s model; yield (turn index, event).

    ``session`` is the app's live session: its model, settings and sampling
    are used; its own conversation and cache are left as they were.
    """
    turns, root_parent = original_turns(log.read(), head)
    generator = session.generator
    runner = ChatSession(session.settings, generator=generator, profiles_file=session.profiles_file, system=session.system)
    runner.reasoning_effort = session.reasoning_effort
    runner.log = ChatLog(log.path, log.chat_id)
    runner.log.head = root_parent
    live_conversation = generator.use_conversation(None)
    try:
        for i, turn in enumerate(turns):
            for event in runner.send(turn.question):
                yield i, event
    finally:
        generator.use_conversation(live_conversation)

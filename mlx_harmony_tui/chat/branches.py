"""Branches and versions of a saved chat, as a front end shows and switches them.

Edits and regenerations save the new turn beside the old one (see
:mod:`..logs.branches`); these functions say which versions a message has,
list the branches to pick from, and find what to show when the user steps
to another version of a message.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..logs import branches
from ..logs.store import ChatLog

LABEL_CHARS = 60


@dataclass(frozen=True)
class BranchChoice:
    """One branch of a chat: where it ends, a line to recognise it by, and whether it is the one shown."""

    leaf_id: str
    label: str
    shown: bool


def message_versions(log: ChatLog) -> dict[str, tuple[int, int]]:
    """For every user message with other versions: (which one it is, how many), 1-based."""
    return branches.versions(log.read())


def branch_choices(log: ChatLog) -> list[BranchChoice]:
    """Every branch of the chat, in the order they were written."""
    chat = log.read()
    found = []
    for leaf in branches.leaves(chat):
        users = [m.content for m in branches.path_to(chat, leaf.id) if m.role == "user"]
        last = " ".join((users[-1] if users else "").split())[:LABEL_CHARS]
        found.append(BranchChoice(leaf.id, f"{len(users)} questions · last: {last}", leaf.id == log.head))
    return found


def other_version(log: ChatLog, message_id: str, step: int) -> tuple[str, str] | None:
    """Stepping ``step`` versions from message ``message_id``: (the branch end to show, the version's id)."""
    chat = log.read()
    current = next((m for m in chat.messages if m.id == message_id), None)
    if current is None:
        return None
    versions = branches.siblings(chat, current)
    target = versions[(versions.index(current) + step) % len(versions)]
    return branches.latest_leaf_under(chat, target.id), target.id

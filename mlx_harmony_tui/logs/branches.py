"""Branches of a chat: messages form a tree through ``parent_id``; a branch is a path from the root to a leaf.

Regenerating an answer or editing a message saves the new turn beside the
old one (same parent), so nothing said is lost and each version stays
reachable. The branch a chat shows is the one it was left on
(``metadata.shown_branch``), else the one that ends with the newest message.
"""

from __future__ import annotations

from .schema import Chat, Message


def children(chat: Chat) -> dict[str | None, list[Message]]:
    """Each message id (None: the root) mapped to its replies, oldest first."""
    known = {m.id for m in chat.messages}
    tree: dict[str | None, list[Message]] = {}
    for message in chat.messages:
        parent = message.parent_id if message.parent_id in known else None
        tree.setdefault(parent, []).append(message)
    return tree


def leaves(chat: Chat) -> list[Message]:
    """The last message of every branch, in the order they were written."""
    tree = children(chat)
    return [m for m in chat.messages if m.id not in tree]


def shown_leaf(chat: Chat) -> str | None:
    """The last message of the branch the chat shows: the one it was left on, else the newest (None: no messages)."""
    shown = chat.metadata.shown_branch
    if shown is not None and any(m.id == shown for m in chat.messages):
        return shown
    ends = leaves(chat)
    return ends[-1].id if ends else None


def path_to(chat: Chat, message_id: str | None) -> list[Message]:
    """The messages from the root down to ``message_id`` (the branch the chat shows when None)."""
    by_id = {m.id: m for m in chat.messages}
    if message_id is None:
        message_id = shown_leaf(chat)
    path: list[Message] = []
    seen: set[str] = set()
    while message_id in by_id and message_id not in seen:  # a cycle in a damaged log ends the walk
        seen.add(message_id)
        message = by_id[message_id]
        path.append(message)
        message_id = message.parent_id
    return path[::-1]


def latest_leaf_under(chat: Chat, message_id: str) -> str:
    """The newest leaf below ``message_id`` (itself when it has no replies)."""
    tree = children(chat)
    order = {m.id: i for i, m in enumerate(chat.messages)}
    current = message_id
    while current in tree:
        current = max(tree[current], key=lambda m: order[m.id]).id
    return current


def siblings(chat: Chat, message: Message) -> list[Message]:
    """The versions of ``message``: every reply to its parent with its role, oldest first."""
    tree = children(chat)
    known = {m.id for m in chat.messages}
    parent = message.parent_id if message.parent_id in known else None
    return [m for m in tree.get(parent, []) if m.role == message.role]


def versions(chat: Chat) -> dict[str, tuple[int, int]]:
    """For every user message that has other versions: (which one it is, how many there are), 1-based."""
    found: dict[str, tuple[int, int]] = {}
    for replies in children(chat).values():
        users = [m for m in replies if m.role == "user"]
        if len(users) > 1:
            for i, message in enumerate(users, 1):
                found[message.id] = (i, len(users))
    return found


def branch_count(chat: Chat) -> int:
    return len(leaves(chat))

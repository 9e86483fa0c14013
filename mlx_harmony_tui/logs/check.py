"""Consistency checks for a chat file, and the repairs that are safe to make.

Safe repairs only restore what the file's own content already says: the chat
order and active id, ``updated_at`` and ``last_hyperparameters``. A broken
parent chain or duplicate message ids would need a guess, so they are only
reported.
"""

from __future__ import annotations

from dataclasses import dataclass

from .schema import ChatFile


@dataclass(frozen=True)
class Problem:
    where: str
    text: str
    repairable: bool

    def __str__(self) -> str:
        return f"{self.where}: {self.text}" + ("" if self.repairable else " (not repaired automatically)")


def check(chat_file: ChatFile) -> list[Problem]:
    problems: list[Problem] = []
    for missing in [c for c in chat_file.chat_order if c not in chat_file.chats]:
        problems.append(Problem("chat_order", f"names {missing!r}, which is not in chats", True))
    for unlisted in [c for c in chat_file.chats if c not in chat_file.chat_order]:
        problems.append(Problem("chat_order", f"leaves out chat {unlisted!r}", True))
    if chat_file.chats and chat_file.active_chat_id not in chat_file.chats:
        problems.append(Problem("active_chat_id", f"{chat_file.active_chat_id!r} is not a chat in this file", True))
    for key, chat in chat_file.chats.items():
        where = f"chats.{key}"
        if chat.chat_id != key:
            problems.append(Problem(f"{where}.chat_id", f"{chat.chat_id!r} differs from its key", True))
        seen: set[str] = set()
        for i, message in enumerate(chat.messages):
            at = f"{where}.messages[{i}]"
            if message.id in seen:
                problems.append(Problem(f"{at}.id", f"duplicate id {message.id!r}", False))
            if message.parent_id is not None and message.parent_id not in seen:
                problems.append(Problem(f"{at}.parent_id", f"{message.parent_id!r} is not an earlier message", False))
            seen.add(message.id)
        meta = chat.metadata
        if chat.messages:
            last = max(m.timestamp.unix for m in chat.messages)
            if meta.updated_at.unix + 1e-3 < last:
                problems.append(Problem(f"{where}.metadata.updated_at", "is older than the last message", True))
        latest = next((m.hyperparameters for m in reversed(chat.messages) if m.hyperparameters), None)
        if latest is not None and meta.last_hyperparameters != latest:
            problems.append(Problem(f"{where}.metadata.last_hyperparameters", "differs from the last message's", True))
    return problems


def repair(chat_file: ChatFile) -> list[Problem]:
    """Fix the repairable problems in place; return what was fixed."""
    fixed = [p for p in check(chat_file) if p.repairable]
    if not fixed:
        return []
    chat_file.chat_order = [c for c in chat_file.chat_order if c in chat_file.chats]
    chat_file.chat_order += [c for c in chat_file.chats if c not in chat_file.chat_order]
    if chat_file.chats and chat_file.active_chat_id not in chat_file.chats:
        chat_file.active_chat_id = chat_file.chat_order[-1]
    for key, chat in chat_file.chats.items():
        chat.chat_id = key
        meta = chat.metadata
        if chat.messages:
            newest = max(chat.messages, key=lambda m: m.timestamp.unix).timestamp
            if meta.updated_at.unix < newest.unix:
                meta.updated_at = newest.model_copy()
        latest = next((m.hyperparameters for m in reversed(chat.messages) if m.hyperparameters), None)
        if latest is not None:
            meta.last_hyperparameters = dict(latest)
    return fixed

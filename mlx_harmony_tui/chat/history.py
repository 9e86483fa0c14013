"""The session's history: saved log messages in the shape the prompt takes."""

from __future__ import annotations

from typing import Any

from ..logs.schema import Message


def history_entry(message: Message) -> dict:
    """A saved log message as the session's history keeps it."""
    entry: dict[str, Any] = {"role": message.role, "content": message.content, "log_id": message.id}
    if message.role == "user":
        entry["log_parent"] = message.parent_id
    elif message.role == "tool":
        entry["name"] = message.name or "tool"
    elif message.role == "assistant":
        if message.analysis:
            entry["analysis"] = message.analysis
        if message.tool_calls:
            entry["tool_calls"] = [c.model_dump() for c in message.tool_calls]
    return entry

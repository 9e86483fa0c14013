"""A chat as Markdown a person can read, or as its own v2 JSON."""

from __future__ import annotations

import json

from .branches import path_to
from .schema import Chat, ChatFile

ROLE_TITLES = {"user": "User", "assistant": "Assistant", "system": "System", "developer": "Developer", "tool": "Tool"}


def to_markdown(chat: Chat, head: str | None = None) -> str:
    """The branch that ends at ``head`` (default: the newest) as Markdown."""
    meta = chat.metadata
    lines = [f"# {meta.title or 'Chat'}", ""]
    details = [f"model: {meta.last_model_path or meta.model_path or 'unknown'}", f"started: {meta.created_at.iso}"]
    if meta.profile:
        details.append(f"profile: {meta.profile}")
    lines += ["_" + " · ".join(details) + "_", ""]
    for message in path_to(chat, head):
        title = ROLE_TITLES[message.role] + (f" ({message.name})" if message.name else "")
        lines += [f"## {title}", ""]
        if message.analysis:
            lines += ["<details><summary>Reasoning</summary>", "", message.analysis.strip(), "", "</details>", ""]
        for call in message.tool_calls or []:
            lines += [f"Tool call to `{call.recipient}`:", "", "```", call.arguments, "```", ""]
        if message.content:
            lines += [message.content.strip(), ""]
        if message.cancelled:
            lines += ["_(cancelled)_", ""]
    return "\n".join(lines).rstrip() + "\n"


def to_json(chat: Chat) -> str:
    single = ChatFile(chat_order=[chat.chat_id], active_chat_id=chat.chat_id, chats={chat.chat_id: chat})
    return json.dumps(single.record(), indent=2, ensure_ascii=False) + "\n"

"""OpenAI chat messages to the engine's message dicts.

:func:`harmony_messages` checks every message and gives them in the shape
:mod:`mlx_harmony_tui.harmony.render` takes: an assistant's ``tool_calls``
become Harmony calls to ``functions.NAME``, its ``reasoning_content`` the
analysis, and a ``tool`` message is matched to its call by ``tool_call_id``.
What a model without Harmony can take is decided by the chat layer
(:func:`mlx_harmony_tui.chat.completion.check_plain_request`).
"""

from __future__ import annotations

from typing import Any

from ..harmony.render import FUNCTIONS
from .openai_format import invalid_request
from .schemas import ChatMessage

JSON_CONTENT = "<|constrain|>json"


def content_text(content: Any, where: str, required: bool, text_keys: dict[str, str] | None = None,
                 unsupported: dict[str, str] | None = None) -> str:
    """Text content, or the text parts of a content array joined by newlines.

    ``text_keys`` maps each part type taken to the key holding its text
    (chat's ``{"text": "text"}`` by default); ``unsupported`` names, per part
    type, what is refused ("images"), for a clearer 400.
    """
    text_keys = text_keys or {"text": "text"}
    if content is None:
        if required:
            raise invalid_request(f"{where}: is required", param=where)
        return ""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise invalid_request(f"{where}: must be text or a list of content parts", param=where)
    texts = []
    for j, part in enumerate(content):
        at = f"{where}[{j}]"
        if not isinstance(part, dict):
            raise invalid_request(f"{at}: must be an object like {{\"type\": \"text\", \"text\": ...}}", param=at)
        kind = part.get("type")
        if unsupported and kind in unsupported:
            raise invalid_request(f"{at}.type: {unsupported[kind]} are not supported by this server; only text is",
                                  param=f"{at}.type", code="unsupported_content")
        if kind not in text_keys:
            raise invalid_request(f"{at}.type: {kind!r} content is not supported; only text parts are", param=f"{at}.type")
        key = text_keys[kind]
        if not isinstance(part.get(key), str):
            raise invalid_request(f"{at}.{key}: must be text", param=f"{at}.{key}")
        texts.append(part[key])
    return "\n".join(texts)


def harmony_messages(messages: list[ChatMessage]) -> list[dict]:
    """The conversation in the engine's Harmony message shape; APIError (400) naming the bad field."""
    calls: dict[str, str] = {}  # tool_call_id -> recipient
    out: list[dict] = []
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        role = message.role
        text = content_text(message.content, f"{where}.content", required=role != "assistant")
        if role == "assistant":
            item: dict = {"role": role, "content": text, "analysis": message.reasoning_content or "", "tool_calls": []}
            for call in message.tool_calls or []:
                calls[call.id] = FUNCTIONS + call.function.name
                item["tool_calls"].append(
                    {"recipient": FUNCTIONS + call.function.name, "arguments": call.function.arguments,
                     "channel": "commentary", "content_type": JSON_CONTENT}
                )
            out.append(item)
        elif role == "tool":
            out.append({"role": "tool", "name": _tool_recipient(message, calls, where), "content": text})
        else:
            if message.tool_calls or message.tool_call_id:
                field = "tool_calls" if message.tool_calls else "tool_call_id"
                raise invalid_request(f"{where}.{field}: only allowed in {'assistant' if message.tool_calls else 'tool'} messages",
                                      param=f"{where}.{field}")
            out.append({"role": role, "content": text})
    return out


def _tool_recipient(message: ChatMessage, calls: dict[str, str], where: str) -> str:
    if message.tool_call_id is not None:
        if message.tool_call_id not in calls:
            raise invalid_request(
                f"{where}.tool_call_id: {message.tool_call_id!r} matches no tool call of an earlier assistant message",
                param=f"{where}.tool_call_id",
            )
        return calls[message.tool_call_id]
    if message.name:
        return FUNCTIONS + message.name
    raise invalid_request(f"{where}.tool_call_id: is required", param=f"{where}.tool_call_id")

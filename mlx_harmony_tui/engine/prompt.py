"""Turning chat messages into prompt tokens for ordinary (non-Harmony) models."""

from __future__ import annotations

from ..errors import UserError
from . import lm

ROLES = ("system", "user", "assistant", "developer", "tool")


def _tool_fields(message: dict, where: str) -> dict:
    """An assistant's ``tool_calls`` or a tool result's ``name``/``tool_call_id``, as chat templates take them."""
    found: dict = {}
    calls = message.get("tool_calls")
    if calls:
        if not isinstance(calls, list) or not all(isinstance(c, dict) and isinstance(c.get("function"), dict) for c in calls):
            raise UserError(f"{where}.tool_calls: expected a list of {{type, function: {{name, arguments}}}} objects")
        found["tool_calls"] = calls
    for key in ("name", "tool_call_id"):
        if isinstance(message.get(key), str):
            found[key] = message[key]
    return found


def check_messages(messages: list[dict]) -> list[dict]:
    """Validate chat messages; raise UserError naming the bad field."""
    if not isinstance(messages, list) or not messages:
        raise UserError("messages: expected a non-empty list of {role, content} objects")
    clean = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise UserError(f"messages[{i}]: expected an object with role and content")
        role, content = message.get("role"), message.get("content")
        if role not in ROLES:
            raise UserError(f"messages[{i}].role: {role!r} is not one of {', '.join(ROLES)}")
        if not isinstance(content, str):
            raise UserError(f"messages[{i}].content: expected text")
        clean.append({"role": role, "content": content, **_tool_fields(message, f"messages[{i}]")})
    return clean


def plain_prompt(messages: list[dict]) -> str:
    """A readable transcript for base models that ship no chat template."""
    lines = [f"{m['role'].capitalize()}: {m['content']}" for m in messages]
    return "\n\n".join(lines) + "\n\nAssistant:"


def prompt_tokens(loaded: lm.LoadedModel, messages: list[dict], tools: tuple[dict, ...] = ()) -> list[int]:
    """Render ``messages`` with the tokenizer's own Jinja chat template (declaring ``tools`` when given)."""
    messages = check_messages(messages)
    try:
        ids = lm.chat_template_tokens(loaded, messages, **({"tools": list(tools)} if tools else {}))
    except Exception as exc:  # Jinja templates raise their own errors for unsupported roles/orders
        raise UserError(f"{loaded.path}: the model's chat template rejected these messages: {exc}") from None
    if ids is None:
        ids = lm.encode(loaded, plain_prompt(messages))
    return ids

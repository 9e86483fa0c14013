"""Turning chat messages into prompt tokens for ordinary (non-Harmony) models."""

from __future__ import annotations

from ..errors import UserError
from . import lm

ROLES = ("system", "user", "assistant", "developer", "tool")


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
        clean.append({"role": role, "content": content})
    return clean


def plain_prompt(messages: list[dict]) -> str:
    """A readable transcript for base models that ship no chat template."""
    lines = [f"{m['role'].capitalize()}: {m['content']}" for m in messages]
    return "\n\n".join(lines) + "\n\nAssistant:"


def prompt_tokens(loaded: lm.LoadedModel, messages: list[dict]) -> list[int]:
    """Render ``messages`` with the tokenizer's own Jinja chat template."""
    messages = check_messages(messages)
    try:
        ids = lm.chat_template_tokens(loaded, messages)
    except Exception as exc:  # Jinja templates raise their own errors for unsupported roles/orders
        raise UserError(f"{loaded.path}: the model's chat template rejected these messages: {exc}") from None
    if ids is None:
        ids = lm.encode(loaded, plain_prompt(messages))
    return ids

"""The output format a request asks for: free text, or JSON following a schema.

:func:`checked_output_format` is the one place the server decides a
request's format, whichever API it came through (chat completions'
``response_format``, Responses' ``text.format``, Anthropic's
``output_config.format``); the result travels on
:class:`~mlx_harmony_tui.chat.completion.ChatRequest` as ``response_schema``
and the engine holds the answer to it.
"""

from __future__ import annotations

from typing import Any

from ..chat.completion import ChatRequest, output_constraint
from ..config.response_schema import ResponseSchema, response_schema_from_openai
from ..errors import UserError
from .openai_format import invalid_request


def checked_output_format(response_format: dict[str, Any] | None, field: str) -> ResponseSchema | None:
    """The schema the answer must follow, or None for free text; APIError (400) naming ``field`` or the part of it at fault."""
    try:
        return response_schema_from_openai(response_format, field)
    except UserError as exc:
        raise invalid_request(str(exc), param=exc.field) from None


def checked_constraint(chat: ChatRequest) -> ChatRequest:
    """``chat`` once its response schema and strict functions' schemas are known to compile; APIError (400) naming the one that does not."""
    try:
        output_constraint(chat)
    except UserError as exc:
        raise invalid_request(str(exc), param=exc.field) from None
    return chat

"""The output format a request asks for: free text, or JSON (``response_format``, Responses' ``text.format``).

:func:`checked_output_format` is the one place a request's format is
decided; its result travels on :class:`~mlx_harmony_tui.chat.completion.ChatRequest`
as ``response_format``, in chat completions' shape. Constrained decoding is
not connected here yet, so a JSON format is refused with a 400 naming the
field rather than answered with unconstrained text.
"""

from __future__ import annotations

from typing import Any

from .openai_format import invalid_request


def checked_output_format(response_format: dict[str, Any] | None, field: str) -> dict[str, Any] | None:
    """``response_format`` (chat completions' shape) for the generation, or None for free text; APIError (400) naming ``field``."""
    if response_format is None or response_format.get("type") == "text":
        return None
    kind = response_format.get("type")
    if kind in ("json_schema", "json_object"):
        raise invalid_request(f"{field}: {kind!r} output is not supported by this server yet; only {{\"type\": \"text\"}} is",
                              param=field, code="unsupported_parameter")
    raise invalid_request(f"{field}.type: {kind!r} is not text, json_schema or json_object", param=f"{field}.type")

"""Anthropic's error shape: ``{"type": "error", "error": {"type", "message"}}``, its type following the status."""

from __future__ import annotations

from ..openai_format import APIError

PATH_PREFIX = "/v1/messages"
_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error", 404: "not_found_error",
          405: "invalid_request_error", 413: "request_too_large", 429: "rate_limit_error", 529: "overloaded_error"}


def is_anthropic_path(path: str) -> bool:
    """Whether a request to ``path`` is answered in Anthropic's shapes."""
    return path == PATH_PREFIX or path.startswith(PATH_PREFIX + "/")


def error_body(error: APIError) -> dict:
    kind = _TYPES.get(error.status, "api_error" if error.status >= 500 else "invalid_request_error")
    return {"type": "error", "error": {"type": kind, "message": error.message}}

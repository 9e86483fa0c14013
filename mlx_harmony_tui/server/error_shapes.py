"""An :class:`~.openai_format.APIError` as the HTTP response of the API a request was for.

Requests under ``/v1/messages`` get Anthropic's error shape, every other one
OpenAI's envelope; the body limit, the API-key check and the app's exception
handlers all answer through :func:`error_response`.
"""

from __future__ import annotations

from fastapi.responses import JSONResponse

from .anthropic_messages.errors import error_body as anthropic_error_body
from .anthropic_messages.errors import is_anthropic_path
from .openai_format import APIError


def error_response(error: APIError, path: str = "") -> JSONResponse:
    """``error`` in the shape of the API that ``path`` belongs to."""
    body = anthropic_error_body(error) if is_anthropic_path(path) else error.body()
    return JSONResponse(body, status_code=error.status, headers=error.headers)

"""OpenAI's wire shapes: the error envelope, responses, stream chunks and usage.

Every error the server returns is ``{"error": {"message", "type", "param",
"code"}}`` with a 4xx status for the client's mistakes; :class:`APIError`
carries one from wherever it is found to the HTTP layer.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any, Iterable

from ..config.files import error_reason
from .request_text import LONE_SURROGATE


class APIError(Exception):
    """An error to send as OpenAI's envelope with ``status``."""

    def __init__(self, status: int, message: str, type: str = "invalid_request_error", param: str | None = None,
                 code: str | None = None, headers: dict[str, str] | None = None):
        message = message.encode("utf-8", "backslashreplace").decode("utf-8")  # it may quote a client's lone surrogate
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type, param, code
        self.headers = headers or {}

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


def invalid_request(message: str, param: str | None = None, code: str | None = None) -> APIError:
    """A 400 for a request the client must change."""
    return APIError(400, message, param=param, code=code)


def model_not_found(name: str) -> APIError:
    return APIError(404, f"The model {name!r} does not exist on this server; GET /v1/models lists what it serves.",
                    param="model", code="model_not_found")


def param_name(loc: Iterable[Any]) -> str:
    """A field's location as a client would write it: ``messages[0].content``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


# Reasons for the constraints only request bodies use (config files' reasons come from config.files).
_REASONS = {
    "too_short": "must have at least {min_length} item(s)",
    "too_long": "must have at most {max_length} item(s)",
    "string_too_short": "must not be empty",
    "string_pattern_mismatch": "must match {pattern}",
}


def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value) if isinstance(value, (str, int, float, bool, type(None))) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def validation_error(errors: list[dict], skip: int = 0) -> APIError:
    """A 400 naming the first invalid field of a pydantic error list (``skip`` drops leading loc parts)."""
    first = errors[0]
    if first["type"] == "json_invalid":
        reason = (first.get("ctx") or {}).get("error", "invalid JSON")
        return invalid_request(f"We could not parse the JSON body of your request: {reason}.", code="invalid_json")
    if first["type"] == LONE_SURROGATE:
        return invalid_request(first["msg"], param=first["ctx"]["field"], code="invalid_unicode")
    param = param_name(first["loc"][skip:])
    if not param:
        return invalid_request("The request body must be a JSON object.")
    if first["type"] == "extra_forbidden":
        return invalid_request(f"{param}: not supported by this server", param=param, code="unsupported_parameter")
    got = "" if first["type"] == "missing" else f" (got {_short(first.get('input'))})"
    reason = _REASONS.get(first["type"], "").format(**(first.get("ctx") or {})) or error_reason(first)
    return invalid_request(f"{param}: {reason}{got}", param=param)


def new_id(prefix: str) -> str:
    """A unique id in OpenAI's style, e.g. ``chatcmpl-...`` or ``call_...``."""
    return prefix + secrets.token_hex(12)


def now() -> int:
    return int(time.time())


def usage(prompt_tokens: int, cached_tokens: int, completion_tokens: int, drafted: int = 0, accepted: int = 0) -> dict:
    """OpenAI's usage; drafts of speculative decoding as its predicted outputs' accepted and rejected tokens."""
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": cached_tokens},
        "completion_tokens_details": {"accepted_prediction_tokens": accepted, "rejected_prediction_tokens": drafted - accepted},
    }


def tool_call(index: int | None, call_id: str, name: str, arguments: str) -> dict:
    """A tool call as a message carries it; with ``index`` as a stream delta carries it."""
    call = {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
    return call if index is None else {"index": index, **call}


def sse(data: dict | str) -> str:
    """One server-sent event line pair."""
    return f"data: {data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)}\n\n"


SSE_DONE = sse("[DONE]")

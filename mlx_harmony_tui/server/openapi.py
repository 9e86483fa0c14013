"""The OpenAPI document (``GET /openapi.json``), saying what each operation really answers.

FastAPI's own document gives every operation a 200 and a 422. This server
never answers 422 (a body that fails validation is a 400 naming the field)
and answers more: 400 for a bad body, 401 without the API key (when one is
set), 404 for an unknown model, URL or stored response, 413 for a body over
``--max-request-mb``, 429 when the line is full, 503 while a model cannot be
loaded or the server stops; and a generation asked to ``stream`` answers 200
with server-sent events. Errors come in the API's own shape: Anthropic's
under ``/v1/messages``, OpenAI's elsewhere. Request bodies' ``model`` lists
the names this server serves.
"""

from __future__ import annotations

from typing import Any, Sequence

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from .anthropic_messages.errors import is_anthropic_path

REASONS = {
    400: "The request is malformed or a field is out of range; the message names the field.",
    401: "The API key is missing or wrong.",
    404: "No such model, URL or stored response.",
    413: "The request body is larger than --max-request-mb.",
    429: "The line of waiting requests is full; Retry-After gives its expected wait in seconds.",
    503: "The model cannot be loaded, or the server is shutting down.",
}
GENERATION_CODES = (400, 404, 413, 429, 503)
STREAMS = {
    "/v1/chat/completions": "With stream true: `data:` lines, each a chat.completion.chunk, then `data: [DONE]`.",
    "/v1/completions": "With stream true: `data:` lines, each a text_completion chunk, then `data: [DONE]`.",
    "/v1/responses": "With stream true: named events (`event: response.created` ... `response.completed`), each with a `data:` line.",
    "/v1/messages": "With stream true: named events (`event: message_start` ... `message_stop`), each with a `data:` line.",
}
OPENAI_ERROR = {
    "type": "object", "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["message", "type", "param", "code"], "properties": {
        "message": {"type": "string"}, "type": {"type": "string"}, "param": {"type": ["string", "null"]},
        "code": {"type": ["string", "null"]}}}},
}
ANTHROPIC_ERROR = {
    "type": "object", "required": ["type", "error"],
    "properties": {"type": {"const": "error"}, "error": {"type": "object", "required": ["type", "message"], "properties": {
        "type": {"type": "string"}, "message": {"type": "string"}}}},
}
SECURITY = {"bearer": {"type": "http", "scheme": "bearer"}, "x-api-key": {"type": "apiKey", "in": "header", "name": "x-api-key"}}


def _codes(path: str, operation: dict, api_key: bool) -> list[int]:
    codes: set[int] = set()
    if path in STREAMS:
        codes.update(GENERATION_CODES)
    elif "requestBody" in operation:
        codes.update((400, 413))
    if any(p.get("in") == "path" for p in operation.get("parameters", ())):
        codes.add(404)
    if api_key and path.startswith("/v1"):
        codes.add(401)
    return sorted(codes)


def openapi_document(app: FastAPI, model_names: Sequence[str], api_key: bool) -> dict[str, Any]:
    """``app``'s OpenAPI document with its real status codes, its event streams and the served ``model_names``."""
    document = get_openapi(title=app.title, version=app.version, routes=app.routes)
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    schemas["Error"], schemas["AnthropicError"] = OPENAI_ERROR, ANTHROPIC_ERROR
    for schema in schemas.values():
        model = schema.get("properties", {}).get("model")
        if model is not None and model.get("type") == "string":
            model.update(enum=list(model_names), description="One of the names GET /v1/models lists.")
    if api_key:
        components["securitySchemes"] = SECURITY
    for path, operations in document["paths"].items():
        error = {"$ref": "#/components/schemas/" + ("AnthropicError" if is_anthropic_path(path) else "Error")}
        for operation in operations.values():
            responses = operation["responses"]
            responses.pop("422", None)
            for code in _codes(path, operation, api_key):
                responses[str(code)] = {"description": REASONS[code], "content": {"application/json": {"schema": error}}}
            if path in STREAMS:
                responses["200"]["content"]["text/event-stream"] = {"schema": {"type": "string", "description": STREAMS[path]}}
            if api_key and path.startswith("/v1"):
                operation["security"] = [{"bearer": []}, {"x-api-key": []}]
    return document

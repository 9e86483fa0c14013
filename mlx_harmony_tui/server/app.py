"""The FastAPI app: OpenAI's chat and text completions and Responses API, Anthropic's Messages API, models, and health.

A request is checked, given a generation slot or a place in the line (429
when the line is full), and answered once its first piece exists
(:mod:`.answer`): an error found before any text (an unknown role, a prompt
too long) is still a proper 4xx, in the API's own error shape (Anthropic's
under ``/v1/messages``, OpenAI's elsewhere), and a streamed answer's first
event leaves as soon as its first token is decoded. A client that leaves,
while waiting or mid-answer, cancels its generation. A body over the
request limit is refused (413) before it is parsed (:mod:`.body_limit`);
``/openapi.json`` documents what each operation answers (:mod:`.openapi`).
"""

from __future__ import annotations

import logging
import secrets
import time
from contextlib import asynccontextmanager
from typing import Any, Sequence

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from ..chat.completion import ChatRequest
from ..harmony.render import FunctionTool
from .answer import ChunkReply, answer
from .anthropic_messages import routes as anthropic_routes
from .body_limit import DEFAULT_MAX_REQUEST_MB, MB, RequestBodyLimit
from .catalog import ModelCatalog, ServedModel
from .error_shapes import error_response
from .generation import ChatGeneration, GenerationOptions, ProcessorFactory, TextGeneration
from .messages import harmony_messages
from .openai_format import APIError, validation_error
from .openai_responses import routes as responses_routes
from .openai_responses.store import ResponseStore
from .openapi import openapi_document
from .output_format import checked_constraint, checked_output_format
from .responses import ChatReply, TextReply
from .schemas import ChatCompletionRequest, CompletionRequest, GenerationRequest
from .slot import GenerationSlots, Job

log = logging.getLogger("mlx_harmony_tui.server")


class BearerAuth:
    """ASGI middleware: every ``/v1`` request needs the API key.

    It comes as ``Authorization: Bearer <api key>`` (OpenAI's clients) or
    ``x-api-key: <api key>`` (Anthropic's). The middleware runs before the
    body is read, so a client without the key learns that first, whatever
    else is wrong with its request.
    """

    def __init__(self, app: Any, api_key: str):
        self.app, self._key = app, api_key.encode()

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/v1") and scope["method"] != "OPTIONS":
            headers = dict(scope["headers"])
            scheme, _, token = headers.get(b"authorization", b"").partition(b" ")
            token = token.strip() if scheme.lower() == b"bearer" else headers.get(b"x-api-key", b"").strip()
            error = None
            if not token:
                error = "Missing API key: send it as 'Authorization: Bearer KEY' or 'x-api-key: KEY'."
            elif not secrets.compare_digest(token, self._key):
                error = "Incorrect API key provided."
            if error:
                response = error_response(APIError(401, error, code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"}),
                                          scope["path"])
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _options(served: ServedModel, body: GenerationRequest, processors: ProcessorFactory | None) -> GenerationOptions:
    return GenerationOptions.build(served, body.sampling_changes(), body.stop, processors)


def _function_tools(body: ChatCompletionRequest) -> tuple:
    if not body.tools or body.tool_choice == "none":
        return ()
    return tuple(FunctionTool(t.function.name, t.function.description or "", t.function.parameters, bool(t.function.strict))
                 for t in body.tools)


def _chat_request(body: ChatCompletionRequest, params) -> ChatRequest:
    """The chat layer's request; a response format or strict function schema that cannot be enforced is a 400 naming it."""
    schema = checked_output_format(body.response_format, "response_format")
    return checked_constraint(ChatRequest(harmony_messages(body.messages), params, _function_tools(body), body.required_functions(),
                                          body.effort(), response_schema=schema))


def create_app(
    catalog: ModelCatalog,
    *,
    generator: Any = None,
    api_key: str | None = None,
    allowed_origins: Sequence[str] = (),
    max_queue: int = 16,
    cache_budget_bytes: int | None = None,
    max_concurrency: int = 8,
    disk_cache: tuple | None = None,
    logits_processors: ProcessorFactory | None = None,
    responses_store: ResponseStore | None = None,
    max_request_bytes: int = int(DEFAULT_MAX_REQUEST_MB * MB),
) -> FastAPI:
    """The server's app, serving the names in ``catalog``.

    ``generator`` is an already loaded TokenGenerator to serve (left open
    when the app stops); without one the app loads the startup model on
    first use (``app.state.slot.preload`` loads it at once). ``api_key``
    protects ``/v1``; ``allowed_origins`` enables CORS for those origins.
    ``cache_budget_bytes`` bounds the prompt caches kept between requests;
    ``max_concurrency`` generations run at once, ``max_queue`` more may wait;
    ``disk_cache`` (folder, byte budget) keeps conversations' caches on disk,
    so a restarted server goes on warm.
    ``logits_processors``, when given, is called for every generation and
    its processors constrain that generation (tests script a model's output
    with it). ``responses_store`` keeps the Responses API's stored responses
    (by default in the data directory's ``server-responses`` folder). A
    request body over ``max_request_bytes`` gets 413.
    """
    slot = GenerationSlots(max_queue, generator, cache_budget_bytes, max_concurrency, disk_cache)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        slot.start()
        try:
            yield
        finally:
            slot.close()

    app = FastAPI(title="mlx-harmony-server", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.slot = slot
    app.state.catalog = catalog
    started = int(time.time())

    app.add_middleware(RequestBodyLimit, max_bytes=max_request_bytes)  # inside the key check: a stranger's body is never read
    if api_key:
        app.add_middleware(BearerAuth, api_key=api_key)
    if allowed_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(allowed_origins), allow_methods=["GET", "POST", "OPTIONS"],
                           allow_headers=["Authorization", "Content-Type", "x-api-key", "anthropic-version", "anthropic-beta"])

    @app.exception_handler(APIError)
    async def _api_error(request: Request, exc: APIError) -> JSONResponse:
        return error_response(exc, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(validation_error(list(exc.errors()), skip=1), request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = f"Unknown request URL: {request.method} {request.url.path}" if exc.status_code == 404 else str(exc.detail)
        code = {404: "unknown_url", 405: "method_not_allowed"}.get(exc.status_code)
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(_allowed_methods(app, request.scope))
        return error_response(APIError(exc.status_code, message, code=code, headers=headers), request.url.path)

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        log.error("request failed", exc_info=exc)
        return error_response(APIError(500, f"internal error: {type(exc).__name__}", type="server_error"), request.url.path)

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok", **slot.status()}

    def model_card(name: str) -> dict:
        return {"id": name, "object": "model", "created": started, "owned_by": "mlx-harmony"}

    @app.get("/v1/models")
    async def list_models() -> dict:
        return {"object": "list", "data": [model_card(name) for name in catalog.ids()]}

    @app.get("/v1/models/{name:path}")
    async def get_model(name: str) -> dict:
        return model_card(catalog.get(name).id)

    @app.post("/v1/chat/completions")
    async def chat_completions(body: ChatCompletionRequest, request: Request) -> Response:
        served = catalog.get(body.model)
        options = _options(served, body, logits_processors)
        chat = _chat_request(body, options.params)
        work = ChatGeneration(options, chat)
        return await answer(request, slot, Job(served, work), ChunkReply(ChatReply(body.model, body.include_usage)), body.stream)

    @app.post("/v1/completions")
    async def completions(body: CompletionRequest, request: Request) -> Response:
        served = catalog.get(body.model)
        work = TextGeneration(_options(served, body, logits_processors), body.prompt)
        return await answer(request, slot, Job(served, work), ChunkReply(TextReply(body.model, body.include_usage)), body.stream)

    responses_routes.add_routes(app, slot, responses_store or ResponseStore(), logits_processors)
    anthropic_routes.add_routes(app, slot, logits_processors)

    def openapi() -> dict:
        if app.openapi_schema is None:
            app.openapi_schema = openapi_document(app, catalog.ids(), bool(api_key))
        return app.openapi_schema

    app.openapi = openapi
    return app


def _allowed_methods(app: FastAPI, scope: dict) -> list[str]:
    """The methods some route of ``app`` takes at ``scope``'s path (a 405's ``Allow``; one route answers it, but a path
    may have several, each with its own methods)."""
    methods: set[str] = set()
    for route in app.router.routes:
        if getattr(route, "methods", None) and route.matches(scope)[0] != Match.NONE:
            methods.update(route.methods)
    return sorted(methods)

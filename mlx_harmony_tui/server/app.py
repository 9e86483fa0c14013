"""The FastAPI app: OpenAI's chat and text completions, models, and health.

A request is checked, given a generation slot or a place in the line (429
when the line is full), and answered once its first piece exists: an error found
before any text (an unknown role, a prompt too long) is still a proper 4xx,
and a streamed answer's first chunk leaves as soon as its first token is
decoded, then one chunk per text delta. A client that leaves, while waiting
or mid-answer, cancels its generation.
"""

from __future__ import annotations

import logging
import secrets
import time
from contextlib import asynccontextmanager
from typing import Any, Sequence

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..chat.completion import ChatRequest, output_constraint
from ..config.response_schema import response_schema_from_openai
from ..errors import UserError
from ..harmony.render import FunctionTool
from .catalog import ModelCatalog, ServedModel
from .generation import ChatGeneration, Failed, Finished, GenerationOptions, ProcessorFactory, TextGeneration
from .messages import harmony_messages
from .openai_format import SSE_DONE, APIError, invalid_request, sse, validation_error
from .responses import ChatReply, TextReply
from .schemas import ChatCompletionRequest, CompletionRequest, GenerationRequest
from .slot import GenerationSlots, Job

log = logging.getLogger("mlx_harmony_tui.server")


def _error_response(error: APIError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers)


class BearerAuth:
    """ASGI middleware: every ``/v1`` request needs ``Authorization: Bearer <api key>``.

    It runs before the body is read, so a client without the key learns that
    first, whatever else is wrong with its request.
    """

    def __init__(self, app: Any, api_key: str):
        self.app, self._key = app, api_key.encode()

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/v1") and scope["method"] != "OPTIONS":
            header = dict(scope["headers"]).get(b"authorization", b"")
            scheme, _, token = header.partition(b" ")
            error = None
            if scheme.lower() != b"bearer" or not token.strip():
                error = "Missing API key: send it as 'Authorization: Bearer KEY'."
            elif not secrets.compare_digest(token.strip(), self._key):
                error = "Incorrect API key provided."
            if error:
                response = _error_response(APIError(401, error, code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"}))
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _sampling(served: ServedModel, body: GenerationRequest):
    """The served model's sampling with the request's changes; APIError (400) naming a bad field."""
    try:
        return served.settings.sampling.with_changes(**body.sampling_changes(), reseed_each_turn=True)
    except ValidationError as exc:
        raise validation_error(exc.errors()) from None


def _options(served: ServedModel, body: GenerationRequest, processors: ProcessorFactory | None) -> GenerationOptions:
    return GenerationOptions(served, _sampling(served, body), tuple(body.stop), processors)


def _function_tools(body: ChatCompletionRequest) -> tuple:
    if not body.tools or body.tool_choice == "none":
        return ()
    return tuple(FunctionTool(t.function.name, t.function.description or "", t.function.parameters, bool(t.function.strict))
                 for t in body.tools)


def _chat_request(body: ChatCompletionRequest, params) -> ChatRequest:
    """The chat layer's request; a response format or strict function schema that cannot be enforced is a 400 naming it."""
    try:
        schema = response_schema_from_openai(body.response_format)
        chat = ChatRequest(harmony_messages(body.messages), params, _function_tools(body), body.required_functions(), body.effort(),
                           schema)
        output_constraint(chat)
    except UserError as exc:
        raise invalid_request(str(exc), param=exc.field) from None
    return chat


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
    with it).
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

    if api_key:
        app.add_middleware(BearerAuth, api_key=api_key)
    if allowed_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(allowed_origins), allow_methods=["GET", "POST", "OPTIONS"],
                           allow_headers=["Authorization", "Content-Type"])

    @app.exception_handler(APIError)
    async def _api_error(_request: Request, exc: APIError) -> JSONResponse:
        return _error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error_response(validation_error(list(exc.errors()), skip=1))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = f"Unknown request URL: {request.method} {request.url.path}" if exc.status_code == 404 else str(exc.detail)
        code = {404: "unknown_url", 405: "method_not_allowed"}.get(exc.status_code)
        return _error_response(APIError(exc.status_code, message, code=code))

    @app.exception_handler(Exception)
    async def _bug(_request: Request, exc: Exception) -> JSONResponse:
        log.error("request failed", exc_info=exc)
        return _error_response(APIError(500, f"internal error: {type(exc).__name__}", type="server_error"))

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
        return await _answer(request, slot, Job(served, work), ChatReply(body.model, body.include_usage), body.stream)

    @app.post("/v1/completions")
    async def completions(body: CompletionRequest, request: Request) -> Response:
        served = catalog.get(body.model)
        work = TextGeneration(_options(served, body, logits_processors), body.prompt)
        return await _answer(request, slot, Job(served, work), TextReply(body.model, body.include_usage), body.stream)

    return app


async def _answer(request: Request, slot: GenerationSlots, job: Job, reply: ChatReply | TextReply, stream: bool) -> Response:
    """Queue ``job`` and answer with its pieces, whole or as server-sent events."""
    slot.submit(job)
    handed_over = False
    try:
        first = await job.next(request)
        if first is None:
            return Response(status_code=499)  # the client left while waiting; nobody reads this
        if isinstance(first, Failed):
            raise first.error
        if stream:
            handed_over = True
            return StreamingResponse(_events(slot, job, reply, first), media_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        pieces = [first]
        while not isinstance(pieces[-1], (Finished, Failed)):
            item = await job.next(request)
            if item is None:
                return Response(status_code=499)
            pieces.append(item)
        if isinstance(pieces[-1], Failed):
            raise pieces[-1].error
        return JSONResponse(reply.response(pieces[:-1], pieces[-1]))
    finally:
        if not handed_over:
            slot.cancel(job)


async def _events(slot: GenerationSlots, job: Job, reply: ChatReply | TextReply, item: Any):
    """The stream's body; leaving it early (a disconnect) cancels the generation."""
    try:
        opening = reply.opening()
        if opening is not None:
            yield sse(opening)
        while True:
            if isinstance(item, Failed):
                yield sse(item.error.body())
                break
            if isinstance(item, Finished):
                for chunk in reply.closing(item):
                    yield sse(chunk)
                break
            yield sse(reply.piece_chunk(item))
            item = await job.next()
        yield SSE_DONE
    finally:
        slot.cancel(job)

"""``POST /v1/messages``: Anthropic's Messages API, run as a chat completion on the same slots."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from ..answer import answer
from ..generation import ChatGeneration, GenerationOptions, ProcessorFactory
from ..slot import Job
from .reply import MessagesReply
from .schemas import MessagesRequest
from .translate import chat_request


def add_routes(app: FastAPI, slot: Any, processors: ProcessorFactory | None) -> None:
    catalog = app.state.catalog

    @app.post("/v1/messages")
    async def create_message(body: MessagesRequest, request: Request) -> Response:
        served = catalog.get(body.model)
        options = GenerationOptions.build(served, body.sampling_changes(), body.stop_sequences or (), processors)
        chat, thinking_display = chat_request(body, options.params)
        reply = MessagesReply(body.model, thinking_display)
        return await answer(request, slot, Job(served, ChatGeneration(options, chat)), reply, body.stream)

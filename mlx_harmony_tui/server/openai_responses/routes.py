"""``POST /v1/responses``, and ``GET`` and ``DELETE /v1/responses/{id}``.

A request is translated to the chat layer's request (:mod:`.translate`),
after the conversation of its ``previous_response_id`` when it names one,
and runs as a :class:`~..generation.ChatGeneration` on the same slots as
chat completions. A finished response is stored (unless ``store`` is false)
with the conversation it ended.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from ..answer import answer
from ..generation import ChatGeneration, GenerationOptions, ProcessorFactory
from ..openai_format import APIError, invalid_request, new_id, now
from ..slot import Job
from .reply import ResponsesReply
from .schemas import ResponsesRequest
from .store import ResponseStore
from .translate import chat_request, function_tools


def _skeleton(body: ResponsesRequest, response_id: str, params: Any) -> dict:
    reasoning = body.reasoning
    tool_choice = body.tool_choice if body.tool_choice is not None else "auto"
    return {
        "id": response_id, "object": "response", "created_at": now(), "status": "in_progress", "background": False,
        "error": None, "incomplete_details": None, "instructions": body.instructions,
        "max_output_tokens": body.max_output_tokens, "model": body.model, "output": [], "parallel_tool_calls": False,
        "previous_response_id": body.previous_response_id,
        "reasoning": {"effort": reasoning.effort if reasoning else None, "summary": reasoning.summary if reasoning else None},
        "store": body.store, "temperature": params.temperature, "top_p": params.top_p,
        "text": {"format": (body.text.format if body.text and body.text.format else {"type": "text"})},
        "tool_choice": tool_choice,
        "tools": [{"type": "function", "name": t.name, "description": t.description or None, "parameters": t.parameters,
                   "strict": False} for t in function_tools(body)],
        "truncation": body.truncation or "disabled", "metadata": body.metadata or {}, "user": body.user, "usage": None,
    }


def add_routes(app: FastAPI, slot: Any, store: ResponseStore, processors: ProcessorFactory | None) -> None:
    catalog = app.state.catalog

    @app.post("/v1/responses")
    async def create_response(body: ResponsesRequest, request: Request) -> Response:
        served = catalog.get(body.model)
        earlier: list[dict] = []
        if body.previous_response_id is not None:
            stored = store.load(body.previous_response_id)
            if stored is None:
                raise invalid_request(f"previous_response_id: no stored response {body.previous_response_id!r} (responses made "
                                      "with store false are not kept, and the oldest are dropped)",
                                      param="previous_response_id", code="previous_response_not_found")
            earlier = stored["conversation"]
        options = GenerationOptions.build(served, body.sampling_changes(), (), processors)
        chat, items = chat_request(body, earlier, options.params)
        response_id = new_id("resp_")

        def finished(response: dict) -> None:
            if body.store:
                store.save(response, items + response["output"])

        reply = ResponsesReply(_skeleton(body, response_id, options.params), finished)
        return await answer(request, slot, Job(served, ChatGeneration(options, chat, "input")), reply, body.stream)

    @app.get("/v1/responses/{response_id}")
    async def get_response(response_id: str) -> dict:
        stored = store.load(response_id)
        if stored is None:
            raise APIError(404, f"No stored response with id {response_id!r}.", param="response_id", code="not_found")
        return stored["response"]

    @app.delete("/v1/responses/{response_id}")
    async def delete_response(response_id: str) -> dict:
        if not store.delete(response_id):
            raise APIError(404, f"No stored response with id {response_id!r}.", param="response_id", code="not_found")
        return {"id": response_id, "object": "response.deleted", "deleted": True}

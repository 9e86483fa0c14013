"""Answering a queued generation, whole or as server-sent events, in any of the served APIs' shapes.

The job is queued and the answer starts once its first piece exists
(:class:`~.generation.Opened`, when the prompt has been read): an error found
before that (an unknown role, a prompt too long) is still a proper 4xx in the
API's own error shape. A streamed answer then sends the
events its :class:`Reply` makes of each piece. A client that leaves, while
waiting or mid-answer, cancels its generation.
"""

from __future__ import annotations

from typing import Any, Protocol

from fastapi import Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from .generation import Failed, Finished, Opened, Piece
from .openai_format import SSE_DONE, APIError, sse
from .slot import GenerationSlots, Job


class Reply(Protocol):
    """An API's shapes for one answer: a whole body, or the stream's events as SSE text."""

    def stream_start(self, opened: Opened | None) -> list[str]: ...

    def stream_piece(self, piece: Piece) -> list[str]: ...

    def stream_end(self, finished: Finished) -> list[str]: ...

    def stream_error(self, error: APIError) -> list[str]: ...

    def response(self, pieces: list[Piece], finished: Finished) -> dict: ...


class ChunkReply:
    """Chat and text completions' stream: ``data:`` chunks, then ``[DONE]``."""

    def __init__(self, reply: Any):
        self._reply = reply

    def stream_start(self, opened: Opened | None) -> list[str]:
        opening = self._reply.opening()
        return [sse(opening)] if opening is not None else []

    def stream_piece(self, piece: Piece) -> list[str]:
        return [sse(self._reply.piece_chunk(piece))]

    def stream_end(self, finished: Finished) -> list[str]:
        return [sse(chunk) for chunk in self._reply.closing(finished)] + [SSE_DONE]

    def stream_error(self, error: APIError) -> list[str]:
        return [sse(error.body()), SSE_DONE]

    def response(self, pieces: list[Piece], finished: Finished) -> dict:
        return self._reply.response(pieces, finished)


async def answer(request: Request, slot: GenerationSlots, job: Job, reply: Reply, stream: bool) -> Response:
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
        return JSONResponse(reply.response([p for p in pieces[:-1] if not isinstance(p, Opened)], pieces[-1]))
    finally:
        if not handed_over:
            slot.cancel(job)


async def _events(slot: GenerationSlots, job: Job, reply: Reply, item: Any):
    """The stream's body; leaving it early (a disconnect) cancels the generation."""
    try:
        opened = item if isinstance(item, Opened) else None
        for text in reply.stream_start(opened):
            yield text
        if opened is not None:
            item = await job.next()
        while True:
            if isinstance(item, Failed):
                for text in reply.stream_error(item.error):
                    yield text
                break
            if isinstance(item, Finished):
                for text in reply.stream_end(item):
                    yield text
                break
            if not isinstance(item, Opened):
                for text in reply.stream_piece(item):
                    yield text
            item = await job.next()
    finally:
        slot.cancel(job)


def named_event(name: str, data: dict) -> str:
    """One server-sent event with an ``event:`` name (the Responses and Anthropic streams)."""
    return f"event: {name}\n" + sse(data)

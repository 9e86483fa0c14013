"""Answer pieces as OpenAI response bodies and stream chunks.

:class:`ChatReply` writes ``chat.completion`` and ``chat.completion.chunk``
objects, :class:`TextReply` ``text_completion`` ones; both from the same
pieces (:mod:`.generation`), so a streamed answer and a whole one agree.
"""

from __future__ import annotations

from typing import Any

from .generation import Finished, Piece, TextPiece, ToolCallPiece
from .openai_format import new_id, now, tool_call, usage


def _usage(finished: Finished) -> dict:
    return usage(finished.prompt_tokens, finished.cached_tokens, finished.completion_tokens, finished.drafted_tokens,
                 finished.accepted_tokens)


class ChatReply:
    def __init__(self, model: str, include_usage: bool = False):
        self.id, self.created, self.model = new_id("chatcmpl-"), now(), model
        self._include_usage = include_usage
        self._calls = 0

    def _chunk(self, choices: list[dict], usage_figures: dict | None = None) -> dict:
        chunk: dict[str, Any] = {"id": self.id, "object": "chat.completion.chunk", "created": self.created,
                                 "model": self.model, "choices": choices}
        if self._include_usage:
            chunk["usage"] = usage_figures
        return chunk

    def _delta(self, delta: dict, finish_reason: str | None = None) -> dict:
        return self._chunk([{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}])

    def opening(self) -> dict:
        return self._delta({"role": "assistant", "content": ""})

    def piece_chunk(self, piece: Piece) -> dict:
        if isinstance(piece, TextPiece):
            return self._delta({"content" if piece.kind == "content" else "reasoning_content": piece.text})
        assert isinstance(piece, ToolCallPiece)
        self._calls += 1
        return self._delta({"tool_calls": [tool_call(self._calls - 1, piece.id, piece.name, piece.arguments)]})

    def closing(self, finished: Finished) -> list[dict]:
        chunks = [self._delta({}, finished.finish_reason)]
        if self._include_usage:
            chunks.append(self._chunk([], _usage(finished)))
        return chunks

    def response(self, pieces: list[Piece], finished: Finished) -> dict:
        content = "".join(p.text for p in pieces if isinstance(p, TextPiece) and p.kind == "content")
        reasoning = "".join(p.text for p in pieces if isinstance(p, TextPiece) and p.kind == "reasoning")
        calls = [tool_call(None, p.id, p.name, p.arguments) for p in pieces if isinstance(p, ToolCallPiece)]
        message: dict[str, Any] = {"role": "assistant", "content": content if content or not calls else None}
        if reasoning:
            message["reasoning_content"] = reasoning
        if calls:
            message["tool_calls"] = calls
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finished.finish_reason}],
            "usage": _usage(finished),
        }


class TextReply:
    def __init__(self, model: str, include_usage: bool = False):
        self.id, self.created, self.model = new_id("cmpl-"), now(), model
        self._include_usage = include_usage

    def _chunk(self, text: str, finish_reason: str | None, usage_figures: dict | None = None, choices: bool = True) -> dict:
        body: dict[str, Any] = {
            "id": self.id, "object": "text_completion", "created": self.created, "model": self.model,
            "choices": [{"index": 0, "text": text, "logprobs": None, "finish_reason": finish_reason}] if choices else [],
        }
        if self._include_usage:
            body["usage"] = usage_figures
        return body

    def opening(self) -> None:
        return None

    def piece_chunk(self, piece: Piece) -> dict:
        assert isinstance(piece, TextPiece)
        return self._chunk(piece.text, None)

    def closing(self, finished: Finished) -> list[dict]:
        chunks = [self._chunk("", finished.finish_reason)]
        if self._include_usage:
            chunks.append(self._chunk("", None, _usage(finished), choices=False))
        return chunks

    def response(self, pieces: list[Piece], finished: Finished) -> dict:
        text = "".join(p.text for p in pieces if isinstance(p, TextPiece))
        body = self._chunk(text, finished.finish_reason)
        body["usage"] = _usage(finished)
        return body

"""Answer pieces as an Anthropic ``message`` and its stream of events.

Pieces become content blocks as they come: analysis text a ``thinking``
block (only when the request enabled thinking), answer text a ``text``
block, a function call a ``tool_use`` block. The stream carries
``message_start``, then per block ``content_block_start``, its deltas
(``thinking_delta`` and ``signature_delta``, ``text_delta``,
``input_json_delta``) and ``content_block_stop``, then ``message_delta``
with the stop reason and usage, and ``message_stop``.

Usage follows Anthropic's split: ``input_tokens`` are the prompt tokens
computed for this request, ``cache_read_input_tokens`` those reused from a
cache; ``message_start`` leaves once the prompt is read, with those figures,
and ``message_delta`` brings the output tokens.
A thinking block's ``signature`` is a digest of its text: the server keeps
no secrets to sign with, and reads thinking blocks sent back as they are.
With ``thinking.display`` "omitted" the text is left out and the signature
carries it instead (base64), so the block still brings the analysis back
within a tool loop.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from ..answer import named_event
from ..generation import Finished, Opened, Piece, TextPiece, ToolCallPiece
from ..openai_format import APIError, new_id
from .errors import error_body

STOP_REASONS = {"length": "max_tokens", "tool_calls": "tool_use"}


OMITTED = "mlx-harmony-thinking:"  # a signature that carries omitted thinking text


def signature(thinking: str, omitted: bool = False) -> str:
    if omitted:
        return OMITTED + base64.b64encode(thinking.encode()).decode()
    return base64.b64encode(hashlib.sha256(thinking.encode()).digest()).decode()


def thinking_text(thinking: str, signature: object) -> str:
    """A thinking block's text as sent back: its own, or the omitted text its signature carries."""
    if thinking or not isinstance(signature, str) or not signature.startswith(OMITTED):
        return thinking
    try:
        return base64.b64decode(signature.removeprefix(OMITTED), validate=True).decode()
    except ValueError:
        return ""


def tool_input(arguments: str) -> dict:
    """A call's arguments as the object ``tool_use.input`` must be; text that is not a JSON object is passed on as it is."""
    try:
        value = json.loads(arguments)
    except ValueError:
        value = None
    return value if isinstance(value, dict) else {"_raw_arguments": arguments}


def stop_reason(finished: Finished) -> str:
    if finished.stop_sequence is not None:
        return "stop_sequence"
    return STOP_REASONS.get(finished.finish_reason, "end_turn")


def usage(prompt: int, cached: int, output: int) -> dict:
    return {"input_tokens": prompt - cached, "cache_creation_input_tokens": 0, "cache_read_input_tokens": cached,
            "output_tokens": output}


class MessagesReply:
    """One message being written; ``thinking`` is "shown", "omitted" (text in the signature only) or "none"."""

    def __init__(self, model: str, thinking: str):
        self.message: dict[str, Any] = {"id": new_id("msg_"), "type": "message", "role": "assistant", "model": model,
                                        "content": [], "stop_reason": None, "stop_sequence": None, "usage": usage(0, 0, 0)}
        self._thinking = thinking
        self._open: dict | None = None  # the thinking or text block being written

    def _close(self) -> list[str]:
        if self._open is None:
            return []
        block, self._open = self._open, None
        index = len(self.message["content"]) - 1
        events = []
        if block["type"] == "thinking":
            block["signature"] = signature(block["thinking"], self._thinking == "omitted")
            if self._thinking == "omitted":
                block["thinking"] = ""
            events.append(named_event("content_block_delta", {"type": "content_block_delta", "index": index,
                                                              "delta": {"type": "signature_delta", "signature": block["signature"]}}))
        return events + [named_event("content_block_stop", {"type": "content_block_stop", "index": index})]

    def _start(self, block: dict) -> list[str]:
        self.message["content"].append(block)
        return [named_event("content_block_start", {"type": "content_block_start", "index": len(self.message["content"]) - 1,
                                                    "content_block": dict(block)})]

    def _text(self, piece: TextPiece) -> list[str]:
        if piece.kind == "reasoning" and self._thinking == "none":
            return []
        kind, key, delta_type = ("thinking", "thinking", "thinking_delta") if piece.kind == "reasoning" else ("text", "text", "text_delta")
        events = []
        if self._open is None or self._open["type"] != kind:
            events += self._close()
            self._open = {"type": kind, key: "", **({"signature": ""} if kind == "thinking" else {})}
            events += self._start(self._open)
        self._open[key] += piece.text
        if kind == "thinking" and self._thinking == "omitted":
            return events
        index = len(self.message["content"]) - 1
        return events + [named_event("content_block_delta", {"type": "content_block_delta", "index": index,
                                                             "delta": {"type": delta_type, key: piece.text}})]

    def _call(self, piece: ToolCallPiece) -> list[str]:
        events = self._close()
        arguments = tool_input(piece.arguments)
        events += self._start({"type": "tool_use", "id": "toolu_" + piece.id.removeprefix("call_"), "name": piece.name, "input": {}})
        self.message["content"][-1]["input"] = arguments
        index = len(self.message["content"]) - 1
        # The engine reports a call once its arguments are complete: they go out as one delta.
        delta = {"type": "input_json_delta", "partial_json": json.dumps(arguments, ensure_ascii=False)}
        return events + [named_event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}),
                         named_event("content_block_stop", {"type": "content_block_stop", "index": index})]

    def _finish(self, finished: Finished) -> list[str]:
        events = self._close()
        self.message.update(stop_reason=stop_reason(finished), stop_sequence=finished.stop_sequence,
                            usage=usage(finished.prompt_tokens, finished.cached_tokens, finished.completion_tokens))
        return events

    # The Reply protocol (server/answer.py) ------------------------------------------------------

    def stream_start(self, opened: Opened | None) -> list[str]:
        if opened is not None:
            self.message["usage"] = usage(opened.prompt_tokens, opened.cached_tokens, 0)
        return [named_event("message_start", {"type": "message_start", "message": {**self.message, "content": []}}),
                named_event("ping", {"type": "ping"})]

    def stream_piece(self, piece: Piece) -> list[str]:
        return self._call(piece) if isinstance(piece, ToolCallPiece) else self._text(piece)

    def stream_end(self, finished: Finished) -> list[str]:
        events = self._finish(finished)
        delta = {"type": "message_delta", "delta": {"stop_reason": self.message["stop_reason"],
                                                    "stop_sequence": self.message["stop_sequence"]}, "usage": self.message["usage"]}
        return events + [named_event("message_delta", delta), named_event("message_stop", {"type": "message_stop"})]

    def stream_error(self, error: APIError) -> list[str]:
        return [named_event("error", error_body(error))]

    def response(self, pieces: list[Piece], finished: Finished) -> dict:
        for piece in pieces:
            self.stream_piece(piece)
        self._finish(finished)
        return self.message

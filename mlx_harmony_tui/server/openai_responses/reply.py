"""Answer pieces as a Responses API ``response`` object and its stream of events.

Pieces open output items as they come: analysis text a ``reasoning`` item,
answer text a ``message`` item, a function call a ``function_call`` item;
a piece of another kind closes the open item. The stream carries, in order,
``response.created``, ``response.in_progress``, then for each item
``response.output_item.added``, its content part, its deltas and their
``.done`` events, ``response.output_item.done``, and finally
``response.completed`` (``response.incomplete`` when max_output_tokens ran
out). The whole response is the same items, without events.
"""

from __future__ import annotations

from typing import Any, Callable

from ..answer import named_event
from ..generation import Finished, Opened, Piece, TextPiece, ToolCallPiece
from ..openai_format import APIError, new_id

_KINDS = {"reasoning": ("reasoning", "rs_", "reasoning_text"), "content": ("message", "msg_", "output_text")}


def _part(part_type: str, text: str) -> dict:
    return {"type": part_type, "text": text, "annotations": [], "logprobs": []} if part_type == "output_text" else {
        "type": part_type, "text": text}


def usage(finished: Finished) -> dict:
    return {
        "input_tokens": finished.prompt_tokens,
        "input_tokens_details": {"cached_tokens": finished.cached_tokens},
        "output_tokens": finished.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": finished.reasoning_tokens},
        "total_tokens": finished.prompt_tokens + finished.completion_tokens,
    }


class ResponsesReply:
    """One response being written; ``on_finish(response, output)`` runs once with the finished response."""

    def __init__(self, skeleton: dict, on_finish: Callable[[dict], None]):
        self.response_object = {**skeleton, "status": "in_progress", "output": [], "usage": None}
        self._on_finish = on_finish
        self._sequence = 0
        self._open: dict | None = None  # the text item being written: {"item", "index", "part_type", "text"}

    def _event(self, event_type: str, /, **data: Any) -> str:
        event = named_event(event_type, {"type": event_type, "sequence_number": self._sequence, **data})
        self._sequence += 1
        return event

    def _snapshot(self) -> dict:
        return {**self.response_object, "output": list(self.response_object["output"])}

    # Items ----------------------------------------------------------------------------------

    def _add(self, item: dict) -> tuple[int, str]:
        output = self.response_object["output"]
        output.append(item)
        return len(output) - 1, self._event("response.output_item.added", output_index=len(output) - 1,
                                            item={**item, "status": "in_progress"})

    def _close_text(self, status: str = "completed") -> list[str]:
        if self._open is None:
            return []
        item, index, part_type, text = self._open["item"], self._open["index"], self._open["part_type"], self._open["text"]
        self._open = None
        part = _part(part_type, text)
        item["content"] = [part]
        item["status"] = status
        ids = {"item_id": item["id"], "output_index": index, "content_index": 0}
        done = "response.reasoning_text.done" if part_type == "reasoning_text" else "response.output_text.done"
        extra = {} if part_type == "reasoning_text" else {"logprobs": []}
        return [self._event(done, text=text, **ids, **extra), self._event("response.content_part.done", part=part, **ids),
                self._event("response.output_item.done", output_index=index, item=item)]

    def _text(self, piece: TextPiece) -> list[str]:
        item_type, prefix, part_type = _KINDS[piece.kind]
        events = []
        if self._open is None or self._open["part_type"] != part_type:
            events += self._close_text()
            item = {"id": new_id(prefix), "type": item_type}
            item.update({"summary": [], "content": [], "encrypted_content": None} if item_type == "reasoning" else
                        {"role": "assistant", "content": []})
            item["status"] = "in_progress"
            index, added = self._add(item)
            self._open = {"item": item, "index": index, "part_type": part_type, "text": ""}
            events += [added, self._event("response.content_part.added", item_id=item["id"], output_index=index, content_index=0,
                                          part=_part(part_type, ""))]
        self._open["text"] += piece.text
        ids = {"item_id": self._open["item"]["id"], "output_index": self._open["index"], "content_index": 0}
        if part_type == "reasoning_text":
            return events + [self._event("response.reasoning_text.delta", delta=piece.text, **ids)]
        return events + [self._event("response.output_text.delta", delta=piece.text, logprobs=[], **ids)]

    def _call(self, piece: ToolCallPiece) -> list[str]:
        events = self._close_text()
        item = {"id": new_id("fc_"), "type": "function_call", "call_id": piece.id, "name": piece.name, "arguments": "",
                "status": "in_progress"}
        index, added = self._add(item)
        ids = {"item_id": item["id"], "output_index": index}
        item.update(arguments=piece.arguments, status="completed")
        # The engine reports a call once its arguments are complete: they go out as one delta.
        return events + [added, self._event("response.function_call_arguments.delta", delta=piece.arguments, **ids),
                         self._event("response.function_call_arguments.done", arguments=piece.arguments, name=piece.name, **ids),
                         self._event("response.output_item.done", output_index=index, item=item)]

    def _finish(self, finished: Finished) -> tuple[str, list[str]]:
        incomplete = finished.finish_reason == "length"
        events = self._close_text("incomplete" if incomplete else "completed")
        self.response_object.update(
            status="incomplete" if incomplete else "completed",
            incomplete_details={"reason": "max_output_tokens"} if incomplete else None,
            usage=usage(finished),
        )
        self._on_finish(self.response_object)
        return "response.incomplete" if incomplete else "response.completed", events

    # The Reply protocol (server/answer.py) ------------------------------------------------------

    def stream_start(self, opened: Opened | None) -> list[str]:
        return [self._event("response.created", response=self._snapshot()),
                self._event("response.in_progress", response=self._snapshot())]

    def stream_piece(self, piece: Piece) -> list[str]:
        return self._call(piece) if isinstance(piece, ToolCallPiece) else self._text(piece)

    def stream_end(self, finished: Finished) -> list[str]:
        name, events = self._finish(finished)
        return events + [self._event(name, response=self.response_object)]

    def stream_error(self, error: APIError) -> list[str]:
        return [self._event("error", code=error.code or error.type, message=error.message, param=error.param)]

    def response(self, pieces: list[Piece], finished: Finished) -> dict:
        for piece in pieces:
            self.stream_piece(piece)
        self._finish(finished)
        return self.response_object

"""What a request must stay within for the loaded model, checked on its slot's thread before the engine sees it.

Two limits a client can overstep without any field being out of range:

- ``logit_bias`` ids past the model's vocabulary (the engine would ignore them);
- a prompt longer than the context. The engine renders and tokenizes a
  prompt on its inference thread, which every generation shares: a prompt of
  megabytes would stall them all while it is read, only to be refused. So
  the request's text is counted first, here, in chunks, and only until the
  count passes the limit: a lower bound on the prompt's tokens
  (:func:`token_floor`) that costs at most about a context's worth of
  tokenizing. What is never dropped (system and developer messages, tools,
  the newest turn) must fit the context less the answer's room; the whole
  conversation, whose oldest turns the engine drops to fit, must fit
  :data:`HISTORY_CONTEXTS` contexts. A prompt within those bounds is the
  engine's to fit exactly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

from ..chat.completion import ChatRequest
from ..engine.token_generator import never_dropped
from .openai_format import APIError, invalid_request

CHUNK_CHARS = 16_384  # text is tokenized in pieces of about this size, so counting stops soon after the limit
SPLIT_SLACK = 4  # tokens a cut between two pieces (or two texts) may add: subtracted, so the count stays a lower bound
HISTORY_CONTEXTS = 4  # a conversation may bring this many contexts' worth of tokens; the engine drops its oldest turns


def _pieces(text: str) -> Iterator[str]:
    """``text`` in pieces of about CHUNK_CHARS, cut after a space where there is one near the end of a piece."""
    start = 0
    while len(text) - start > CHUNK_CHARS:
        end = start + CHUNK_CHARS
        space = text.rfind(" ", end - CHUNK_CHARS // 8, end)
        end = space if space > start else end
        yield text[start:end]
        start = end
    if start < len(text):
        yield text[start:]


def token_floor(encode: Callable[[str], list[int]], texts: Iterable[str], ceiling: int, start: int = 0) -> int:
    """At least how many tokens ``texts`` take, on top of ``start``; counting stops once the total passes ``ceiling``."""
    total = start
    for text in texts:
        for piece in _pieces(text):
            total += max(0, len(encode(piece)) - SPLIT_SLACK)
            if total > ceiling:
                return total
    return total


def _message_texts(message: dict) -> list[str]:
    texts = [message.get("content") or "", message.get("analysis") or ""]
    for call in message.get("tool_calls") or ():
        texts += [call.get("recipient") or "", call.get("arguments") or ""]
    return texts


def _request_texts(request: ChatRequest) -> list[str]:
    """The text of what a chat request declares once for every turn: its functions and its answer's schema."""
    texts = []
    for tool in request.function_tools:
        texts += [tool.name, tool.description, json.dumps(tool.parameters or {})]
    if request.response_schema is not None:
        schema = request.response_schema
        texts += [schema.name, schema.description, json.dumps(schema.schema or {})]
    return texts


def too_long(field: str, message: str) -> APIError:
    return invalid_request(f"{field}: {message}", param=field, code="context_length_exceeded")


@dataclass(frozen=True)
class ModelLimits:
    """The loaded model's vocabulary and context, and its tokenizer for counting (usable from any thread)."""

    name: str
    vocab_size: int
    context_length: int | None
    encode: Callable[[str], list[int]]

    @classmethod
    def of(cls, generator: Any) -> "ModelLimits":
        """The limits of ``generator``'s loaded model (its vocabulary size is read once, on its inference thread)."""
        tokenizer = generator.tokenizer
        return cls(generator.info.name, generator.call(lambda loaded: loaded.vocab_size), generator.info.context_length,
                   lambda text: tokenizer.encode(text, add_special_tokens=False))

    def check_logit_bias(self, bias: dict[int, float]) -> None:
        """APIError (400) naming the first token id that is not in the vocabulary."""
        for token in bias:
            if not 0 <= token < self.vocab_size:
                raise invalid_request(f"logit_bias.{token}: token id {token} is not in {self.name}'s vocabulary of "
                                      f"{self.vocab_size} tokens (ids 0 to {self.vocab_size - 1})", param=f"logit_bias.{token}",
                                      code="invalid_token_id")

    def _budget(self, max_context_tokens: int | None, max_tokens: int) -> tuple[int, int, int] | None:
        """The context limit, the room kept for the answer and what is left for the prompt (as the engine reckons them)."""
        limit = max_context_tokens or self.context_length
        if not limit:
            return None
        reserve = min(max_tokens, limit // 2)
        return limit, reserve, limit - reserve

    def check_chat(self, request: ChatRequest, max_context_tokens: int | None, field: str) -> None:
        """APIError (400, ``context_length_exceeded``, naming ``field``) for a conversation that cannot fit."""
        budget = self._budget(max_context_tokens, request.params.max_tokens)
        if budget is None:
            return
        limit, reserve, room = budget
        messages = request.messages
        kept = never_dropped(messages)
        kept_ids = {id(m) for m in kept}
        fixed = _request_texts(request) + [t for m in kept for t in _message_texts(m)]
        droppable = [t for m in messages if id(m) not in kept_ids for t in _message_texts(m)]
        if sum(map(len, fixed)) + sum(map(len, droppable)) <= room:
            return  # too little text to stall the engine: it checks the exact count itself
        floor = token_floor(self.encode, fixed, room)
        if floor > room:
            raise too_long(field, f"the prompt needs more than {room} tokens (at least {floor}) even without earlier turns: "
                                  f"{self.name}'s context of {limit} tokens keeps {reserve} for the answer")
        ceiling = HISTORY_CONTEXTS * limit
        total = token_floor(self.encode, droppable, ceiling, floor)
        if total > ceiling:
            raise too_long(field, f"the conversation takes more than {ceiling} tokens (at least {total}); earlier turns are "
                                  f"dropped to fit {self.name}'s context of {limit} tokens, but only from a conversation of "
                                  f"at most {HISTORY_CONTEXTS} times that: send fewer of them")

    def check_text(self, prompt: str, max_tokens: int) -> None:
        """APIError (400, ``context_length_exceeded``) for a text completion's ``prompt`` that cannot fit."""
        budget = self._budget(None, max_tokens)
        if budget is None or len(prompt) <= budget[2]:
            return
        limit, reserve, room = budget
        floor = token_floor(self.encode, [prompt], room)
        if floor > room:
            raise too_long("prompt", f"the prompt needs more than {room} tokens (at least {floor}): {self.name}'s context "
                                     f"of {limit} tokens keeps {reserve} for the answer")

"""``tool_choice`` "required" or a named function, for GPT-OSS: the answer must be a function call.

A logits processor that steers Harmony's message headers and leaves what the
model writes inside messages free. Every message opens with ``<|channel|>``;
its header is either ``analysis`` (the model may think first) or
``commentary to=functions.NAME <|constrain|>json`` for an allowed NAME, token
for token as openai-harmony encodes it. An analysis message must close with
``<|end|>`` (and ``<|start|>assistant`` opens the next); a call's arguments
end with ``<|call|>``, which ends the turn.
"""

from __future__ import annotations

import functools

from ..harmony.stream import CALL, CHANNEL, END, RETURN, START
from ..harmony.vocab import load_encoding
from ..runtime import mlx_core

mx = mlx_core()


@functools.cache
def _encoding():
    return load_encoding()


class FunctionCallRequired:
    """``(tokens_so_far, logits) -> logits``; one instance per generation, calling one of ``names``."""

    def __init__(self, names: list[str]):
        encode = functools.partial(_encoding().encode, allowed_special="all")
        self._analysis = encode("analysis<|message|>")
        self._headers = [self._analysis] + [encode(f"commentary to=functions.{n} <|constrain|>json<|message|>") for n in names]
        self._next_message = [START, *encode("assistant"), CHANNEL]
        self._forced = [CHANNEL]  # the prompt ends with <|start|>assistant
        self._header: list[int] | None = None
        self._inside: str | None = None  # "analysis" or "call" once a header is complete
        self._seen: int | None = None

    def _advance(self, token: int) -> None:
        if self._forced:
            self._forced.pop(0)
            if not self._forced:
                self._header = []
        elif self._header is not None:
            self._header.append(token)
            if self._header in self._headers:
                self._inside = "analysis" if self._header == self._analysis else "call"
                self._header = None
        elif self._inside == "analysis" and token == END:
            self._inside = None
            self._forced = list(self._next_message)

    def _only(self, logits, allowed: set[int]):
        mask = mx.full(logits.shape, -mx.inf, dtype=logits.dtype)
        mask[:, mx.array(sorted(allowed))] = 0.0
        return logits + mask

    def __call__(self, history: list[int], logits):
        if self._seen is None:
            self._seen = len(history)  # the first call sees exactly the prompt
        for token in history[self._seen :]:
            self._advance(token)
        self._seen = len(history)
        if self._forced:
            return self._only(logits, {self._forced[0]})
        if self._header is not None:
            size = len(self._header)
            return self._only(logits, {h[size] for h in self._headers if len(h) > size and h[:size] == self._header})
        banned = [RETURN, CALL] if self._inside == "analysis" else [END, RETURN]
        return logits.at[:, mx.array(banned)].add(-mx.inf)

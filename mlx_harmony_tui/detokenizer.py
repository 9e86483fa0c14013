"""Streaming detokenization that never splits a multi-byte character.

Decoding tokens one at a time breaks characters whose UTF-8 bytes span
several tokens, and loses the leading space of SentencePiece pieces. This
decoder re-decodes a short window (the previous piece as context plus the
tokens not yet shown) and emits only text that is complete: a trailing U+FFFD
means the character's remaining bytes are still to come.
"""

from __future__ import annotations

from typing import Callable

REPLACEMENT = "\ufffd"


class StreamingDecoder:
    """Turns token ids into text deltas, one :meth:`add` at a time."""

    def __init__(self, decode: Callable[[list[int]], str], skip_ids: set[int] | None = None):
        self._decode = decode
        self._skip = skip_ids or set()
        self._ids: list[int] = []
        self._context_start = 0  # first id decoded as context for the pending ones
        self._pending_start = 0  # first id whose text has not been emitted

    def add(self, token: int) -> str:
        """Add one token; return the newly completed text (possibly empty)."""
        if token in self._skip:
            return ""
        self._ids.append(token)
        context = self._decode(self._ids[self._context_start : self._pending_start])
        full = self._decode(self._ids[self._context_start :])
        if full.endswith(REPLACEMENT) or len(full) < len(context) or not full.startswith(context):
            return ""
        self._context_start, self._pending_start = self._pending_start, len(self._ids)
        return full[len(context) :]

    def flush(self) -> str:
        """Return whatever is left, less a character whose bytes never all arrived."""
        if self._pending_start >= len(self._ids):
            return ""
        context = self._decode(self._ids[self._context_start : self._pending_start])
        full = self._decode(self._ids[self._context_start :])
        self._context_start = self._pending_start = len(self._ids)
        tail = full[len(context) :] if full.startswith(context) else full
        return tail.rstrip(REPLACEMENT)

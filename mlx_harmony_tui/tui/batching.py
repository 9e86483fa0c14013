"""Streamed text reaches the screen in batches, so rendering Markdown does not take the CPU token by token."""

from __future__ import annotations

import time
from typing import Callable

from ..engine.events import TextDelta

FLUSH_S = 0.15  # text is handed on at most this far apart


class TextBatcher:
    """Joins consecutive text deltas of one channel and hands them on, at most every :data:`FLUSH_S`."""

    def __init__(self, hand_on: Callable[[TextDelta], None], interval: float = FLUSH_S):
        self._hand_on = hand_on
        self._interval = interval
        self._batch: list[TextDelta] = []
        self._last = time.perf_counter()

    def add(self, delta: TextDelta) -> None:
        if not delta.text:
            return
        if self._batch and self._batch[0].channel != delta.channel:
            self.flush()
        self._batch.append(delta)
        if time.perf_counter() - self._last >= self._interval:
            self.flush()

    def flush(self) -> None:
        if self._batch:
            first = self._batch[0]
            self._hand_on(TextDelta(first.request_id, "".join(d.text for d in self._batch), (), first.channel))
            self._batch.clear()
        self._last = time.perf_counter()

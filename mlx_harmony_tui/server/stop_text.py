"""Stop sequences: end the answer where one appears, without showing it.

Streamed text is held back only while it could still be the start of a stop
sequence, so everything else goes out as soon as it is generated.
"""

from __future__ import annotations


class StopText:
    """Feed text pieces with :meth:`add`; it returns what is safe to send."""

    def __init__(self, stops: list[str]):
        self._stops = [s for s in stops if s]
        self._held = ""
        self.hit = False
        self.matched: str | None = None  # the stop sequence that ended the answer

    def add(self, text: str) -> str:
        """The part of ``text`` (with what was held) that is certainly answer text; sets ``hit`` on a stop."""
        if self.hit:
            return ""
        if not self._stops:
            return text
        held = self._held + text
        found = [(i, s) for s in self._stops if (i := held.find(s)) >= 0]
        if found:
            at, self.matched = min(found)
            self.hit = True
            self._held = ""
            return held[:at]
        keep = self._partial_stop_length(held)
        self._held = held[len(held) - keep :]
        return held[: len(held) - keep]

    def _partial_stop_length(self, text: str) -> int:
        """The length of the longest end of ``text`` that begins some stop sequence."""
        longest = 0
        for stop in self._stops:
            for size in range(min(len(stop) - 1, len(text)), longest, -1):
                if text.endswith(stop[:size]):
                    longest = size
                    break
        return longest

    def flush(self) -> str:
        """What is still held when generation ends without a stop."""
        held, self._held = self._held, ""
        return "" if self.hit else held

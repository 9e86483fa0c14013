"""Sequences waiting to prefill: which one computes the next chunk, and which wait for another's prefix.

Every round the scheduler prefills one chunk of one sequence. The sequence
with the least prompt left to compute goes first, so a short request that
arrives while a long prompt is being prefilled has its first token after one
chunk of the long one, not after all of it. A sequence ages by the tokens
others prefilled since it arrived: that many are taken off what it has left,
so a stream of short requests never starves a long one. Everything here counts
tokens, never seconds: the ranks of a group decide alike.

A sequence whose prompt shares more with one being prefilled than with
anything kept (several agent sessions or subagents that start together with
the same instructions and tools) waits until that one has computed the shared
part, then starts from a copy of it instead of computing it again. The one
computing stops and keeps a snapshot where the waiting one needs it (its
sliding-window layers cannot be cut back later).
"""

from __future__ import annotations

from typing import Iterator

from .prompt_cache import PrefixCache
from .sequence import Sequence
from .token_tree import common_length

MIN_SHARE = 32  # tokens worth waiting for another sequence to compute


class PrefillQueue:
    """The waiting sequences, in order of admission."""

    def __init__(self, caches: PrefixCache, windowed: bool):
        self._caches = caches
        self._windowed = windowed
        self._waiting: list[Sequence] = []
        self.prefilled = 0  # tokens prefilled so far, all sequences together: the clock sequences age by

    def __len__(self) -> int:
        return len(self._waiting)

    def __iter__(self) -> Iterator[Sequence]:
        return iter(list(self._waiting))

    def append(self, seq: Sequence) -> None:
        seq.queued_at = self.prefilled
        self._waiting.append(seq)

    def __contains__(self, seq: Sequence) -> bool:
        return seq in self._waiting

    def remove(self, seq: Sequence) -> None:
        self._waiting.remove(seq)

    def clear(self) -> None:
        self._waiting.clear()

    def counted(self, seq: Sequence, n: int) -> None:
        """``seq`` prefilled ``n`` more tokens."""
        seq.own_prefill += n
        self.prefilled += n

    def pick(self) -> Sequence | None:
        """The sequence to prefill next (None when every waiting one waits for another)."""
        best, best_key = None, None
        for order, seq in enumerate(self._waiting):
            if not seq.started and self._blocker(seq) is not None:
                continue
            left = len(seq.prompt) - 1 - (seq.held if seq.started else self._offer(seq))
            aged = self.prefilled - seq.queued_at - seq.own_prefill
            key = (left - aged, order)
            if best_key is None or key < best_key:
                best, best_key = seq, key
        return best

    def best_started_source(self, seq: Sequence) -> tuple[Sequence | None, int]:
        """The sequence being prefilled that can give ``seq`` the longest exact start now, and that length."""
        best, length = None, 0
        for other in self._waiting:
            if other is seq or not other.started or not other.request.reuse_cache:
                continue
            usable = other.cache.usable(common_length(other.cache.tokens, seq.prompt[:-1]))
            if usable > length:
                best, length = other, usable
        return best, length

    def _offer(self, seq: Sequence) -> int:
        """How much of ``seq``'s prompt it could start from now (kept caches and sequences being prefilled)."""
        if not seq.request.reuse_cache:
            return 0
        return max(self._caches.find(seq.prompt, touch=False).length, self.best_started_source(seq)[1])

    def _blocker(self, seq: Sequence) -> Sequence | None:
        """A sequence being prefilled that will soon hold a longer exact start for ``seq`` (longer by enough to be
        worth the wait than what is kept); it is told to stop there."""
        if not seq.request.reuse_cache:
            return None
        kept = self._caches.find(seq.prompt, touch=False).length
        now = max(kept, self.best_started_source(seq)[1])
        for other in self._waiting:
            if other is seq or not other.started or not other.request.reuse_cache:
                continue
            point = self._eventual(other, common_length(other.prompt[:-1], seq.prompt[:-1]))
            if point > now and point - kept >= MIN_SHARE:
                if self._windowed:
                    other.stops.add(point)
                return other
        return None

    def _eventual(self, seq: Sequence, shared: int) -> int:
        """The longest exact start ``seq`` will be able to give for a prompt sharing ``shared`` tokens with its own."""
        end = len(seq.prompt) - 1
        if not self._windowed:
            return min(shared, end)
        points = [p for p in seq.cache.points() if p <= shared]
        points += [b for b in seq.boundaries if seq.held < b <= shared]
        if end <= shared:
            points.append(end)
        return max(points, default=0)

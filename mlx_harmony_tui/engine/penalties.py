"""OpenAI's presence and frequency penalties, applied by the sampler.

For every token already generated in this answer (the prompt does not
count), its logit is lowered by ``frequency`` times how often it appeared
plus ``presence`` once; negative values encourage repetition instead. Tokens
at or above ``exempt_from`` (Harmony's special tokens, which structure a
GPT-OSS answer) are never penalised. The counts are kept whatever the
values, so penalties turned on mid-answer see everything generated so far.
"""

from __future__ import annotations

from collections import Counter

from ..runtime import mlx_core

mx = mlx_core()


class TokenPenalties:
    """``(tokens_so_far, logits) -> logits``; one instance per generation."""

    def __init__(self, presence: float = 0.0, frequency: float = 0.0, exempt_from: int | None = None):
        self.presence, self.frequency = presence, frequency
        self._exempt_from = exempt_from
        self._seen: int | None = None
        self._counts: Counter[int] = Counter()

    @property
    def active(self) -> bool:
        return bool(self.presence or self.frequency)

    def observe(self, history: list[int]) -> None:
        """Count the tokens generated since the last call (the first call sees exactly the prompt)."""
        if self._seen is None:
            self._seen = len(history)
        for token in history[self._seen :]:
            if self._exempt_from is None or token < self._exempt_from:
                self._counts[token] += 1
        self._seen = len(history)

    def with_tokens(self, tokens: list[int]) -> "TokenPenalties":
        """A copy that has also counted ``tokens`` (drafts being checked; this one is left as it is)."""
        other = TokenPenalties(self.presence, self.frequency, self._exempt_from)
        other._seen, other._counts = self._seen, Counter(self._counts)
        for token in tokens:
            if self._exempt_from is None or token < self._exempt_from:
                other._counts[token] += 1
        return other

    def __call__(self, history: list[int], logits):
        self.observe(history)
        return self.apply(logits)

    def apply(self, logits):
        """Penalise what :meth:`observe` has counted so far."""
        ids = [t for t in self._counts if t < logits.shape[-1]]
        if not ids or not self.active:
            return logits
        amounts = [self.frequency * self._counts[t] + self.presence for t in ids]
        return logits.at[:, mx.array(ids)].add(-mx.array(amounts, dtype=logits.dtype))

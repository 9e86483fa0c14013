"""OpenAI's presence and frequency penalties, as a logits processor.

For every token already generated in this answer (the prompt does not
count), its logit is lowered by ``frequency_penalty`` times how often it
appeared plus ``presence_penalty`` once; negative values encourage
repetition instead. Tokens at or above ``exempt_from`` (Harmony's special
tokens, which structure a GPT-OSS answer) are never penalised.
"""

from __future__ import annotations

from collections import Counter


class TokenPenalties:
    """``(tokens_so_far, logits) -> logits``; one instance per generation."""

    def __init__(self, presence: float, frequency: float, exempt_from: int | None = None):
        from ..engine.runtime import mlx_core

        self._mx = mlx_core()
        self._presence, self._frequency = presence, frequency
        self._exempt_from = exempt_from
        self._prompt_length: int | None = None
        self._seen = 0
        self._counts: Counter[int] = Counter()

    def __call__(self, history: list[int], logits):
        if self._prompt_length is None:
            self._prompt_length = self._seen = len(history)  # the first call sees exactly the prompt
        for token in history[self._seen :]:
            if self._exempt_from is None or token < self._exempt_from:
                self._counts[token] += 1
        self._seen = len(history)
        ids = [t for t in self._counts if t < logits.shape[-1]]
        if not ids:
            return logits
        mx = self._mx
        amounts = [self._frequency * self._counts[t] + self._presence for t in ids]
        return logits.at[:, mx.array(ids)].add(-mx.array(amounts, dtype=logits.dtype))

"""How long a prefill chunk takes, so chunks can be sized in seconds.

A chunk of ``n`` tokens at ``offset`` tokens into its sequence costs about
``n * (per_token + per_pair * (offset + n / 2))`` seconds: the weights' work
grows with the chunk, attention's with the chunk times the context it reads.
On a 2-core CPU the second term dominates past a few thousand tokens (a
32-token chunk took 0.2 s at the start of a prompt and 0.7 s at 4,096 tokens
in), so a rate measured on one sequence would misjudge the next. Both
coefficients are fitted by least squares on the chunks measured lately.

The model is plain numbers: in a group, rank 0 shares them with every round
(:class:`~.lockstep.Round`) so every rank cuts the same chunks.
"""

from __future__ import annotations

import math

DECAY = 0.8  # weight of the older measurements at each new one
INITIAL_CHUNK = 64  # tokens, before anything was measured
MIN_CHUNK = 16
MAX_CHUNK = 2048


class PrefillPace:
    """Seconds per prefill chunk, fitted on measured chunks."""

    def __init__(self, coefficients: tuple[float, float] = (0.0, 0.0)):
        self.per_token, self.per_pair = coefficients
        self._sums = [0.0] * 5  # weighted sums of x1*x1, x1*x2, x2*x2, x1*y, x2*y

    @property
    def coefficients(self) -> tuple[float, float]:
        return (self.per_token, self.per_pair)

    @coefficients.setter
    def coefficients(self, value: tuple[float, float]) -> None:
        self.per_token, self.per_pair = value

    @property
    def known(self) -> bool:
        return self.per_token > 0 or self.per_pair > 0

    def seconds(self, n: int, offset: int) -> float:
        return n * (self.per_token + self.per_pair * (offset + n / 2))

    def rate(self, offset: int = 0) -> float:
        """Tokens a second for a chunk at ``offset`` (0.0 before anything was measured)."""
        per = self.per_token + self.per_pair * offset
        return 1.0 / per if per > 0 else 0.0

    def observe(self, n: int, offset: int, seconds: float) -> None:
        """Fit the chunk of ``n`` tokens at ``offset`` that took ``seconds``."""
        x1, x2 = float(n), n * (offset + n / 2)
        s = self._sums
        for i, value in enumerate((x1 * x1, x1 * x2, x2 * x2, x1 * seconds, x2 * seconds)):
            s[i] = DECAY * s[i] + value
        s11, s12, s22, s1y, s2y = s
        det = s11 * s22 - s12 * s12
        a = b = -1.0
        if det > 1e-9 * s11 * s22:
            a, b = (s22 * s1y - s12 * s2y) / det, (s11 * s2y - s12 * s1y) / det
        if a < 0 or b < 0:  # one kind of measurement so far, or noise: fit one term alone
            a, b = (s1y / s11, 0.0) if b < 0 else (0.0, s2y / s22)
        self.per_token, self.per_pair = max(a, 0.0), max(b, 0.0)

    def chunk(self, offset: int, target_s: float) -> int:
        """How many tokens at ``offset`` take about ``target_s`` seconds."""
        if not self.known:
            return INITIAL_CHUNK
        a, b = self.per_token + self.per_pair * offset, self.per_pair / 2
        n = target_s / a if b == 0 else (-a + math.sqrt(a * a + 4 * b * target_s)) / (2 * b)
        return max(MIN_CHUNK, min(MAX_CHUNK, int(n)))

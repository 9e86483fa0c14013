"""How long a prefill chunk takes, so chunks can be sized in seconds.

A chunk of ``n`` tokens at ``offset`` tokens into its sequence costs about
``fixed + n * (per_token + per_pair * (offset + n / 2))`` seconds: reading the
weights once per forward pass, their work on every token, and attention's
work on every token times the context it reads. On a 2-core CPU with the
default model (float32, MKL) a chunk of 64 took 0.40 s at the start of a
prompt and 1.59 s at 4,096 tokens in, and chunks of 32 tokens were 10-40%
slower per token than chunks of 64. The three coefficients are fitted by
least squares on the chunks measured lately.

Chunk sizes are powers of two, so a GPU backend, which compiles kernels for
each new shape it meets (seconds each on CUDA), meets six of them; the first
chunk of each size is left out of the fit, as its time may hold that compiling.

The model is plain numbers: in a group, rank 0 shares them with every round
(:class:`~.lockstep.Round`) so every rank cuts the same chunks.
"""

from __future__ import annotations

import math

import numpy as np

DECAY = 0.85  # weight of the older measurements at each new one
INITIAL_CHUNK = 64  # tokens, before anything was measured
MIN_CHUNK = 64  # smaller ones spend much of their time reading the weights (agent trace, 2-core CPU: about 5% slower at 32)
MAX_CHUNK = 2048  # chunks are MIN_CHUNK * 2**k up to this


class PrefillPace:
    """Seconds per prefill chunk, fitted on measured chunks."""

    def __init__(self, coefficients: tuple[float, float, float] = (0.0, 0.0, 0.0)):
        self.fixed, self.per_token, self.per_pair = coefficients
        self._gram = np.zeros((3, 3))  # decayed sums of x x^T and x y, x = (1, n, n (offset + n / 2))
        self._moments = np.zeros(3)
        self._sizes: set[int] = set()  # chunk sizes met so far

    @property
    def coefficients(self) -> tuple[float, float, float]:
        return (self.fixed, self.per_token, self.per_pair)

    @coefficients.setter
    def coefficients(self, value: tuple[float, float, float]) -> None:
        self.fixed, self.per_token, self.per_pair = value

    @property
    def known(self) -> bool:
        return self.per_token > 0 or self.per_pair > 0

    def seconds(self, n: int, offset: int) -> float:
        return self.fixed + n * (self.per_token + self.per_pair * (offset + n / 2))

    def observe(self, n: int, offset: int, seconds: float) -> None:
        """Fit the chunk of ``n`` tokens at ``offset`` that took ``seconds`` (not the first of its size)."""
        if n not in self._sizes:
            self._sizes.add(n)
            return
        x = np.array([1.0, n, n * (offset + n / 2)])
        self._gram = DECAY * self._gram + np.outer(x, x)
        self._moments = DECAY * self._moments + x * seconds
        self.fixed, self.per_token, self.per_pair = self._fit()

    def _fit(self) -> tuple[float, float, float]:
        """Least squares with every coefficient at least 0: terms that come out negative are left out and the rest
        fitted again (too few kinds of chunk measured so far, or noise)."""
        terms = [0, 1, 2]
        while terms:
            gram = self._gram[np.ix_(terms, terms)]
            scale = np.sqrt(np.maximum(np.diag(gram), 1e-30))  # the terms differ by orders of magnitude
            solved = np.linalg.lstsq(gram / np.outer(scale, scale), self._moments[terms] / scale, rcond=1e-10)[0] / scale
            if (solved >= 0).all():
                result = [0.0, 0.0, 0.0]
                for term, value in zip(terms, solved):
                    result[term] = float(value)
                return result[0], result[1], result[2]
            terms = [t for t, value in zip(terms, solved) if value >= 0] if (solved >= 0).any() else terms[1:]
        return 0.0, 0.0, 0.0

    def chunk(self, offset: int, target_s: float) -> int:
        """The largest chunk size (a power of two from MIN_CHUNK to MAX_CHUNK) whose tokens at ``offset`` take at most
        about ``target_s`` seconds; MIN_CHUNK where even that takes longer."""
        if not self.known:
            return INITIAL_CHUNK
        room = target_s - self.fixed
        a, b = self.per_token + self.per_pair * offset, self.per_pair / 2
        if room <= 0:
            n = 0.0
        elif b == 0:
            n = room / a
        else:
            n = (-a + math.sqrt(a * a + 4 * b * room)) / (2 * b)
        size = MIN_CHUNK
        while size * 2 <= min(n, MAX_CHUNK):
            size *= 2
        return size

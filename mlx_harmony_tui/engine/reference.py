"""Raw mlx-lm on the engine's loaded model: the reference every benchmark compares with.

It runs mlx-lm's own ``generate_step`` on the inference thread, with nothing
of ours around it, and records when each token arrived.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from ..errors import UserError
from ..runtime import mlx_core


@dataclass(frozen=True)
class RawRun:
    """One raw mlx-lm generation: when it began, (arrival time, token id) per token, peak memory,
    and whether its last token was an end-of-sequence token."""

    start: float
    arrivals: list[tuple[float, int]]
    peak_memory_gb: float
    ended: bool = False


def raw_mlx_lm(generator: Any, prompt: list[int], max_tokens: int, stop_at_end: bool = True) -> RawRun:
    """Greedy ``generate_step`` over ``prompt`` on ``generator``'s model (a TokenGenerator), after its queued work.

    With ``stop_at_end`` it stops after an end-of-sequence token, as a chat would.
    Not for a model split across ranks: raw mlx-lm would run on rank 0 alone.
    """
    if generator.info.ranks > 1:
        raise UserError(f"raw mlx-lm cannot run a model split across {generator.info.ranks} ranks; compare with one process")

    def run(loaded) -> RawRun:
        from . import lm

        mx = mlx_core()
        ends = loaded.eos_token_ids
        mx.reset_peak_memory()
        start = time.perf_counter()
        arrivals: list[tuple[float, int]] = []
        ended = False
        for token, _ in lm.mlx_lm_generate_step(loaded, prompt, max_tokens):
            arrivals.append((time.perf_counter(), int(token)))
            if stop_at_end and token in ends:
                ended = True
                break
        lm.finish_pending_work()
        return RawRun(start, arrivals, mx.get_peak_memory() / 1e9, ended)

    return generator.call(run)

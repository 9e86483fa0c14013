"""One long greedy generation, timed chunk by chunk: the engine against raw mlx-lm on the same prompt."""

from __future__ import annotations

import time
from typing import Callable

from ..engine.events import TextDelta
from ..engine.reference import raw_mlx_lm
from ..engine.token_generator import TokenGenerator
from .where import machine_now

Progress = Callable[[str, float], None]
LONG_PROMPT = "Write a long, detailed story about a lighthouse keeper during a winter storm, in many chapters."


def _rates(arrivals: list[tuple[float, int]], window: int) -> list[tuple[int, float]]:
    """(tokens so far, tok/s over the last ``window`` or more tokens) from (time, tokens so far) arrivals."""
    points: list[tuple[int, float]] = []
    if not arrivals:
        return points
    base_t, base_n = arrivals[0]
    for t, n in arrivals[1:]:
        if n - base_n >= window and t > base_t:
            points.append((n, (n - base_n) / (t - base_t)))
            base_t, base_n = t, n
    return points


def _trace_figures(start: float, arrivals: list[tuple[float, int]], window: int) -> dict:
    first_t, first_n = arrivals[0]
    last_t, last_n = arrivals[-1]
    points = _rates(arrivals, window)
    return {
        "ttft_s": first_t - start,
        "tokens": last_n,
        "decode_tps": (last_n - first_n) / (last_t - first_t) if last_t > first_t else 0.0,
        "first_window_tps": points[0][1] if points else 0.0,
        "last_window_tps": points[-1][1] if points else 0.0,
        "points": [list(p) for p in points],
        "arrivals": [[round(t - start, 5), n] for t, n in arrivals],
    }


def run_long_generation(model: str | None, tokens: int = 320, progress: Progress | None = None) -> dict:
    """One long greedy generation through the engine and through raw mlx-lm ``generate_step``, timed per chunk.

    The engine's end-of-sequence tokens are biased away and raw mlx-lm is not
    stopped at them, so both produce ``tokens`` tokens from the same prompt.
    Returns each side's arrival times, tok/s per window of tokens, and totals.
    """
    report = progress or (lambda _m, _f: None)
    machine = machine_now()
    window = max(tokens // 24, 4)
    with TokenGenerator(model, progress=report) as generator:
        prompt = generator.render([{"role": "user", "content": LONG_PROMPT}])
        bias = {t: -100.0 for t in generator.tokenizer.eos_token_ids}
        report("warm-up", 0.05)
        for _ in generator.stream(prompt=prompt, max_tokens=4, temperature=0.0, reuse_cache=False):
            pass
        report(f"engine, {tokens} tokens", 0.1)
        engine: list[tuple[float, int]] = []
        start = time.perf_counter()
        for event in generator.stream(prompt=prompt, max_tokens=tokens, temperature=0.0, logit_bias=bias, reuse_cache=False):
            if isinstance(event, TextDelta) and event.token_ids:
                engine.append((time.perf_counter(), (engine[-1][1] if engine else 0) + len(event.token_ids)))
        engine_figures = _trace_figures(start, engine, window)

        report(f"raw mlx-lm, {tokens} tokens", 0.55)
        raw = raw_mlx_lm(generator, prompt, tokens, stop_at_end=False)
        raw_figures = _trace_figures(raw.start, [(t, n) for n, (t, _) in enumerate(raw.arrivals, 1)], window)
        name = generator.info.name
    report("done", 1.0)
    return {
        "model": name,
        **machine,
        "prompt_tokens": len(prompt),
        "max_tokens": tokens,
        "window_tokens": window,
        "engine": engine_figures,
        "mlx_lm": raw_figures,
        "decode_ratio": engine_figures["decode_tps"] / raw_figures["decode_tps"] if raw_figures["decode_tps"] else 0.0,
    }

"""``mlx-harmony bench http``: what HTTP streaming costs on top of the engine.

The same greedy chat request runs through ``TokenGenerator.stream`` (the
engine alone) and through the server's ``/v1/chat/completions`` with
``stream: true`` (read as raw server-sent events by an HTTP client in this
process), on one loaded model, taking turns after a warm-up. Both sides are
timed the same way, by their consumer: TTFT from the call to the first text,
decode tok/s from the first text to the last. Each round asks a new question,
so both sides prefill it cold; end-of-sequence tokens are biased away, so
both generate exactly ``max_tokens`` tokens. Figures are medians; a ratio of
1 means HTTP costs nothing (target: 0.95 or more).
"""

from __future__ import annotations

import statistics
import sys
import time
from dataclasses import dataclass
from typing import Callable

from .sse import stream_chunks
from .where import machine_now, relative_spread, run_place, table_opening

QUESTION = "Question {n}: explain, step by step and in detail, how a bicycle's gears make climbing hills easier."


@dataclass
class StreamTiming:
    ttft_s: float
    decode_tps: float
    tokens: int


def _timing(start: float, arrivals: list[float], tokens: int) -> StreamTiming:
    if not arrivals:
        raise RuntimeError("the answer had no text to time")
    span = arrivals[-1] - arrivals[0]
    return StreamTiming(arrivals[0] - start, (tokens - 1) / span if tokens > 1 and span > 0 else 0.0, tokens)


def _engine_alone(generator, messages: list[dict], max_tokens: int, bias: dict[int, float]) -> StreamTiming:
    from ..engine.events import Done, TextDelta

    arrivals: list[float] = []
    tokens = 0
    start = time.perf_counter()
    for event in generator.stream(messages=messages, max_tokens=max_tokens, temperature=0.0, logit_bias=bias, reuse_cache=False):
        if isinstance(event, TextDelta) and event.text:
            arrivals.append(time.perf_counter())
        elif isinstance(event, Done):
            tokens = event.stats.completion_tokens
    return _timing(start, arrivals, tokens)


def _through_http(client, model: str, messages: list[dict], max_tokens: int, bias: dict[int, float]) -> StreamTiming:
    body = {"model": model, "messages": messages, "max_tokens": max_tokens, "temperature": 0, "stream": True,
            "stream_options": {"include_usage": True}, "logit_bias": {str(t): b for t, b in bias.items()}}
    arrivals: list[float] = []
    tokens = 0
    start = time.perf_counter()
    for chunk in stream_chunks(client, body):
        if chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
            arrivals.append(time.perf_counter())
        if chunk.get("usage"):
            tokens = chunk["usage"]["completion_tokens"]
    return _timing(start, arrivals, tokens)


def run_http_bench(
    model: str | None = None,
    max_tokens: int = 128,
    rounds: int = 3,
    progress: Callable[[str, float], None] | None = None,
) -> dict:
    """Measure both paths on one model load; medians over ``rounds`` after a warm-up."""
    import httpx

    machine = machine_now()

    from ..engine.token_generator import TokenGenerator
    from ..server.app import create_app
    from ..server.background import serving
    from ..server.catalog import ModelCatalog

    report = progress or (lambda _m, _f: None)
    switch = sys.getswitchinterval()
    sys.setswitchinterval(0.001)  # as mlx-harmony-server runs
    engine_runs: list[StreamTiming] = []
    http_runs: list[StreamTiming] = []
    try:
        with TokenGenerator(model, progress=report) as generator:
            catalog = ModelCatalog.for_model(model)
            name = catalog.startup.id
            bias = {t: -100.0 for t in generator.tokenizer.eos_token_ids}  # every answer runs to max_tokens
            with serving(create_app(catalog, generator=generator)) as url, httpx.Client(base_url=url, timeout=600) as client:
                for i in range(rounds + 1):
                    report(f"round {i}/{rounds}" if i else "warm-up", i / (rounds + 1))
                    messages = [{"role": "user", "content": QUESTION.format(n=i + 1)}]
                    sides = [lambda: _engine_alone(generator, messages, max_tokens, bias),
                             lambda: _through_http(client, name, messages, max_tokens, bias)]
                    first_is_engine = i % 2 == 0  # alternate which side goes first
                    results = [side() for side in (sides if first_is_engine else sides[::-1])]
                    engine, http = results if first_is_engine else results[::-1]
                    if i:  # round 0 warms caches and kernels up
                        engine_runs.append(engine)
                        http_runs.append(http)
            info = generator.info
        report("done", 1.0)
    finally:
        sys.setswitchinterval(switch)

    def med(runs: list[StreamTiming], field: str) -> float:
        return statistics.median(getattr(r, field) for r in runs)

    ttft_engine, ttft_http = med(engine_runs, "ttft_s"), med(http_runs, "ttft_s")
    tps_engine, tps_http = med(engine_runs, "decode_tps"), med(http_runs, "decode_tps")
    return {
        **run_place(info.name, machine),
        "max_tokens": max_tokens,
        "rounds": rounds,
        "generated_tokens": int(med(http_runs, "tokens")),
        "ttft_s_engine": ttft_engine,
        "ttft_s_http": ttft_http,
        "ttft_ratio": ttft_engine / ttft_http if ttft_http else 0.0,
        "decode_tps_engine": tps_engine,
        "decode_tps_http": tps_http,
        "decode_ratio": tps_http / tps_engine if tps_engine else 0.0,
        "decode_tps_http_rounds": [r.decode_tps for r in http_runs],
    }


def format_table(result: dict) -> str:
    return "\n".join(
        [
            *table_opening(result, relative_spread(result.get("decode_tps_http_rounds", ()))),
            f"{result['generated_tokens']} tokens per answer, median of {result['rounds']} rounds",
            f"{'':12} {'engine':>10} {'HTTP':>10} {'ratio':>7}",
            f"{'TTFT s':12} {result['ttft_s_engine']:10.3f} {result['ttft_s_http']:10.3f} {result['ttft_ratio']:7.3f}",
            f"{'decode tok/s':12} {result['decode_tps_engine']:10.2f} {result['decode_tps_http']:10.2f} {result['decode_ratio']:7.3f}",
        ]
    )

"""``mlx-harmony bench engine``: this engine against raw mlx-lm ``generate_step``.

Both run greedy on the same loaded model, on the inference thread, with the
same prompt ids, after a warm-up, in rounds that swap which side goes first.
Speeds are medians; a ratio is the median of the per-round ratios (each
round's two runs are seconds apart, so a machine whose speed drifts, as a
shared GPU host does, moves both alike), with the quartiles of those ratios
beside it to show the spread and a 95% confidence interval of that median
(distribution-free: from the order statistics, so it assumes nothing about
the noise). A ratio above 1 means the engine is faster; an interval whose
low end is above a target shows the target met beyond what noise explains.

Decode tok/s is what a reader sees: tokens over the time from the first to
the last. Beside it, the decode step: the median time between two tokens
reaching the caller in a run. A shared GPU host switches between fast and
slow spells for seconds at a time; a run caught by a switch moves its
tok/s a lot but its median step little, so the step ratio shows the
engine's own cost per token with less noise.
"""

from __future__ import annotations

import math
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from typing import Callable

from ..engine.events import TextDelta, ToolCall
from ..engine.reference import RawRun, raw_mlx_lm
from ..engine.token_generator import TokenGenerator, launched_ranks
from .where import machine_now, quartile_spread, run_place, table_opening

SOURCE_TEXT = (
    "The history of computing is a story of layers. Engineers built machines that could add, "
    "then machines that could store programs, then languages that let people describe what they "
    "wanted instead of how the wires should switch. Each layer hid the one below it. "
)
QUESTION = "\n\nSummarise the passage above in five numbered points, then list ten related topics."


@dataclass
class RunFigures:
    ttft_s: float
    prefill_tps: float
    decode_tps: float
    tokens: int
    peak_memory_gb: float
    step_s: float = 0.0  # median time between two tokens reaching the caller


@dataclass
class EngineBenchResult:
    model: str
    backend: str
    blas: str
    platform: str
    prompt_tokens: int
    generated_tokens: int
    rounds: int
    decode_tps_mlx_lm: float
    decode_tps_engine: float
    decode_ratio: float
    decode_ratio_quartiles: tuple[float, float]
    decode_ratio_ci95: tuple[float, float]
    decode_step_ms_mlx_lm: float
    decode_step_ms_engine: float
    decode_step_ratio: float  # mlx-lm's step time / the engine's: above 1, the engine's step is shorter
    decode_step_ratio_ci95: tuple[float, float]
    prefill_tps_mlx_lm: float
    prefill_tps_engine: float
    prefill_ratio: float
    prefill_ratio_quartiles: tuple[float, float]
    prefill_ratio_ci95: tuple[float, float]
    ttft_s: float
    ttft_s_mlx_lm: float
    peak_memory_gb: float
    peak_memory_gb_mlx_lm: float
    cached_tokens_engine: int  # prompt tokens the engine took from a cache: 0, or the comparison is unfair
    ranks: int = 1  # under mlx.launch: the engine on this many ranks, against the same engine in one process
    decode_tps_ranks: float = 0.0
    prefill_tps_ranks: float = 0.0
    ttft_s_ranks: float = 0.0
    decode_ratio_ranks: float = 0.0  # ranks / one process (above 1: the split model is faster)
    prefill_ratio_ranks: float = 0.0
    memory_gb_per_rank: tuple[float, ...] = ()  # what each rank holds after loading; one process: peak_memory_gb
    cores: int = 0  # the machine's cores and its load average when the run began (see where.machine_now)
    load: float = -1.0

    def as_dict(self) -> dict:
        return asdict(self)


def _bench_prompt(generator, prompt_tokens: int) -> list[int]:
    """A chat prompt of about ``prompt_tokens`` tokens that asks for a long answer."""
    unit = len(generator.tokenizer.encode(SOURCE_TEXT))
    overhead = len(generator.render([{"role": "user", "content": QUESTION}]))
    repeats = max((prompt_tokens - overhead) // unit, 1)
    return generator.render([{"role": "user", "content": SOURCE_TEXT * repeats + QUESTION}])


def _raw_figures(run: RawRun, prompt: list[int]) -> RunFigures:
    """Figures of a raw mlx-lm run that stopped at its end token (which is not counted)."""
    arrivals = run.arrivals
    first, last = arrivals[0][0], arrivals[-1][0]
    ttft = first - run.start
    return RunFigures(
        ttft_s=ttft,
        prefill_tps=len(prompt) / ttft,
        decode_tps=(len(arrivals) - 1) / (last - first) if len(arrivals) > 1 and last > first else 0.0,
        tokens=len(arrivals) - run.ended,
        peak_memory_gb=run.peak_memory_gb,
        step_s=_median_step([(t, 1) for t, _ in arrivals]),
    )


def _median_step(arrivals: list[tuple[float, int]]) -> float:
    """The median time per token between arrivals, each ``(time, tokens it brought)``: a token that came with
    others (a held-back multi-byte character, a hidden Harmony header) counts the gap shared among them."""
    gaps = []
    for (before, _), (at, count) in zip(arrivals, arrivals[1:]):
        gaps += [(at - before) / count] * count
    return statistics.median(gaps) if gaps else 0.0


def _engine_figures(generator: TokenGenerator, prompt: list[int], max_tokens: int) -> tuple[RunFigures, int]:
    arrivals = []
    # reuse_cache=False: every round prefills the whole prompt, as the mlx-lm side does
    for event in generator.stream(prompt=prompt, max_tokens=max_tokens, temperature=0.0, reuse_cache=False):
        if isinstance(event, (TextDelta, ToolCall)) and event.token_ids:
            arrivals.append((time.perf_counter(), len(event.token_ids)))
    s = event.stats
    figures = RunFigures(s.ttft_s, s.prefill_tps, s.decode_tps, s.completion_tokens, s.peak_memory_gb,
                         _median_step(arrivals))
    return figures, s.cached_tokens


def median_ci95(values: list[float]) -> tuple[float, float]:
    """A 95% confidence interval of the median of ``values`` from their order statistics (no assumption about
    their distribution): the k-th smallest and k-th largest, k the largest with P(Binomial(n, 1/2) < k) <= 2.5%.
    Below 6 values no such k exists and the interval is the whole range."""
    ordered = sorted(values)
    n = len(ordered)
    if n == 0:
        return 0.0, 0.0
    k, below = 0, 0.0  # below: P(Binomial(n, 1/2) < k + 1)
    while k < n // 2:
        below += math.comb(n, k) / 2**n
        if below > 0.025:
            break
        k += 1
    k = max(k, 1)
    return ordered[k - 1], ordered[n - k]


def _ratios(engine_runs: list[RunFigures], raw_runs: list[RunFigures], name: str, inverse: bool = False
            ) -> tuple[float, tuple[float, float], tuple[float, float]]:
    """The median of the per-round engine/mlx-lm ratios of ``name`` (mlx-lm/engine when ``inverse``: for times),
    their quartiles and the median's 95% interval."""
    pairs = [(getattr(e, name), getattr(r, name)) for e, r in zip(engine_runs, raw_runs)]
    if inverse:
        pairs = [(r, e) for e, r in pairs]
    ratios = sorted(a / b for a, b in pairs if b)
    if not ratios:
        return 0.0, (0.0, 0.0), (0.0, 0.0)
    if len(ratios) < 2:
        return ratios[0], (ratios[0], ratios[0]), (ratios[0], ratios[0])
    q1, _, q3 = statistics.quantiles(ratios, n=4, method="inclusive")
    return statistics.median(ratios), (q1, q3), median_ci95(ratios)


def run_engine_bench(
    model: str | None,
    prompt_tokens: int = 512,
    max_tokens: int = 128,
    rounds: int = 8,
    progress: Callable[[str, float], None] | None = None,
) -> EngineBenchResult:
    """Measure both paths on one model load over ``rounds`` paired rounds.

    Under ``mlx.launch`` with several ranks, the engine first runs ``rounds``
    on the model split across them; then rank 0 alone loads it again and the
    usual comparison runs there, giving the ratio of ranks to one process.
    """
    report = progress or (lambda _m, _f: None)
    machine = machine_now()
    ranked = _on_ranks(model, prompt_tokens, max_tokens, rounds, report) if launched_ranks() > 1 else {}
    raw_runs: list[RunFigures] = []
    engine_runs: list[RunFigures] = []
    cached = 0
    switch = sys.getswitchinterval()
    sys.setswitchinterval(0.001)  # as the app and the server run: tokens cross threads without a 5 ms GIL wait
    try:
        with TokenGenerator(model, progress=report) as generator:
            info = generator.info
            prompt = _bench_prompt(generator, prompt_tokens)
            total = rounds + 1
            for i in range(total):
                report(f"round {i}/{rounds}" if i else "warm-up", i / total)
                if i % 2:
                    engine, engine_cached = _engine_figures(generator, prompt, max_tokens)
                    raw = _raw_figures(raw_mlx_lm(generator, prompt, max_tokens), prompt)
                else:
                    raw = _raw_figures(raw_mlx_lm(generator, prompt, max_tokens), prompt)
                    engine, engine_cached = _engine_figures(generator, prompt, max_tokens)
                if i:  # round 0 warms caches and kernels up
                    raw_runs.append(raw)
                    engine_runs.append(engine)
                    cached = max(cached, engine_cached)
            report("done", 1.0)
    finally:
        sys.setswitchinterval(switch)

    def med(runs: list[RunFigures], name: str) -> float:
        return statistics.median(getattr(r, name) for r in runs)

    decode_raw, decode_engine = med(raw_runs, "decode_tps"), med(engine_runs, "decode_tps")
    prefill_raw, prefill_engine = med(raw_runs, "prefill_tps"), med(engine_runs, "prefill_tps")
    decode_ratio, decode_quartiles, decode_ci = _ratios(engine_runs, raw_runs, "decode_tps")
    prefill_ratio, prefill_quartiles, prefill_ci = _ratios(engine_runs, raw_runs, "prefill_tps")
    step_ratio, _, step_ci = _ratios(engine_runs, raw_runs, "step_s", inverse=True)
    return EngineBenchResult(
        **run_place(info.name, machine),
        prompt_tokens=len(prompt),
        generated_tokens=int(med(engine_runs, "tokens")),
        rounds=rounds,
        decode_tps_mlx_lm=decode_raw,
        decode_tps_engine=decode_engine,
        decode_ratio=decode_ratio,
        decode_ratio_quartiles=decode_quartiles,
        decode_ratio_ci95=decode_ci,
        decode_step_ms_mlx_lm=med(raw_runs, "step_s") * 1e3,
        decode_step_ms_engine=med(engine_runs, "step_s") * 1e3,
        decode_step_ratio=step_ratio,
        decode_step_ratio_ci95=step_ci,
        prefill_tps_mlx_lm=prefill_raw,
        prefill_tps_engine=prefill_engine,
        prefill_ratio=prefill_ratio,
        prefill_ratio_quartiles=prefill_quartiles,
        prefill_ratio_ci95=prefill_ci,
        ttft_s=med(engine_runs, "ttft_s"),
        ttft_s_mlx_lm=med(raw_runs, "ttft_s"),
        peak_memory_gb=max(r.peak_memory_gb for r in engine_runs),
        peak_memory_gb_mlx_lm=max(r.peak_memory_gb for r in raw_runs),
        cached_tokens_engine=cached,
        **_against_one(ranked, decode_engine, prefill_engine),
    )


def _on_ranks(model: str | None, prompt_tokens: int, max_tokens: int, rounds: int, report) -> dict:
    """The engine's figures on the model split across the launcher's ranks (rank 0 samples; the others follow)."""
    with TokenGenerator(model, progress=report) as generator:
        info = generator.info
        prompt = _bench_prompt(generator, prompt_tokens)
        runs = []
        for i in range(rounds + 1):
            report(f"{info.ranks} ranks: " + (f"round {i}/{rounds}" if i else "warm-up"), i / (rounds + 1))
            figures, _ = _engine_figures(generator, prompt, max_tokens)
            if i:
                runs.append(figures)
    return {"ranks": info.ranks, "memory_gb_per_rank": info.rank_memory_gb,
            "decode_tps_ranks": statistics.median(r.decode_tps for r in runs),
            "prefill_tps_ranks": statistics.median(r.prefill_tps for r in runs),
            "ttft_s_ranks": statistics.median(r.ttft_s for r in runs)}


def _against_one(ranked: dict, decode_one: float, prefill_one: float) -> dict:
    if not ranked:
        return {}
    return {**ranked, "decode_ratio_ranks": ranked["decode_tps_ranks"] / decode_one if decode_one else 0.0,
            "prefill_ratio_ranks": ranked["prefill_tps_ranks"] / prefill_one if prefill_one else 0.0}


def format_table(result: EngineBenchResult) -> str:
    rows = [
        ("prefill tok/s", result.prefill_tps_mlx_lm, result.prefill_tps_engine, result.prefill_ratio),
        ("decode tok/s", result.decode_tps_mlx_lm, result.decode_tps_engine, result.decode_ratio),
        ("decode step ms", result.decode_step_ms_mlx_lm, result.decode_step_ms_engine, result.decode_step_ratio),
        ("TTFT s", result.ttft_s_mlx_lm, result.ttft_s, result.ttft_s_mlx_lm / result.ttft_s if result.ttft_s else 0.0),
        ("peak memory GB", result.peak_memory_gb_mlx_lm, result.peak_memory_gb, None),
    ]
    spread = max(quartile_spread(result.decode_ratio_quartiles, result.decode_ratio) or 0.0,
                 quartile_spread(result.prefill_ratio_quartiles, result.prefill_ratio) or 0.0)
    lines = [
        *table_opening(vars(result), spread),
        f"prompt {result.prompt_tokens} tokens, {result.generated_tokens} generated, {result.rounds} rounds",
        f"{'':16} {'mlx-lm':>10} {'engine':>10} {'ratio':>7}",
    ]
    spread = {"prefill tok/s": (result.prefill_ratio_quartiles, result.prefill_ratio_ci95),
              "decode tok/s": (result.decode_ratio_quartiles, result.decode_ratio_ci95)}
    for name, raw, engine, ratio in rows:
        line = f"{name:16} {raw:10.3f} {engine:10.3f} {'' if ratio is None else f'{ratio:7.3f}'}"
        if name in spread:
            (low, high), (ci_low, ci_high) = spread[name]
            line += f"  (rounds {low:.3f} to {high:.3f}; median {ci_low:.3f} to {ci_high:.3f})"
        elif name == "decode step ms":
            ci_low, ci_high = result.decode_step_ratio_ci95
            line += f"  (median {ci_low:.3f} to {ci_high:.3f})"
        lines.append(line)
    lines.append("ratios: median of the per-round ratios (decode step: mlx-lm's time over the engine's); in brackets "
                 "their lower and upper quartiles, then the median's 95% confidence interval")
    lines.append("decode step: median time between two tokens reaching the caller (less moved by a host's slow spells "
                 "than tok/s)")
    if result.ranks > 1:
        memory = ", ".join(f"{gb:.2f}" for gb in result.memory_gb_per_rank)
        lines += [f"on {result.ranks} ranks (engine): prefill {result.prefill_tps_ranks:.3f} tok/s "
                  f"(x{result.prefill_ratio_ranks:.3f} of one process), decode {result.decode_tps_ranks:.3f} tok/s "
                  f"(x{result.decode_ratio_ranks:.3f}), TTFT {result.ttft_s_ranks:.3f} s; memory per rank GB: {memory}"]
    return "\n".join(lines)

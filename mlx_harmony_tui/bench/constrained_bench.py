"""``mlx-harmony bench constrained``: decode speed with a JSON schema against without, and the mask's cost.

Both sides answer the same chat prompt (the schema's instruction included)
greedily on one loaded model, in rounds that swap which side goes first;
the ratio is the median of the per-round ratios (schema / free), with their
quartiles. The per-token mask cost is reported twice: as measured inside
the constrained runs (CPU time of the inference thread, while the model's
forward pass runs beside it and evicts the grammar's data from the caches),
and replaying a known answer through the constraint alone, on the model's
vocabulary and on GPT-OSS's (o200k). The target is a ratio of at least 0.9.
"""

from __future__ import annotations

import json
import statistics
import sys
from dataclasses import asdict, dataclass
from typing import Callable

from ..chat.prompt import schema_instruction
from ..config.response_schema import OutputConstraint, ResponseSchema
from ..engine.events import Done
from ..engine.reference import MaskReplay, mask_replay
from ..engine.token_generator import TokenGenerator
from .where import machine_now, quartile_spread, run_place, table_opening

SCHEMA = {
    "type": "object",
    "properties": {
        "scientists": {
            "type": "array",
            "maxItems": 12,
            "items": {
                "type": "object",
                "properties": {"name": {"type": "string", "maxLength": 40}, "field": {"type": "string", "maxLength": 30},
                               "born": {"type": "integer", "minimum": 1000, "maximum": 2030}},
                "required": ["name", "field", "born"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["scientists"],
    "additionalProperties": False,
}
QUESTION = "List twelve famous scientists with their field and the year they were born."
REPLAY = {"scientists": [{"name": "Marie Curie", "field": "physics and chemistry", "born": 1867},
                         {"name": "Isaac Newton", "field": "physics", "born": 1643},
                         {"name": "Charles Darwin", "field": "biology", "born": 1809}]}
TARGET = 0.9


@dataclass
class ConstrainedBenchResult:
    model: str
    backend: str
    blas: str
    platform: str
    prompt_tokens: int
    rounds: int
    tokens_free: int
    tokens_constrained: int
    decode_tps_free: float
    decode_tps_constrained: float
    decode_ratio: float
    decode_ratio_quartiles: tuple[float, float]
    mask_us_per_token_in_run: float
    replay: list[MaskReplay]
    target: float = TARGET
    cores: int = 0  # the machine's cores and its load average when the run began (see where.machine_now)
    load: float = -1.0

    def as_dict(self) -> dict:
        return asdict(self)


def _run(generator: TokenGenerator, messages: list[dict], max_tokens: int, output: OutputConstraint | None) -> Done:
    events = generator.stream(messages=messages, max_tokens=max_tokens, temperature=0.0, reuse_cache=False, output=output)
    return [e for e in events if isinstance(e, Done)][-1]


def run_constrained_bench(model: str | None, max_tokens: int = 128, rounds: int = 6,
                          progress: Callable[[str, float], None] | None = None) -> ConstrainedBenchResult:
    """Measure both sides on one model load over ``rounds`` paired rounds, then replay the mask alone."""
    report = progress or (lambda _m, _f: None)
    machine = machine_now()
    schema = ResponseSchema("scientists", SCHEMA, where="bench schema")
    output = OutputConstraint(schema)
    messages = [{"role": "system", "content": schema_instruction(schema)}, {"role": "user", "content": QUESTION}]
    free: list[Done] = []
    constrained: list[Done] = []
    switch = sys.getswitchinterval()
    sys.setswitchinterval(0.001)  # as the app and the server run
    try:
        with TokenGenerator(model, progress=report) as generator:
            total = rounds + 1
            for i in range(total):
                report(f"round {i}/{rounds}" if i else "warm-up", i / total)
                runs = {}
                for side in ("free", "schema") if i % 2 else ("schema", "free"):
                    runs[side] = _run(generator, messages, max_tokens, output if side == "schema" else None)
                if i:  # round 0 warms caches, kernels and the schema's vocabulary up
                    free.append(runs["free"])
                    constrained.append(runs["schema"])
            report("replaying the mask alone", 0.95)
            text = json.dumps(REPLAY, separators=(",", ":"))
            replay = [mask_replay(generator, schema, text, harmony) for harmony in (False, True)]
            info = generator.info
            prompt_tokens = free[0].stats.prompt_tokens
            report("done", 1.0)
    finally:
        sys.setswitchinterval(switch)
    ratios = sorted(c.stats.decode_tps / f.stats.decode_tps for c, f in zip(constrained, free) if f.stats.decode_tps)
    q1, _, q3 = statistics.quantiles(ratios, n=4, method="inclusive") if len(ratios) > 1 else (ratios[0],) * 3
    masked = sum(d.stats.masked_tokens for d in constrained)
    return ConstrainedBenchResult(
        **run_place(info.name, machine),
        prompt_tokens=prompt_tokens,
        rounds=rounds,
        tokens_free=int(statistics.median(d.stats.completion_tokens for d in free)),
        tokens_constrained=int(statistics.median(d.stats.completion_tokens for d in constrained)),
        decode_tps_free=statistics.median(d.stats.decode_tps for d in free),
        decode_tps_constrained=statistics.median(d.stats.decode_tps for d in constrained),
        decode_ratio=statistics.median(ratios),
        decode_ratio_quartiles=(q1, q3),
        mask_us_per_token_in_run=sum(d.stats.mask_s for d in constrained) / masked * 1e6 if masked else 0.0,
        replay=replay,
    )


def format_table(result: ConstrainedBenchResult) -> str:
    low, high = result.decode_ratio_quartiles
    verdict = "meets" if result.decode_ratio >= result.target else "misses"
    lines = [
        *table_opening(vars(result), quartile_spread(result.decode_ratio_quartiles, result.decode_ratio)),
        f"prompt {result.prompt_tokens} tokens, {result.rounds} rounds, greedy",
        f"{'':22} {'free':>10} {'schema':>10} {'ratio':>7}",
        f"{'decode tok/s':22} {result.decode_tps_free:10.2f} {result.decode_tps_constrained:10.2f} {result.decode_ratio:7.3f}"
        f"  (rounds {low:.3f} to {high:.3f}; {verdict} the {result.target:.1f}x target)",
        f"{'tokens generated':22} {result.tokens_free:10d} {result.tokens_constrained:10d}",
        f"mask cost in the runs: {result.mask_us_per_token_in_run:.0f} us CPU a token (beside the forward pass)",
        "mask cost replayed alone (us a token):",
        f"  {'vocabulary':28} {'size':>7} {'host mean':>10} {'host p50':>9} {'apply p50':>10} {'build s':>8} {'compile ms':>11}",
    ]
    for r in result.replay:
        lines.append(f"  {r.vocabulary:28} {r.vocab_size:7d} {r.host_us_mean:10.1f} {r.host_us_median:9.1f} {r.apply_us_median:10.1f}"
                     f" {r.vocabulary_s:8.2f} {r.compile_s * 1e3:11.1f}")
    lines.append("ratio: median of the per-round ratios (schema / free); in brackets their lower and upper quartiles")
    return "\n".join(lines)

"""``mlx-harmony bench speculative``: prompt-lookup drafts on copy-heavy answers and on prose.

Every prompt is answered greedily three ways on one loaded model, in rounds
that rotate which goes first: raw mlx-lm ``generate_step`` on the same
prompt ids, this engine with ``speculative=off`` and with ``speculative=ngram``.
Decode tok/s is tokens after the first over the time from the first to the
last; a set's figure is the median over its prompts and rounds. The engine's
two answers must be the same tokens (greedy): the table says whether they
were. Then the set's prompts run at once (8 streams), with drafts and
without: total tokens over the wall time of the whole burst.

The code-edit set asks for what coding agents write: a patch against a
150-line file (its context lines copied), a function repeated with one
change, a JSON document reformatted, a passage quoted. How much a model
copies is its own: a small model copies less, and the acceptance column
shows how much of each answer the drafts supplied.
"""

from __future__ import annotations

import json
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from ..engine.events import Done
from ..engine.reference import raw_mlx_lm
from ..engine.token_generator import TokenGenerator
from .where import machine_now, relative_spread, run_place, table_opening


def _source_file() -> str:
    lines = []
    for i in range(25):
        lines += [f"def total_{i}(items, rate={i}):", f"    subtotal = sum(item.price * item.count for item in items)",
                  f"    return round(subtotal * (1 + rate / 100), 2)", "", "", ""]
    return "\n".join(lines[:150])


def _record() -> str:
    return json.dumps({"orders": [{"id": i, "customer": f"customer-{i}", "items": [f"sku-{i}-{j}" for j in range(3)],
                                   "paid": i % 2 == 0} for i in range(8)]})


PASSAGE = ("The lighthouse stood on the last rock of the coast, and every night for forty years its keeper climbed the "
           "hundred and twelve steps to light the lamp. He wrote the weather in a book, the ships that passed, and the "
           "birds that struck the glass. ") * 3

CODE_EDIT = {
    "patch": "Here is a file, calc.py:\n\n" + _source_file() + "\n\nWrite a unified diff for calc.py that renames "
             "`subtotal` to `net` in total_3 and total_4. Include three lines of context around each change.",
    "repeat": "Here is a function:\n\n" + "\n".join(_source_file().splitlines()[:24]) + "\n\nWrite it out again, "
              "exactly the same, but with `items` renamed to `lines` everywhere.",
    "json": "Reformat this JSON with two-space indentation, keys in the same order:\n\n" + _record(),
    "quote": "Quote this passage back word for word, then say how many steps the keeper climbs:\n\n" + PASSAGE,
}
PROSE = {
    "story": "Write a story about a lighthouse keeper and a storm.",
    "explain": "Explain how a refrigerator keeps food cold, for a curious ten-year-old.",
    "letter": "Write a letter to a friend describing a walk in the autumn woods.",
    "argue": "Give the arguments for and against working from home.",
}


def _prompt_ids(generator: TokenGenerator, text: str) -> list[int]:
    messages = [{"role": "user", "content": text}]
    try:
        return generator.render(messages)
    except Exception:  # a model without a chat template: the text itself
        return list(generator.tokenizer.encode(text))


def _ours(generator: TokenGenerator, ids: list[int], max_tokens: int, speculative: str) -> Done:
    for event in generator.stream(prompt=ids, max_tokens=max_tokens, temperature=0, speculative=speculative,
                                  conversation=generator.new_conversation_id()):
        if isinstance(event, Done):
            return event
    raise RuntimeError("the stream ended without Done")


def _raw_tps(run) -> float:
    times = [t for t, _ in run.arrivals]
    return (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else 0.0


def _burst(generator: TokenGenerator, prompts: list[list[int]], max_tokens: int, speculative: str) -> float:
    start = time.perf_counter()
    with ThreadPoolExecutor(len(prompts)) as pool:
        answers = list(pool.map(lambda ids: _ours(generator, ids, max_tokens, speculative), prompts))
    return sum(len(a.token_ids) for a in answers) / (time.perf_counter() - start)


def run_speculative_bench(model: str | None, max_tokens: int, rounds: int, streams: int,
                          progress: Callable[[str, float], None] | None = None) -> dict[str, Any]:
    """Run the bench; the result's figures are described in the module docstring."""
    sets = {"code-edit": CODE_EDIT, "prose": PROSE}
    machine = machine_now()
    with TokenGenerator(model, progress=progress) as generator:
        result: dict[str, Any] = {**run_place(generator.info.name, machine), "max_tokens": max_tokens, "rounds": rounds,
                                  "streams": streams, "draft_tokens": generator.sampling.draft_tokens, "sets": {}}
        warm = _prompt_ids(generator, "Hello")
        _ours(generator, warm, 8, "ngram")
        raw_mlx_lm(generator, warm, 8)
        for name, prompts in sets.items():
            ids = {key: _prompt_ids(generator, text) for key, text in prompts.items()}
            per_prompt: dict[str, dict[str, Any]] = {}
            for key, prompt in ids.items():
                figures: dict[str, list[float]] = {"raw": [], "off": [], "ngram": []}
                same, kept, drafted, tokens = True, 0, 0, 0
                for r in range(rounds):
                    order = ["raw", "off", "ngram"][r % 3:] + ["raw", "off", "ngram"][: r % 3]
                    answers: dict[str, Done] = {}
                    for side in order:
                        if side == "raw":
                            figures["raw"].append(_raw_tps(raw_mlx_lm(generator, prompt, max_tokens)))
                        else:
                            answers[side] = _ours(generator, prompt, max_tokens, side)
                            figures[side].append(answers[side].stats.decode_tps)
                    same &= list(answers["off"].token_ids) == list(answers["ngram"].token_ids)
                    kept, drafted = kept + answers["ngram"].stats.accepted_tokens, drafted + answers["ngram"].stats.drafted_tokens
                    tokens += len(answers["ngram"].token_ids)
                per_prompt[key] = {side: statistics.median(values) for side, values in figures.items()}
                per_prompt[key]["ngram_rounds"] = figures["ngram"]
                per_prompt[key].update(same_tokens=same, acceptance=kept / drafted if drafted else 0.0,
                                       drafted_share=kept / tokens if tokens else 0.0)
            burst_prompts = [ids[key] for key in list(ids) * (streams // len(ids) + 1)][:streams]
            bursts = {"off": [], "ngram": []}
            for r in range(rounds):
                for side in (["off", "ngram"] if r % 2 == 0 else ["ngram", "off"]):
                    bursts[side].append(_burst(generator, burst_prompts, max_tokens, side))
            single = {side: statistics.median(p[side] for p in per_prompt.values()) for side in ("raw", "off", "ngram")}
            many = {side: statistics.median(values) for side, values in bursts.items()}
            result["sets"][name] = {
                "prompts": per_prompt,
                "decode_tps": single,
                "vs_mlx_lm": single["ngram"] / single["raw"] if single["raw"] else 0.0,
                "vs_off": single["ngram"] / single["off"] if single["off"] else 0.0,
                "streams_tps": many,
                "streams_vs_off": many["ngram"] / many["off"] if many["off"] else 0.0,
                "same_tokens": all(p["same_tokens"] for p in per_prompt.values()),
            }
    return result


def format_table(result: dict[str, Any]) -> str:
    spread = max((s for f in result["sets"].values() for p in f["prompts"].values()
                  if (s := relative_spread(p.get("ngram_rounds", ()))) is not None), default=None)
    lines = [*table_opening(result, spread), f"greedy, {result['max_tokens']} tokens per answer, {result['rounds']} rounds, "
             f"drafts of up to {result['draft_tokens']} tokens"]
    lines.append(f"{'set / prompt':<22}{'mlx-lm tok/s':>13}{'off tok/s':>11}{'ngram tok/s':>13}{'x mlx-lm':>10}{'x off':>8}"
                 f"{'kept':>7}{'same':>6}")
    for name, figures in result["sets"].items():
        for key, p in figures["prompts"].items():
            lines.append(f"  {name + '/' + key:<20}{p['raw']:>13.1f}{p['off']:>11.1f}{p['ngram']:>13.1f}"
                         f"{p['ngram'] / p['raw'] if p['raw'] else 0:>10.2f}{p['ngram'] / p['off'] if p['off'] else 0:>8.2f}"
                         f"{p['acceptance']:>7.0%}{'yes' if p['same_tokens'] else 'NO':>6}")
        d = figures["decode_tps"]
        lines.append(f"{name + ' (median)':<22}{d['raw']:>13.1f}{d['off']:>11.1f}{d['ngram']:>13.1f}{figures['vs_mlx_lm']:>10.2f}"
                     f"{figures['vs_off']:>8.2f}")
        s = figures["streams_tps"]
        label = f"{name} ({result['streams']} streams)"
        lines.append(f"{label:<22}{'':>13}{s['off']:>11.1f}{s['ngram']:>13.1f}{'':>10}"
                     f"{figures['streams_vs_off']:>8.2f}")
    return "\n".join(lines)

"""``mlx-harmony bench turns --resume``: the first turn after reopening a saved chat, from the disk cache vs cold.

This process holds a ``turns``-turn chat (the turns bench's messages, greedy,
``max_tokens`` tokens per answer) with a ``persist`` key and a disk cache in
a temporary folder, as the app does for a saved chat, then closes the model.
Fresh processes (``python -m mlx_harmony_tui.bench.resume_bench``) then load
the model, answer one short warm-up chat computed afresh and kept nowhere (so
none is charged for first-call set-up such as loading the Harmony encoding),
and ask the next turn: with the disk cache folder, or without. ``rounds``
pairs of them, taking turns going first; figures are medians. Each reports
the engine's TTFT (from the request's admission, reading the file included),
cached tokens and the answer's tokens, which must be the same both ways.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Callable

from ..chat.prompt import build_prompt
from ..config.resolve import RunSettings
from ..config.sampling import SamplingParams
from ..engine.events import Done, TextDelta
from ..engine.token_generator import TokenGenerator
from .turns_bench import SYSTEM, bench_model, user_message
from .where import machine_now, relative_spread, run_place, table_opening

Progress = Callable[[str, float], None]
KEY = "bench-resume"
DISK_BUDGET = 1 << 34  # the temporary folder holds this one chat


def _settings(max_tokens: int, started: datetime) -> RunSettings:
    return RunSettings(model=None, sampling=SamplingParams(temperature=0.0, max_tokens=max_tokens), started=started)


def _answer(generator: TokenGenerator, settings: RunSettings, conversation: list[dict], bias: dict[int, float]) -> tuple[str, Done]:
    """One persisted turn of the chat: its final text and its Done."""
    prompt = build_prompt(settings, generator.info.is_gpt_oss, conversation)
    content, done = [], None
    for event in generator.stream(messages=prompt.messages, harmony=prompt.harmony, conversation=KEY, persist=KEY,
                                  temperature=0.0, max_tokens=settings.sampling.max_tokens, logit_bias=bias):
        if isinstance(event, TextDelta) and event.channel == "final":
            content.append(event.text)
        elif isinstance(event, Done):
            done = event
    assert done is not None  # a stream always ends with Done or raises
    return "".join(content), done


def reopened_turn(spec: dict) -> dict:
    """In a fresh process: load the model, warm up, answer the chat's next turn (``spec`` from :func:`run_resume_bench`)."""
    disk = (Path(spec["disk"]), DISK_BUDGET) if spec["disk"] else None
    with TokenGenerator(spec["model"], disk_cache=disk) as generator:
        bias = {t: -100.0 for t in generator.tokenizer.eos_token_ids}
        settings = _settings(spec["max_tokens"], datetime.fromisoformat(spec["started"]))
        # Another chat, computed afresh and kept nowhere: it loads what any first chat loads (kernels, the Harmony encoding).
        warm_up = build_prompt(settings, generator.info.is_gpt_oss, [{"role": "user", "content": "Warm-up: name three colours."}])
        for _ in generator.stream(messages=warm_up.messages, harmony=warm_up.harmony, max_tokens=4, temperature=0.0,
                                  reuse_cache=False, conversation="warm-up"):
            pass
        _, done = _answer(generator, settings, spec["conversation"], bias)
    return {"ttft_s": done.stats.ttft_s, "prompt_tokens": done.stats.prompt_tokens, "cached_tokens": done.stats.cached_tokens,
            "tokens": list(done.token_ids)}


def _in_new_process(spec: dict) -> dict:
    done = subprocess.run([sys.executable, "-m", "mlx_harmony_tui.bench.resume_bench"], input=json.dumps(spec),
                          capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"the reopening process failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_resume_bench(model: str | None = None, turns: int = 20, user_tokens: int = 64, max_tokens: int = 64,
                     progress: Progress | None = None, rounds: int = 3) -> dict:
    """Build the saved chat here, then time its next turn in new processes: from the disk cache and cold."""
    report = progress or (lambda _m, _f: None)
    machine = machine_now()
    spec_model = bench_model(model)
    started = datetime.now().astimezone()
    settings = _settings(max_tokens, started)
    with tempfile.TemporaryDirectory(prefix="mlx-harmony-bench-resume-") as folder:
        disk = Path(folder) / "prompt-caches"
        with TokenGenerator(spec_model, progress=report, disk_cache=(disk, DISK_BUDGET)) as generator:
            place = run_place(generator.info.name, machine)
            path = generator.info.path
            encode = generator.tokenizer.encode
            bias = {t: -100.0 for t in generator.tokenizer.eos_token_ids}
            conversation = [{"role": "system", "content": SYSTEM}]
            for turn in range(turns):
                report(f"saved chat, turn {turn + 1}/{turns}", 0.6 * turn / turns)
                conversation.append({"role": "user", "content": user_message(turn, user_tokens, encode)})
                content, _ = _answer(generator, settings, conversation, bias)
                conversation.append({"role": "assistant", "content": content})
            conversation.append({"role": "user", "content": user_message(turns, user_tokens, encode)})
        disk_bytes = sum(f.stat().st_size for f in disk.rglob("*.safetensors"))
        spec = {"model": path, "conversation": conversation, "max_tokens": max_tokens, "started": started.isoformat()}
        runs: dict[str, list[dict]] = {"disk": [], "cold": []}
        for r in range(rounds):
            for side in ("disk", "cold") if r % 2 == 0 else ("cold", "disk"):
                report(f"reopened in a new process ({side}), {r + 1}/{rounds}", 0.6 + 0.4 * r / rounds)
                runs[side].append(_in_new_process({**spec, "disk": str(disk) if side == "disk" else None}))
    report("done", 1.0)
    warm, cold = ({**runs[side][0], "ttft_s": statistics.median(run["ttft_s"] for run in runs[side])} for side in ("disk", "cold"))
    answers = {tuple(run["tokens"]) for side_runs in runs.values() for run in side_runs}
    cached = {side: {run["cached_tokens"] for run in side_runs} for side, side_runs in runs.items()}
    return {
        **place,
        "turns": turns,
        "user_tokens": user_tokens,
        "max_tokens": max_tokens,
        "rounds": rounds,
        "disk_cache_bytes": disk_bytes,
        "prompt_tokens": warm["prompt_tokens"],
        "cached_tokens_disk": min(cached["disk"]),  # the least any reopening got
        "cached_tokens_cold": max(cached["cold"]),  # the most any cold one got
        "ttft_disk_s": warm["ttft_s"],
        "ttft_cold_s": cold["ttft_s"],
        "ttft_disk_s_rounds": [run["ttft_s"] for run in runs["disk"]],
        "ttft_cold_s_rounds": [run["ttft_s"] for run in runs["cold"]],
        "ttft_ratio": cold["ttft_s"] / warm["ttft_s"] if warm["ttft_s"] else 0.0,
        "same_answer": len(answers) == 1,
    }


def format_table(result: dict) -> str:
    lines = [
        *table_opening(result, relative_spread(result.get("ttft_disk_s_rounds", ()))),
        f"a saved chat of {result['turns']} turns (user messages of about {result['user_tokens']} tokens, answers of "
        f"{result['max_tokens']}), reopened in a new process; turn {result['turns'] + 1} after one warm-up request; "
        f"medians of {result['rounds']} process{'es' if result['rounds'] > 1 else ''} each way",
        f"{'':<22} {'prompt':>7} {'cached':>7} {'TTFT s':>9}",
        f"{'from the disk cache':<22} {result['prompt_tokens']:>7} {result['cached_tokens_disk']:>7} {result['ttft_disk_s']:>9.4f}",
        f"{'cold':<22} {result['prompt_tokens']:>7} {result['cached_tokens_cold']:>7} {result['ttft_cold_s']:>9.4f}",
        f"cold / from disk: {result['ttft_ratio']:.2f}x; cache file {result['disk_cache_bytes'] / 1e6:.1f} MB; "
        f"the same answer every time: {'yes' if result['same_answer'] else 'NO'}",
    ]
    return "\n".join(lines)


def main() -> int:
    print(json.dumps(reopened_turn(json.loads(sys.stdin.read()))))
    return 0


if __name__ == "__main__":
    sys.exit(main())

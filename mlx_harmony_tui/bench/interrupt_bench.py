"""``mlx-harmony bench interrupt``: a short request sent while a long prompt is read, on this server and ``mlx_lm.server``.

An editor asks for a one-line answer while an agent's new session sends its
long opening: does the short request wait for the whole opening? Both servers
are started by the bench on 127.0.0.1, on the same model folder with the same
BLAS, one after the other, and warmed up. On each:

1. idle: a one-line request's time to first token, the median of three;
2. alone: a long prompt (``long_tokens`` tokens of text no cache holds), its
   time to first token;
3. together: another such long prompt, and ``delay_s`` after sending it the
   one-line request; both times to first token.

Answers are greedy, ``max_tokens`` long, end tokens biased away. Figures per
server: the short request's TTFT together against idle (the aim: at most 2x)
and the long prompt's TTFT together against alone (the aim: at most 1.15x),
and the short request's TTFT against the other server's (above 1: ours is
better).
"""

from __future__ import annotations

import random
import secrets
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

import httpx

from ..engine.token_generator import TokenGenerator
from .server_bench import _ours, _theirs
from .turns_bench import stream_turn
from .where import machine_now, run_place, table_opening

Progress = Callable[[str, float], None]
SERVERS = ("mlx-harmony", "mlx_lm.server")
SHORT = [{"role": "user", "content": "Say OK."}]
WORDS = ("harbor lantern keeper storm beacon tide reef gull mast rope signal fog chart compass anchor hull deck "
         "cabin ledger north south river delta granite timber copper glass").split()


def long_text(count: Callable[[str], int], tokens: int, seed: int) -> str:
    """Text of about ``tokens`` tokens (as ``count`` measures), different for every seed."""
    pick = random.Random(seed)
    lines: list[str] = []
    total = 0
    while total < tokens:
        line = " ".join(pick.choice(WORDS) + str(pick.randrange(100)) for _ in range(12)) + "."
        lines.append(line)
        total += count(line + "\n")
    return "\n".join(lines)


def _long_messages(text: str, tag: str) -> list[dict]:
    return [{"role": "user", "content": f"[{tag}] Summarise this log in one line.\n{text}"}]


def _measure(base: str, model: str, longs: tuple[list[dict], list[dict]], delay_s: float, max_tokens: int,
             bias: dict[int, float]) -> dict:
    with httpx.Client(base_url=base, timeout=3600) as client:
        idle = [stream_turn(client, model, SHORT, max_tokens, bias)["ttft_s"] for _ in range(3)]
        alone = stream_turn(client, model, longs[0], max_tokens, bias)
    together: dict = {}

    def run_long() -> None:
        with httpx.Client(base_url=base, timeout=3600) as client:
            together["long"] = stream_turn(client, model, longs[1], max_tokens, bias)

    thread = threading.Thread(target=run_long)
    thread.start()
    time.sleep(delay_s)
    with httpx.Client(base_url=base, timeout=3600) as client:
        together["short"] = stream_turn(client, model, SHORT, max_tokens, bias)
    thread.join()
    idle_s = statistics.median(idle)
    return {
        "short_idle_ttft_s": idle_s, "short_together_ttft_s": together["short"]["ttft_s"],
        "short_ratio": together["short"]["ttft_s"] / idle_s,
        "long_alone_ttft_s": alone["ttft_s"], "long_together_ttft_s": together["long"]["ttft_s"],
        "long_ratio": together["long"]["ttft_s"] / alone["ttft_s"],
        "long_prompt_tokens": alone["prompt_tokens"], "long_cached_tokens": [alone["cached_tokens"], together["long"]["cached_tokens"]],
    }


def run_interrupt_bench(model: str | None = None, long_tokens: int = 5000, delay_s: float = 1.5, max_tokens: int = 8,
                        progress: Progress | None = None) -> dict:
    """Measure both servers; see the module's docstring."""
    report = progress or (lambda _m, _f: None)
    machine = machine_now()
    with TokenGenerator(model, progress=report) as generator:
        folder, place = Path(generator.info.path), run_place(generator.info.name, machine)
        bias = {t: -100.0 for t in generator.tokenizer.eos_token_ids}
        encode = generator.tokenizer.encode
        texts = [long_text(lambda t: len(encode(t)), long_tokens, seed) for seed in (1, 2)]
    servers = {}
    with tempfile.TemporaryDirectory(prefix="mlx-harmony-bench-interrupt-") as logs:
        for step, name in enumerate(SERVERS):
            report(f"{name}: starting", step / len(SERVERS))
            tag = secrets.token_hex(4)  # no earlier run's cache (ours keeps them on disk) holds these prompts
            longs = (_long_messages(texts[0], tag), _long_messages(texts[1], tag))
            started = _ours(folder, Path(logs) / "ours.log", 2) if name == SERVERS[0] else _theirs(folder, Path(logs) / "theirs.log")
            with started as base:
                served = httpx.get(base + "/v1/models", timeout=30).json()["data"][0]["id"] if name == SERVERS[0] else str(folder)
                with httpx.Client(base_url=base, timeout=1800) as client:  # load, compile, allocate
                    stream_turn(client, served, [{"role": "user", "content": f"Warm-up {tag}: name three colours."}], 4, bias)
                report(f"{name}: measuring", (step + 0.2) / len(SERVERS))
                servers[name] = _measure(base, served, longs, delay_s, max_tokens, bias)
    report("done", 1.0)
    ours, theirs = servers[SERVERS[0]], servers[SERVERS[1]]
    return {**place, "long_tokens": long_tokens, "delay_s": delay_s, "max_tokens": max_tokens, "servers": servers,
            "short_ttft_ratio": theirs["short_together_ttft_s"] / ours["short_together_ttft_s"]}


def format_table(result: dict) -> str:
    lines = [
        *table_opening(result),
        f"a one-line request sent {result['delay_s']} s after a new {result['long_tokens']:,}-token prompt",
        f"{'server':<14} | {'short TTFT idle':>15} {'together':>9} {'ratio':>6} | {'long TTFT alone':>15} {'together':>9} "
        f"{'ratio':>6}",
    ]
    for name, s in result["servers"].items():
        lines.append(f"{name:<14} | {s['short_idle_ttft_s']:>15.2f} {s['short_together_ttft_s']:>9.2f} {s['short_ratio']:>6.2f} | "
                     f"{s['long_alone_ttft_s']:>15.2f} {s['long_together_ttft_s']:>9.2f} {s['long_ratio']:>6.2f}")
    lines.append(f"short request's TTFT, theirs / ours: {result['short_ttft_ratio']:.2f} (above 1: mlx-harmony's server is better)")
    return "\n".join(lines)

"""``mlx-harmony bench server``: many clients at once, against ``mlx_lm.server`` on the same model.

Both servers are started by the bench as processes of their own on
127.0.0.1, on the same model folder, with the same BLAS under MLX, and
warmed up. For each client count,
that many clients each stream ``rounds`` chat answers one after another, all
at once, greedy, every answer ``max_tokens`` long (end-of-sequence tokens
biased away on both), each question its own. The two servers take turns per
client count. Figures: total completion tokens per second over the wall time
of the whole round, and time to first token (the first streamed text,
reasoning included) per request, median and 95th percentile. A ratio above 1
means mlx-harmony's server is better (tok/s: ours / theirs; TTFT: theirs / ours).
"""

from __future__ import annotations

import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import httpx

from ..engine.token_generator import TokenGenerator
from .sse import stream_chunks
from .where import machine_now, run_place, table_opening

TOPICS = ("the tides", "bread baking", "bridge design", "bird migration", "glass making", "river deltas", "clock mechanisms",
          "paper folding", "beekeeping", "sail making", "map drawing", "tea growing", "kite flying", "stone walls", "rope knots",
          "candle making")
QUESTION = "Question {n}: tell me, in detail and step by step, about {topic}."
Progress = Callable[[str, float], None]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def _process(command: list[str], ready: Callable[[str], str | None], timeout: float, log: Path) -> Iterator[str]:
    """Run a server ``command``; yield its base URL once ``ready(output so far)`` finds it; stop it afterwards."""
    with log.open("w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=os.environ.copy())
        try:
            started = time.monotonic()
            while True:
                url = ready(log.read_text(errors="replace"))
                if url is not None:
                    break
                if process.poll() is not None or time.monotonic() - started > timeout:
                    raise RuntimeError(f"a server did not start ({' '.join(command[:3])}):\n{log.read_text(errors='replace')[-2000:]}")
                time.sleep(0.2)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()


def _healthy(base: str) -> bool:
    try:
        return httpx.get(base + "/health", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def _ours(folder: Path, log: Path, concurrency: int):
    command = [sys.executable, "-m", "mlx_harmony_tui.cli.server", "--model", str(folder), "--port", "0", "--preload",
               "--max-concurrency", str(concurrency), "--max-queue", str(4 * concurrency), "--log-level", "warning"]

    def ready(output: str) -> str | None:
        found = re.search(r"at (http://[^\s]+)/v1", output)
        return found.group(1) if found and _healthy(found.group(1)) else None

    return _process(command, ready, 600, log)


# mlx_lm.server as it ships, with the same BLAS under MLX as ours (loaded first, as mlx-harmony does).
THEIRS = ("import runpy, sys; from mlx_harmony_tui.runtime import blas_info; blas_info(); "
          "sys.argv = ['mlx_lm.server', *sys.argv[1:]]; runpy.run_module('mlx_lm.server', run_name='__main__')")


def _theirs(folder: Path, log: Path):
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-c", THEIRS, "--model", str(folder), "--host", "127.0.0.1", "--port", str(port)]
    return _process(command, lambda _output: base if _healthy(base) else None, 600, log)


def _stream(client: httpx.Client, model: str | None, question: str, max_tokens: int, bias: dict[str, float]) -> tuple[float, int]:
    """One streamed answer: (seconds to its first text, completion tokens)."""
    body = {"messages": [{"role": "user", "content": question}], "max_tokens": max_tokens, "temperature": 0, "stream": True,
            "stream_options": {"include_usage": True}, "logit_bias": bias}
    if model:
        body["model"] = model
    start = time.perf_counter()
    first, tokens = None, 0
    for chunk in stream_chunks(client, body):
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            if first is None and (delta.get("content") or delta.get("reasoning_content") or delta.get("reasoning")):
                first = time.perf_counter()
        if chunk.get("usage"):
            tokens = chunk["usage"]["completion_tokens"]
    if first is None:
        raise RuntimeError("an answer had no text")
    return first - start, tokens


def _round(base: str, model: str | None, clients: int, rounds: int, max_tokens: int, bias: dict[str, float], offset: int) -> dict:
    def client_work(index: int) -> list[tuple[float, int]]:
        with httpx.Client(base_url=base, timeout=1800) as client:
            return [_stream(client, model, QUESTION.format(n=offset + index * rounds + r,
                                                           topic=TOPICS[(index + r) % len(TOPICS)]), max_tokens, bias)
                    for r in range(rounds)]

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = [item for items in pool.map(client_work, range(clients)) for item in items]
    wall = time.perf_counter() - start
    ttfts = sorted(t for t, _ in results)
    tokens = sum(n for _, n in results)
    return {"total_tps": tokens / wall, "ttft_p50_s": statistics.median(ttfts),
            "ttft_p95_s": ttfts[min(len(ttfts) - 1, round(0.95 * (len(ttfts) - 1)))], "tokens": tokens, "requests": len(results)}


def run_server_bench(model: str | None = None, clients: tuple[int, ...] = (1, 4, 8), max_tokens: int = 128, rounds: int = 2,
                     progress: Progress | None = None) -> dict:
    """Measure both servers on one model folder, client count by client count."""
    report = progress or (lambda _m, _f: None)
    machine = machine_now()
    with TokenGenerator(model, progress=report) as generator:  # resolves (and prepares) the model folder
        folder, name = Path(generator.info.path), generator.info.name
        place = run_place(name, machine)
        bias = {str(t): -100.0 for t in generator.tokenizer.eos_token_ids}
    rows = []
    with tempfile.TemporaryDirectory(prefix="mlx-harmony-bench-server-") as logs:
        logs_dir = Path(logs)
        with _ours(folder, logs_dir / "ours.log", max(clients)) as ours, _theirs(folder, logs_dir / "theirs.log") as theirs:
            served = httpx.get(ours + "/v1/models", timeout=30).json()["data"][0]["id"]
            sides = {"mlx-harmony": (ours, served), "mlx_lm.server": (theirs, str(folder))}
            for label, (base, served) in sides.items():  # warm-up: load, compile, allocate at the largest batch
                report(f"warm-up {label}", 0.05)
                _round(base, served, max(clients), 1, min(max_tokens, 16), bias, 10_000)
            for step, count in enumerate(clients):
                row = {"clients": count}
                order = list(sides.items()) if step % 2 == 0 else list(sides.items())[::-1]  # take turns going first
                for label, (base, served) in order:
                    report(f"{count} clients, {label}", (step + 0.5) / len(clients))
                    row[label] = _round(base, served, count, rounds, max_tokens, bias, 1000 * (step + 1))
                ours_row, theirs_row = row["mlx-harmony"], row["mlx_lm.server"]
                row["tps_ratio"] = ours_row["total_tps"] / theirs_row["total_tps"] if theirs_row["total_tps"] else 0.0
                row["ttft_p95_ratio"] = theirs_row["ttft_p95_s"] / ours_row["ttft_p95_s"] if ours_row["ttft_p95_s"] else 0.0
                rows.append(row)
    report("done", 1.0)
    return {**place, "max_tokens": max_tokens, "rounds": rounds, "rows": rows}


def format_table(result: dict) -> str:
    lines = [
        *table_opening(result),
        f"each client streams {result['rounds']} answers of {result['max_tokens']} tokens, all clients at once",
        f"{'clients':>7} | {'tok/s ours':>10} {'theirs':>8} {'ratio':>6} | {'TTFT p50 ours':>13} {'theirs':>7} | "
        f"{'TTFT p95 ours':>13} {'theirs':>7} {'ratio':>6}",
    ]
    for row in result["rows"]:
        ours, theirs = row["mlx-harmony"], row["mlx_lm.server"]
        lines.append(
            f"{row['clients']:>7} | {ours['total_tps']:>10.1f} {theirs['total_tps']:>8.1f} {row['tps_ratio']:>6.2f} | "
            f"{ours['ttft_p50_s']:>13.2f} {theirs['ttft_p50_s']:>7.2f} | {ours['ttft_p95_s']:>13.2f} {theirs['ttft_p95_s']:>7.2f} "
            f"{row['ttft_p95_ratio']:>6.2f}"
        )
    lines.append("ratios above 1: mlx-harmony's server is better (tok/s ours/theirs, TTFT theirs/ours)")
    return "\n".join(lines)

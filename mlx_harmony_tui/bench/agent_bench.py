"""``mlx-harmony bench agent``: a coding agent's traffic replayed against this server and ``mlx_lm.server``.

The trace (:mod:`.agent_trace`): three sessions and two subagents that all
open with the same long system message (instructions and tools), then loop
through tool steps whose results are 100-2,000 tokens, several at once.
Each session runs its steps one after another in a thread of its own and
starts when the step that triggers it has been answered, so the overlap is
the same on a fast server and a slow one.

With ``api="chat"`` both servers are sent the same trace through
``/v1/chat/completions`` (:mod:`.agent_requests`), each started by the bench
on 127.0.0.1 on the same model folder with the same BLAS, alone on the
machine while it runs: one, then the other, the first going first in turn
round by round. Each is warmed up with a chat that does not share the
opening, and each round's opening starts with a new tag, so no cache (in
memory or ours on disk) holds it beforehand. With ``api="responses"`` or
``"messages"`` only this server runs, on a GPT-OSS model (by default the
tiny one the turns bench builds), through its Responses or Messages API.

Figures per server: wall time (first request sent to last answer finished;
the median over rounds), TTFT per step (sending to the first streamed text)
p50 and p95 over every step, and sums over every step of usage's prompt,
cached and completion tokens. Ratios are theirs / ours: above 1 means this
server is better. Both servers must read the same number of prompt tokens at
every step; where they do not, the prompts were rendered differently, and
the result says where.
"""

from __future__ import annotations

import secrets
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import httpx

from ..engine.token_generator import TokenGenerator
from .agent_requests import APIS, request_body, stream_step
from .agent_trace import AgentTrace, TraceSizes, build_trace
from .server_bench import _ours, _theirs
from .turns_bench import bench_model, stream_turn
from .where import machine_now, relative_spread, run_place, table_opening

Progress = Callable[[str, float], None]
SERVERS = ("mlx-harmony", "mlx_lm.server")


def _replay(base: str, model: str, api: str, trace: AgentTrace, bias: dict[int, float], on_step: Callable[[], None]) -> list[dict]:
    """Run every session of ``trace`` against ``base``, each in its own thread; one row of figures per step.

    Times (``sent_s``, ``finished_s``) count from the first request.
    """
    answered = {(i, n): threading.Event() for i, s in enumerate(trace.sessions) for n in range(1, len(s.steps) + 1)}
    failed = threading.Event()
    rows: list[dict] = []
    start = time.perf_counter()

    def run(index: int) -> None:
        session = trace.sessions[index]
        try:
            if session.starts_after is not None:
                while not answered[session.starts_after].wait(0.5):
                    if failed.is_set():
                        return
            with httpx.Client(base_url=base, timeout=3600) as client:
                for done, step in enumerate(session.steps):
                    if failed.is_set():
                        return
                    body = request_body(api, trace, session, done, model)
                    sent = time.perf_counter() - start
                    figures = stream_step(client, api, body, bias)
                    rows.append({"session": session.name, "step": done + 1, "answer_tokens": step.answer_tokens, "sent_s": sent,
                                 "finished_s": time.perf_counter() - start, **figures})
                    answered[(index, done + 1)].set()
                    on_step()
        except BaseException:
            failed.set()  # the sessions waiting on this one give up instead of waiting for ever
            raise

    with ThreadPoolExecutor(len(trace.sessions)) as pool:
        for future in [pool.submit(run, i) for i in range(len(trace.sessions))]:
            future.result()
    order = {s.name: i for i, s in enumerate(trace.sessions)}
    return sorted(rows, key=lambda r: (order[r["session"]], r["step"]))


def _started(name: str, folder: Path, logs: Path, sessions: int) -> AbstractContextManager[str]:
    """Start server ``name`` on ``folder`` (a context manager that yields its base URL and stops it after)."""
    if name == SERVERS[0]:
        return _ours(folder, logs / "ours.log", sessions)
    return _theirs(folder, logs / "theirs.log")


def _p95(values: list[float]) -> float:
    return values[0] if len(values) == 1 else statistics.quantiles(values, n=20, method="inclusive")[18]


def _figures(rounds: list[list[dict]]) -> dict:
    """One server's figures over its rounds of step rows."""
    steps = [{"round": r + 1, **row} for r, rows in enumerate(rounds) for row in rows]
    walls = [max(row["finished_s"] for row in rows) - min(row["sent_s"] for row in rows) for rows in rounds]
    ttfts = [row["ttft_s"] for row in steps]
    cached = [row["cached_tokens"] for row in steps]
    prompt = sum(row["prompt_tokens"] for row in steps)
    cached_sum = None if None in cached else sum(cached)
    return {
        "wall_s": statistics.median(walls), "wall_s_rounds": walls, "ttft_p50_s": statistics.median(ttfts), "ttft_p95_s": _p95(ttfts),
        "prompt_tokens": prompt, "cached_tokens": cached_sum, "computed_tokens": None if cached_sum is None else prompt - cached_sum,
        "completion_tokens": sum(row["completion_tokens"] for row in steps),
        "answers_off_length": sum(row["completion_tokens"] != row["answer_tokens"] for row in steps),
        "answers_without_text": sum(bool(row.get("no_text")) for row in steps), "steps": steps,
    }


def _mismatches(servers: dict[str, dict]) -> list[dict]:
    """Steps where the two servers read different prompt lengths."""
    ours, theirs = (servers[name]["steps"] for name in SERVERS)
    return [{"round": a["round"], "session": a["session"], "step": a["step"], "ours": a["prompt_tokens"], "theirs": b["prompt_tokens"]}
            for a, b in zip(ours, theirs) if a["prompt_tokens"] != b["prompt_tokens"]]


def _ratio(servers: dict[str, dict], key: str) -> float | None:
    ours, theirs = (servers[name][key] for name in SERVERS)
    return theirs / ours if ours else None


def run_agent_bench(model: str | None = None, api: str = "chat", sizes: TraceSizes = TraceSizes(), rounds: int = 1,
                    first: str = SERVERS[0], progress: Progress | None = None) -> dict:
    """Replay the agent trace of ``sizes`` on both servers (``api="chat"``) or on this one's ``api``; see the module's docstring.

    ``first`` names the server that goes first in round 1; they take turns after.
    """
    if api not in APIS:
        raise ValueError(f"no API named {api!r}")
    report = progress or (lambda _m, _f: None)
    machine = machine_now()
    with TokenGenerator(model if api == "chat" else bench_model(model), progress=report) as generator:
        folder, place = Path(generator.info.path), run_place(generator.info.name, machine)
        bias = {t: -100.0 for t in generator.tokenizer.eos_token_ids}
        encode = generator.tokenizer.encode
        trace = build_trace(sizes, lambda text: len(encode(text)))
        opening_tokens = len(encode(trace.tagged("0" * 8).system))  # as sent: a tag leads it
    names = SERVERS if api == "chat" else SERVERS[:1]
    lock = threading.Lock()
    runs = rounds * len(names) * trace.requests
    finished = 0
    by_server: dict[str, list[list[dict]]] = {name: [] for name in names}
    with tempfile.TemporaryDirectory(prefix="mlx-harmony-bench-agent-") as logs:
        for r in range(rounds):
            tag = f"{secrets.randbelow(10**8):08d}"  # fixed width: the same token count every round
            order = list(names) if (r % 2 == 0) == (first == SERVERS[0]) else list(names)[::-1]
            for name in order:
                def on_step(label: str = f"round {r + 1}/{rounds}, {name}") -> None:
                    nonlocal finished
                    with lock:
                        finished += 1
                        report(f"{label}: {finished} of {runs} requests", finished / runs)

                report(f"round {r + 1}/{rounds}, {name}: starting", finished / runs)
                with _started(name, folder, Path(logs), len(trace.sessions)) as base:
                    served = httpx.get(base + "/v1/models", timeout=30).json()["data"][0]["id"] if name == SERVERS[0] else str(folder)
                    with httpx.Client(base_url=base, timeout=1800) as client:  # load, compile, allocate; nothing of the opening
                        stream_turn(client, served, [{"role": "system", "content": f"Warm-up {tag}."},
                                                     {"role": "user", "content": "Name three colours."}], 4, bias)
                    by_server[name].append(_replay(base, served, api, trace.tagged(tag), bias, on_step))
    report("done", 1.0)
    servers = {name: _figures(by_server[name]) for name in names}
    result = {
        **place, "api": api, "sizes": asdict(sizes), "rounds": rounds, "first": first, "opening_tokens": opening_tokens,
        "requests": trace.requests,
        "sessions": [{"name": s.name, "steps": len(s.steps), "starts_after": s.starts_after} for s in trace.sessions],
        "servers": servers, "wall_ratio": None, "ttft_p50_ratio": None, "ttft_p95_ratio": None, "prompt_mismatches": None,
    }
    if api == "chat":
        result.update(wall_ratio=_ratio(servers, "wall_s"), ttft_p50_ratio=_ratio(servers, "ttft_p50_s"),
                      ttft_p95_ratio=_ratio(servers, "ttft_p95_s"), prompt_mismatches=_mismatches(servers))
    return result


def _started_by(session: dict, sessions: list[dict]) -> str:
    if not session["starts_after"]:
        return "at once"
    index, step = session["starts_after"]
    return f"after {sessions[index]['name']} step {step}"


def _tokens(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def format_table(result: dict) -> str:
    """The result for a person: one row per server, the ratios, and whether both read the same prompts."""
    sizes, sessions = result["sizes"], result["sessions"]
    starts = ", ".join(f"{s['name']} ({s['steps']} steps, {_started_by(s, sessions)})" for s in sessions)
    spread = max((s for f in result["servers"].values() if (s := relative_spread(f.get("wall_s_rounds", ()))) is not None),
                 default=None)
    opening = table_opening(result, spread)
    lines = [
        opening[0] + f"; API {result['api']}",
        *opening[1:],
        f"opening {result['opening_tokens']:,} tokens (as one chat system message); {result['requests']} requests: {starts}",
        f"answers {sizes['answer_tokens'][0]}-{sizes['answer_tokens'][1]} tokens, tool results "
        f"{sizes['result_tokens'][0]}-{sizes['result_tokens'][1]}; {result['rounds']} round(s), token sums over all of them",
        f"{'server':<14} | {'wall s':>8} | {'TTFT p50 s':>10} {'p95 s':>8} | {'prompt':>9} {'computed':>9} {'cached':>9} | "
        f"{'completion':>10}",
    ]
    for name, f in result["servers"].items():
        lines.append(f"{name:<14} | {f['wall_s']:>8.2f} | {f['ttft_p50_s']:>10.3f} {f['ttft_p95_s']:>8.3f} | "
                     f"{_tokens(f['prompt_tokens']):>9} {_tokens(f['computed_tokens']):>9} {_tokens(f['cached_tokens']):>9} | "
                     f"{_tokens(f['completion_tokens']):>10}")
    return "\n".join(lines + verdicts(result))


def verdicts(result: dict) -> list[str]:
    """The sentences under the figures: answers off their forced length, the ratios, whether both read the same prompts."""
    lines = [f"{name}: {f['answers_off_length']} answers came out shorter or longer than their forced length"
             for name, f in result["servers"].items() if f["answers_off_length"]]
    lines += [f"{name}: {f['answers_without_text']} answers had no text or tool call (timed to their end)"
              for name, f in result["servers"].items() if f.get("answers_without_text")]
    if result["wall_ratio"] is not None:
        lines.append(f"theirs / ours: wall {result['wall_ratio']:.2f}, TTFT p50 {result['ttft_p50_ratio']:.2f}, "
                     f"p95 {result['ttft_p95_ratio']:.2f} (above 1: mlx-harmony's server is better)")
    mismatches = result["prompt_mismatches"]
    if mismatches:
        shown = "; ".join(f"{m['session']} step {m['step']}: ours {m['ours']}, theirs {m['theirs']}" for m in mismatches[:5])
        lines.append(f"the servers read different prompt lengths at {len(mismatches)} steps (the prompts were not rendered "
                     f"the same): {shown}")
    elif mismatches is not None:
        lines.append("both servers read the same prompt length at every step")
    return lines

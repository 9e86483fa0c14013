"""``mlx-harmony bench report``: the whole benchmark suite, written up for a person to read.

Runs every benchmark on one model (engine, turns, tui, server, logs, dataset)
and one long generation timed chunk by chunk, each in a fresh process of its
own so none inherits what another left behind, then writes into one folder:

- ``report.md``: date, machine, versions; every figure next to its
  counterpart (raw mlx-lm, or the engine alone where that is the comparison)
  with the ratio; the plots; the dataset bench's per-turn table;
- ``report.json``: everything measured, raw;
- SVG plots: TTFT by turn with and without cache reuse, decode speed over
  one long generation, peak memory and decode speed per dataset turn;
- ``dataset.csv`` and ``dataset.json``: the dataset bench's per-turn table.

A ratio above 1 always means mlx-harmony's side is better: faster (rates:
ours / theirs; times: theirs / ours) or lighter (memory: theirs / ours).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

from .svg_plot import Series, write_line_chart

Progress = Callable[[str, float], None]
LONG_PROMPT = "Write a long, detailed story about a lighthouse keeper during a winter storm, in many chapters."
LOADING_STAGES = ("loading", "downloading", "converting", "extracting", "fetching", "ready")
BENCHES = ("engine", "turns", "tui", "server", "logs", "dataset", "long_generation")


@dataclass(frozen=True)
class ReportSizes:
    """How big each benchmark of the suite runs."""

    engine_prompt_tokens: int = 512
    engine_max_tokens: int = 96
    engine_rounds: int = 2
    turns: int = 8
    turns_user_tokens: int = 64
    turns_max_tokens: int = 32
    tui_max_tokens: int = 96
    tui_rounds: int = 2
    tui_keys: int = 10
    server_max_tokens: int = 64
    server_rounds: int = 2
    logs: int = 1000
    log_messages: int = 2000
    dataset_turns: int = 12
    dataset_max_tokens: int = 64
    long_tokens: int = 320


STANDARD = ReportSizes()
QUICK = ReportSizes(
    engine_prompt_tokens=128, engine_max_tokens=32, engine_rounds=1, turns=3, turns_user_tokens=32, turns_max_tokens=24,
    tui_max_tokens=32, tui_rounds=1, tui_keys=3, server_max_tokens=16, server_rounds=1, logs=100, log_messages=200,
    dataset_turns=4, dataset_max_tokens=32, long_tokens=96,
)


class SuiteProgress:
    """The suite's progress on stderr: one rich bar on a terminal, plain lines otherwise."""

    def __init__(self, names: tuple[str, ...], terminal: bool):
        self.names = names
        self.terminal = terminal
        self._bar = None
        self._last = ""

    def __enter__(self) -> "SuiteProgress":
        if self.terminal:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                                 console=Console(stderr=True), transient=True)
            self._bar.__enter__()
            self._task = self._bar.add_task("starting", total=len(self.names))
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)

    def start(self, index: int) -> Progress:
        """Announce benchmark ``index``; returns the callback its own progress goes to."""
        name, count = self.names[index], len(self.names)
        head = f"[{index + 1}/{count}] {name}"
        self._last = ""
        if self._bar is None:
            print(f"mlx-harmony bench report: {head}", file=sys.stderr, flush=True)

        def update(stage: str, fraction: float) -> None:
            if self._bar is not None:
                # Model loading reports its own fractions: they are not the benchmark's.
                done = 0.0 if stage.startswith(LOADING_STAGES) else min(max(fraction, 0.0), 1.0)
                self._bar.update(self._task, description=f"{head}: {stage}", completed=index + done)
                return
            short = stage.split(":")[0]  # loading stages carry counters after a colon
            if short != self._last:
                self._last = short
                print(f"  {name}: {short}", file=sys.stderr, flush=True)

        update("running", 0.0)
        return update

    def finish(self, index: int, seconds: float) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=index + 1)
        else:
            print(f"  {self.names[index]} done in {seconds:.1f} s", file=sys.stderr, flush=True)


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
    from ..engine import lm
    from ..engine.events import TextDelta
    from ..engine.prompt import prompt_tokens
    from ..engine.token_generator import TokenGenerator

    report = progress or (lambda _m, _f: None)
    window = max(tokens // 24, 4)
    with TokenGenerator(model, progress=report) as generator:
        prompt = generator.call(lambda loaded: prompt_tokens(loaded, [{"role": "user", "content": LONG_PROMPT}]))
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

        def raw(loaded) -> tuple[float, list[tuple[float, int]]]:
            arrivals: list[tuple[float, int]] = []
            began = time.perf_counter()
            for n, _ in enumerate(lm.mlx_lm_generate_step(loaded, prompt, tokens), 1):
                arrivals.append((time.perf_counter(), n))
            lm.finish_pending_work()
            return began, arrivals

        report(f"raw mlx-lm, {tokens} tokens", 0.55)
        raw_figures = _trace_figures(*generator.call(raw), window)
        name = generator.info.name
    report("done", 1.0)
    return {
        "model": name,
        "prompt_tokens": len(prompt),
        "max_tokens": tokens,
        "window_tokens": window,
        "engine": engine_figures,
        "mlx_lm": raw_figures,
        "decode_ratio": engine_figures["decode_tps"] / raw_figures["decode_tps"] if raw_figures["decode_tps"] else 0.0,
    }


def _dataset(model: str | None, sizes: ReportSizes, out: Path, progress: Progress) -> dict:
    from .dataset_bench import run_dataset_bench, write_dataset_tables

    result = run_dataset_bench(model, turns=sizes.dataset_turns, max_tokens=sizes.dataset_max_tokens, progress=progress)
    write_dataset_tables(result, out)
    return result.as_dict()


def run_bench(name: str, model: str | None, sizes: ReportSizes, out: Path, progress: Progress) -> dict:
    """Run one benchmark of the suite in this process and return its raw result."""
    from .engine_bench import run_engine_bench
    from .logs_bench import run_logs_bench
    from .server_bench import run_server_bench
    from .tui_bench import run_tui_bench
    from .turns_bench import run_turns_bench

    s = sizes
    if name == "engine":
        return run_engine_bench(model, s.engine_prompt_tokens, s.engine_max_tokens, s.engine_rounds, progress).as_dict()
    if name == "turns":
        return run_turns_bench(model, s.turns, s.turns_user_tokens, s.turns_max_tokens, progress=progress).as_dict()
    if name == "tui":
        return run_tui_bench(s.tui_max_tokens, s.tui_rounds, s.tui_keys)
    if name == "server":
        return run_server_bench(model, s.server_max_tokens, s.server_rounds, progress)
    if name == "logs":
        return run_logs_bench(s.logs, s.log_messages)
    if name == "dataset":
        return _dataset(model, s, out, progress)
    if name == "long_generation":
        return run_long_generation(model, s.long_tokens, progress)
    raise ValueError(f"no benchmark named {name!r}")


CHILD = "from mlx_harmony_tui.bench.report import bench_child; bench_child()"


def bench_child() -> None:
    """The body of :func:`run_isolated`'s process: one JSON line per progress step, then the result."""
    from ..errors import UserError

    job = json.loads(sys.argv[1])

    def progress(stage: str, fraction: float) -> None:
        print(json.dumps({"progress": [stage, fraction]}), flush=True)

    try:
        result = run_bench(job["name"], job["model"], ReportSizes(**job["sizes"]), Path(job["out"]), progress)
    except UserError as exc:
        print(json.dumps({"user_error": str(exc)}), flush=True)
        sys.exit(2)
    print(json.dumps({"result": result}), flush=True)


def run_isolated(name: str, model: str | None, sizes: ReportSizes, out: Path, progress: Progress) -> dict:
    """Run one benchmark in a fresh process, relaying its progress, and return its result.

    Each benchmark gets a process of its own so that what one leaves behind
    (a model still in memory, process-wide settings) cannot change the next
    one's figures, memory above all.
    """
    import subprocess
    import tempfile

    from ..errors import UserError

    job = json.dumps({"name": name, "model": model, "sizes": asdict(sizes), "out": str(out)})
    with tempfile.TemporaryFile("w+") as errors:
        child = subprocess.Popen([sys.executable, "-c", CHILD, job], stdout=subprocess.PIPE, stderr=errors, text=True,
                                 env=os.environ.copy())
        result = user_error = None
        assert child.stdout is not None
        for line in child.stdout:
            if not line.startswith("{"):
                continue  # a benchmark's own output, if any
            message = json.loads(line)
            if "progress" in message:
                progress(*message["progress"])
            result = message.get("result", result)
            user_error = message.get("user_error", user_error)
        child.wait()
        if user_error is not None:
            raise UserError(user_error)
        if child.returncode != 0 or result is None:
            errors.seek(0)
            raise RuntimeError(f"the {name} benchmark failed (exit status {child.returncode}):\n{errors.read()}")
    return result


def _cpu_model() -> str:
    if sys.platform.startswith("linux"):
        try:
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
        except OSError:
            pass
    if sys.platform == "darwin":
        import subprocess

        done = subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True)
        if done.returncode == 0 and done.stdout.strip():
            return done.stdout.strip()
    return platform.processor() or platform.machine()


def _memory_gb() -> float | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
    except (ValueError, OSError, AttributeError):
        return None


def machine_facts() -> dict:
    """CPU, cores, memory, plus the platform, MLX backend and BLAS rows of ``mlx-harmony doctor``."""
    from ..cli.doctor import doctor_lines

    doctor = dict(doctor_lines())
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gb": _memory_gb(),
        "platform": doctor["platform"],
        "mlx": doctor["mlx"],
        "blas": doctor["BLAS"],
    }


def versions() -> dict:
    from .. import __version__

    def version(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "not installed"

    return {
        "mlx-harmony": __version__,
        "mlx": version("mlx"),
        "mlx-lm": version("mlx-lm"),
        "openai-harmony": version("openai-harmony"),
        "textual": version("textual"),
        "python": platform.python_version(),
    }


@dataclass
class Figure:
    """One row of the report's table; ``ratio`` above 1 means mlx-harmony's side is better."""

    bench: str
    name: str
    unit: str
    value: float | None
    counterpart: float | None = None
    against: str = ""
    ratio: float | None = None


def _figure(bench: str, name: str, unit: str, ours: Any, theirs: Any = None, against: str = "", lower_is_better: bool = False) -> Figure:
    ours = float(ours) if isinstance(ours, (int, float)) else None
    theirs = float(theirs) if isinstance(theirs, (int, float)) else None
    ratio = None
    if ours and theirs:
        ratio = theirs / ours if lower_is_better else ours / theirs
    return Figure(bench, name, unit, ours, theirs, against if theirs is not None else "", ratio)


def figures(results: dict) -> list[Figure]:
    """Every headline figure of the suite's results; a missing result or key gives an empty cell, not an error."""
    rows: list[Figure] = []
    e = results.get("engine") or {}
    raw = "raw mlx-lm generate_step"
    rows += [
        _figure("engine", "prefill", "tok/s", e.get("prefill_tps_engine"), e.get("prefill_tps_mlx_lm"), raw),
        _figure("engine", "decode", "tok/s", e.get("decode_tps_engine"), e.get("decode_tps_mlx_lm"), raw),
        _figure("engine", "time to first token", "s", e.get("ttft_s"), e.get("ttft_s_mlx_lm"), raw, lower_is_better=True),
        _figure("engine", "peak memory", "GB", e.get("peak_memory_gb"), e.get("peak_memory_gb_mlx_lm"), raw, lower_is_better=True),
    ]
    t = results.get("turns") or {}
    reuse, cold = t.get("ttft_reuse_s") or [], t.get("ttft_cold_s") or []
    if reuse and cold:
        against = "cold prefill of the whole conversation"
        rows += [
            _figure("turns", "TTFT, turn 1", "s", reuse[0], cold[0], against, lower_is_better=True),
            _figure("turns", f"TTFT, turn {len(reuse)} (last)", "s", reuse[-1], cold[-1], against, lower_is_better=True),
            _figure("turns", f"TTFT, mean of {len(reuse)} turns", "s", statistics.mean(reuse), statistics.mean(cold), against,
                    lower_is_better=True),
        ]
    if t.get("cached_fraction"):
        rows.append(_figure("turns", "prompt served from the cache, last turn", "%", 100 * t["cached_fraction"][-1]))
    u = results.get("tui") or {}
    presses = u.get("key_presses")  # none when the answers ended before a key could be timed
    rows += [
        _figure("tui", "decode, streamed into the app", "tok/s", u.get("decode_tps_app"), u.get("decode_tps_engine"), "engine alone"),
        _figure("tui", "key press to repaint while streaming, p50", "ms", u.get("key_latency_p50_ms") if presses else None),
        _figure("tui", "key press to repaint while streaming, p95", "ms", u.get("key_latency_p95_ms") if presses else None),
        _figure("tui", "time to first frame (new process)", "s", u.get("first_frame_s")),
    ]
    v = results.get("server") or {}
    rows += [
        _figure("server", "TTFT over HTTP streaming", "s", v.get("ttft_s_http"), v.get("ttft_s_engine"), "engine alone", lower_is_better=True),
        _figure("server", "decode over HTTP streaming", "tok/s", v.get("decode_tps_http"), v.get("decode_tps_engine"), "engine alone"),
    ]
    g = results.get("logs") or {}
    n_logs, n_messages = g.get("logs", "?"), g.get("long_log_messages", "?")
    rows += [
        _figure("logs", f"list {n_logs} logs, no index", "s", g.get("list_cold_s")),
        _figure("logs", f"list {n_logs} logs, indexed", "s", g.get("list_indexed_s")),
        _figure("logs", f"open a {n_messages}-message log", "s", g.get("open_long_log_s")),
        _figure("logs", "append a message to it", "s", g.get("append_to_long_log_s")),
        _figure("logs", f"full-text search of {n_logs} logs", "s", g.get("search_rare_word_s")),
        _figure("logs", "log browser shows the logs (target < 1 s)", "s", g.get("browser_indexed_s")),
        _figure("logs", "log browser search (target < 1 s)", "s", g.get("browser_search_s")),
        _figure("logs", f"{n_messages}-message chat opens in the app (target < 1 s)", "s", g.get("open_long_chat_in_app_s")),
    ]
    d = (results.get("dataset") or {}).get("rows") or []
    if d:
        prompt_total = sum(r["prompt_tokens"] for r in d)
        rows += [
            _figure("dataset", f"TTFT, median of {len(d)} turns", "s", statistics.median(r["ttft_s"] for r in d)),
            _figure("dataset", f"TTFT, turn {len(d)} (last)", "s", d[-1]["ttft_s"]),
            _figure("dataset", f"decode, median of {len(d)} turns", "tok/s", statistics.median(r["decode_tps"] for r in d)),
            _figure("dataset", "prompt tokens, last turn", "tokens", d[-1]["prompt_tokens"]),
            _figure("dataset", "prompt served from the cache, all turns", "%",
                    100 * sum(r["cached_tokens"] for r in d) / prompt_total if prompt_total else None),
            _figure("dataset", "tokens generated, all turns", "tokens", sum(r["completion_tokens"] for r in d)),
            _figure("dataset", "peak memory, highest turn", "GB", max(r["peak_memory_gb"] for r in d)),
        ]
    g = results.get("long_generation") or {}
    eng, mlx = g.get("engine") or {}, g.get("mlx_lm") or {}
    n = g.get("max_tokens", "?")
    rows += [
        _figure("long generation", f"decode over {n} tokens", "tok/s", eng.get("decode_tps"), mlx.get("decode_tps"), raw),
        _figure("long generation", "decode, first window", "tok/s", eng.get("first_window_tps"), mlx.get("first_window_tps"), raw),
        _figure("long generation", "decode, last window", "tok/s", eng.get("last_window_tps"), mlx.get("last_window_tps"), raw),
    ]
    return rows


def write_plots(results: dict, out: Path) -> list[Path]:
    """The report's SVG plots, from whatever results are there (a missing one plots as "no data")."""
    t = results.get("turns") or {}
    g = results.get("long_generation") or {}
    d = (results.get("dataset") or {}).get("rows") or []

    def by_turn(values: list) -> list[tuple[float, float]]:
        return [(i + 1, v) for i, v in enumerate(values)]

    return [
        write_line_chart(
            out / "ttft_by_turn.svg", "Time to first token by turn (turns bench)", "turn of the conversation", "TTFT (s)",
            [Series("reusing the cache", by_turn(t.get("ttft_reuse_s") or [])),
             Series("cold prefill", by_turn(t.get("ttft_cold_s") or []))],
        ),
        write_line_chart(
            out / "decode_over_generation.svg", f"Decode speed over one long generation ({g.get('max_tokens', '?')} tokens)",
            "tokens generated", "tok/s",
            [Series("mlx-harmony engine", [tuple(p) for p in (g.get("engine") or {}).get("points", [])]),
             Series("raw mlx-lm", [tuple(p) for p in (g.get("mlx_lm") or {}).get("points", [])])],
        ),
        write_line_chart(
            out / "memory_by_turn.svg", "Peak memory per turn (dataset bench)", "turn of the conversation", "peak memory (GB)",
            [Series("peak memory", by_turn([r["peak_memory_gb"] for r in d]))],
        ),
        write_line_chart(
            out / "dataset_speed_by_turn.svg", "Decode speed per turn (dataset bench)", "turn of the conversation", "tok/s",
            [Series("decode", by_turn([r["decode_tps"] for r in d]))],
        ),
    ]


def _number(value: float | None) -> str:
    if value is None:
        return "—"
    if float(value).is_integer():
        return f"{int(value):,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def _minutes(seconds: float) -> str:
    return f"{int(seconds // 60)} min {seconds % 60:.0f} s" if seconds >= 60 else f"{seconds:.0f} s"


def report_markdown(data: dict) -> str:
    """``report.md`` from ``report.json``'s content."""
    m, v, s = data["machine"], data["versions"], data["sizes"]
    results = data["results"]
    engine = results.get("engine") or {}
    memory = f"{m['memory_gb']:.1f} GB" if m.get("memory_gb") else "unknown"
    lines = [
        "# mlx-harmony benchmark report",
        "",
        f"Run on {datetime.fromisoformat(data['date']):%Y-%m-%d at %H:%M (UTC%z)} ({data['preset']} sizes), {_minutes(data['duration_s'])} in all, "
        f"with the model **{engine.get('model', data['model'] or 'default')}**.",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        f"| CPU | {m['cpu']}, {m['cores']} cores |",
        f"| memory | {memory} |",
        f"| platform | {m['platform']} |",
        f"| MLX | {m['mlx']} |",
        f"| BLAS | {m['blas']} |",
        "",
        "## Versions",
        "",
        "| " + " | ".join(v) + " |",
        "|" + "---|" * len(v),
        "| " + " | ".join(v.values()) + " |",
        "",
        "## Figures",
        "",
        "Each figure of mlx-harmony next to its counterpart measured in the same run on the same loaded model. "
        "**Ratio above 1 means mlx-harmony's side is better**: faster (rates: ours ÷ theirs; times: theirs ÷ ours) "
        "or lighter (memory: theirs ÷ ours); 1.00 means the same.",
        "",
        "| bench | figure | unit | mlx-harmony | counterpart | compared with | ratio |",
        "|---|---|---|---:|---:|---|---:|",
    ]
    for f in data["figures"]:
        ratio = f"{f['ratio']:.2f}" if f["ratio"] is not None else "—"
        counterpart = _number(f["counterpart"]) if f["counterpart"] is not None else "—"
        lines.append(f"| {f['bench']} | {f['name']} | {f['unit']} | {_number(f['value'])} | {counterpart} | "
                     f"{f['against'] or '—'} | {ratio} |")
    lines += ["", "## Plots", ""]
    for name in data["plots"]:
        lines += [f"![{name}]({name})", ""]
    rows = (results.get("dataset") or {}).get("rows") or []
    if rows:
        lines += [
            "## Dataset bench, turn by turn",
            "",
            "The standard questions asked in order as one conversation (greedy); also in `dataset.csv` and `dataset.json`.",
            "",
            "| turn | category | prompt | cached | TTFT s | prefill tok/s | decode tok/s | generated | peak GB | finish |",
            "|---:|---|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        for r in rows:
            lines.append(
                f"| {r['turn']} | {r['category']} | {r['prompt_tokens']} | {r['cached_tokens']} | {r['ttft_s']:.3f} | "
                f"{r['prefill_tps']:.1f} | {r['decode_tps']:.2f} | {r['completion_tokens']} | {r['peak_memory_gb']:.3f} | "
                f"{r['finish_reason']} |"
            )
        lines.append("")
    lines += [
        "## How it was measured",
        "",
        f"- **engine**: a chat prompt of about {s['engine_prompt_tokens']} tokens, {s['engine_max_tokens']} tokens greedy, "
        f"through this engine and through raw mlx-lm `generate_step`, alternating; median of {s['engine_rounds']} "
        "round(s) after a warm-up.",
        f"- **turns**: {s['turns']} turns of about {s['turns_user_tokens']} tokens each, answers of up to "
        f"{s['turns_max_tokens']}; each turn answered reusing the conversation's cache and again cold, prefilling the "
        "whole prompt afresh (what mlx-lm's server does for GPT-OSS, whose sliding-window cache it cannot trim).",
        f"- **tui**: the full-screen app run headless on the default model, answers of {s['tui_max_tokens']} tokens "
        f"against the engine alone, median of {s['tui_rounds']}; {s['tui_keys']} key presses timed to the repaint "
        "while an answer streams; first frame of a fresh process.",
        f"- **server**: the same chat request streamed over HTTP (`/v1/chat/completions`) and through the engine alone, "
        f"{s['server_max_tokens']} tokens, median of {s['server_rounds']}.",
        f"- **logs**: {s['logs']} chat logs and one of {s['log_messages']} messages in a temporary folder.",
        f"- **dataset**: the first {s['dataset_turns']} standard questions as one conversation, answers of up to "
        f"{s['dataset_max_tokens']} tokens.",
        f"- **long generation**: one greedy answer of {s['long_tokens']} tokens (end of sequence suppressed) through the "
        "engine and through raw mlx-lm `generate_step`; tok/s per window of tokens from each chunk's arrival time.",
        "",
        "Raw results: `report.json`.",
        "",
    ]
    return "\n".join(lines)


def run_report(
    out: Path,
    model: str | None = None,
    sizes: ReportSizes = STANDARD,
    preset: str = "standard",
    terminal: bool | None = None,
) -> dict:
    """Run the suite and write report.md, report.json, the plots and dataset.csv/json into ``out``.

    Returns what report.json holds. Progress goes to stderr, as a bar when
    ``terminal`` (default: whether stderr is a terminal), else as plain lines.
    """
    from ..errors import UserError

    out = Path(out).expanduser()
    if out.exists() and not out.is_dir():
        raise UserError(f"--out: {out} is a file, not a folder")
    out.mkdir(parents=True, exist_ok=True)
    started = datetime.now().astimezone()
    began = time.perf_counter()
    results: dict[str, dict] = {}
    timings: dict[str, float] = {}
    with SuiteProgress(BENCHES, sys.stderr.isatty() if terminal is None else terminal) as progress:
        for i, name in enumerate(BENCHES):
            update = progress.start(i)
            t0 = time.perf_counter()
            results[name] = run_isolated(name, model, sizes, out, update)
            timings[name] = time.perf_counter() - t0
            progress.finish(i, timings[name])
    data = {
        "date": started.isoformat(timespec="seconds"),
        "duration_s": time.perf_counter() - began,
        "preset": preset,
        "model": model,
        "sizes": asdict(sizes),
        "machine": machine_facts(),
        "versions": versions(),
        "bench_seconds": timings,
        "figures": [asdict(f) for f in figures(results)],
        "plots": [p.name for p in write_plots(results, out)],
        "results": results,
    }
    (out / "report.json").write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    (out / "report.md").write_text(report_markdown(data), encoding="utf-8")
    return data


def headline(data: dict) -> str:
    """A few lines for the terminal once the report is written: every figure that has a ratio."""
    rated = [(f"{f['bench']}: {f['name']} ({f['unit']})", f) for f in data["figures"] if f["ratio"] is not None]
    width = max((len(label) for label, _ in rated), default=10)
    lines = [f"{'':{width}} {'ours':>9} {'theirs':>9} {'ratio':>6}"]
    for label, f in rated:
        lines.append(f"{label:{width}} {_number(f['value']):>9} {_number(f['counterpart']):>9} {f['ratio']:6.2f}")
    return "\n".join(lines) + "\n"

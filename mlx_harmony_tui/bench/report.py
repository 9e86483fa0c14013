"""``mlx-harmony bench report``: the whole benchmark suite, written up for a person to read.

Runs every benchmark on one model (engine, turns, tui, server, http, agent, logs, dataset)
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
import sys
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Callable

from ..engine.machine import machine_facts, versions
from .long_bench import run_long_generation
from .report_text import figures, report_markdown, write_plots

Progress = Callable[[str, float], None]
LOADING_STAGES = ("loading", "downloading", "converting", "extracting", "fetching", "ready")
BENCHES = ("engine", "turns", "tui", "server", "http", "agent", "logs", "dataset", "long_generation")


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
    server_clients: tuple[int, ...] = (1, 4, 8)
    agent_opening_tokens: int = 4000
    agent_steps: tuple[int, int] = (4, 6)
    agent_answer_tokens: tuple[int, int] = (32, 96)
    agent_result_tokens: tuple[int, int] = (100, 1000)
    agent_tools: int = 12
    logs: int = 1000
    log_messages: int = 2000
    dataset_turns: int = 12
    dataset_max_tokens: int = 64
    long_tokens: int = 320


STANDARD = ReportSizes()
QUICK = ReportSizes(
    engine_prompt_tokens=128, engine_max_tokens=32, engine_rounds=1, turns=3, turns_user_tokens=32, turns_max_tokens=24,
    tui_max_tokens=32, tui_rounds=1, tui_keys=3, server_max_tokens=16, server_rounds=1, server_clients=(1, 4),
    agent_opening_tokens=2000, agent_steps=(2, 3), agent_answer_tokens=(8, 16), agent_result_tokens=(40, 160),
    logs=100, log_messages=200, dataset_turns=4, dataset_max_tokens=32, long_tokens=96,
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


def _dataset(model: str | None, sizes: ReportSizes, out: Path, progress: Progress) -> dict:
    from .dataset_bench import run_dataset_bench, write_dataset_tables

    result = run_dataset_bench(model, turns=sizes.dataset_turns, max_tokens=sizes.dataset_max_tokens, progress=progress)
    write_dataset_tables(result, out)
    return result.as_dict()


def _agent(model: str | None, sizes: ReportSizes, progress: Progress) -> dict:
    from .agent_bench import run_agent_bench
    from .agent_trace import TraceSizes

    trace = TraceSizes(sizes.agent_opening_tokens, tuple(sizes.agent_steps), tuple(sizes.agent_answer_tokens),
                       tuple(sizes.agent_result_tokens), sizes.agent_tools)
    return run_agent_bench(model, "chat", trace, progress=progress)


def run_bench(name: str, model: str | None, sizes: ReportSizes, out: Path, progress: Progress) -> dict:
    """Run one benchmark of the suite in this process and return its raw result."""
    from .engine_bench import run_engine_bench
    from .http_bench import run_http_bench
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
        return run_server_bench(model, tuple(s.server_clients), s.server_max_tokens, s.server_rounds, progress)
    if name == "http":
        return run_http_bench(model, s.server_max_tokens, s.server_rounds, progress)
    if name == "agent":
        return _agent(model, s, progress)
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



"""Benches say when their figures are unreliable (issue 28, item 10): ``bench engine`` printed figures taken at load
average 9 on 2 cores without a word. Every report opens with where.table_opening (or ends a line with busy_lines)."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

from mlx_harmony_tui.bench import where
from mlx_harmony_tui.bench.engine_bench import EngineBenchResult, format_table
from mlx_harmony_tui.bench.report_text import busy_benches

BENCH = Path(where.__file__).parent
BUSY = "warning: the machine was busy"
NOISY = "warning: the rounds spread widely"


def test_bench_engine_warns_when_the_machine_is_busy_or_its_rounds_spread(default_model_dir):
    cmd = [sys.executable, "-m", "mlx_harmony_tui.cli.main", "bench", "engine", "--json",
           "--prompt-tokens", "64", "--max-tokens", "8", "--rounds", "2"]
    done = subprocess.run(cmd, env=os.environ.copy(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    measured = json.loads(done.stdout)
    assert measured["cores"] == os.cpu_count() and measured["load"] >= 0  # the load when the run began, recorded

    table = format_table(EngineBenchResult(**measured))
    busy = measured["load"] > measured["cores"]
    assert (BUSY in table) == busy, table  # said exactly when the machine was busy

    steady = {**measured, "load": 0.0, "decode_ratio": 1.0, "decode_ratio_quartiles": [0.98, 1.02],
              "prefill_ratio": 1.0, "prefill_ratio_quartiles": [0.99, 1.01]}
    assert "warning" not in format_table(EngineBenchResult(**steady))
    loaded = format_table(EngineBenchResult(**{**steady, "load": 9.0, "cores": 2}))
    assert loaded.splitlines()[1] == (f"{BUSY} (load average 9.00 on 2 cores when the run began): these figures are "
                                      "unreliable; run again on an idle machine")
    spread = format_table(EngineBenchResult(**{**steady, "decode_ratio_quartiles": [0.7, 1.3]}))
    assert NOISY in spread.splitlines()[1] and "60% of the median" in spread


def test_the_spread_of_rounds_is_their_middle_half_against_the_median():
    assert where.relative_spread([1.0, 1.0, 1.0]) == 0.0
    assert where.relative_spread([0.5, 1.0, 1.5]) == 0.5
    assert where.relative_spread([2.0]) is None  # one round says nothing about spread
    assert where.busy_lines({"load": 1.5, "cores": 2}, 0.25) == []  # at the limit: steady enough
    assert len(where.busy_lines({"load": 2.5, "cores": 2}, 0.3)) == 2


def test_the_suite_report_names_each_bench_that_ran_on_a_busy_machine():
    results = {"engine": {"load": 9.0, "cores": 2}, "turns": {"load": 0.5, "cores": 2}, "dataset": {}}
    (line,) = busy_benches(results)
    assert line.startswith(f"engine: {BUSY} (load average 9.00 on 2 cores")


def test_every_bench_report_opens_with_the_shared_machine_lines():
    """A new bench whose table skips the helper would print figures from a busy machine without a word."""
    reports = 0
    for path in sorted(BENCH.glob("*_bench.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for table in (node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "format_table"):
            reports += 1
            called = {n.func.id for n in ast.walk(table) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
            assert called & {"table_opening", "busy_lines"}, f"{path.name}: its table does not say when the machine was busy"
        runs = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name.startswith("run_")]
        calls = {n.func.id for run in runs for n in ast.walk(run) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
        assert "machine_now" in calls or not runs, f"{path.name}: the load is not taken before the run"
    assert reports >= 13  # engine, turns, server, http, tui, logs, blas, dataset, constrained, agent, interrupt, ...

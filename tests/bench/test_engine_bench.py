"""``mlx-harmony bench engine --json`` runs both paths and reports every figure (values are not asserted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from mlx_harmony_tui.bench.engine_bench import _median_step, median_ci95

REQUIRED = (
    "model", "prompt_tokens", "decode_tps_mlx_lm", "decode_tps_engine", "decode_ratio",
    "prefill_tps_mlx_lm", "prefill_tps_engine", "prefill_ratio", "ttft_s", "peak_memory_gb",
    "decode_step_ms_mlx_lm", "decode_step_ms_engine", "decode_step_ratio",
)


def test_bench_engine_json_line(default_model_dir):
    cmd = [sys.executable, "-m", "mlx_harmony_tui.cli.main", "bench", "engine", "--json",
           "--prompt-tokens", "64", "--max-tokens", "8", "--rounds", "2"]
    done = subprocess.run(cmd, env=os.environ.copy(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    for key in REQUIRED:
        assert key in result, key
    assert result["model"] == "SmolLM2-135M-Instruct"
    assert isinstance(result["prompt_tokens"], int) and result["prompt_tokens"] >= 64
    for key in REQUIRED[2:]:
        assert isinstance(result[key], float) and result[key] > 0, key
    for key in ("decode_ratio_quartiles", "prefill_ratio_quartiles", "decode_ratio_ci95", "prefill_ratio_ci95",
                "decode_step_ratio_ci95"):
        low, high = result[key]
        assert 0 < low <= high, key
    assert result["cached_tokens_engine"] == 0  # the engine prefills the whole prompt every round, as mlx-lm does


def test_the_median_step_shares_a_gap_among_the_tokens_that_came_together():
    # one token 10 ms after the first, then two that came together 40 ms later: 20 ms each, counted twice
    assert _median_step([(0.0, 1), (0.010, 1), (0.050, 2)]) == pytest.approx(0.020)
    # a slow spell of two steps among four quick ones leaves the median at the quick step
    assert _median_step([(0.0, 1), (0.010, 1), (0.020, 1), (0.050, 1), (0.080, 1), (0.090, 1), (0.100, 1)]) == \
        pytest.approx(0.010)
    assert _median_step([(0.0, 1)]) == 0.0


def test_the_medians_interval_comes_from_the_order_statistics():
    assert median_ci95([]) == (0.0, 0.0)
    assert median_ci95([3.0, 1.0, 2.0]) == (1.0, 3.0)  # too few values: the whole range
    # n = 9: P(Binomial(9, 1/2) <= 1) = 10/512 < 2.5% but <= 2 is 46/512: the 2nd smallest and 2nd largest
    assert median_ci95([float(v) for v in range(9, 0, -1)]) == (2.0, 8.0)
    # n = 100: the textbook interval is the 40th and 61st values
    assert median_ci95([float(v) for v in range(1, 101)]) == (40.0, 61.0)


def test_bench_rejects_bad_counts():
    cmd = [sys.executable, "-m", "mlx_harmony_tui.cli.main", "bench", "engine", "--rounds", "0"]
    done = subprocess.run(cmd, env=os.environ.copy(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip() == "error: --rounds: must be at least 1"

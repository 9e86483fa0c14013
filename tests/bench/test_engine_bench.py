"""``mlx-harmony bench engine --json`` runs both paths and reports every figure (values are not asserted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

REQUIRED = (
    "model", "prompt_tokens", "decode_tps_mlx_lm", "decode_tps_engine", "decode_ratio",
    "prefill_tps_mlx_lm", "prefill_tps_engine", "prefill_ratio", "ttft_s", "peak_memory_gb",
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
    for key in ("decode_ratio_quartiles", "prefill_ratio_quartiles"):
        low, high = result[key]
        assert 0 < low <= high, key
    assert result["cached_tokens_engine"] == 0  # the engine prefills the whole prompt every round, as mlx-lm does


def test_bench_rejects_bad_counts():
    cmd = [sys.executable, "-m", "mlx_harmony_tui.cli.main", "bench", "engine", "--rounds", "0"]
    done = subprocess.run(cmd, env=os.environ.copy(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip() == "error: --rounds: must be at least 1"

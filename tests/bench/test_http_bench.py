"""``mlx-harmony bench http --json`` streams through a real server and the engine alone (values are not asserted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

FIGURES = ("ttft_s_engine", "ttft_s_http", "ttft_ratio", "decode_tps_engine", "decode_tps_http", "decode_ratio")


def test_bench_http_json_line(default_model_dir):
    cmd = [sys.executable, "-m", "mlx_harmony_tui.cli.main", "bench", "http", "--json", "--max-tokens", "4", "--rounds", "1"]
    done = subprocess.run(cmd, env=os.environ.copy(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    assert result["model"] == "SmolLM2-135M-Instruct"
    assert result["max_tokens"] == 4 and result["rounds"] == 1 and result["generated_tokens"] == 4
    for key in FIGURES:
        assert isinstance(result[key], float) and result[key] > 0, key


def test_bench_http_rejects_bad_counts():
    cmd = [sys.executable, "-m", "mlx_harmony_tui.cli.main", "bench", "http", "--max-tokens", "0"]
    done = subprocess.run(cmd, env=os.environ.copy(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip() == "error: --max-tokens: must be at least 1"

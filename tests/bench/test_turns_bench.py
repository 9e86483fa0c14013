"""``mlx-harmony bench turns --json``: the lists it reports, and that reuse serves every reusable token."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def run_bench(*args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "mlx_harmony_tui.cli.main", "bench", "turns", *args]
    return subprocess.run(cmd, env=os.environ.copy(), capture_output=True, text=True, timeout=300)


def test_bench_turns_json_on_gpt_oss(tiny_gpt_oss_dir):
    done = run_bench("--model", str(tiny_gpt_oss_dir), "--turns", "3", "--user-tokens", "24", "--max-tokens", "6", "--json")
    assert done.returncode == 0, done.stderr
    (line,) = done.stdout.strip().splitlines()
    result = json.loads(line)
    assert result["model"] == "tiny-gpt-oss" and result["turns"] == 3 and result["tools"] is True
    for key in ("ttft_reuse_s", "ttft_cold_s", "cached_fraction", "prompt_tokens", "cached_tokens"):
        assert len(result[key]) == 3, key
    prompts, cached = result["prompt_tokens"], result["cached_tokens"]
    assert prompts[0] > 500  # the browser and python tool descriptions are in the system message
    assert prompts[0] < prompts[1] < prompts[2]
    # Turn 1 is cold; later turns reuse the whole previous prompt but its last token (the snapshot point).
    assert cached == [0, prompts[0] - 1, prompts[1] - 1]
    assert result["cached_fraction"] == [c / p for c, p in zip(cached, prompts)]
    assert all(t > 0 for t in result["ttft_reuse_s"] + result["ttft_cold_s"])


def test_bench_turns_table_on_the_default_model(default_model_dir):
    done = run_bench("--turns", "2", "--user-tokens", "16", "--max-tokens", "4")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[0].startswith("model SmolLM2-135M-Instruct on ")
    assert [line.split()[0] for line in lines[3:5]] == ["1", "2"]
    assert lines[-1].startswith("last turn / first turn TTFT: ")


def test_bench_turns_rejects_bad_counts():
    done = run_bench("--turns", "0")
    assert done.returncode == 2
    assert done.stderr.strip() == "error: --turns: must be at least 1"


def test_bench_tui_json_on_the_default_model(default_model_dir):
    cmd = [sys.executable, "-m", "mlx_harmony_tui.cli.main", "bench", "tui", "--max-tokens", "24", "--rounds", "1", "--json"]
    done = subprocess.run(cmd, env=os.environ.copy(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    for key in ("decode_tps_engine", "decode_tps_app", "decode_ratio", "key_latency_p95_ms", "first_frame_s"):
        assert isinstance(result[key], float) and result[key] > 0, key
    assert result["key_presses"] > 0 and result["rounds"] == 1

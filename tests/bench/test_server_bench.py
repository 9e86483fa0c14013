"""``mlx-harmony bench server``: this server and mlx_lm.server, started for real on the same model (values are not asserted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def test_bench_server_runs_both_servers_per_client_count(default_model_dir):
    cmd = [sys.executable, "-m", "mlx_harmony_tui.cli.main", "bench", "server", "--json", "--clients", "1,2", "--max-tokens", "4",
           "--rounds", "1"]
    done = subprocess.run(cmd, env=os.environ.copy(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["model"] == "SmolLM2-135M-Instruct" and result["max_tokens"] == 4
    assert [row["clients"] for row in result["rows"]] == [1, 2]
    for row in result["rows"]:
        for side in ("mlx-harmony", "mlx_lm.server"):
            figures = row[side]
            assert figures["requests"] == row["clients"] and figures["tokens"] == 4 * row["clients"]  # every answer ran to the end
            assert figures["total_tps"] > 0 and 0 < figures["ttft_p50_s"] <= figures["ttft_p95_s"]
        assert row["tps_ratio"] > 0 and row["ttft_p95_ratio"] > 0


def test_bench_server_rejects_bad_client_counts():
    cmd = [sys.executable, "-m", "mlx_harmony_tui.cli.main", "bench", "server", "--clients", "1,zero"]
    done = subprocess.run(cmd, env=os.environ.copy(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip() == "error: --clients: expected client counts like 1,4,8 (got '1,zero')"

"""``mlx-harmony bench constrained --json`` runs both sides and the mask replay on both vocabularies (values not asserted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def test_bench_constrained_json_line(default_model_dir):
    cmd = [sys.executable, "-m", "mlx_harmony_tui.cli.main", "bench", "constrained", "--json", "--max-tokens", "8", "--rounds", "1"]
    done = subprocess.run(cmd, env=os.environ.copy(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    (line,) = done.stdout.strip().splitlines()
    result = json.loads(line)
    assert result["model"] == "SmolLM2-135M-Instruct" and result["target"] == 0.9
    for key in ("decode_tps_free", "decode_tps_constrained", "decode_ratio", "mask_us_per_token_in_run"):
        assert isinstance(result[key], float) and result[key] > 0, key
    assert result["tokens_constrained"] == 8  # every token of the schema side went through the mask
    sizes = {r["vocabulary"]: r["vocab_size"] for r in result["replay"]}
    assert sizes == {"SmolLM2-135M-Instruct": 49152, "o200k + Harmony": 201088}
    for replay in result["replay"]:
        assert replay["tokens"] > 20 and replay["host_us_median"] > 0 and replay["apply_us_median"] > 0

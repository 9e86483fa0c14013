"""``mlx-harmony bench speculative`` end to end on the default model, kept short: its figures are the closing notes'."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from mlx_harmony_tui.bench.speculative_bench import CODE_EDIT, PROSE, format_table


def test_bench_speculative_compares_three_ways_and_checks_the_answers_agree(default_model_dir):
    cmd = [sys.executable, "-m", "mlx_harmony_tui.cli.main", "bench", "speculative", "--json",
           "--max-tokens", "24", "--rounds", "1", "--streams", "2"]
    done = subprocess.run(cmd, env=os.environ.copy(), capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert set(result["sets"]) == {"code-edit", "prose"}
    for name, prompts in (("code-edit", CODE_EDIT), ("prose", PROSE)):
        figures = result["sets"][name]
        assert set(figures["prompts"]) == set(prompts)
        assert figures["same_tokens"] is True  # greedy: drafts never change an answer
        assert all(figures["decode_tps"][side] > 0 for side in ("raw", "off", "ngram"))
        assert figures["streams_tps"]["off"] > 0 and figures["streams_tps"]["ngram"] > 0
    quote = result["sets"]["code-edit"]["prompts"]["quote"]
    assert quote["acceptance"] > 0  # a quoted passage is drafted from the prompt and kept
    table = format_table(result)
    assert "code-edit (median)" in table and "prose (2 streams)" in table and " NO" not in table

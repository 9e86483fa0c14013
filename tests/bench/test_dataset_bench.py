"""``mlx-harmony bench dataset``: the standard questions as one conversation, a row of figures per turn."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import pytest

from mlx_harmony_tui.bench.dataset_bench import COLUMNS, load_questions
from mlx_harmony_tui.errors import UserError


def run_bench(*args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "mlx_harmony_tui.cli.main", "bench", "dataset", *args]
    return subprocess.run(cmd, env=os.environ.copy(), capture_output=True, text=True, timeout=300)


def test_the_standard_set_is_large_varied_and_short():
    questions = load_questions()
    assert len(questions) >= 100
    assert len({q.id for q in questions}) == len(questions)
    assert {"writing", "coding", "maths", "facts", "advice", "multi-step"} <= {q.category for q in questions}
    follow_ups = [q for q in questions if q.refers_to is not None]
    assert len(follow_ups) >= 5
    ids = [q.id for q in questions]
    assert all(ids.index(q.refers_to) < ids.index(q.id) for q in follow_ups)
    assert max(len(q.text) for q in questions) < 200  # many turns must fit a small model's context


def test_a_damaged_questions_file_names_the_field(tmp_path):
    bad = tmp_path / "questions.json"
    bad.write_text(json.dumps({"questions": [{"id": 1, "category": "maths", "text": "2+2?"}, {"id": 2, "category": "x"}]}))
    with pytest.raises(UserError, match=r"questions\.json: questions\.1\.text: Field required"):
        load_questions(bad)
    bad.write_text(json.dumps({"questions": [{"id": 1, "category": "maths", "text": "And then?", "refers_to": 2}]}))
    with pytest.raises(UserError, match="question 1: refers_to 2 is not an earlier question's id"):
        load_questions(bad)
    bad.write_text("{not json")
    with pytest.raises(UserError, match="not valid JSON"):
        load_questions(bad)


def test_bench_dataset_writes_csv_and_json_per_turn(default_model_dir, tmp_path):
    done = run_bench("--turns", "3", "--max-tokens", "8", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.strip().splitlines() if not line.startswith("warning: ")]  # busy machine
    assert lines[0].startswith("model SmolLM2-135M-Instruct on ")
    assert [line.split()[0] for line in lines[3:]] == ["1", "2", "3"]
    with (tmp_path / "dataset.csv").open() as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    assert tuple(reader.fieldnames) == COLUMNS
    assert [r["turn"] for r in rows] == ["1", "2", "3"]
    assert [r["category"] for r in rows] == [q.category for q in load_questions()[:3]]
    saved = json.loads((tmp_path / "dataset.json").read_text())
    assert saved["model"] == "SmolLM2-135M-Instruct" and saved["greedy"] is True and len(saved["answers"]) == 3
    assert [{k: str(v) for k, v in r.items()} for r in saved["rows"]] == rows
    prompts = [r["prompt_tokens"] for r in saved["rows"]]
    cached = [r["cached_tokens"] for r in saved["rows"]]
    # One growing conversation: each prompt holds the turns before it, and their cache is reused.
    assert prompts[0] < prompts[1] < prompts[2]
    assert cached[0] == 0 and cached[1] >= prompts[0] and cached[2] >= prompts[1]
    assert all(0 < r["completion_tokens"] <= 8 and r["finish_reason"] in ("stop", "length") for r in saved["rows"])


def test_bench_dataset_context_limit_drops_the_oldest_turns(default_model_dir):
    done = run_bench("--turns", "4", "--max-tokens", "4", "--max-context-tokens", "80", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["max_context_tokens"] == 80
    assert all(r["prompt_tokens"] <= 80 for r in result["rows"])
    assert result["rows"][0]["dropped_turns"] == 0 and result["rows"][-1]["dropped_turns"] > 0


def test_bench_dataset_rejects_bad_counts():
    done = run_bench("--turns", "0")
    assert done.returncode == 2 and done.stderr.strip() == "error: --turns: must be at least 1"
    done = run_bench("--turns", "1000")
    assert done.returncode == 2 and done.stderr.strip().startswith("error: --turns: at most ")

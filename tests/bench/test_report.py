"""``mlx-harmony bench report``: the whole suite on the default model writes a report a person can read.

The suite runs once, at the smallest sizes, and every file it writes is read
back: report.md's tables, report.json, the SVG plots (as XML) and the dataset
bench's CSV/JSON. The figures themselves are not asserted. The SVG writer has
its own small tests.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from mlx_harmony_tui.bench.dataset_bench import COLUMNS
from mlx_harmony_tui.bench.report import BENCHES, ReportSizes, figures, run_report
from mlx_harmony_tui.bench.svg_plot import Series, line_chart

SVG = "{http://www.w3.org/2000/svg}"
TINY = ReportSizes(
    engine_prompt_tokens=48, engine_max_tokens=6, engine_rounds=1, turns=2, turns_user_tokens=16, turns_max_tokens=6,
    tui_max_tokens=12, tui_rounds=1, tui_keys=1, server_max_tokens=6, server_rounds=1, server_clients=(1, 2), agent_opening_tokens=400,
    agent_steps=(1, 2), agent_answer_tokens=(4, 6), agent_result_tokens=(20, 40), agent_tools=3, logs=20, log_messages=40,
    dataset_turns=3, dataset_max_tokens=8, long_tokens=32,
)
PLOTS = ("ttft_by_turn.svg", "decode_over_generation.svg", "memory_by_turn.svg", "dataset_speed_by_turn.svg")


def plot_area(root: ET.Element) -> tuple[float, float, float, float]:
    (rect,) = [r for r in root.iter(f"{SVG}rect") if r.get("class") == "plot-area"]
    x, y = float(rect.get("x")), float(rect.get("y"))
    return x, y, x + float(rect.get("width")), y + float(rect.get("height"))


def points(root: ET.Element, series: str) -> list[tuple[float, float]]:
    (group,) = [g for g in root.iter(f"{SVG}g") if g.get("class") == "series" and g.get("data-name") == series]
    return [(float(c.get("cx")), float(c.get("cy"))) for c in group.iter(f"{SVG}circle")]


def texts(root: ET.Element, cls: str) -> list[str]:
    return [t.text for t in root.iter(f"{SVG}text") if t.get("class") == cls]


def legend(root: ET.Element) -> list[str]:
    (group,) = [g for g in root.iter(f"{SVG}g") if g.get("class") == "legend"]
    return [t.text for t in group.iter(f"{SVG}text")]


def inside(area, point) -> bool:
    left, top, right, bottom = area
    return left <= point[0] <= right and top <= point[1] <= bottom


def test_chart_is_valid_svg_with_title_axes_and_legend():
    root = ET.fromstring(line_chart("Speed & size <test>", "turn", "tok/s", [Series("a", [(1, 2), (2, 5), (3, 4)]), Series("b", [(1, 1)])]))
    assert root.tag == f"{SVG}svg"
    assert texts(root, "title") == ["Speed & size <test>"]
    assert texts(root, "x-label") == ["turn"] and texts(root, "y-label") == ["tok/s"]
    assert legend(root) == ["a", "b"]
    ticks = [g for g in root.iter(f"{SVG}g") if g.get("class") in ("x-axis", "y-axis")]
    assert len(ticks) == 2 and all(len(list(g.iter(f"{SVG}text"))) >= 2 for g in ticks)


def test_points_scale_into_the_plot_area_in_order():
    root = ET.fromstring(line_chart("t", "x", "y", [Series("s", [(0, 0), (10, 50), (20, 100), (5, 1000)])]))
    area = plot_area(root)
    drawn = points(root, "s")
    assert len(drawn) == 4 and all(inside(area, p) for p in drawn)
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = drawn
    assert x0 < x3 < x1 < x2  # larger x is further right
    assert y0 > y1 > y2 > y3  # larger y is higher up (smaller SVG y)
    assert y0 == pytest.approx(area[3])  # y starts at zero, at the bottom edge


def test_a_single_point_and_empty_series_do_not_break_the_chart():
    root = ET.fromstring(line_chart("one", "x", "y", [Series("only", [(3, 7)]), Series("none", [])]))
    (point,) = points(root, "only")
    assert inside(plot_area(root), point)
    assert points(root, "none") == [] and legend(root) == ["only", "none"]
    assert not list(root.iter(f"{SVG}polyline"))
    empty = ET.fromstring(line_chart("nothing", "x", "y", [Series("none", [])]))
    assert texts(empty, "no-data") == ["no data"]
    assert ET.fromstring(line_chart("no series", "x", "y", []))


def test_non_finite_points_are_left_out():
    root = ET.fromstring(line_chart("t", "x", "y", [Series("s", [(1, 1.0), (2, float("nan")), (3, float("inf")), (4, 2.0)])]))
    assert len(points(root, "s")) == 2


def test_missing_results_and_keys_give_empty_cells_not_errors():
    rows = figures({"http": {"ttft_s_http": 0.5}})
    server = {f.name: f for f in rows if f.bench == "http"}
    assert server["TTFT over HTTP streaming"].value == 0.5
    assert server["TTFT over HTTP streaming"].counterpart is None and server["TTFT over HTTP streaming"].ratio is None
    assert server["decode over HTTP streaming"].value is None
    assert all(f.value is None for f in rows if f.bench == "engine")


def test_report_out_must_be_a_folder(tmp_path):
    target = tmp_path / "a-file"
    target.write_text("x")
    cmd = [sys.executable, "-m", "mlx_harmony_tui.cli.main", "bench", "report", "--out", str(target), "--quick"]
    done = subprocess.run(cmd, env=os.environ.copy(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip() == f"error: --out: {target} is a file, not a folder"


def test_a_missing_model_stops_the_suite_with_one_clear_line(tmp_path):
    missing = tmp_path / "no-such-model"
    cmd = [sys.executable, "-m", "mlx_harmony_tui.cli.main", "bench", "report", "--out", str(tmp_path / "r"), "--model", str(missing)]
    done = subprocess.run(cmd, env=os.environ.copy(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and str(missing) in last
    assert "Traceback" not in done.stderr and not (tmp_path / "r" / "report.md").exists()


@pytest.mark.timeout(1800)  # seven benchmark processes, each loading the model: minutes on a slow machine
def test_the_suite_writes_report_json_plots_and_tables(default_model_dir, tmp_path, capsys):
    out = tmp_path / "report"
    data = run_report(out, sizes=TINY, preset="tiny", terminal=False)
    progress = capsys.readouterr().err
    assert f"mlx-harmony bench report: [1/{len(BENCHES)}] engine" in progress and "long_generation done in" in progress

    saved = json.loads((out / "report.json").read_text())
    assert saved == json.loads(json.dumps(data))
    assert list(saved["results"]) == list(BENCHES)
    assert saved["versions"]["mlx-lm"] and saved["versions"]["textual"] and saved["machine"]["cores"] >= 1
    assert saved["results"]["engine"]["model"] == "SmolLM2-135M-Instruct"
    assert len(saved["results"]["turns"]["ttft_reuse_s"]) == 2

    md = (out / "report.md").read_text()
    assert md.startswith("# mlx-harmony benchmark report")
    headings = ("## Machine", "## Versions", "## Figures", "## Plots", "## Agent trace, both servers", "## Dataset bench, turn by turn")
    for heading in headings:
        assert heading in md
    table = [line.split(" | ") for line in md.splitlines() if line.startswith("| ") and line.count(" | ") == 6]
    benches = {row[0][2:] for row in table}
    assert {"engine", "turns", "tui", "server", "http", "agent", "logs", "dataset", "long generation"} <= benches
    engine = {row[1]: row for row in table if row[0] == "| engine"}
    assert engine["decode"][5] == "raw mlx-lm generate_step" and float(engine["decode"][6].rstrip(" |")) > 0
    tui = {row[1]: row for row in table if row[0] == "| tui"}
    assert tui["decode, streamed into the app"][5] == "engine alone"
    assert "| 0.32." in md  # the versions row names mlx's version

    for name in PLOTS:
        assert f"![{name}]({name})" in md
        root = ET.fromstring((out / name).read_text())
        area = plot_area(root)
        drawn = [(float(c.get("cx")), float(c.get("cy"))) for c in root.iter(f"{SVG}circle")]
        assert drawn and all(inside(area, p) for p in drawn), name
    ttft = ET.fromstring((out / "ttft_by_turn.svg").read_text())
    assert legend(ttft) == ["reusing the cache", "cold prefill"] and len(points(ttft, "cold prefill")) == 2

    with (out / "dataset.csv").open() as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    assert tuple(reader.fieldnames) == COLUMNS and [int(r["turn"]) for r in rows] == [1, 2, 3]
    dataset = json.loads((out / "dataset.json").read_text())
    assert [r["turn"] for r in dataset["rows"]] == [1, 2, 3] and len(dataset["answers"]) == 3
    assert all(int(r["completion_tokens"]) <= 8 for r in rows)

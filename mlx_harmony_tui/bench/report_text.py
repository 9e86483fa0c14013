"""The benchmark report for a person to read: the figures table, plots and ``report.md``.

A ratio above 1 always means mlx-harmony's side is better: faster (rates:
ours / theirs; times: theirs / ours) or lighter (memory: theirs / ours).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from .svg_plot import Series, write_line_chart
from .where import busy_lines


@dataclass
class Figure:
    """One row of the report's table; ``ratio`` above 1 means mlx-harmony's side is better."""

    bench: str
    name: str
    unit: str
    value: float | None
    counterpart: float | None = None
    against: str = ""
    ratio: float | None = None


def _figure(bench: str, name: str, unit: str, ours: Any, theirs: Any = None, against: str = "", lower_is_better: bool = False) -> Figure:
    ours = float(ours) if isinstance(ours, (int, float)) else None
    theirs = float(theirs) if isinstance(theirs, (int, float)) else None
    ratio = None
    if ours and theirs:
        ratio = theirs / ours if lower_is_better else ours / theirs
    return Figure(bench, name, unit, ours, theirs, against if theirs is not None else "", ratio)


def figures(results: dict) -> list[Figure]:
    """Every headline figure of the suite's results; a missing result or key gives an empty cell, not an error."""
    rows: list[Figure] = []
    e = results.get("engine") or {}
    raw = "raw mlx-lm generate_step"
    rows += [
        _figure("engine", "prefill", "tok/s", e.get("prefill_tps_engine"), e.get("prefill_tps_mlx_lm"), raw),
        _figure("engine", "decode", "tok/s", e.get("decode_tps_engine"), e.get("decode_tps_mlx_lm"), raw),
        _figure("engine", "time to first token", "s", e.get("ttft_s"), e.get("ttft_s_mlx_lm"), raw, lower_is_better=True),
        _figure("engine", "peak memory", "GB", e.get("peak_memory_gb"), e.get("peak_memory_gb_mlx_lm"), raw, lower_is_better=True),
    ]
    t = results.get("turns") or {}
    reuse, cold = t.get("ttft_reuse_s") or [], t.get("ttft_cold_s") or []
    if reuse and cold:
        against = "cold prefill of the whole conversation"
        rows += [
            _figure("turns", "engine TTFT, turn 1", "s", reuse[0], cold[0], against, lower_is_better=True),
            _figure("turns", f"engine TTFT, turn {len(reuse)} (last)", "s", reuse[-1], cold[-1], against, lower_is_better=True),
            _figure("turns", f"engine TTFT, mean of {len(reuse)} turns", "s", statistics.mean(reuse), statistics.mean(cold), against,
                    lower_is_better=True),
        ]
    if t.get("cached_fraction"):
        rows.append(_figure("turns", "prompt served from the cache, last turn", "%", 100 * t["cached_fraction"][-1]))
    servers = t.get("servers") or {}
    ours, theirs = servers.get("mlx-harmony") or {}, servers.get("mlx_lm.server") or {}
    if ours.get("ttft_s") and theirs.get("ttft_s"):
        later = slice(1, None) if len(ours["ttft_s"]) > 1 else slice(None)
        rows.append(_figure("turns", "server TTFT, mean of turns after the first", "s", statistics.mean(ours["ttft_s"][later]),
                            statistics.mean(theirs["ttft_s"][later]), "mlx_lm.server", lower_is_better=True))
        if all(isinstance(c, int) for c in ours["cached_tokens"] + theirs["cached_tokens"]):
            rows.append(_figure("turns", "server cached prompt tokens, all turns", "tokens", sum(ours["cached_tokens"]),
                                sum(theirs["cached_tokens"]), "mlx_lm.server"))
    u = results.get("tui") or {}
    presses = u.get("key_presses")  # none when the answers ended before a key could be timed
    rows += [
        _figure("tui", "decode, streamed into the app", "tok/s", u.get("decode_tps_app"), u.get("decode_tps_engine"), "engine alone"),
        _figure("tui", "key press to repaint while streaming, p50", "ms", u.get("key_latency_p50_ms") if presses else None),
        _figure("tui", "key press to repaint while streaming, p95", "ms", u.get("key_latency_p95_ms") if presses else None),
        _figure("tui", "time to first frame (new process)", "s", u.get("first_frame_s")),
    ]
    for row in (results.get("server") or {}).get("rows", []):
        ours, theirs, n = row["mlx-harmony"], row["mlx_lm.server"], row["clients"]
        rows += [
            _figure("server", f"{n} clients at once, total", "tok/s", ours["total_tps"], theirs["total_tps"], "mlx_lm.server"),
            _figure("server", f"{n} clients at once, TTFT p95", "s", ours["ttft_p95_s"], theirs["ttft_p95_s"], "mlx_lm.server",
                    lower_is_better=True),
        ]
    v = results.get("http") or {}
    rows += [
        _figure("http", "TTFT over HTTP streaming", "s", v.get("ttft_s_http"), v.get("ttft_s_engine"), "engine alone", lower_is_better=True),
        _figure("http", "decode over HTTP streaming", "tok/s", v.get("decode_tps_http"), v.get("decode_tps_engine"), "engine alone"),
    ]
    rows += _agent_figures(results.get("agent") or {})
    g = results.get("logs") or {}
    n_logs, n_messages = g.get("logs", "?"), g.get("long_log_messages", "?")
    rows += [
        _figure("logs", f"list {n_logs} logs, no index", "s", g.get("list_cold_s")),
        _figure("logs", f"list {n_logs} logs, indexed", "s", g.get("list_indexed_s")),
        _figure("logs", f"open a {n_messages}-message log", "s", g.get("open_long_log_s")),
        _figure("logs", "append a message to it", "s", g.get("append_to_long_log_s")),
        _figure("logs", f"full-text search of {n_logs} logs", "s", g.get("search_rare_word_s")),
        _figure("logs", "log browser shows the logs (target < 1 s)", "s", g.get("browser_indexed_s")),
        _figure("logs", "log browser search (target < 1 s)", "s", g.get("browser_search_s")),
        _figure("logs", f"{n_messages}-message chat opens in the app (target < 1 s)", "s", g.get("open_long_chat_in_app_s")),
    ]
    d = (results.get("dataset") or {}).get("rows") or []
    if d:
        prompt_total = sum(r["prompt_tokens"] for r in d)
        rows += [
            _figure("dataset", f"TTFT, median of {len(d)} turns", "s", statistics.median(r["ttft_s"] for r in d)),
            _figure("dataset", f"TTFT, turn {len(d)} (last)", "s", d[-1]["ttft_s"]),
            _figure("dataset", f"decode, median of {len(d)} turns", "tok/s", statistics.median(r["decode_tps"] for r in d)),
            _figure("dataset", "prompt tokens, last turn", "tokens", d[-1]["prompt_tokens"]),
            _figure("dataset", "prompt served from the cache, all turns", "%",
                    100 * sum(r["cached_tokens"] for r in d) / prompt_total if prompt_total else None),
            _figure("dataset", "tokens generated, all turns", "tokens", sum(r["completion_tokens"] for r in d)),
            _figure("dataset", "peak memory, highest turn", "GB", max(r["peak_memory_gb"] for r in d)),
        ]
    g = results.get("long_generation") or {}
    eng, mlx = g.get("engine") or {}, g.get("mlx_lm") or {}
    n = g.get("max_tokens", "?")
    rows += [
        _figure("long generation", f"decode over {n} tokens", "tok/s", eng.get("decode_tps"), mlx.get("decode_tps"), raw),
        _figure("long generation", "decode, first window", "tok/s", eng.get("first_window_tps"), mlx.get("first_window_tps"), raw),
        _figure("long generation", "decode, last window", "tok/s", eng.get("last_window_tps"), mlx.get("last_window_tps"), raw),
    ]
    return rows


def _cached_percent(side: dict) -> float | None:
    prompt, cached = side.get("prompt_tokens"), side.get("cached_tokens")
    return 100 * cached / prompt if prompt and cached is not None else None


def _agent_figures(a: dict) -> list[Figure]:
    servers = a.get("servers") or {}
    ours, theirs = servers.get("mlx-harmony") or {}, servers.get("mlx_lm.server") or {}
    against = "mlx_lm.server"
    return [
        _figure("agent", "coding-agent trace, wall time", "s", ours.get("wall_s"), theirs.get("wall_s"), against, lower_is_better=True),
        _figure("agent", "TTFT per step, p50", "s", ours.get("ttft_p50_s"), theirs.get("ttft_p50_s"), against, lower_is_better=True),
        _figure("agent", "TTFT per step, p95", "s", ours.get("ttft_p95_s"), theirs.get("ttft_p95_s"), against, lower_is_better=True),
        _figure("agent", "prompt tokens computed, all steps", "tokens", ours.get("computed_tokens"), theirs.get("computed_tokens"),
                against, lower_is_better=True),
        _figure("agent", "prompt served from the cache, all steps", "%", _cached_percent(ours), _cached_percent(theirs), against),
    ]


def _agent_section(a: dict) -> list[str]:
    """The agent bench's own table: both servers' figures, then its verdicts (ratios, same prompts or not)."""
    from .agent_bench import verdicts

    lines = [
        "## Agent trace, both servers",
        "",
        f"{a['requests']} requests from three sessions and two subagents sharing an opening of {a['opening_tokens']:,} tokens, "
        f"sent through `/v1/chat/completions` ({a['rounds']} round(s); token sums over every step).",
        "",
        "| server | wall s | TTFT p50 s | TTFT p95 s | prompt tokens | computed | cached | completion |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, f in a["servers"].items():
        lines.append(f"| {name} | {f['wall_s']:.2f} | {f['ttft_p50_s']:.3f} | {f['ttft_p95_s']:.3f} | {_number(f['prompt_tokens'])} | "
                     f"{_number(f['computed_tokens'])} | {_number(f['cached_tokens'])} | {_number(f['completion_tokens'])} |")
    return lines + [""] + [f"- {line}" for line in verdicts(a)] + [""]


def write_plots(results: dict, out: Path) -> list[Path]:
    """The report's SVG plots, from whatever results are there (a missing one plots as "no data")."""
    t = results.get("turns") or {}
    g = results.get("long_generation") or {}
    d = (results.get("dataset") or {}).get("rows") or []

    def by_turn(values: list) -> list[tuple[float, float]]:
        return [(i + 1, v) for i, v in enumerate(values)]

    return [
        write_line_chart(
            out / "ttft_by_turn.svg", "Time to first token by turn (turns bench)", "turn of the conversation", "TTFT (s)",
            [Series("reusing the cache", by_turn(t.get("ttft_reuse_s") or [])),
             Series("cold prefill", by_turn(t.get("ttft_cold_s") or []))],
        ),
        write_line_chart(
            out / "decode_over_generation.svg", f"Decode speed over one long generation ({g.get('max_tokens', '?')} tokens)",
            "tokens generated", "tok/s",
            [Series("mlx-harmony engine", [tuple(p) for p in (g.get("engine") or {}).get("points", [])]),
             Series("raw mlx-lm", [tuple(p) for p in (g.get("mlx_lm") or {}).get("points", [])])],
        ),
        write_line_chart(
            out / "memory_by_turn.svg", "Peak memory per turn (dataset bench)", "turn of the conversation", "peak memory (GB)",
            [Series("peak memory", by_turn([r["peak_memory_gb"] for r in d]))],
        ),
        write_line_chart(
            out / "dataset_speed_by_turn.svg", "Decode speed per turn (dataset bench)", "turn of the conversation", "tok/s",
            [Series("decode", by_turn([r["decode_tps"] for r in d]))],
        ),
    ]


def _number(value: float | None) -> str:
    if value is None:
        return "—"
    if float(value).is_integer():
        return f"{int(value):,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def _minutes(seconds: float) -> str:
    return f"{int(seconds // 60)} min {seconds % 60:.0f} s" if seconds >= 60 else f"{seconds:.0f} s"


def report_markdown(data: dict) -> str:
    """``report.md`` from ``report.json``'s content."""
    m, v, s = data["machine"], data["versions"], data["sizes"]
    results = data["results"]
    engine = results.get("engine") or {}
    memory = f"{m['memory_gb']:.1f} GB" if m.get("memory_gb") else "unknown"
    lines = [
        "# mlx-harmony benchmark report",
        "",
        f"Run on {datetime.fromisoformat(data['date']):%Y-%m-%d at %H:%M (UTC%z)} ({data['preset']} sizes), {_minutes(data['duration_s'])} in all, "
        f"with the model **{engine.get('model', data['model'] or 'default')}**.",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        f"| CPU | {m['cpu']}, {m['cores']} cores |",
        f"| memory | {memory} |",
        f"| platform | {m['platform']} |",
        f"| MLX | {m['mlx']} |",
        f"| BLAS | {m['blas']} |",
        "",
        *(f"- **{line}**" for line in busy_benches(results)),
        *([""] if busy_benches(results) else []),
        "## Versions",
        "",
        "| " + " | ".join(v) + " |",
        "|" + "---|" * len(v),
        "| " + " | ".join(v.values()) + " |",
        "",
        "## Figures",
        "",
        "Each figure of mlx-harmony next to its counterpart measured in the same run on the same loaded model. "
        "**Ratio above 1 means mlx-harmony's side is better**: faster (rates: ours ÷ theirs; times: theirs ÷ ours) "
        "or lighter (memory: theirs ÷ ours); 1.00 means the same.",
        "",
        "| bench | figure | unit | mlx-harmony | counterpart | compared with | ratio |",
        "|---|---|---|---:|---:|---|---:|",
    ]
    for f in data["figures"]:
        ratio = f"{f['ratio']:.2f}" if f["ratio"] is not None else "—"
        counterpart = _number(f["counterpart"]) if f["counterpart"] is not None else "—"
        lines.append(f"| {f['bench']} | {f['name']} | {f['unit']} | {_number(f['value'])} | {counterpart} | "
                     f"{f['against'] or '—'} | {ratio} |")
    lines += ["", "## Plots", ""]
    for name in data["plots"]:
        lines += [f"![{name}]({name})", ""]
    rows = (results.get("dataset") or {}).get("rows") or []
    if rows:
        lines += [
            "## Dataset bench, turn by turn",
            "",
            "The standard questions asked in order as one conversation (greedy); also in `dataset.csv` and `dataset.json`.",
            "",
            "| turn | category | prompt | cached | TTFT s | prefill tok/s | decode tok/s | generated | peak GB | finish |",
            "|---:|---|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        for r in rows:
            lines.append(
                f"| {r['turn']} | {r['category']} | {r['prompt_tokens']} | {r['cached_tokens']} | {r['ttft_s']:.3f} | "
                f"{r['prefill_tps']:.1f} | {r['decode_tps']:.2f} | {r['completion_tokens']} | {r['peak_memory_gb']:.3f} | "
                f"{r['finish_reason']} |"
            )
        lines.append("")
    if (results.get("agent") or {}).get("servers"):
        lines += _agent_section(results["agent"])
    opening = (results.get("agent") or {}).get("opening_tokens", s["agent_opening_tokens"])  # measured: the tools set a floor
    lines += [
        "## How it was measured",
        "",
        f"- **engine**: a chat prompt of about {s['engine_prompt_tokens']} tokens, {s['engine_max_tokens']} tokens greedy, "
        f"through this engine and through raw mlx-lm `generate_step` in {s['engine_rounds']} round(s) after a warm-up, "
        "each side going first in turn; speeds are medians, ratios the median of the per-round ratios.",
        f"- **turns**: a chat of a system message and {s['turns']} user messages of about {s['turns_user_tokens']} tokens, "
        f"answers of {s['turns_max_tokens']} tokens (by default on a tiny GPT-OSS whose answers are analysis, which the next "
        "prompt drops); each turn answered by the engine reusing the conversation's cache and again cold, then sent whole "
        "(earlier answers as content only) to this server and to `mlx_lm.server`, each started on the same model folder; "
        "cached tokens as each server's usage reports them, TTFT to the answer message's first text.",
        f"- **tui**: the full-screen app run headless on the default model, answers of {s['tui_max_tokens']} tokens "
        f"against the engine alone, median of {s['tui_rounds']}; {s['tui_keys']} key presses timed to the repaint "
        "while an answer streams; first frame of a fresh process.",
        f"- **server**: this server and `mlx_lm.server`, each started on the same model folder with the same BLAS; "
        f"{', '.join(map(str, s['server_clients']))} clients at once, each streaming {s['server_rounds']} answers of "
        f"{s['server_max_tokens']} tokens; total tok/s over the round's wall time, TTFT per request.",
        f"- **http**: the same chat request streamed over HTTP (`/v1/chat/completions`) and through the engine alone, "
        f"{s['server_max_tokens']} tokens, median of {s['server_rounds']}.",
        f"- **agent**: a coding agent's traffic replayed on this server and then on `mlx_lm.server`, each alone on the machine: "
        f"three sessions and two subagents open with the same system message of about {opening:,} tokens "
        f"(instructions, tools as JSON), then take {s['agent_steps'][0]}-{s['agent_steps'][1]} tool steps each (answers forced to "
        f"{s['agent_answer_tokens'][0]}-{s['agent_answer_tokens'][1]} tokens, tool results of {s['agent_result_tokens'][0]}-"
        f"{s['agent_result_tokens'][1]}), starting when earlier sessions reach given steps; wall time, TTFT per step, "
        "usage's prompt and cached tokens.",
        f"- **logs**: {s['logs']} chat logs and one of {s['log_messages']} messages in a temporary folder.",
        f"- **dataset**: the first {s['dataset_turns']} standard questions as one conversation, answers of up to "
        f"{s['dataset_max_tokens']} tokens.",
        f"- **long generation**: one greedy answer of {s['long_tokens']} tokens (end of sequence suppressed) through the "
        "engine and through raw mlx-lm `generate_step`; tok/s per window of tokens from each chunk's arrival time.",
        "",
        "Raw results: `report.json`.",
        "",
    ]
    return "\n".join(lines)


def busy_benches(results: dict) -> list[str]:
    """One warning per bench that ran on a busy machine (see where.busy_lines), naming the bench."""
    return [f"{name}: {line}" for name, result in results.items() if isinstance(result, dict)
            for line in busy_lines(result)]


def headline(data: dict) -> str:
    """A few lines for the terminal once the report is written: every figure that has a ratio, then any warning
    that a bench ran on a busy machine."""
    rated = [(f"{f['bench']}: {f['name']} ({f['unit']})", f) for f in data["figures"] if f["ratio"] is not None]
    width = max((len(label) for label, _ in rated), default=10)
    lines = [f"{'':{width}} {'ours':>9} {'theirs':>9} {'ratio':>6}"]
    for label, f in rated:
        lines.append(f"{label:{width}} {_number(f['value']):>9} {_number(f['counterpart']):>9} {f['ratio']:6.2f}")
    return "\n".join(lines + busy_benches(data["results"])) + "\n"

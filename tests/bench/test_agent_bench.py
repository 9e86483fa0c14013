"""``mlx-harmony bench agent``: the coding-agent trace's shape, and tiny replays against the real servers.

The trace is checked at full size with the default model's tokenizer. The
replays are tiny (a short opening, two steps a session, small results): chat
completions on this server and ``mlx_lm.server`` on the default model, then
this server's Responses and Messages APIs on the tiny GPT-OSS the bench
builds. Timings are never asserted, only how they were put together.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlx_harmony_tui.bench.agent_opening import TOOLS, TOOLS_HEADING
from mlx_harmony_tui.bench.agent_requests import chat_messages
from mlx_harmony_tui.bench.agent_trace import NAMES, READ_ONLY, TraceSizes, build_trace, word_count

TINY = ("--opening-tokens", "600", "--steps", "2", "--answer-tokens", "8-12", "--result-tokens", "30-80", "--tools", "3")
KEYS = ("session", "step")


def run_bench(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "mlx_harmony_tui.cli.main", "bench", "agent", *args]
    return subprocess.run(cmd, env=os.environ.copy(), capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def count(default_model_dir: Path):
    """Token counts of the default model, as the bench measures the trace with."""
    from mlx_lm.utils import load_tokenizer

    tokenizer = load_tokenizer(default_model_dir)
    return lambda text: len(tokenizer.encode(text))


def test_the_full_trace_has_a_coding_agents_shape_in_tokens_of_the_model(count):
    trace = build_trace(TraceSizes(), count)
    assert 5000 <= count(trace.system) <= 5100  # the opening, measured whole
    declared = [json.loads(line)["name"] for line in trace.system.split(TOOLS_HEADING + "\n\n")[1].splitlines()]
    assert declared == [tool["name"] for tool in TOOLS] and len(declared) == 12
    assert {"read_file", "apply_patch", "run_tests", "grep", "list_dir", "web_search"} <= set(declared)
    assert [s.name for s in trace.sessions] == list(NAMES)
    assert len({s.task for s in trace.sessions}) == 5
    for index, session in enumerate(trace.sessions):
        assert 10 <= len(session.steps) <= 15, session.name
        said = chat_messages(trace, session, len(session.steps))[2::2]  # the trace's own assistant messages
        for step, message in zip(session.steps, said, strict=True):
            assert 32 <= step.answer_tokens <= 128
            # About as long as the forced answer: no shorter, and longer only by a call that needs the room.
            assert step.answer_tokens - 3 <= count(message["content"]) <= max(step.answer_tokens, count(step.call.text())) + 40
            assert 95 <= count(step.result) <= 2060, (session.name, step.call.name)
            assert step.call.name in declared
            if index >= 3:
                assert step.call.name in READ_ONLY  # subagents only look
    assert len({step.call.call_id for s in trace.sessions for step in s.steps}) == trace.requests


def test_every_session_and_subagent_opens_with_the_same_system_message_in_plain_roles(count):
    trace = build_trace(TraceSizes(steps=(3, 4)), count)
    for session in trace.sessions:
        for done in range(len(session.steps)):
            messages = chat_messages(trace, session, done)
            assert messages[0] == {"role": "system", "content": trace.system}
            assert messages[1] == {"role": "user", "content": session.task}
            assert len(messages) == 2 + 2 * done
            assert [m["role"] for m in messages[2:]] == ["assistant", "user"] * done
            assert all(isinstance(m["content"], str) for m in messages)
        last = chat_messages(trace, session, len(session.steps) - 1)
        assert session.steps[-2].call.text() in last[-2]["content"] and session.steps[-2].result in last[-1]["content"]


def test_the_trace_is_the_same_for_the_same_seed_and_tags_lead_the_opening(count):
    sizes = TraceSizes(opening_tokens=1500, steps=(3, 5))
    trace = build_trace(sizes, count)
    assert build_trace(sizes, count) == trace
    assert build_trace(TraceSizes(opening_tokens=1500, steps=(3, 5), seed=1), count) != trace
    tagged = trace.tagged("12345678")
    assert tagged.system.startswith("Workspace 12345678. ") and tagged.system.endswith(trace.system)
    assert count(tagged.system) == count(trace.tagged("98765432").system)  # every tag costs the same tokens
    assert tagged.sessions == trace.sessions


def test_overlap_triggers_follow_the_answered_steps_for_long_and_short_traces(count):
    starts = [s.starts_after for s in build_trace(TraceSizes(), count).sessions]
    assert starts == [None, (0, 1), (0, 2), (0, 4), (1, 3)]
    short = build_trace(TraceSizes(opening_tokens=300, steps=(2, 2), result_tokens=(20, 30), tools=3), count)
    assert [s.starts_after for s in short.sessions] == [None, (0, 1), (0, 2), (0, 1), (1, 2)]  # session 1's midpoint, session 2's last


def test_without_a_tokenizer_sizes_are_counted_in_words():
    trace = build_trace(TraceSizes(opening_tokens=2000, steps=(2, 2), result_tokens=(300, 300)))
    assert 2000 <= word_count(trace.system) <= 2060
    assert all(300 <= word_count(step.result) <= 360 for s in trace.sessions for step in s.steps)


def _steps(result: dict, name: str) -> dict[tuple, dict]:
    return {tuple(row[k] for k in KEYS): row for row in result["servers"][name]["steps"]}


def _check_overlap(result: dict, name: str) -> None:
    """Each session's first request left only after its trigger step had been answered."""
    steps = _steps(result, name)
    for session in result["sessions"]:
        if session["starts_after"]:
            index, step = session["starts_after"]
            trigger = steps[(result["sessions"][index]["name"], step)]
            assert steps[(session["name"], 1)]["sent_s"] >= trigger["finished_s"], (name, session["name"])


@pytest.mark.timeout(600)
def test_a_tiny_chat_replay_on_both_servers(default_model_dir):
    from mlx_harmony_tui.bench.agent_bench import format_table
    from mlx_harmony_tui.bench.report_text import figures

    done = run_bench("--json", *TINY)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["model"] == "SmolLM2-135M-Instruct" and result["api"] == "chat" and result["requests"] == 10
    servers = result["servers"]
    assert list(servers) == ["mlx-harmony", "mlx_lm.server"]
    for name, figures_ in servers.items():
        steps = figures_["steps"]
        assert len(steps) == 10 and all(row["completion_tokens"] == row["answer_tokens"] for row in steps), name  # forced lengths
        assert figures_["answers_off_length"] == 0
        assert figures_["prompt_tokens"] == sum(row["prompt_tokens"] for row in steps)
        assert figures_["cached_tokens"] == sum(row["cached_tokens"] for row in steps)
        assert figures_["computed_tokens"] == figures_["prompt_tokens"] - figures_["cached_tokens"]
        assert figures_["completion_tokens"] == sum(row["answer_tokens"] for row in steps)
        assert figures_["wall_s"] == pytest.approx(max(r["finished_s"] for r in steps) - min(r["sent_s"] for r in steps))
        assert 0 < figures_["ttft_p50_s"] <= figures_["ttft_p95_s"] <= max(r["ttft_s"] for r in steps)
        _check_overlap(result, name)
    ours, theirs = _steps(result, "mlx-harmony"), _steps(result, "mlx_lm.server")
    assert {k: r["prompt_tokens"] for k, r in ours.items()} == {k: r["prompt_tokens"] for k, r in theirs.items()}
    assert result["prompt_mismatches"] == []
    for (session, step), row in ours.items():
        if step > 1:
            assert row["cached_tokens"] >= ours[(session, step - 1)]["prompt_tokens"] - 1, session  # the session's last prompt
        elif session != "session 1":
            assert row["cached_tokens"] >= 0.9 * result["opening_tokens"], session  # the shared opening
    assert result["wall_ratio"] == pytest.approx(servers["mlx_lm.server"]["wall_s"] / servers["mlx-harmony"]["wall_s"])
    assert result["ttft_p95_ratio"] == pytest.approx(servers["mlx_lm.server"]["ttft_p95_s"] / servers["mlx-harmony"]["ttft_p95_s"])
    report = {f.name: f for f in figures({"agent": result}) if f.bench == "agent"}
    assert report["coding-agent trace, wall time"].ratio == pytest.approx(result["wall_ratio"])
    assert report["TTFT per step, p50"].ratio == pytest.approx(result["ttft_p50_ratio"])
    lines = [line for line in format_table(result).splitlines() if not line.startswith("warning: ")]  # busy machine
    assert lines[0].startswith("model SmolLM2-135M-Instruct on ") and lines[0].endswith("API chat")
    assert [line.split()[0] for line in lines[4:6]] == ["mlx-harmony", "mlx_lm.server"]
    assert lines[-2].startswith(f"theirs / ours: wall {result['wall_ratio']:.2f}, ")
    assert lines[-1] == "both servers read the same prompt length at every step"


@pytest.mark.timeout(600)
def test_tiny_responses_and_messages_replays_on_the_tiny_gpt_oss():
    results = {}
    for api in ("responses", "messages"):
        done = run_bench("--json", "--api", api, *TINY)
        assert done.returncode == 0, done.stderr
        result = results[api] = json.loads(done.stdout.strip().splitlines()[-1])
        assert result["model"] == "tiny-gpt-oss-analysis" and result["api"] == api
        assert list(result["servers"]) == ["mlx-harmony"]
        assert result["wall_ratio"] is None and result["prompt_mismatches"] is None  # nothing to compare with
        steps = _steps(result, "mlx-harmony")
        assert len(steps) == 10 and all(r["completion_tokens"] == r["answer_tokens"] for r in steps.values()), api
        for (session, step), row in steps.items():
            if step > 1:  # the session's last prompt but its last token (the engine's snapshot point for GPT-OSS)
                assert row["cached_tokens"] >= steps[(session, step - 1)]["prompt_tokens"] - 1, (api, session)
            elif session != "session 1":
                assert row["cached_tokens"] > row["prompt_tokens"] / 2, (api, session)  # the shared instructions and tools
        _check_overlap(result, "mlx-harmony")
    prompts = {api: {k: r["prompt_tokens"] for k, r in _steps(result, "mlx-harmony").items()} for api, result in results.items()}
    assert prompts["responses"] == prompts["messages"]  # both APIs gave the model the same conversation


def test_bad_flags_get_one_clear_line():
    for args, message in ((("--steps", "5-2"), "--steps: expected a count or a range like 10-15, from 1 up (got '5-2')"),
                          (("--answer-tokens", "many"), "--answer-tokens: expected a count or a range like 10-15, from 1 up "
                                                        "(got 'many')"),
                          (("--api", "chatty"), "--api: expected chat, responses or messages (got 'chatty')"),
                          (("--tools", "13"), "--tools: the trace has 12 tools (got 13)"),
                          (("--first", "nobody"), "--first: expected ours or theirs (got 'nobody')"),
                          (("--opening-tokens", "0"), "--opening-tokens: must be at least 1")):
        done = run_bench(*args, timeout=60)
        assert done.returncode == 2, args
        assert done.stderr.strip() == f"error: {message}"

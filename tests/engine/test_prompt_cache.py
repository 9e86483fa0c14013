"""Exact KV-cache reuse across turns and tool loops, on real models.

Each turn runs twice on the same engine: once in its conversation (reusing
the cache) and once cold (``reuse_cache=False``, a whole-prompt prefill in a
fresh cache). The logits the first token is sampled from must agree.
"""

from __future__ import annotations

import numpy as np
import pytest

from mlx_harmony_tui.config.sampling import SamplingParams
from mlx_harmony_tui.engine.events import Done, Error, ToolCall
from mlx_harmony_tui.engine.requests import Generate, LoadModel
from mlx_harmony_tui.engine.token_tree import common_length
from mlx_harmony_tui.harmony.render import FunctionTool, HarmonySettings, harmony_prompt_tokens
from mlx_harmony_tui.harmony.stream import END
from tests.support.engine import FirstLogits, Script, run_request, start_engine

TOLERANCE = 1e-4
SETTINGS = HarmonySettings(
    conversation_start_date="2026-11-21", function_tools=(FunctionTool("get_weather", "Weather for a city", {"type": "object"}),)
)
WORDS = "river stone cloud lantern meadow copper violin harbor ember willow canyon orbit".split()


def long_text(turn: int, n: int = 150) -> str:
    """A user message of about ``n`` tokens, different for every turn."""
    return " ".join(WORDS[(turn * 7 + i * 5) % len(WORDS)] for i in range(n))


@pytest.fixture(scope="module")
def gpt_oss(tiny_gpt_oss_dir):
    thread, events = start_engine(str(tiny_gpt_oss_dir))
    yield thread, events
    thread.shutdown()


@pytest.fixture(scope="module")
def plain(default_model_dir):
    thread, events = start_engine(None)
    yield thread, events
    thread.shutdown()


class Turn:
    """One generation's outcome: its events, first logits and figures."""

    def __init__(self, events: list, recorder: FirstLogits):
        self.events = events
        self.done = events[-1]
        assert isinstance(self.done, Done), self.done
        self.logits = recorder.logits
        self.cached = self.done.stats.cached_tokens
        self.prompt_tokens = self.done.stats.prompt_tokens


def run_turn(engine, rid: str, messages, conversation: str, reuse: bool = True, script: list[int] | None = None, prompt_len: int = 0, max_tokens: int = 12):
    thread, events = engine
    recorder = FirstLogits()
    processors = (recorder,) + ((Script(script, prompt_len),) if script else ())
    request = Generate(
        rid, messages=messages, params=SamplingParams(temperature=0, max_tokens=max_tokens), conversation_id=conversation,
        harmony=SETTINGS, processors=processors, reuse_cache=reuse,
    )
    return Turn(run_request(thread, events, request), recorder)


def assert_matches_cold(engine, rid: str, messages, conversation: str, **kw) -> Turn:
    warm = run_turn(engine, rid, messages, conversation, **kw)
    cold = run_turn(engine, rid + "-cold", messages, conversation, reuse=False, **kw)
    assert cold.cached == 0
    assert warm.prompt_tokens == cold.prompt_tokens
    assert np.max(np.abs(warm.logits - cold.logits)) < TOLERANCE
    return warm


def test_gpt_oss_turns_past_the_window_match_a_cold_prefill(gpt_oss, enc):
    """Three chat turns, then a tool-loop step; the 128-token sliding window wraps on the way."""
    answer = "<|channel|>analysis<|message|>Thinking.<|end|><|start|>assistant<|channel|>final<|message|>Noted {}.<|return|>"
    messages: list[dict] = []
    previous_prompt: list[int] = []
    for turn in range(3):
        messages.append({"role": "user", "content": long_text(turn)})
        prompt = harmony_prompt_tokens(enc, messages, SETTINGS)
        script = enc.encode(answer.format(turn), allowed_special="all")
        result = assert_matches_cold(gpt_oss, f"g{turn}", messages, "chat", script=script, prompt_len=len(prompt), max_tokens=len(script))
        assert result.prompt_tokens == len(prompt)
        # The newest snapshot sits one token before the end of the previous prompt.
        assert result.cached == (len(previous_prompt) - 1 if previous_prompt else 0)
        assert list(result.done.token_ids) == script
        messages.append({"role": "assistant", "content": f"Noted {turn}.", "analysis": "Thinking."})
        previous_prompt = prompt
    assert len(previous_prompt) > 3 * 128

    # A tool loop: the call's raw tokens stay the history, so the next step extends the live cache.
    messages.append({"role": "user", "content": "Weather in Paris?"})
    prompt = harmony_prompt_tokens(enc, messages, SETTINGS)
    call = enc.encode(
        '<|channel|>analysis<|message|>Need weather.<|end|><|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{"city":"Paris"}<|call|>',
        allowed_special="all",
    )
    step = assert_matches_cold(gpt_oss, "g-call", messages, "chat", script=call, prompt_len=len(prompt), max_tokens=len(call))
    assert step.done.finish_reason == "tool_calls"
    (tool_call,) = [e for e in step.events if isinstance(e, ToolCall)]
    messages += [
        {"role": "assistant", "content": "", "token_ids": list(step.done.token_ids),
         "tool_calls": [{"recipient": tool_call.recipient, "arguments": tool_call.arguments, "content_type": tool_call.content_type}]},
        {"role": "tool", "name": "functions.get_weather", "content": '{"temp": 21}'},
    ]
    after = assert_matches_cold(gpt_oss, "g-result", messages, "chat")
    assert after.cached == len(prompt) + len(call)  # every token the cache held was reused
    assert after.cached / after.prompt_tokens > 0.9


def test_gpt_oss_edited_history_falls_back_to_an_older_snapshot(gpt_oss, enc):
    messages = []
    for turn in range(3):
        messages += [{"role": "user", "content": long_text(turn + 10)}]
        run_turn(gpt_oss, f"e{turn}", messages, "edit")
        messages += [{"role": "assistant", "content": f"Answer {turn}."}]
    first_turn = harmony_prompt_tokens(enc, messages[:1], SETTINGS)
    # Edit the second user message: the cache is reused up to the end of the message before it (a snapshot was
    # taken at that message boundary in turn 2), not past the edit.
    edited = messages[:2] + [{"role": "user", "content": "A different second question."}]
    edited_prompt = harmony_prompt_tokens(enc, edited, SETTINGS)
    shared = common_length(edited_prompt, harmony_prompt_tokens(enc, messages[:3], SETTINGS))
    last_end = max(i + 1 for i, token in enumerate(edited_prompt[:shared]) if token == END)
    assert len(first_turn) < last_end < shared
    result = assert_matches_cold(gpt_oss, "e-edit", edited, "edit")
    assert result.cached == last_end
    # Editing the first message leaves nothing usable past the window: a full prefill.
    rewritten = [{"role": "user", "content": "Something else entirely. " + long_text(3)}]
    result = assert_matches_cold(gpt_oss, "e-rewrite", rewritten, "edit")
    assert result.cached < len(first_turn)


def test_plain_model_turns_trim_and_match(plain):
    messages = [{"role": "user", "content": "Name three rivers in Europe."}]
    seen = []
    for turn in range(3):
        result = assert_matches_cold(plain, f"p{turn}", messages, "plain", max_tokens=10)
        seen.append(result)
        text = "".join(e.text for e in result.events if hasattr(e, "text"))
        messages = messages + [{"role": "assistant", "content": text}, {"role": "user", "content": f"And {turn + 2} more?"}]
    assert seen[0].cached == 0
    assert all(r.cached > 0.7 * r.prompt_tokens for r in seen[1:])


def test_regenerating_the_same_prompt_reuses_all_but_its_last_token(plain):
    messages = [{"role": "user", "content": "Say hello."}]
    first = run_turn(plain, "r1", messages, "regen")
    again = assert_matches_cold(plain, "r2", messages, "regen")
    # The first time, at most the chat template's own opening came from a cache (every conversation shares it).
    assert first.cached < again.cached == again.prompt_tokens - 1


def test_budget_drops_other_conversations_not_the_live_one(tiny_gpt_oss_dir, enc):
    engine = start_engine(str(tiny_gpt_oss_dir), cache_budget_bytes=0)
    try:
        a = [{"role": "user", "content": long_text(20)}]
        run_turn(engine, "a1", a, "A")
        b = [{"role": "user", "content": long_text(21)}]
        run_turn(engine, "b1", b, "B")
        # A was not live and the budget is 0: its cache is gone; only the system message B's cache shares is reused.
        a2 = run_turn(engine, "a2", a + [{"role": "assistant", "content": "x"}, {"role": "user", "content": "more"}], "A")
        a_prompt = harmony_prompt_tokens(enc, a, SETTINGS)
        shared = common_length(a_prompt, harmony_prompt_tokens(enc, b, SETTINGS))
        assert a2.cached == max(i + 1 for i, token in enumerate(a_prompt[:shared]) if token == END)  # system, developer
        # The live conversation keeps its cache and newest snapshot even with no budget.
        a3 = run_turn(engine, "a3", a + [{"role": "assistant", "content": "x"}, {"role": "user", "content": "more"}, {"role": "assistant", "content": "y"}, {"role": "user", "content": "again"}], "A")
        assert a3.cached == a2.prompt_tokens - 1
    finally:
        engine[0].shutdown()


def test_budget_keeps_other_conversations_when_they_fit(tiny_gpt_oss_dir):
    engine = start_engine(str(tiny_gpt_oss_dir), cache_budget_bytes=256 * 1024**2)
    try:
        a = [{"role": "user", "content": long_text(22)}]
        first = run_turn(engine, "a1", a, "A")
        run_turn(engine, "b1", [{"role": "user", "content": long_text(23)}], "B")
        a2 = run_turn(engine, "a2", a + [{"role": "assistant", "content": "x"}, {"role": "user", "content": "more"}], "A")
        assert a2.cached == first.prompt_tokens - 1
    finally:
        engine[0].shutdown()


def test_quantized_kv_cache_runs_and_reuses(default_model_dir):
    thread, events = start_engine(None)
    try:
        loaded = run_request(thread, events, LoadModel("kv", None, kv_bits=8))
        assert not any(isinstance(e, Error) for e in loaded)
        messages = [{"role": "user", "content": "Name a colour."}]
        first = run_turn((thread, events), "q1", messages, "q")
        text = "".join(e.text for e in first.events if hasattr(e, "text"))
        assert first.done.stats.completion_tokens > 0 and text.strip()
        second = run_turn((thread, events), "q2", messages + [{"role": "assistant", "content": text}, {"role": "user", "content": "Another?"}], "q")
        assert second.cached > 0.7 * second.prompt_tokens
    finally:
        thread.shutdown()


def test_kv_quantization_is_refused_for_gpt_oss(tiny_gpt_oss_dir):
    thread, events = start_engine(None)
    try:
        error = run_request(thread, events, LoadModel("kv", str(tiny_gpt_oss_dir), kv_bits=4))[-1]
        assert isinstance(error, Error) and error.user_error
        assert error.message.startswith("kv_bits: GPT-OSS models cannot use a quantized KV cache")
        bad = run_request(thread, events, LoadModel("kv2", None, kv_bits=5))[-1]
        assert isinstance(bad, Error) and bad.message == "kv_bits: 5 is not one of 2, 3, 4, 6, 8"
    finally:
        thread.shutdown()


def test_snapshot_is_a_copy_not_an_alias(gpt_oss, enc):
    """A snapshot taken after a one-token prefill must not change as the window layer is written in place."""
    thread, events = gpt_oss
    base = enc.encode(long_text(30, 300))

    def ids_turn(rid: str, prompt_ids: list[int], reuse: bool = True) -> Turn:
        recorder = FirstLogits()
        request = Generate(rid, prompt_ids=prompt_ids, params=SamplingParams(temperature=0, max_tokens=3),
                           conversation_id="alias", processors=(recorder,), reuse_cache=reuse)
        return Turn(run_request(thread, events, request), recorder)

    first = ids_turn("s1", base)
    held = base + list(first.done.token_ids)
    # One new token to prefill before the last: written in place into the window layer, then snapshotted.
    second = ids_turn("s2", held + [1000, 1001])
    assert second.cached == len(held)
    # Branch off right after that token: the snapshot is restored after three more in-place writes.
    third = ids_turn("s3", held + [1000, 2002])
    assert third.cached == len(held) + 1
    cold = ids_turn("s3-cold", held + [1000, 2002], reuse=False)
    assert np.max(np.abs(third.logits - cold.logits)) < TOLERANCE

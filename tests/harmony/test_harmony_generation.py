"""Harmony through the real engine: a tiny GPT-OSS model forced to emit scripted Harmony output.

A logits processor lets through only the next token of a script rendered with
openai-harmony's encoding, so the real model, generation loop, parser and
events run and the expected channels and texts are known.
"""

from __future__ import annotations

import pytest

from mlx_harmony_tui.config.sampling import SamplingParams
from mlx_harmony_tui.engine.events import Done, TextDelta, ToolCall
from mlx_harmony_tui.engine.requests import Generate
from tests.support.engine import Script, run_request, start_engine


@pytest.fixture(scope="module")
def engine(tiny_gpt_oss_dir):
    thread, events = start_engine(str(tiny_gpt_oss_dir))
    assert thread.info.is_gpt_oss
    yield thread, events
    thread.shutdown()


def run_script(engine, enc, text: str, request_id: str, messages=None):
    thread, events = engine
    messages = messages or [{"role": "user", "content": "What is the capital of France?"}]
    from mlx_harmony_tui.harmony.render import HarmonySettings, harmony_prompt_tokens

    settings = HarmonySettings(conversation_start_date="2026-11-21")  # the date the chat layer would give
    prompt_ids = harmony_prompt_tokens(enc, messages, settings)
    script = enc.encode(text, allowed_special="all")
    request = Generate(
        request_id, messages=messages, params=SamplingParams(temperature=0, max_tokens=len(script) + 5),
        processors=(Script(script, len(prompt_ids)),), conversation_id=request_id, harmony=settings,
    )
    return run_request(thread, events, request), script


def channel_text(events, channel):
    return "".join(e.text for e in events if isinstance(e, TextDelta) and e.channel == channel)


def test_analysis_then_final(engine, enc):
    events, script = run_script(
        engine, enc, "<|channel|>analysis<|message|>The user wants a capital.<|end|><|start|>assistant<|channel|>final<|message|>Paris.<|return|>", "a1"
    )
    done = events[-1]
    assert isinstance(done, Done) and done.finish_reason == "stop"
    assert channel_text(events, "analysis") == "The user wants a capital."
    assert channel_text(events, "final") == "Paris."
    assert list(done.token_ids) == script  # the raw tokens, stop token included, stay the history


def test_preamble_then_tool_call(engine, enc):
    events, _ = run_script(
        engine, enc,
        "<|channel|>commentary<|message|>Checking the weather.<|end|><|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{\"city\": \"Paris\"}<|call|>",
        "t1",
    )
    (call,) = [e for e in events if isinstance(e, ToolCall)]
    assert call.recipient == "functions.get_weather" and call.arguments == '{"city": "Paris"}'
    assert channel_text(events, "commentary") == "Checking the weather."
    assert channel_text(events, "final") == ""
    assert events[-1].finish_reason == "tool_calls"


def test_malformed_call_without_message_is_recovered(engine, enc):
    events, _ = run_script(engine, enc, "<|channel|>commentary to=python code print(6*7)<|call|>", "m1")
    (call,) = [e for e in events if isinstance(e, ToolCall)]
    assert call.recipient == "python" and call.arguments == "print(6*7)"
    assert events[-1].finish_reason == "tool_calls"


def test_headerless_output_is_final_text_and_no_markup_leaks(engine, enc):
    events, _ = run_script(engine, enc, "Paris is the capital.<|end|><|return|>", "h1")
    assert channel_text(events, "final") == "Paris is the capital."
    assert events[-1].finish_reason == "stop"
    assert not any("<|" in e.text for e in events if isinstance(e, TextDelta))

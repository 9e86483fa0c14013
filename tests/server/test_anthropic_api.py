"""Anthropic's Messages API through the official client: text, thinking, tool_use round trips, streaming, errors.

The tiny GPT-OSS model is forced to scripted Harmony answers (see
test_tools.py); the default model answers freely where only text matters.
"""

from __future__ import annotations

import json

import anthropic
import httpx
import jsonschema
import pytest

from mlx_harmony_tui.server.app import create_app
from mlx_harmony_tui.server.catalog import ModelCatalog
from tests.server.conftest import API_KEY, DEFAULT_MODEL, FRANCE, running
from tests.server.test_tools import ANSWER, CALL, Scripted

MODEL = "tiny-gpt-oss"
WEATHER = {"name": "get_weather", "description": "Current weather in a city.",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
ASK = [{"role": "user", "content": "What is the weather in Paris?"}]
THOUGHT = "I should call the weather tool."
THINKING = {"type": "enabled", "budget_tokens": 2048}


@pytest.fixture(scope="module")
def scripted(enc):
    return Scripted(enc)


@pytest.fixture(scope="module")
def tiny(tiny_gpt_oss_dir, scripted):
    app = create_app(ModelCatalog.from_flags(model=str(tiny_gpt_oss_dir)), logits_processors=scripted.processors, api_key=API_KEY)
    app.state.slot.preload(str(tiny_gpt_oss_dir))
    with running(app, API_KEY) as live:
        yield live


def client(live, **options) -> anthropic.Anthropic:
    """The official client, sending the key as x-api-key; no retries."""
    return anthropic.Anthropic(**{"base_url": live.url, "api_key": API_KEY, "max_retries": 0, **options})


def test_create_returns_thinking_and_text(tiny, scripted):
    scripted.set(ANSWER)
    message = client(tiny).messages.create(model=MODEL, max_tokens=80, messages=ASK, system="Be brief.", thinking=THINKING)
    thinking, text = message.content
    assert thinking.type == "thinking" and thinking.thinking == "The tool says sunny." and thinking.signature
    assert text.type == "text" and text.text == "It is sunny in Paris."
    assert message.stop_reason == "end_turn" and message.role == "assistant" and message.id.startswith("msg_")
    assert message.usage.input_tokens + message.usage.cache_read_input_tokens > 0 and message.usage.output_tokens > 0
    assert "# Instructions\n\nBe brief." in scripted.last_prompt and "Reasoning: low" in scripted.last_prompt
    plain = client(tiny).messages.create(model=MODEL, max_tokens=80, messages=ASK)  # thinking not asked for: not shown
    assert [block.type for block in plain.content] == ["text"] and plain.content[0].text == "It is sunny in Paris."


def test_tool_use_round_trip_keeps_the_thinking_in_the_loop(tiny, scripted):
    api = client(tiny)
    scripted.set(CALL)
    first = api.messages.create(model=MODEL, max_tokens=80, messages=ASK, tools=[WEATHER], thinking=THINKING)
    assert first.stop_reason == "tool_use"
    thinking, use = first.content
    assert thinking.thinking == THOUGHT
    assert use.type == "tool_use" and use.name == "get_weather" and use.input == {"city": "Paris"} and use.id.startswith("toolu_")
    scripted.set(ANSWER)
    follow_up = ASK + [{"role": "assistant", "content": first.content},
                       {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": '{"sky": "sunny"}'}]}]
    second = api.messages.create(model=MODEL, max_tokens=80, messages=follow_up, tools=[WEATHER], thinking=THINKING)
    assert second.content[-1].text == "It is sunny in Paris." and second.stop_reason == "end_turn"
    prompt = scripted.last_prompt
    assert f"<|channel|>analysis<|message|>{THOUGHT}<|end|>" in prompt  # the thinking block, rendered as the analysis
    assert '<|start|>functions.get_weather to=assistant<|channel|>commentary<|message|>{"sky": "sunny"}<|end|>' in prompt
    assert second.usage.cache_read_input_tokens > 0


def test_omitted_thinking_travels_in_the_signature(tiny, scripted):
    api = client(tiny)
    scripted.set(CALL)
    first = api.messages.create(model=MODEL, max_tokens=80, messages=ASK, tools=[WEATHER],
                                thinking={"type": "adaptive", "display": "omitted"}, output_config={"effort": "max"})
    thinking, use = first.content
    assert thinking.thinking == "" and thinking.signature and THOUGHT not in str(first.to_dict())
    assert "Reasoning: high" in scripted.last_prompt
    scripted.set(ANSWER)
    follow_up = ASK + [{"role": "assistant", "content": first.content},
                       {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "sunny"}]}]
    api.messages.create(model=MODEL, max_tokens=80, messages=follow_up, tools=[WEATHER])
    assert f"<|channel|>analysis<|message|>{THOUGHT}<|end|>" in scripted.last_prompt


def test_stream_sends_thinking_text_and_the_stop(tiny, scripted):
    scripted.set(ANSWER)
    with client(tiny).messages.stream(model=MODEL, max_tokens=80, messages=ASK, thinking=THINKING) as stream:
        events = list(stream)
        final = stream.get_final_message()
    kinds = [e.type for e in events]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    start = events[0].message.usage  # sent once the prompt is read
    assert start.input_tokens + start.cache_read_input_tokens == final.usage.input_tokens + final.usage.cache_read_input_tokens > 0
    deltas = [e.delta for e in events if e.type == "content_block_delta"]
    thinking = [d.thinking for d in deltas if d.type == "thinking_delta"]
    text = [d.text for d in deltas if d.type == "text_delta"]
    assert len(thinking) > 1 and "".join(thinking) == "The tool says sunny."
    assert len(text) > 1 and "".join(text) == "It is sunny in Paris."
    assert any(d.type == "signature_delta" for d in deltas)
    assert kinds.count("content_block_start") == kinds.count("content_block_stop") == 2
    assert final.stop_reason == "end_turn" and final.content[1].text == "It is sunny in Paris."
    assert final.usage.output_tokens > 0


def test_streamed_tool_use(tiny, scripted):
    scripted.set(CALL)
    with client(tiny).messages.stream(model=MODEL, max_tokens=80, messages=ASK, tools=[WEATHER],
                                      tool_choice={"type": "any"}) as stream:
        events = list(stream)
        final = stream.get_final_message()
    assert any(e.type == "content_block_delta" and e.delta.type == "input_json_delta" for e in events)
    assert [b.type for b in final.content] == ["tool_use"] and final.content[0].input == {"city": "Paris"}
    assert final.stop_reason == "tool_use"


def test_stop_sequences_and_bearer_auth_on_the_default_model(server):
    api = anthropic.Anthropic(base_url=server.url, auth_token=API_KEY, api_key=None, max_retries=0)
    message = api.messages.create(model=DEFAULT_MODEL, max_tokens=12, messages=FRANCE, stop_sequences=["France"],
                                  extra_body={"temperature": 0.0})
    assert message.stop_reason == "stop_sequence" and message.stop_sequence == "France"
    assert message.content[0].text == "The capital of "
    with pytest.raises(anthropic.BadRequestError) as caught:  # the default model does not reason
        api.messages.create(model=DEFAULT_MODEL, max_tokens=2, messages=FRANCE, thinking=THINKING)
    assert caught.value.body["error"]["message"].startswith("thinking: ") and "GPT-OSS" in caught.value.body["error"]["message"]


def error_of(response: httpx.Response) -> dict:
    body = response.json()
    assert set(body) == {"type", "error"} and body["type"] == "error" and set(body["error"]) == {"type", "message"}
    return body["error"]


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"max_tokens": None}, "max_tokens: "),
        ({"messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "base64", "data": "AA=="}}]}]},
         "messages[0].content[0].type: images are not supported"),
        ({"tools": [{"type": "web_search_20250305", "name": "web_search"}]}, "tools[0].type: 'web_search_20250305' is a server tool"),
        ({"messages": [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_9", "content": "1"}]}]},
         "messages[0].content[0].tool_use_id: 'toolu_9' matches no function call"),
        ({"tool_choice": {"type": "tool", "name": "get_time"}, "tools": [WEATHER]}, "tool_choice.name: 'get_time' is not one"),
        ({"thinking": {"type": "enabled"}}, "thinking.budget_tokens: must be"),
        ({"mcp_servers": []}, "mcp_servers: not supported"),
        ({"output_config": {"format": {"type": "json_schema", "schema": {"type": "array", "uniqueItems": True}}}},
         "output_config.format.schema: the schema cannot be enforced"),
    ],
)
def test_unsupported_or_malformed_requests_are_400_in_anthropics_shape(tiny, changes, words):
    body = {"model": MODEL, "max_tokens": 20, "messages": ASK, **changes}
    body = {k: v for k, v in body.items() if v is not None}
    response = httpx.post(tiny.url + "/v1/messages", json=body, headers={"x-api-key": API_KEY, "anthropic-version": "2023-06-01"},
                          timeout=60)
    assert response.status_code == 400, response.text
    error = error_of(response)
    assert error["type"] == "invalid_request_error" and error["message"].startswith(words), error


def test_output_format_constrains_the_text_and_leaves_the_thinking_free(tiny, scripted):
    mood = {"type": "object", "additionalProperties": False, "required": ["mood"], "properties": {"mood": {"enum": ["calm", "stormy"]}}}
    scripted.set("<|channel|>analysis<|message|>A draft: {mood: calm, oops<|end|><|start|>assistant<|channel|>final<|message|>",
                 then_free=True)
    message = client(tiny).messages.create(model=MODEL, max_tokens=120, messages=ASK, thinking=THINKING,
                                           output_config={"format": {"type": "json_schema", "schema": mood}})
    thinking, text = message.content
    assert thinking.type == "thinking" and thinking.thinking == "A draft: {mood: calm, oops"
    assert text.type == "text" and message.stop_reason == "end_turn"
    jsonschema.validate(json.loads(text.text), mood)


def test_auth_and_unknown_model_errors_in_anthropics_shape(tiny):
    with pytest.raises(anthropic.AuthenticationError) as caught:
        client(tiny, api_key="wrong").messages.create(model=MODEL, max_tokens=5, messages=ASK)
    assert caught.value.status_code == 401 and caught.value.body["error"]["type"] == "authentication_error"
    with pytest.raises(anthropic.NotFoundError) as caught:
        client(tiny).messages.create(model="claude-not-here", max_tokens=5, messages=ASK)
    assert caught.value.body["error"]["type"] == "not_found_error" and "claude-not-here" in caught.value.body["error"]["message"]
    with pytest.raises(anthropic.BadRequestError) as caught:
        client(tiny).messages.create(model=MODEL, max_tokens=5, messages=[])
    assert caught.value.body["error"]["message"].startswith("messages:")

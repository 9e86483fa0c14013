"""OpenAI's Responses API through the official client: text, reasoning, function tools, streaming, stored responses.

The tiny GPT-OSS model is forced to scripted Harmony answers (see
test_tools.py), so the real engine, Harmony parser and server run and the
prompt the model read can be checked: a reasoning item sent back within a
tool loop is rendered as the analysis, and dropped after the final answer.
"""

from __future__ import annotations

import json

import httpx
import jsonschema
import openai
import pytest

from mlx_harmony_tui.server.app import create_app
from mlx_harmony_tui.server.catalog import ModelCatalog
from mlx_harmony_tui.server.openai_responses.store import ResponseStore
from tests.server.conftest import DEFAULT_MODEL, FRANCE, running
from tests.server.test_tools import ANSWER, CALL, Scripted

MODEL = "tiny-gpt-oss"
WEATHER = {"type": "function", "name": "get_weather", "description": "Current weather in a city.",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
ASK = "What is the weather in Paris?"
THOUGHT = "I should call the weather tool."
MOOD = {"type": "object", "additionalProperties": False, "required": ["mood", "level"],
        "properties": {"mood": {"enum": ["calm", "stormy"]}, "level": {"type": "integer", "minimum": 0, "maximum": 9}}}
MOOD_THINK = "<|channel|>analysis<|message|>A draft: {mood: calm, oops<|end|>"
MOOD_FINAL = MOOD_THINK + "<|start|>assistant<|channel|>final<|message|>"
MOOD_CALL = MOOD_THINK + "<|start|>assistant<|channel|>commentary to=functions.set_mood <|constrain|>json<|message|>"


@pytest.fixture(scope="module")
def scripted(enc):
    return Scripted(enc)


@pytest.fixture(scope="module")
def tiny(tiny_gpt_oss_dir, scripted, tmp_path_factory):
    store = ResponseStore(tmp_path_factory.mktemp("responses"), max_count=6)
    app = create_app(ModelCatalog.from_flags(model=str(tiny_gpt_oss_dir)), logits_processors=scripted.processors,
                     responses_store=store)
    app.state.slot.preload(str(tiny_gpt_oss_dir))
    with running(app) as live:
        yield live


def test_create_returns_reasoning_and_message_and_is_stored(tiny, scripted):
    scripted.set(ANSWER)
    client = tiny.client()
    response = client.responses.create(model=MODEL, input=ASK, instructions="Be brief.", max_output_tokens=80,
                                       reasoning={"effort": "high"})
    assert response.status == "completed" and response.id.startswith("resp_")
    reasoning, message = response.output
    assert reasoning.type == "reasoning" and reasoning.content[0].text == "The tool says sunny."
    assert message.type == "message" and message.content[0].text == "It is sunny in Paris."
    assert response.output_text == "It is sunny in Paris."
    assert response.usage.input_tokens > 0 and response.usage.output_tokens > 0
    assert 0 < response.usage.output_tokens_details.reasoning_tokens < response.usage.output_tokens
    assert "Reasoning: high" in scripted.last_prompt and "# Instructions\n\nBe brief." in scripted.last_prompt
    again = client.responses.retrieve(response.id)
    assert again.output_text == "It is sunny in Paris." and again.usage.input_tokens == response.usage.input_tokens
    client.responses.delete(response.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(response.id)


def test_tool_loop_keeps_the_analysis_until_the_final_answer(tiny, scripted):
    client = tiny.client()
    scripted.set(CALL)
    first = client.responses.create(model=MODEL, input=ASK, tools=[WEATHER], max_output_tokens=80)
    reasoning, call = first.output
    assert reasoning.content[0].text == THOUGHT
    assert call.type == "function_call" and call.name == "get_weather" and json.loads(call.arguments) == {"city": "Paris"}
    scripted.set(ANSWER)
    output = {"type": "function_call_output", "call_id": call.call_id, "output": '{"sky": "sunny"}'}
    second = client.responses.create(model=MODEL, previous_response_id=first.id, input=[output], tools=[WEATHER],
                                     max_output_tokens=80)
    assert second.output_text == "It is sunny in Paris."
    prompt = scripted.last_prompt
    assert f"<|channel|>analysis<|message|>{THOUGHT}<|end|>" in prompt  # the reasoning item, rendered as the analysis
    assert '<|start|>functions.get_weather to=assistant<|channel|>commentary<|message|>{"sky": "sunny"}<|end|>' in prompt
    assert second.usage.input_tokens_details.cached_tokens > 0  # the first step's prompt, analysis included, was reused
    # The same loop with the client keeping the context itself.
    manual = client.responses.create(model=MODEL, input=[{"role": "user", "content": ASK}, *first.output, output],
                                     tools=[WEATHER], max_output_tokens=80, store=False)
    assert manual.output_text == "It is sunny in Paris." and scripted.last_prompt == prompt
    # After the final answer, the next turn no longer carries that turn's analysis.
    client.responses.create(model=MODEL, previous_response_id=second.id, input="And tomorrow?", max_output_tokens=80)
    assert THOUGHT not in scripted.last_prompt and "It is sunny in Paris." in scripted.last_prompt
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(manual.id)  # store=False keeps nothing


def test_stream_sends_the_documented_events(tiny, scripted):
    scripted.set(ANSWER)
    with tiny.client().responses.stream(model=MODEL, input=ASK, max_output_tokens=80) as stream:
        events = list(stream)
        final = stream.get_final_response()
    kinds = [e.type for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"] and kinds[-1] == "response.completed"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert kinds.count("response.output_item.added") == kinds.count("response.output_item.done") == 2
    reasoning = [e.delta for e in events if e.type == "response.reasoning_text.delta"]
    text = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert len(reasoning) > 1 and "".join(reasoning) == "The tool says sunny."
    assert len(text) > 1 and "".join(text) == "It is sunny in Paris."
    assert kinds.index("response.content_part.added") < kinds.index("response.reasoning_text.delta")
    assert final.output_text == "It is sunny in Paris." and final.usage.output_tokens > 0


def test_streamed_function_call(tiny, scripted):
    scripted.set(CALL)
    with tiny.client().responses.stream(model=MODEL, input=ASK, tools=[WEATHER], tool_choice="auto",
                                        max_output_tokens=80) as stream:
        events = list(stream)
        final = stream.get_final_response()
    done = [e for e in events if e.type == "response.function_call_arguments.done"]
    assert len(done) == 1 and json.loads(done[0].arguments) == {"city": "Paris"}
    assert "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta") == done[0].arguments
    assert [item.type for item in final.output] == ["reasoning", "function_call"]


def test_running_out_of_tokens_is_incomplete(tiny, scripted):
    scripted.set(ANSWER)
    response = tiny.client().responses.create(model=MODEL, input=ASK, max_output_tokens=5)
    assert response.status == "incomplete" and response.incomplete_details.reason == "max_output_tokens"


@pytest.mark.parametrize(
    ("changes", "param", "words"),
    [
        ({"tools": [{"type": "web_search"}]}, "tools[0].type", "'web_search' tools are not supported"),
        ({"tools": [{"type": "file_search", "vector_store_ids": ["vs_1"]}]}, "tools[0].type", "hosted tools"),
        ({"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "data:image/png;base64,AA=="}]}]},
         "input[0].content[0].type", "images are not supported"),
        ({"input": [{"type": "computer_call", "call_id": "c1"}]}, "input[0].type", "'computer_call' items are not supported"),
        ({"input": [{"type": "function_call_output", "call_id": "call_x", "output": "1"}]}, "input[0].call_id",
         "matches no function call"),
        ({"text": {"format": {"type": "json_schema", "name": "w", "schema": {"type": "array", "uniqueItems": True}}}},
         "text.format.schema", "cannot be enforced"),
        ({"text": {"format": {"type": "xml"}}}, "text.format.type", "'xml' is not one of"),
        ({"tool_choice": {"type": "function", "name": "get_time"}, "tools": [WEATHER]}, "tool_choice.name", "not one of the tools"),
        ({"previous_response_id": "resp_missing"}, "previous_response_id", "no stored response"),
        ({"input": ""}, "input", "must not be empty"),
        ({"reasoning": {"effort": "extreme"}}, "reasoning.effort", ""),
        ({"top_logprobs": 2}, "top_logprobs", "not supported"),
    ],
)
def test_unsupported_or_malformed_requests_are_400_naming_the_field(tiny, changes, param, words):
    response = httpx.post(tiny.url + "/v1/responses", json={"model": MODEL, "input": ASK, **changes}, timeout=60)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == param and error["message"].startswith(param) and words in error["message"]


def test_text_format_text_is_accepted_and_unknown_ids_are_404(tiny, scripted):
    scripted.set(ANSWER)
    client = tiny.client()
    response = client.responses.create(model=MODEL, input=ASK, max_output_tokens=80, text={"format": {"type": "text"}})
    assert response.output_text == "It is sunny in Paris."
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve("resp_0123456789abcdef")
    assert httpx.get(tiny.url + "/v1/responses/..%2F..%2Fetc", timeout=30).status_code == 404


def test_text_format_json_schema_constrains_the_final_answer_not_the_reasoning(tiny, scripted):
    scripted.set(MOOD_FINAL, then_free=True)
    fmt = {"type": "json_schema", "name": "sea", "schema": MOOD, "strict": True}
    with tiny.client().responses.stream(model=MODEL, input="How is the sea? Answer in JSON.", max_output_tokens=120,
                                        temperature=0, text={"format": fmt}) as stream:
        response = stream.get_final_response()
    reasoning, message = response.output
    assert reasoning.content[0].text == "A draft: {mood: calm, oops"  # not JSON: the analysis stays free
    jsonschema.validate(json.loads(response.output_text), MOOD)
    assert "# Response Formats\n\n## sea\n\n" in scripted.last_prompt


def test_strict_function_tool_arguments_follow_their_schema(tiny, scripted):
    scripted.set(MOOD_CALL, then_free=True)
    tool = {"type": "function", "name": "set_mood", "description": "Set the mood.", "parameters": MOOD, "strict": True}
    response = tiny.client().responses.create(model=MODEL, input="Set the mood.", tools=[tool], max_output_tokens=120,
                                              temperature=0)
    call = response.output[-1]
    assert call.type == "function_call" and call.name == "set_mood"
    jsonschema.validate(json.loads(call.arguments), MOOD)


def test_store_keeps_the_newest_within_its_bounds(tmp_path):
    store = ResponseStore(tmp_path, max_count=2, max_bytes=6_000)
    for n in range(3):
        store.save({"id": f"resp_{n}", "output": []}, [{"role": "user", "content": "x" * 100}])
    assert store.load("resp_0") is None and store.load("resp_2")["response"]["id"] == "resp_2"
    store.save({"id": "resp_big", "output": []}, [{"role": "user", "content": "y" * 5_900}])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["resp_big.json"]  # over the byte budget: older ones go, no temp files


def test_default_model_answers_as_chat_completions_do(server, greedy_reference):
    client = server.client()
    response = client.responses.create(model=DEFAULT_MODEL, input=FRANCE[0]["content"], max_output_tokens=6, temperature=0)
    assert response.output_text == greedy_reference and [item.type for item in response.output] == ["message"]
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model=DEFAULT_MODEL, input="Hi", max_output_tokens=2, reasoning={"effort": "high"})
    assert caught.value.body["param"] == "reasoning.effort" and "GPT-OSS" in caught.value.body["message"]

"""Structured output through the server: ``response_format`` and strict function schemas, checked with jsonschema.

The default model answers twenty prompts against five schemas, all at once
(continuous batching), half streamed; the tiny GPT-OSS model is forced
through a scripted analysis and header, then left to the schema: its
reasoning passes through untouched and its final answer (or a strict call's
arguments) validates. Schemas the library cannot enforce are 400s naming
the field and the construct.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import jsonschema
import pytest

from mlx_harmony_tui.server.app import create_app
from mlx_harmony_tui.server.catalog import ModelCatalog
from tests.server.conftest import DEFAULT_MODEL, FRANCE, running
from tests.server.test_tools import Scripted
from tests.support.schemas import CASES, SENTIMENT, WEATHER


def response_format(schema: dict, name: str = "answer") -> dict:
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}}


@pytest.fixture(scope="module")
def wide(server_generator, default_catalog):
    """The default model with room for twenty generations at once."""
    with running(create_app(default_catalog, generator=server_generator, max_concurrency=20, max_queue=20)) as live:
        yield live


def _ask(live, i: int, stream: bool) -> tuple[str, str]:
    schema, prompt = CASES[i]
    client = live.client()
    options = dict(model=DEFAULT_MODEL, messages=[{"role": "user", "content": prompt}], max_tokens=120,
                   response_format=response_format(schema), temperature=0.0 if i % 2 else 0.8, seed=i)
    if not stream:
        choice = client.chat.completions.create(**options).choices[0]
        return choice.message.content, choice.finish_reason
    chunks = list(client.chat.completions.create(stream=True, **options))
    return "".join(c.choices[0].delta.content or "" for c in chunks), chunks[-1].choices[0].finish_reason


def test_twenty_prompts_against_five_schemas_all_validate(wide):
    # One prompt per schema first, streamed: the other fifteen then reuse their prompts' openings.
    first = list(range(0, len(CASES), 4))  # CASES holds four prompts per schema, in a row
    rest = [i for i in range(len(CASES)) if i not in first]
    with ThreadPoolExecutor(len(CASES)) as pool:
        answers = dict(zip(first, pool.map(lambda i: _ask(wide, i, True), first)))
        answers.update(zip(rest, pool.map(lambda i: _ask(wide, i, False), rest)))
    for i, (schema, prompt) in enumerate(CASES):
        text, finish = answers[i]
        assert finish == "stop", (prompt, text)
        jsonschema.validate(json.loads(text), schema)


def test_json_object_mode_gives_a_json_object(wide):
    reply = wide.client().chat.completions.create(
        model=DEFAULT_MODEL, messages=FRANCE, max_tokens=60, temperature=0.0, response_format={"type": "json_object"})
    assert reply.choices[0].finish_reason == "stop"
    assert isinstance(json.loads(reply.choices[0].message.content), dict)


def assert_cut_short(choice) -> None:
    """The answer ran out of tokens inside its JSON: it says so, and the text is the unfinished JSON."""
    assert choice.finish_reason == "length"
    assert choice.message.content.startswith('{"')
    with pytest.raises(json.JSONDecodeError):
        json.loads(choice.message.content)


def test_running_out_of_tokens_inside_the_json_says_length(wide):
    reply = wide.client().chat.completions.create(
        model=DEFAULT_MODEL, messages=[{"role": "user", "content": CASES[16][1]}], max_tokens=4, temperature=0.0,
        response_format=response_format(WEATHER))
    assert_cut_short(reply.choices[0])


@pytest.mark.parametrize(
    ("changes", "param", "words"),
    [
        ({"response_format": response_format({"type": "array", "items": {"type": "integer"}, "uniqueItems": True})},
         "response_format.json_schema.schema", 'Unimplemented keys: ["uniqueItems"]'),
        ({"response_format": response_format({"type": "string", "pattern": "(?<=a)b"})},
         "response_format.json_schema.schema", "look-around"),
        ({"response_format": response_format({"type": "integer", "minimum": 5, "maximum": 1})},
         "response_format.json_schema.schema", "minimum (5) is greater than maximum (1)"),
        ({"response_format": {"type": "json_schema", "json_schema": {"name": "x"}}}, "response_format.json_schema.schema", "required"),
        ({"response_format": {"type": "xml"}}, "response_format.type", "'xml' is not one of"),
        ({"response_format": "json"}, "response_format", "must be an object"),
        ({"tools": [{"type": "function", "function": {"name": "f", "strict": True,
                                                      "parameters": {"type": "object", "not": {"required": ["a"]}}}}]},
         "tools[0].function.parameters", 'Unimplemented keys: ["not"]'),
    ],
)
def test_schemas_that_cannot_be_enforced_are_400_naming_the_construct(wide, changes, param, words):
    body = {"model": DEFAULT_MODEL, "messages": FRANCE, **changes}
    response = httpx.post(wide.url + "/v1/chat/completions", json=body, timeout=60)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == param and words in error["message"], error
    assert "\n" not in error["message"]


# --- GPT-OSS: the analysis stays free, the final answer and strict calls follow their schemas -----------------------

THINK = "<|channel|>analysis<|message|>The user wants JSON. A draft: {mood: calm, oops<|end|>"
FINAL = THINK + "<|start|>assistant<|channel|>final<|message|>"
CALL = THINK + "<|start|>assistant<|channel|>commentary to=functions.set_mood <|constrain|>json<|message|>"
MOOD = {
    "type": "object",
    "properties": {"mood": {"enum": ["calm", "stormy"]}, "level": {"type": "integer", "minimum": 0, "maximum": 9},
                   "sunny": {"type": "boolean"}},
    "required": ["mood", "level", "sunny"],
    "additionalProperties": False,
}
SET_MOOD = {"type": "function", "function": {"name": "set_mood", "parameters": MOOD, "strict": True}}
ASK = [{"role": "user", "content": "How is the sea today? Answer in JSON."}]


@pytest.fixture(scope="module")
def scripted(enc):
    return Scripted(enc)


@pytest.fixture(scope="module")
def tiny(tiny_gpt_oss_dir, scripted):
    app = create_app(ModelCatalog.for_model(str(tiny_gpt_oss_dir)), logits_processors=scripted.processors)
    app.state.slot.preload(str(tiny_gpt_oss_dir))
    with running(app) as live:
        yield live


def test_gpt_oss_thinks_freely_then_its_final_answer_follows_the_schema(tiny, scripted):
    scripted.set(FINAL, then_free=True)
    chunks = list(tiny.client().chat.completions.create(
        model="tiny-gpt-oss", messages=ASK, max_tokens=120, temperature=0, response_format=response_format(MOOD, "sea"),
        stream=True))
    deltas = [c.choices[0].delta for c in chunks]
    # The scripted analysis (not JSON) went through untouched: the schema does not reach the analysis channel.
    assert "".join(getattr(d, "reasoning_content", None) or "" for d in deltas) == "The user wants JSON. A draft: {mood: calm, oops"
    assert chunks[-1].choices[0].finish_reason == "stop"
    jsonschema.validate(json.loads("".join(d.content or "" for d in deltas)), MOOD)
    # The schema was declared where Harmony expects it.
    assert "# Response Formats\n\n## sea\n\n" + json.dumps(MOOD, separators=(",", ":")) in scripted.last_prompt


def test_gpt_oss_strict_function_arguments_follow_their_schema(tiny, scripted):
    scripted.set(CALL, then_free=True)
    reply = tiny.client().chat.completions.create(model="tiny-gpt-oss", messages=ASK, tools=[SET_MOOD], max_tokens=120,
                                                  temperature=0)
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls
    assert call.function.name == "set_mood"
    jsonschema.validate(json.loads(call.function.arguments), MOOD)


def test_gpt_oss_final_answer_cut_short_says_length(tiny, scripted):
    scripted.set(FINAL, then_free=True)
    forced = len(scripted.tokens)
    reply = tiny.client().chat.completions.create(model="tiny-gpt-oss", messages=ASK, max_tokens=forced + 3, temperature=0,
                                                  response_format=response_format(SENTIMENT))
    assert_cut_short(reply.choices[0])

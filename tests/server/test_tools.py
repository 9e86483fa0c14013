"""GPT-OSS through the server: function calls, tool results, reasoning, effort, and profile switching.

The tiny GPT-OSS model is forced token by token to emit a scripted Harmony
answer (a logits processor given to the app factory), so the real engine,
Harmony parser and server run, and what the client must receive is known.
The same processor records every prompt the model saw.
"""

from __future__ import annotations

import json

import openai
import pytest

from mlx_harmony_tui.server.app import create_app
from mlx_harmony_tui.server.catalog import ModelCatalog
from tests.server.conftest import DEFAULT_MODEL, running
from tests.support.engine import Script

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
TIME = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}}
ANALYSIS_TOKEN = 35644  # "analysis" in a Harmony header: biased away so the random model picks the call
ASK = [{"role": "user", "content": "What is the weather in Paris?"}]
CALL = ("<|channel|>analysis<|message|>I should call the weather tool.<|end|><|start|>assistant<|channel|>commentary "
        'to=functions.get_weather <|constrain|>json<|message|>{"city": "Paris"}<|call|>')
ANSWER = "<|channel|>analysis<|message|>The tool says sunny.<|end|><|start|>assistant<|channel|>final<|message|>It is sunny in Paris.<|return|>"


class Scripted:
    """Every generation is forced to the current script; the prompts it started from are kept."""

    def __init__(self, enc):
        self.enc = enc
        self.tokens: list[int] = []
        self.prompts: list[str] = []
        self.then_free = False  # after the script, let the model choose

    def set(self, text: str, then_free: bool = False) -> None:
        self.tokens = self.enc.encode(text, allowed_special="all")
        self.then_free = then_free

    def processors(self) -> tuple:
        return (_Step(self),) if self.tokens else ()

    @property
    def last_prompt(self) -> str:
        return self.prompts[-1]


class _Step:
    def __init__(self, scripted: Scripted):
        self._scripted, self._script = scripted, None

    def __call__(self, history, logits):
        if self._script is None:  # the first call sees exactly the prompt
            self._scripted.prompts.append(self._scripted.enc.decode(history))
            self._script = Script(self._scripted.tokens, len(history))
        if self._scripted.then_free and len(history) - self._script.prompt_len >= len(self._script.tokens):
            return logits
        return self._script(history, logits)


@pytest.fixture(scope="module")
def scripted(enc):
    return Scripted(enc)


@pytest.fixture(scope="module")
def tiny(tiny_gpt_oss_dir, default_model_dir, scripted, tmp_path_factory):
    profiles = tmp_path_factory.mktemp("profiles") / "profiles.json"
    not_a_model = profiles.parent / "not-a-model"
    not_a_model.mkdir()
    profiles.write_text(json.dumps({"smol": {"sampling": {"temperature": 0.0}}, "tiny-low": {"model": str(tiny_gpt_oss_dir)},
                                    "broken": {"model": str(not_a_model)}}))
    catalog = ModelCatalog.from_flags(model=str(tiny_gpt_oss_dir), profiles_file=str(profiles))
    app = create_app(catalog, logits_processors=scripted.processors)
    app.state.slot.preload(str(tiny_gpt_oss_dir))
    with running(app) as live:
        yield live


def test_models_lists_the_model_and_the_profiles(tiny):
    assert [m.id for m in tiny.client().models.list().data] == ["tiny-gpt-oss", "smol", "tiny-low", "broken"]


def test_function_call_comes_back_as_tool_calls(tiny, scripted):
    scripted.set(CALL)
    reply = tiny.client().chat.completions.create(model="tiny-gpt-oss", messages=ASK, tools=[WEATHER], max_tokens=80)
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls
    assert call.type == "function" and call.id.startswith("call_")
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Paris"}
    assert choice.message.content is None
    assert choice.message.reasoning_content == "I should call the weather tool."
    # The function was described to the model in Harmony's developer message.
    assert "namespace functions" in scripted.last_prompt and "type get_weather" in scripted.last_prompt


def test_tool_result_goes_back_to_the_model_and_it_answers(tiny, scripted):
    client = tiny.client()
    scripted.set(CALL)
    first = client.chat.completions.create(model="tiny-gpt-oss", messages=ASK, tools=[WEATHER], max_tokens=80)
    call = first.choices[0].message.tool_calls[0]
    scripted.set(ANSWER)
    follow_up = ASK + [first.choices[0].message, {"role": "tool", "tool_call_id": call.id, "content": '{"sky": "sunny"}'}]
    second = client.chat.completions.create(model="tiny-gpt-oss", messages=follow_up, tools=[WEATHER], max_tokens=80)
    assert second.choices[0].message.content == "It is sunny in Paris."
    assert second.choices[0].message.reasoning_content == "The tool says sunny."
    assert second.choices[0].finish_reason == "stop"
    prompt = scripted.last_prompt
    assert 'to=functions.get_weather<|channel|>commentary <|constrain|>json<|message|>{"city": "Paris"}<|call|>' in prompt
    assert '<|start|>functions.get_weather to=assistant<|channel|>commentary<|message|>{"sky": "sunny"}<|end|>' in prompt
    assert second.usage.prompt_tokens_details.cached_tokens > 0  # the first step's prompt was reused


def test_streamed_tool_call_and_reasoning(tiny, scripted):
    scripted.set(CALL)
    chunks = list(tiny.client().chat.completions.create(model="tiny-gpt-oss", messages=ASK, tools=[WEATHER], max_tokens=80,
                                                        stream=True))
    deltas = [c.choices[0].delta for c in chunks]
    reasoning = [d.reasoning_content for d in deltas if getattr(d, "reasoning_content", None)]
    assert len(reasoning) > 1 and "".join(reasoning) == "I should call the weather tool."
    calls = [call for d in deltas for call in (d.tool_calls or [])]
    assert len(calls) == 1 and calls[0].index == 0 and calls[0].function.name == "get_weather"
    assert json.loads(calls[0].function.arguments) == {"city": "Paris"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    assert not any(d.content for d in deltas)


def test_tool_choice_none_hides_the_functions(tiny, scripted):
    scripted.set(ANSWER)
    reply = tiny.client().chat.completions.create(model="tiny-gpt-oss", messages=ASK, tools=[WEATHER], tool_choice="none",
                                                  max_tokens=80)
    assert reply.choices[0].message.content == "It is sunny in Paris."
    assert "get_weather" not in scripted.last_prompt


def test_named_tool_choice_forces_a_call_to_that_function(tiny, scripted):
    scripted.tokens = []  # the random-weight model chooses freely within the constraint
    reply = tiny.client().chat.completions.create(
        model="tiny-gpt-oss", messages=ASK, tools=[WEATHER, TIME], max_tokens=24, temperature=0,
        tool_choice={"type": "function", "function": {"name": "get_time"}}, logit_bias={str(ANALYSIS_TOKEN): -100},
    )
    (call,) = reply.choices[0].message.tool_calls
    assert call.function.name == "get_time"
    assert reply.choices[0].message.content is None


def test_required_tool_choice_lets_the_model_think_first(tiny, scripted):
    scripted.set("<|channel|>analysis<|message|>Which tool fits?<|end|>", then_free=True)
    chunks = list(tiny.client().chat.completions.create(
        model="tiny-gpt-oss", messages=ASK, tools=[WEATHER, TIME], max_tokens=40, temperature=0, tool_choice="required",
        logit_bias={str(ANALYSIS_TOKEN): -100}, stream=True,
    ))
    deltas = [c.choices[0].delta for c in chunks]
    assert "".join(getattr(d, "reasoning_content", None) or "" for d in deltas) == "Which tool fits?"
    calls = [call for d in deltas for call in (d.tool_calls or [])]
    assert len(calls) == 1 and calls[0].function.name in ("get_weather", "get_time")


@pytest.mark.parametrize(
    ("choice", "tools", "param"),
    [
        ({"type": "function", "function": {"name": "get_time"}}, [WEATHER], "tool_choice.function.name"),
        ("required", None, "tool_choice"),
        ("sometimes", [WEATHER], "tool_choice"),
    ],
)
def test_tool_choice_mistakes_are_400(tiny, choice, tools, param):
    import httpx

    body = {"model": "tiny-gpt-oss", "messages": ASK, "tool_choice": choice, **({"tools": tools} if tools else {})}
    response = httpx.post(tiny.url + "/v1/chat/completions", json=body, timeout=60)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param


def test_reasoning_effort_reaches_the_system_message(tiny, scripted):
    client = tiny.client()
    scripted.set(ANSWER)
    client.chat.completions.create(model="tiny-gpt-oss", messages=ASK, max_tokens=60, reasoning_effort="high")
    assert "Reasoning: high" in scripted.last_prompt
    client.chat.completions.create(model="tiny-gpt-oss", messages=ASK, max_tokens=60, extra_body={"reasoning": {"effort": "low"}})
    assert "Reasoning: low" in scripted.last_prompt
    client.chat.completions.create(model="tiny-gpt-oss", messages=ASK, max_tokens=60)
    assert "Reasoning: medium" in scripted.last_prompt


def test_system_message_becomes_developer_instructions(tiny, scripted):
    scripted.set(ANSWER)
    messages = [{"role": "system", "content": "Answer like a pirate."}] + ASK
    tiny.client().chat.completions.create(model="tiny-gpt-oss", messages=messages, max_tokens=60)
    assert "<|start|>developer<|message|># Instructions\n\nAnswer like a pirate." in scripted.last_prompt


def test_profile_names_switch_the_loaded_model(tiny, scripted):
    client = tiny.client()
    scripted.tokens = []  # the default model answers freely
    smol = client.chat.completions.create(model="smol", messages=[{"role": "user", "content": "Say hi."}], max_tokens=2)
    assert smol.model == "smol" and tiny.health()["model"] == DEFAULT_MODEL
    scripted.set(ANSWER)
    back = client.chat.completions.create(model="tiny-low", messages=ASK, max_tokens=60)
    assert back.choices[0].message.content == "It is sunny in Paris."
    assert tiny.health()["model"] == "tiny-gpt-oss"


def test_a_model_that_cannot_load_is_503_and_the_next_request_loads_its_own(tiny, scripted):
    client = tiny.client()
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="broken", messages=ASK, max_tokens=5)
    error = caught.value.body
    assert caught.value.status_code == 503 and error["code"] == "model_unavailable"
    assert "'broken' could not be loaded" in error["message"] and "no config.json" in error["message"]
    scripted.set(ANSWER)
    reply = client.chat.completions.create(model="tiny-gpt-oss", messages=ASK, max_tokens=60)
    assert reply.choices[0].message.content == "It is sunny in Paris."

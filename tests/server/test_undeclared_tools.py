"""A GPT-OSS model's call to a function the client never declared reaches no client as a call (issue 28).

The tiny GPT-OSS model is forced (see test_tools.py) to call GPT-OSS's built-in ``python`` tool, or a
``functions.foo`` beside the declared ``get_weather``; each API, whole and streamed, through the official
clients, must answer it as text that says what happened, ending as an answer ends, never as a tool call.
A call to a declared function still comes back as a call (test_tools.py, test_responses_api.py,
test_anthropic_api.py).
"""

from __future__ import annotations

import anthropic
import pytest

from mlx_harmony_tui.server.app import create_app
from mlx_harmony_tui.server.catalog import ModelCatalog
from tests.server.conftest import API_KEY, running
from tests.server.test_tools import WEATHER, Scripted

MODEL = "tiny-gpt-oss"
ASK = [{"role": "user", "content": "What is 6 times 7?"}]
PYTHON = ("<|channel|>analysis<|message|>Let me compute it.<|end|>"
          "<|start|>assistant<|channel|>analysis to=python code<|message|>print(6*7)<|call|>")
FOO = '<|channel|>commentary to=functions.foo <|constrain|>json<|message|>{"x": 1}<|call|>'
SCRIPTS = {"python": (PYTHON, "print(6*7)"), "foo": (FOO, '{"x": 1}')}


@pytest.fixture(scope="module")
def scripted(enc):
    return Scripted(enc)


@pytest.fixture(scope="module")
def tiny(tiny_gpt_oss_dir, scripted):
    app = create_app(ModelCatalog.from_flags(model=str(tiny_gpt_oss_dir)), logits_processors=scripted.processors,
                     api_key=API_KEY)
    app.state.slot.preload(str(tiny_gpt_oss_dir))
    with running(app, API_KEY) as live:
        yield live


def says_it_was_not_called(text: str, name: str, arguments: str) -> bool:
    return f"`{name}`" in text and "does not offer" in text and "not called" in text and text.endswith(arguments)


@pytest.mark.parametrize("name", ["python", "foo"])
def test_chat_completion_answers_an_undeclared_call_as_text(tiny, scripted, name):
    script, arguments = SCRIPTS[name]
    scripted.set(script)
    reply = tiny.client().chat.completions.create(model=MODEL, messages=ASK, tools=[WEATHER], max_tokens=80)
    choice = reply.choices[0]
    assert choice.finish_reason == "stop" and not choice.message.tool_calls
    assert says_it_was_not_called(choice.message.content, name, arguments)


@pytest.mark.parametrize("name", ["python", "foo"])
def test_streamed_chat_completion_answers_an_undeclared_call_as_text(tiny, scripted, name):
    script, arguments = SCRIPTS[name]
    scripted.set(script)
    chunks = list(tiny.client().chat.completions.create(model=MODEL, messages=ASK, max_tokens=80, stream=True))
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    assert not any(d.tool_calls for d in deltas)
    assert says_it_was_not_called("".join(d.content or "" for d in deltas), name, arguments)
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_tool_choice_none_hides_the_functions_and_a_call_to_one_is_text(tiny, scripted):
    scripted.set(FOO.replace("functions.foo", "functions.get_weather"))
    reply = tiny.client().chat.completions.create(model=MODEL, messages=ASK, tools=[WEATHER], tool_choice="none",
                                                  max_tokens=80)
    assert reply.choices[0].finish_reason == "stop" and not reply.choices[0].message.tool_calls
    assert says_it_was_not_called(reply.choices[0].message.content, "get_weather", '{"x": 1}')


@pytest.mark.parametrize("name", ["python", "foo"])
def test_responses_answer_an_undeclared_call_as_a_message(tiny, scripted, name):
    script, arguments = SCRIPTS[name]
    scripted.set(script)
    tools = [{"type": "function", "name": "get_weather", "parameters": WEATHER["function"]["parameters"]}]
    response = tiny.client().responses.create(model=MODEL, input="What is 6 times 7?", tools=tools, max_output_tokens=80)
    assert response.status == "completed"
    assert "function_call" not in [item.type for item in response.output]
    assert says_it_was_not_called(response.output_text, name, arguments)
    scripted.set(script)
    with tiny.client().responses.stream(model=MODEL, input="What is 6 times 7?", max_output_tokens=80) as stream:
        events = list(stream)
        final = stream.get_final_response()
    assert not any(e.type.startswith("response.function_call") for e in events)
    assert says_it_was_not_called("".join(e.delta for e in events if e.type == "response.output_text.delta"), name, arguments)
    assert final.status == "completed" and says_it_was_not_called(final.output_text, name, arguments)


@pytest.mark.parametrize("name", ["python", "foo"])
def test_anthropic_messages_answer_an_undeclared_call_as_text(tiny, scripted, name):
    script, arguments = SCRIPTS[name]
    api = anthropic.Anthropic(base_url=tiny.url, api_key=API_KEY, max_retries=0)
    tools = [{"name": "get_weather", "input_schema": WEATHER["function"]["parameters"]}]
    scripted.set(script)
    message = api.messages.create(model=MODEL, max_tokens=80, messages=ASK, tools=tools)
    assert message.stop_reason == "end_turn" and [block.type for block in message.content] == ["text"]
    assert says_it_was_not_called(message.content[0].text, name, arguments)
    scripted.set(script)
    with api.messages.stream(model=MODEL, max_tokens=80, messages=ASK) as stream:
        events = list(stream)
        final = stream.get_final_message()
    assert not any(getattr(e, "content_block", None) is not None and e.content_block.type == "tool_use" for e in events)
    assert final.stop_reason == "end_turn" and [block.type for block in final.content] == ["text"]
    assert says_it_was_not_called(final.content[0].text, name, arguments)

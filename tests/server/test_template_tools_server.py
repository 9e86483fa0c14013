"""A client's functions on a model that is not GPT-OSS but whose chat template calls tools, through every API.

The model folder is the default model under a Qwen-style tool-calling template
(tests/support/tool_template_model.py); each answer is forced token by token
(a logits processor given to the app factory), so the real engine, template,
mlx-lm tool parser and server run, and what the client must get is known.
"""

from __future__ import annotations

import json

import anthropic
import httpx
import pytest

from mlx_harmony_tui.server.app import create_app
from mlx_harmony_tui.server.catalog import ModelCatalog
from tests.server.conftest import running
from tests.support.engine import _ScriptStep
from tests.support.tool_template_model import build_tool_template_model

MODEL = "SmolLM2-tool-calls"
ADD = {"type": "function", "function": {"name": "add", "description": "Add two integers.",
                                        "parameters": {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
                                                       "required": ["a", "b"]}}}
ASK = [{"role": "user", "content": "What is 2 + 40? Use the tool."}]
CALL = 'Let me add.<tool_call>\n{"name": "add", "arguments": {"a": 2, "b": 40}}\n</tool_call>'


class Forced:
    """Every generation is forced to the current text (then the end token); the prompts it began from are kept."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.end = tokenizer.convert_tokens_to_ids("<|im_end|>")
        self.tokens: list[int] = []
        self.prompts: list[list[int]] = []

    def set(self, text: str) -> None:
        self.tokens = self.tokenizer.encode(text) + [self.end]

    def processors(self) -> tuple:
        return (_ScriptStep(self.tokens, self.prompts),)

    @property
    def last_prompt(self) -> str:
        return self.tokenizer.decode(self.prompts[-1])


@pytest.fixture(scope="module")
def served(default_model_dir, tmp_path_factory):
    folder = build_tool_template_model(default_model_dir, tmp_path_factory.mktemp("models") / MODEL)
    from transformers import AutoTokenizer

    forced = Forced(AutoTokenizer.from_pretrained(str(folder)))
    app = create_app(ModelCatalog.from_flags(model=str(folder)), logits_processors=forced.processors)
    with running(app) as live:
        yield live, forced


def test_a_call_comes_back_as_tool_calls_and_its_result_goes_back_through_the_template(served):
    live, forced = served
    client = live.client()
    forced.set(CALL)
    first = client.chat.completions.create(model=MODEL, messages=ASK, tools=[ADD])
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content == "Let me add."
    [call] = choice.message.tool_calls
    assert call.function.name == "add" and json.loads(call.function.arguments) == {"a": 2, "b": 40}
    assert '"name": "add"' in forced.last_prompt and '"description": "Add two integers."' in forced.last_prompt

    forced.set("The sum is 42.")
    messages = [*ASK, choice.message.model_dump(exclude_none=True), {"role": "tool", "tool_call_id": call.id, "content": "42"}]
    second = client.chat.completions.create(model=MODEL, messages=messages, tools=[ADD])
    assert second.choices[0].finish_reason == "stop" and second.choices[0].message.content == "The sum is 42."
    prompt = forced.last_prompt  # the call and its result, in the template's own shape
    assert '<tool_call>\n{"name": "add", "arguments": {"a": 2, "b": 40}}\n</tool_call>' in prompt
    assert "<tool_response>\n42\n</tool_response>" in prompt


def test_a_streamed_call_arrives_as_a_tool_calls_delta(served):
    live, forced = served
    forced.set(CALL)
    chunks = list(live.client().chat.completions.create(model=MODEL, messages=ASK, tools=[ADD], stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    calls = [t for c in chunks if c.choices for t in c.choices[0].delta.tool_calls or []]
    assert text == "Let me add." and "<tool_call>" not in text
    assert [(t.function.name, json.loads(t.function.arguments)) for t in calls] == [("add", {"a": 2, "b": 40})]
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["tool_calls"]


def test_the_responses_and_messages_apis_call_functions_too(served):
    live, forced = served
    forced.set(CALL)
    response = live.client().responses.create(model=MODEL, input=ASK[0]["content"], tools=[
        {"type": "function", "name": "add", "description": "Add two integers.", "parameters": ADD["function"]["parameters"]}])
    calls = [item for item in response.output if item.type == "function_call"]
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [("add", {"a": 2, "b": 40})]

    forced.set(CALL)
    claude = anthropic.Anthropic(base_url=live.url, api_key="unused", max_retries=0)
    message = claude.messages.create(model=MODEL, max_tokens=64, messages=ASK, tools=[
        {"name": "add", "description": "Add two integers.", "input_schema": ADD["function"]["parameters"]}])
    assert message.stop_reason == "tool_use"
    assert [(b.name, b.input) for b in message.content if b.type == "tool_use"] == [("add", {"a": 2, "b": 40})]


def test_forcing_a_call_is_refused_naming_tool_choice(served):
    live, _ = served
    body = {"model": MODEL, "messages": ASK, "tools": [ADD], "tool_choice": "required"}
    response = httpx.post(live.url + "/v1/chat/completions", json=body, timeout=60)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == "tool_choice" and 'tool_choice "auto"' in error["message"]

"""New conversations share a client's opening through every API: its system prompt and tools are computed once.

Clients send their own system prompts and tools (not a profile's), as coding agents do: the second conversation's
usage shows the opening as cached, its answer is the one a cold prefill gives, and requests of different APIs whose
rendered prompts start alike share the opening too.
"""

from __future__ import annotations

import pytest

from mlx_harmony_tui.engine.events import TextDelta
from mlx_harmony_tui.engine.token_tree import common_length
from mlx_harmony_tui.harmony.stream import END
from mlx_harmony_tui.server.app import create_app
from mlx_harmony_tui.server.catalog import ModelCatalog
from tests.server.conftest import DEFAULT_MODEL, running
from tests.server.test_tools import ANSWER, Scripted

RULES = " ".join(f"Rule {i}: keep every answer short, name the file you read, and never guess a path." for i in range(24))
TOOLS_TEXT = " ".join(f"Tool read_{i}(path) returns the text of file number {i}." for i in range(10))
SYSTEM = f"You are a coding agent. {RULES} {TOOLS_TEXT}"


def ask(client, question: str):
    return client.chat.completions.create(model=DEFAULT_MODEL, max_tokens=8, temperature=0,
                                          messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}])


def test_chat_completions_share_a_client_system_prompt(server, server_generator):
    client = server.client()
    ask(client, "List the files in src.")
    second = ask(client, "Read setup.py for me.")
    system_tokens = len(server_generator.tokenizer.encode(SYSTEM))
    cached = second.usage.prompt_tokens_details.cached_tokens
    assert system_tokens > 400
    assert system_tokens <= cached < second.usage.prompt_tokens - 3  # the opening, not the question
    cold = server_generator.stream(messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Read setup.py for me."}],
                                   reuse_cache=False, temperature=0.0, max_tokens=8)
    assert second.choices[0].message.content == "".join(e.text for e in cold if isinstance(e, TextDelta))


def test_text_completions_share_a_prompt_prefix(server, server_generator):
    client = server.client()
    prefix = f"{RULES}\n\nFile listing:\n"
    client.completions.create(model=DEFAULT_MODEL, prompt=prefix + "src/main.py", max_tokens=4, temperature=0)
    second = client.completions.create(model=DEFAULT_MODEL, prompt=prefix + "tests/test_x.py", max_tokens=4, temperature=0)
    assert second.usage.prompt_tokens_details.cached_tokens >= len(server_generator.tokenizer.encode(prefix)) - 2


WEATHER = {"name": "get_weather", "description": "Current weather in a city.",
           "schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


@pytest.fixture(scope="module")
def scripted(enc):
    return Scripted(enc)


@pytest.fixture(scope="module")
def tiny(tiny_gpt_oss_dir, scripted):
    app = create_app(ModelCatalog.from_flags(model=str(tiny_gpt_oss_dir)), logits_processors=scripted.processors)
    app.state.slot.preload(str(tiny_gpt_oss_dir))
    with running(app) as live:
        yield live


def test_responses_messages_and_chat_share_one_gpt_oss_opening(tiny, scripted, enc):
    """The same instructions and tool through three APIs: each new conversation reuses the opening the first computed."""
    scripted.set(ANSWER)
    http = tiny.http()
    tool = {"type": "function", "name": WEATHER["name"], "description": WEATHER["description"], "parameters": WEATHER["schema"]}
    responses = http.post("/v1/responses", json={"model": "tiny-gpt-oss", "instructions": RULES, "tools": [tool],
                                                 "input": "Weather in Oslo?", "max_output_tokens": 60}).json()
    messages = http.post("/v1/messages", json={
        "model": "tiny-gpt-oss", "system": RULES, "max_tokens": 60, "messages": [{"role": "user", "content": "Weather in Rome?"}],
        "tools": [{"name": WEATHER["name"], "description": WEATHER["description"], "input_schema": WEATHER["schema"]}]}).json()
    chat = http.post("/v1/chat/completions", json={
        "model": "tiny-gpt-oss", "max_tokens": 60, "tools": [{"type": "function", "function": {
            "name": WEATHER["name"], "description": WEATHER["description"], "parameters": WEATHER["schema"]}}],
        "messages": [{"role": "system", "content": RULES}, {"role": "user", "content": "Weather in Lima?"}]}).json()
    prompts = [enc.encode(p, allowed_special="all") for p in scripted.prompts[-3:]]
    shared = common_length(prompts[0], prompts[1])
    assert common_length(prompts[1], prompts[2]) == shared  # the three APIs rendered the same opening
    opening = max(i + 1 for i, token in enumerate(prompts[0][:shared]) if token == END)  # system and developer messages
    assert opening > 300
    assert responses["usage"]["input_tokens_details"]["cached_tokens"] < 40  # only the start every conversation has
    assert messages["usage"]["cache_read_input_tokens"] == opening
    assert chat["usage"]["prompt_tokens_details"]["cached_tokens"] == opening
    assert chat["choices"][0]["message"]["content"] == "It is sunny in Paris."

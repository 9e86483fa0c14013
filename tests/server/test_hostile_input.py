"""Hostile requests: bodies over the size limit, prompts far past the context, lone surrogates, token ids past the
vocabulary, and error texts, which must never name a local folder."""

from __future__ import annotations

import json
from pathlib import Path

import anthropic
import httpx
import openai
import pytest

from mlx_harmony_tui.paths import cache_dir, config_dir, data_dir, export_dir
from mlx_harmony_tui.server.app import create_app
from mlx_harmony_tui.server.catalog import ModelCatalog
from tests.server.conftest import API_KEY, DEFAULT_MODEL, FRANCE, running

MB = 1024 * 1024
GENERATIONS = ("/v1/chat/completions", "/v1/completions", "/v1/responses", "/v1/messages")
PROMPT_FIELDS = {"/v1/chat/completions": "messages", "/v1/completions": "prompt", "/v1/responses": "input",
                 "/v1/messages": "messages"}
TEN_MB_OF_WORDS = "word " * (2 * MB)


def body_for(path: str, text: str, **changes) -> dict:
    """A request to ``path`` whose one text is ``text``."""
    body = {
        "/v1/chat/completions": {"model": DEFAULT_MODEL, "max_tokens": 1, "messages": [{"role": "user", "content": text}]},
        "/v1/completions": {"model": DEFAULT_MODEL, "max_tokens": 1, "prompt": text},
        "/v1/responses": {"model": DEFAULT_MODEL, "max_output_tokens": 1, "input": text},
        "/v1/messages": {"model": DEFAULT_MODEL, "max_tokens": 1, "messages": [{"role": "user", "content": text}]},
    }[path]
    return {**body, **changes}


def encoded(body: dict) -> bytes:
    """``body`` as JSON bytes; a lone surrogate travels as its escape, ``\\ud800``, as any JSON encoder writes it."""
    return json.dumps(body).encode()


def post(live, path: str, content, timeout: float = 120) -> httpx.Response:
    with live.http(timeout=timeout) as http:
        return http.post(path, content=content, headers={"Content-Type": "application/json"})


def error_of(path: str, response: httpx.Response) -> tuple[str, str | None, str | None]:
    """The error's message, param and code (Anthropic's shape has neither), its shape checked."""
    body = response.json()
    if path.startswith("/v1/messages"):
        assert body["type"] == "error" and set(body["error"]) == {"type", "message"}
        return body["error"]["message"], None, body["error"]["type"]
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]["message"], body["error"]["param"], body["error"]["code"]


@pytest.fixture(scope="module")
def roomy(server_generator, default_catalog):
    """The default model with a 64 MB body limit: what is over the context is left to the prompt's own bound."""
    with running(create_app(default_catalog, generator=server_generator, api_key=API_KEY, max_request_bytes=64 * MB), API_KEY) as live:
        yield live


@pytest.mark.parametrize("path", GENERATIONS)
def test_a_body_over_the_limit_is_413_in_its_apis_shape(server, path):
    big = encoded(body_for(path, TEN_MB_OF_WORDS))
    chunked = iter([big[i : i + MB] for i in range(0, len(big), MB)])  # no Content-Length: the limit counts as it reads
    for response in (post(server, path, big), post(server, path, chunked)):
        assert response.status_code == 413, response.text[:300]
        message, _, code = error_of(path, response)
        assert code == "request_too_large"
        assert message == "The request body is larger than this server takes (8 MB, --max-request-mb)."


def test_the_official_clients_read_the_413(server):
    with pytest.raises(openai.APIStatusError) as caught:
        server.client().chat.completions.create(model=DEFAULT_MODEL, max_tokens=1, messages=[{"role": "user", "content": TEN_MB_OF_WORDS}])
    assert caught.value.status_code == 413 and caught.value.body["code"] == "request_too_large"
    claude = anthropic.Anthropic(base_url=server.url, api_key=API_KEY, max_retries=0)
    with pytest.raises(anthropic.APIStatusError) as caught:
        claude.messages.create(model=DEFAULT_MODEL, max_tokens=1, messages=[{"role": "user", "content": TEN_MB_OF_WORDS}])
    assert caught.value.status_code == 413 and caught.value.body["error"]["type"] == "request_too_large"


@pytest.mark.parametrize("path", GENERATIONS)
def test_a_prompt_far_past_the_context_is_refused_before_it_is_read_in_full(roomy, path):
    # 6 MB of words is about 1.2 million tokens; the default model's context is 8,192. Reading all of it would take
    # the engine a minute: it is refused once a little more than a context's worth has been counted.
    response = post(roomy, path, encoded(body_for(path, "word " * (6 * MB // 5))), timeout=60)
    assert response.status_code == 400, response.text[:300]
    message, param, code = error_of(path, response)
    field = PROMPT_FIELDS[path]
    assert message.startswith(f"{field}: the prompt needs more than 8191 tokens (at least ")
    assert "context of 8192 tokens keeps 1 for the answer" in message
    if not path.startswith("/v1/messages"):
        assert param == field and code == "context_length_exceeded"


def test_a_conversation_of_many_contexts_is_refused_and_one_within_bounds_drops_its_oldest_turns(roomy):
    def conversation(turns: int, words: int) -> list[dict]:
        old = [m for _ in range(turns) for m in ({"role": "user", "content": "word " * words}, {"role": "assistant", "content": "Yes."})]
        return old + [{"role": "user", "content": "Hi"}]

    client = roomy.client(timeout=120)
    with pytest.raises(openai.BadRequestError) as caught:  # 40 turns of about 10,000 tokens: far more than 4 contexts
        client.chat.completions.create(model=DEFAULT_MODEL, max_tokens=1, messages=conversation(40, 10_000))
    error = caught.value.body
    assert error["code"] == "context_length_exceeded" and error["param"] == "messages"
    assert error["message"].startswith("messages: the conversation takes more than 32768 tokens (at least ")
    assert "send fewer of them" in error["message"]
    # 3 turns of about 7,000 tokens: past one context, within 4; the engine drops them all to fit.
    reply = client.chat.completions.create(model=DEFAULT_MODEL, max_tokens=1, messages=conversation(3, 7_000))
    assert reply.choices[0].finish_reason and reply.usage.prompt_tokens < 100


SURROGATES = [
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "caf\ud800"}]}, "messages[0].content", "U+D800"),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": [{"type": "text", "text": "ok"},
                                                                        {"type": "text", "text": "\udfff"}]}]},
     "messages[0].content[1].text", "U+DFFF"),
    ("/v1/completions", {"prompt": "x\ud800y"}, "prompt", "U+D800"),
    ("/v1/responses", {"input": "\ud800"}, "input", "U+D800"),
    ("/v1/responses", {"input": "Hi", "instructions": "Be \udc00 brief."}, "instructions", "U+DC00"),
    ("/v1/responses", {"input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "\ud800"}]}]},
     "input[0].content[0].text", "U+D800"),
    ("/v1/messages", {"messages": [{"role": "user", "content": "\ud800"}]}, "messages[0].content", "U+D800"),
    ("/v1/messages", {"messages": [{"role": "user", "content": [{"type": "text", "text": "\ud800"}]}]}, "messages[0].content[0].text",
     "U+D800"),
    ("/v1/messages", {"system": "\udbff", "messages": [{"role": "user", "content": "Hi"}]}, "system", "U+DBFF"),
    ("/v1/messages", {"system": [{"type": "text", "text": "\ud800"}], "messages": [{"role": "user", "content": "Hi"}]}, "system[0].text",
     "U+D800"),
]


@pytest.mark.parametrize(("path", "changes", "field", "code_point"), SURROGATES)
def test_a_lone_surrogate_is_a_400_naming_it_and_its_field(server, path, changes, field, code_point):
    response = post(server, path, encoded(body_for(path, "Hi", **changes)))
    assert response.status_code == 400, response.text
    message, param, _ = error_of(path, response)
    assert message.startswith(f"{field}: contains a lone UTF-16 surrogate ({code_point}); text must be valid Unicode")
    if not path.startswith("/v1/messages"):
        assert param == field


def test_logit_bias_ids_outside_the_vocabulary_are_a_400_naming_the_id_and_the_size(server, default_model_dir):
    vocab = json.loads((default_model_dir / "config.json").read_text())["vocab_size"]
    client = server.client()
    for token in (999_999_999, vocab):
        with pytest.raises(openai.BadRequestError) as caught:
            client.chat.completions.create(model=DEFAULT_MODEL, messages=FRANCE, max_tokens=1, logit_bias={str(token): 5})
        error = caught.value.body
        assert error["param"] == f"logit_bias.{token}"
        assert error["message"] == (f"logit_bias.{token}: token id {token} is not in {DEFAULT_MODEL}'s vocabulary of {vocab} tokens "
                                    f"(ids 0 to {vocab - 1})")
    with pytest.raises(openai.BadRequestError) as caught:
        client.completions.create(model=DEFAULT_MODEL, prompt="Hi", max_tokens=1, logit_bias={str(vocab): 1})
    assert caught.value.body["param"] == f"logit_bias.{vocab}"
    last = client.chat.completions.create(model=DEFAULT_MODEL, messages=FRANCE, max_tokens=1, logit_bias={str(vocab - 1): 1})
    assert last.choices[0].finish_reason == "length"


@pytest.fixture(scope="module")
def own_server(default_model_dir):
    """The default model in a generator of its own, and a profile whose model folder (in the data folder) is broken."""
    broken = data_dir() / "not-a-model"
    broken.mkdir(parents=True, exist_ok=True)
    profiles = config_dir() / "hostile-profiles.json"
    profiles.parent.mkdir(parents=True, exist_ok=True)
    profiles.write_text(json.dumps({"broken": {"model": str(broken)}}))
    app = create_app(ModelCatalog.from_flags(profiles_file=str(profiles)), api_key=API_KEY)
    app.state.slot.preload(None)
    with running(app, API_KEY) as live:
        yield live, broken


def hostile_requests() -> list[tuple[str, str, bytes | None]]:
    """(method, path, body) for every endpoint, each meant to fail."""
    requests: list[tuple[str, str, bytes | None]] = [
        ("GET", "/v1/models/..%2F..%2Fetc%2Fpasswd", None), ("GET", "/v1/models/%ED%A0%80", None),
        ("GET", "/v1/responses/resp_..%2F..%2Fconfig", None), ("DELETE", "/v1/responses/resp_nope", None),
        ("GET", "/v1/nothing-here", None), ("TRACE", "/v1/chat/completions", None), ("PUT", "/health", None),
        ("POST", "/v1/models", b"{}"),
    ]
    for path in GENERATIONS:
        requests += [
            ("POST", path, b'{"model": '), ("POST", path, b"\xff\xfe\x00{}"), ("POST", path, b"[" * 100_000 + b"]" * 100_000),
            ("POST", path, b"null"), ("POST", path, encoded(body_for(path, "a\ud800b"))),
            ("POST", path, encoded(body_for(path, "Hi", model="../../../etc/passwd"))),
            ("POST", path, encoded(body_for(path, "Hi", stream=True, nonsense={"\udfff": 1}))),
            ("POST", path, encoded(body_for(path, TEN_MB_OF_WORDS))),
        ]
    requests += [
        ("POST", "/v1/chat/completions", encoded(body_for("/v1/chat/completions", "Hi", logit_bias={"999999999": 1}))),
        ("POST", "/v1/chat/completions", encoded(body_for("/v1/chat/completions", "Hi", tools=[
            {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]))),
        ("POST", "/v1/chat/completions", encoded(body_for("/v1/chat/completions", "Hi", model="broken", stream=True))),
        ("POST", "/v1/messages", encoded(body_for("/v1/messages", "Hi", model="broken"))),
        ("POST", "/v1/responses", encoded(body_for("/v1/responses", "Hi", previous_response_id="resp_../../x"))),
    ]
    return requests


def test_no_error_names_a_local_folder(own_server, default_model_dir):
    live, broken = own_server
    folders = {str(folder) for folder in (data_dir(), cache_dir(), config_dir(), export_dir(), Path.home(), default_model_dir,
                                          default_model_dir.resolve(), broken)}
    errors = []
    with live.http(timeout=120) as http:
        for method, path, body in hostile_requests():
            response = http.request(method, path, content=body, headers={"Content-Type": "application/json"})
            assert response.status_code != 500, (method, path, response.text)
            if response.status_code >= 400:
                errors.append((method, path, response.status_code, response.text))
    assert len(errors) == len(hostile_requests())  # every one failed, as meant
    for method, path, status, text in errors:
        named = [folder for folder in folders if folder in text]
        assert not named, (method, path, status, text)
    unloadable = [text for _, _, status, text in errors if status == 503]
    assert len(unloadable) == 2 and all("'broken' could not be loaded: broken" in text for text in unloadable)

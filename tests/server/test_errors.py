"""Client mistakes get OpenAI's error envelope with a 4xx status naming the field; never a 500."""

from __future__ import annotations

import openai
import pytest

from tests.server.conftest import API_KEY, DEFAULT_MODEL, FRANCE


def error_of(response) -> dict:
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]


def post(server, body, path="/v1/chat/completions", **options):
    with server.http() as http:
        if isinstance(body, (bytes, str)):
            return http.post(path, content=body, headers={"Content-Type": "application/json"}, **options)
        return http.post(path, json=body, **options)


def chat(**changes) -> dict:
    return {"model": DEFAULT_MODEL, "messages": FRANCE, "max_tokens": 2, **changes}


def test_bad_json_is_400(server):
    response = post(server, b'{"model": "x", "messages": [')
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid_json" and "parse the JSON body" in error["message"]


def test_body_that_is_not_an_object_is_400(server):
    response = post(server, b"[1, 2]")
    assert response.status_code == 400
    assert "must be a JSON object" in error_of(response)["message"]


@pytest.mark.parametrize(
    ("changes", "param", "words"),
    [
        ({"temperature": -1}, "temperature", "must be >= 0"),
        ({"temperature": 2.5}, "temperature", "must be <= 2"),
        ({"top_p": 2}, "top_p", "must be <= 1"),
        ({"top_k": -3}, "top_k", "must be >= 0"),
        ({"max_tokens": 0}, "max_tokens", "must be >= 1"),
        ({"presence_penalty": 3}, "presence_penalty", "must be <= 2"),
        ({"logit_bias": {"12": 500}}, "logit_bias.12", "must be <= 100"),
        ({"seed": -1}, "seed", "must be >= 0"),
        ({"n": 2}, "n", "only 1 is supported"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop", "at most 4"),
        ({"stream_options": {"include_usage": True}}, "stream_options", "only allowed when stream is true"),
        ({"logprobs": True}, "logprobs", "not supported"),
        ({"tool_choice": "always"}, "tool_choice", 'must be "none", "auto", "required" or'),
        ({"messages": []}, "messages", "at least 1"),
        ({"messages": [{"role": "wizard", "content": "hi"}]}, "messages[0].role", "must be one of"),
        ({"messages": [{"role": "user"}]}, "messages[0].content", "is required"),
        ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "http://x/y.png"}}]}]},
         "messages[0].content[0].type", "'image_url' content is not supported"),
        ({"messages": [{"role": "tool", "tool_call_id": "call_9", "content": "42"}]}, "messages[0].tool_call_id",
         "matches no tool call"),
        ({"model": ""}, "model", "must not be empty"),
    ],
)
def test_invalid_fields_are_400_naming_the_field(server, changes, param, words):
    response = post(server, chat(**changes))
    assert response.status_code == 400, response.text
    error = error_of(response)
    assert error["param"] == param
    assert error["message"].startswith(param) and words in error["message"]
    assert error["type"] == "invalid_request_error"


def test_nan_is_refused(server):
    response = post(server, b'{"model": "%s", "messages": [{"role": "user", "content": "hi"}], "top_p": NaN}' % DEFAULT_MODEL.encode())
    assert response.status_code == 400
    assert error_of(response)["param"] == "top_p"


def test_unknown_model_is_404_model_not_found(server):
    with pytest.raises(openai.NotFoundError) as caught:
        server.client().chat.completions.create(model="gpt-4o", messages=FRANCE)
    error = caught.value.body
    assert error["code"] == "model_not_found" and error["param"] == "model" and "gpt-4o" in error["message"]
    assert post(server, {"model": "/etc/passwd", "prompt": "x"}, path="/v1/completions").status_code == 404


def test_tools_need_a_gpt_oss_model(server):
    weather = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
    response = post(server, chat(tools=[weather]))
    assert response.status_code == 400
    error = error_of(response)
    assert error["param"] == "tools" and "GPT-OSS" in error["message"]
    effort = post(server, chat(reasoning_effort="high"))
    assert effort.status_code == 400 and error_of(effort)["param"] == "reasoning_effort"


def test_unknown_url_and_method_use_the_envelope(server):
    with server.http() as http:
        missing = http.get("/v1/nothing-here")
        wrong_method = http.get("/v1/chat/completions")
    assert missing.status_code == 404 and error_of(missing)["code"] == "unknown_url"
    assert wrong_method.status_code == 405 and error_of(wrong_method)["code"] == "method_not_allowed"


def test_missing_or_wrong_key_is_401_and_right_key_works(server):
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic " + API_KEY}):
        response = httpx_post(server, headers)
        assert response.status_code == 401
        assert error_of(response)["code"] == "invalid_api_key"
    with pytest.raises(openai.AuthenticationError):
        server.client(api_key="wrong").models.list()
    assert httpx_post(server, {"Authorization": f"Bearer {API_KEY}"}).status_code == 200
    assert server.health()["status"] == "ok"  # /health stays open


def test_auth_comes_before_reading_the_body(server):
    response = httpx_post(server, {}, content=b"{not json")
    assert response.status_code == 401


def httpx_post(server, headers: dict, content: bytes | None = None):
    import httpx

    body = content if content is not None else b'{"model": "%s", "prompt": "Hi", "max_tokens": 1}' % DEFAULT_MODEL.encode()
    return httpx.post(server.url + "/v1/completions", content=body, headers={"Content-Type": "application/json", **headers}, timeout=60)

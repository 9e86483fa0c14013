"""``/openapi.json`` says what the server really answers, and schemathesis holds the server to it; 405s name what is allowed.

schemathesis generates requests from the document (the served model is the
only name ``model`` may take, so generations really run: the tiny GPT-OSS
model, forced to a short scripted answer) and checks that no answer is a 5xx
and every status is documented. The suite runs a few examples an operation;
``SCHEMATHESIS_EXAMPLES`` asks for more.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import httpx
import pytest

from mlx_harmony_tui.server.app import create_app
from mlx_harmony_tui.server.catalog import ModelCatalog
from tests.server.conftest import API_KEY, running
from tests.server.test_tools import ANSWER, Scripted

MODEL = "tiny-gpt-oss"
GENERATIONS = ("/v1/chat/completions", "/v1/completions", "/v1/responses", "/v1/messages")


@pytest.fixture(scope="module")
def tiny(tiny_gpt_oss_dir, enc):
    scripted = Scripted(enc)
    scripted.set(ANSWER)
    app = create_app(ModelCatalog.for_model(str(tiny_gpt_oss_dir)), logits_processors=scripted.processors, api_key=API_KEY)
    app.state.slot.preload(str(tiny_gpt_oss_dir))
    with running(app, API_KEY) as live:
        yield live


def test_the_document_lists_the_real_status_codes_and_the_event_streams(tiny):
    document = httpx.get(tiny.url + "/openapi.json", timeout=30).json()
    operations = {(path, method): operation for path, methods in document["paths"].items() for method, operation in methods.items()}
    assert not [key for key, operation in operations.items() if "422" in operation["responses"]]
    for path in GENERATIONS:
        operation = operations[(path, "post")]
        assert sorted(operation["responses"]) == ["200", "400", "401", "404", "413", "429", "503"]
        assert set(operation["responses"]["200"]["content"]) == {"application/json", "text/event-stream"}
        error = operation["responses"]["400"]["content"]["application/json"]["schema"]["$ref"]
        assert error == "#/components/schemas/" + ("AnthropicError" if path == "/v1/messages" else "Error")
    assert sorted(operations[("/v1/responses/{response_id}", "delete")]["responses"]) == ["200", "401", "404"]
    assert sorted(operations[("/health", "get")]["responses"]) == ["200"]
    schemas = document["components"]["schemas"]
    for name in ("ChatCompletionRequest", "CompletionRequest", "ResponsesRequest", "MessagesRequest"):
        assert schemas[name]["properties"]["model"]["enum"] == [MODEL]


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("TRACE", "/v1/chat/completions", "POST"), ("GET", "/v1/messages", "POST"), ("TRACE", "/health", "GET"),
    ("PUT", "/v1/responses/resp_1", "DELETE, GET"), ("POST", "/v1/models", "GET"),
])
def test_405_says_which_methods_are_allowed(tiny, method, path, allowed):
    with tiny.http() as http:
        response = http.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allowed
    assert response.json()["error"]["message"] == "Method Not Allowed"  # in OpenAI's envelope, or Anthropic's under /v1/messages


def test_schemathesis_finds_no_server_error_and_no_undocumented_status(tiny, tmp_path):
    examples = os.environ.get("SCHEMATHESIS_EXAMPLES", "5")
    command = [sys.executable, "-m", "schemathesis.cli", "run", tiny.url + "/openapi.json",
               "--checks", "not_a_server_error,status_code_conformance", "--max-examples", examples, "--seed", "27",
               "--workers", "1", "--request-timeout", "120", "--header", f"Authorization: Bearer {API_KEY}",
               "--report", "junit", "--report-dir", str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=3000, env={**os.environ, "NO_COLOR": "1"})
    assert done.returncode == 0, done.stdout[-8000:] + done.stderr[-2000:]
    cases = re.search(r"(\d+) generated, (\d+) passed", done.stdout)
    assert cases and int(cases.group(1)) == int(cases.group(2)) > 0, done.stdout[-3000:]

"""Real servers on 127.0.0.1: uvicorn in a thread, on a free port.

One TokenGenerator on the default model serves every default-model server of
the session (each server stops before the next starts); the GPT-OSS servers
load the tiny model into their own.
"""

from __future__ import annotations

import time
from contextlib import contextmanager

import httpx
import openai
import pytest

from mlx_harmony_tui.server.app import create_app
from mlx_harmony_tui.server.background import serving
from mlx_harmony_tui.server.catalog import ModelCatalog

API_KEY = "test-key"
DEFAULT_MODEL = "SmolLM2-135M-Instruct"
FRANCE = [{"role": "user", "content": "What is the capital of France? Answer in one sentence."}]


class RunningServer:
    def __init__(self, app, url: str, api_key: str | None):
        self.app, self.url, self.api_key = app, url, api_key

    def client(self, **options) -> openai.OpenAI:
        """The official client; no retries, so a 429 reaches the test."""
        return openai.OpenAI(**{"base_url": self.url + "/v1", "api_key": self.api_key or "unused", "max_retries": 0, **options})

    def http(self, **options) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        return httpx.Client(**{"base_url": self.url, "headers": headers, "timeout": 120, **options})

    def health(self) -> dict:
        return httpx.get(self.url + "/health", timeout=30).json()

    def wait_until(self, condition, timeout: float = 120.0) -> dict:
        """Poll /health until ``condition(health)`` holds; fail after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            health = self.health()
            if condition(health):
                return health
            assert time.monotonic() < deadline, f"server never reached the expected state: {health}"
            time.sleep(0.05)


@contextmanager
def running(app, api_key: str | None = None):
    """Serve ``app`` on a free 127.0.0.1 port until the block ends."""
    with serving(app) as url:
        yield RunningServer(app, url, api_key)


@pytest.fixture(scope="session")
def server_generator(default_model_dir):
    from mlx_harmony_tui.engine.token_generator import TokenGenerator

    generator = TokenGenerator(None)
    yield generator
    generator.close()


@pytest.fixture(scope="session")
def default_catalog(default_model_dir) -> ModelCatalog:
    return ModelCatalog.for_model(None)


@pytest.fixture(scope="module")
def server(server_generator, default_catalog):
    """The default model behind an API key, with the default queue."""
    with running(create_app(default_catalog, generator=server_generator, api_key=API_KEY), API_KEY) as live:
        yield live


@pytest.fixture(scope="session")
def greedy_reference(server_generator) -> str:
    """The default model's greedy answer to FRANCE in 6 tokens, from the engine alone."""
    from mlx_harmony_tui.engine.events import TextDelta

    events = server_generator.stream(messages=FRANCE, max_tokens=6, temperature=0.0, reuse_cache=False)
    return "".join(e.text for e in events if isinstance(e, TextDelta))


@pytest.fixture(scope="session")
def no_end_bias(server_generator) -> dict[str, float]:
    """A logit_bias that keeps the default model from ever ending its answer."""
    return {str(t): -100.0 for t in server_generator.tokenizer.eos_token_ids}

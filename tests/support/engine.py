"""Driving a real InferenceThread from tests: start it, run a request, steer its logits."""

from __future__ import annotations

import queue

import numpy as np

from mlx_harmony_tui.engine.events import Done, Error, ModelLoaded
from mlx_harmony_tui.engine.inference import InferenceThread
from mlx_harmony_tui.engine.requests import LoadModel
from mlx_harmony_tui.runtime import mlx_core

mx = mlx_core()


def start_engine(model: str | None, **options):
    """An InferenceThread with ``model`` loaded; returns (thread, events queue)."""
    events: queue.Queue = queue.Queue()
    thread = InferenceThread(events.put, **options)
    thread.submit(LoadModel("load", model))
    while not isinstance(event := events.get(timeout=300), ModelLoaded):
        assert not isinstance(event, Error), event
    return thread, events


def run_request(thread, events, request) -> list:
    """Submit ``request`` and return its events up to and including Done, ModelLoaded or Error."""
    thread.submit(request)
    seen = []
    while True:
        event = events.get(timeout=300)
        if getattr(event, "request_id", None) != request.request_id:
            continue
        seen.append(event)
        if isinstance(event, (Done, ModelLoaded, Error)):
            return seen


class Script:
    """Masks every logit but the script's next token, so a real model emits known output."""

    def __init__(self, tokens: list[int], prompt_len: int):
        self.tokens, self.prompt_len = tokens, prompt_len

    def __call__(self, history: list[int], logits):
        step = len(history) - self.prompt_len
        allowed = self.tokens[min(step, len(self.tokens) - 1)]
        mask = mx.full(logits.shape, -mx.inf, dtype=logits.dtype)
        mask[:, allowed] = 0.0
        return logits + mask


class FirstLogits:
    """Keeps a float32 copy of the logits the first generated token is sampled from."""

    def __init__(self):
        self.logits: np.ndarray | None = None

    def __call__(self, history: list[int], logits):
        if self.logits is None:
            self.logits = np.array(logits.astype(mx.float32))
        return logits


class _ScriptStep:
    """A Script that learns the prompt's length at its first call, and keeps that prompt."""

    def __init__(self, tokens: list[int], prompts: list[list[int]]):
        self.tokens, self.prompts, self.prompt_len = tokens, prompts, None

    def __call__(self, history: list[int], logits):
        if self.prompt_len is None:
            self.prompt_len = len(history)
            self.prompts.append(list(history))
        return Script(self.tokens, self.prompt_len)(history, logits)


class ScriptedSteps:
    """Forces each generation step a generator runs to the next script, and records each step's prompt."""

    def __init__(self, generator, scripts: list[list[int]]):
        self.scripts = list(scripts)
        self.prompts: list[list[int]] = []
        original = generator.stream

        def stream(*args, **kwargs):
            script = self.scripts.pop(0)
            kwargs["max_tokens"] = len(script)
            return original(*args, processors=(_ScriptStep(script, self.prompts),), **kwargs)

        generator.stream = stream

"""The inference thread through its typed requests and events, as the TUI and server use it."""

from __future__ import annotations

import queue
import threading

import pytest

from mlx_harmony_tui.config.sampling import SamplingParams
from mlx_harmony_tui.engine.events import Done, Error, ModelLoaded, ModelLoading, TextDelta
from mlx_harmony_tui.engine.inference import InferenceThread
from mlx_harmony_tui.engine.requests import Cancel, Generate, LoadModel, UpdateSampling
from tests.conftest import FRANCE

STORY = [{"role": "user", "content": "Write a long story about a lighthouse keeper and a storm."}]


def _events_until(events: queue.Queue, request_id: str, timeout: float = 120.0):
    while True:
        event = events.get(timeout=timeout)
        if getattr(event, "request_id", None) != request_id:
            continue
        yield event
        if isinstance(event, (Done, Error, ModelLoaded)):
            return


@pytest.fixture(scope="module")
def engine(default_model_dir):
    events: queue.Queue = queue.Queue()
    thread = InferenceThread(events.put)
    yield thread, events
    thread.shutdown()


def test_generate_before_load_is_a_clear_error():
    events: queue.Queue = queue.Queue()
    thread = InferenceThread(events.put)
    try:
        thread.submit(Generate("early", messages=FRANCE))
        (event,) = list(_events_until(events, "early"))
        assert isinstance(event, Error) and event.user_error and event.message == "no model is loaded"
    finally:
        thread.shutdown()


def test_load_reports_progress_then_the_model(engine):
    thread, events = engine
    thread.submit(LoadModel("load-1", None))
    seen = list(_events_until(events, "load-1"))
    assert any(isinstance(e, ModelLoading) for e in seen)
    loaded = seen[-1]
    assert isinstance(loaded, ModelLoaded)
    assert loaded.info.name == "SmolLM2-135M-Instruct" and not loaded.info.is_gpt_oss


def test_bad_model_is_an_error_event_and_the_thread_keeps_serving(engine, tmp_path):
    thread, events = engine
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a gguf at all" * 4)
    thread.submit(LoadModel("load-bad", str(bad)))
    (event,) = [e for e in _events_until(events, "load-bad") if not isinstance(e, ModelLoading)]
    assert isinstance(event, Error) and event.user_error and str(bad) in event.message
    thread.submit(LoadModel("load-2", None))
    assert isinstance(list(_events_until(events, "load-2"))[-1], ModelLoaded)
    thread.submit(Generate("after", messages=FRANCE, params=SamplingParams(temperature=0, max_tokens=30)))
    done = list(_events_until(events, "after"))[-1]
    assert isinstance(done, Done) and done.finish_reason == "stop"


def _act_after_two_tokens(thread, events, request_id: str, max_tokens: int, act) -> tuple[int, object]:
    """Run STORY greedily, call ``act()`` once two tokens have arrived; return (tokens seen then, last event)."""
    thread.submit(Generate(request_id, messages=STORY, params=SamplingParams(temperature=0, max_tokens=max_tokens)))
    received = 0
    acted_at = None
    for event in _events_until(events, request_id):
        if isinstance(event, TextDelta):
            received += len(event.token_ids)
            if acted_at is None and received >= 2:
                acted_at = received
                act()
        last = event
    return acted_at, last


def test_cancel_request_stops_a_running_generation(engine):
    thread, events = engine
    sent_at, last = _act_after_two_tokens(thread, events, "story", 300, lambda: thread.submit(Cancel("story")))
    assert isinstance(last, Done) and last.finish_reason == "cancelled"
    assert len(last.token_ids) <= sent_at + 2


def test_update_sampling_request_applies_mid_generation(engine):
    thread, events = engine
    eos = thread.call(lambda loaded: sorted(loaded.eos_token_ids)).result()
    # Force the end-of-sequence token: the turn must end as "stop" right away.
    force_end = UpdateSampling("steer", SamplingParams(temperature=0, logit_bias={eos[0]: 100.0}))
    sent_at, last = _act_after_two_tokens(thread, events, "steer", 30, lambda: thread.submit(force_end))
    assert isinstance(last, Done) and last.finish_reason == "stop"
    assert len(last.token_ids) <= sent_at + 2


def test_call_runs_on_the_inference_thread(engine):
    thread, _ = engine
    name = thread.call(lambda loaded: threading.current_thread().name).result()
    assert name == "mlx-harmony-inference" != threading.current_thread().name


def test_process_exits_cleanly_after_an_engine_is_closed(default_model_dir):
    # MLX aborts at exit ("terminate called without an active exception") if the thread
    # that imported mlx-lm ended first; engines park their thread instead. Seen 4 in 6 before.
    import os
    import subprocess
    import sys

    code = (
        "from mlx_harmony_tui import TokenGenerator\n"
        "g = TokenGenerator()\n"
        "print(len(list(g.generate(prompt='Hello', max_tokens=3, temperature=0))))\n"
        "g.close()\n"
    )
    for _ in range(3):
        done = subprocess.run([sys.executable, "-c", code], env=os.environ.copy(), capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-400:]
        assert done.stdout.strip() == "3"

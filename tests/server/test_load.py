"""Many clients at once, a full queue, and clients that leave mid-answer."""

from __future__ import annotations

import asyncio
import math
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest

from mlx_harmony_tui.server.app import create_app
from mlx_harmony_tui.server.openai_format import APIError
from mlx_harmony_tui.server.slot import GenerationSlots, Job
from tests.server.conftest import DEFAULT_MODEL, FRANCE, running

CLIENTS, REQUESTS_EACH = 16, 3


def long_answer(no_end_bias: dict, stream: bool = True) -> dict:
    """A request that would generate for minutes if it were not cancelled."""
    return {"model": DEFAULT_MODEL, "messages": FRANCE, "temperature": 0, "max_tokens": 2000, "logit_bias": no_end_bias,
            "stream": stream}


class holding_a_slot:
    """A streamed long answer that has started (so it holds a slot) until ``__exit__`` disconnects it."""

    def __init__(self, http: httpx.Client, no_end_bias: dict):
        self._stream = http.stream("POST", "/v1/chat/completions", json=long_answer(no_end_bias))
        response = self._stream.__enter__()
        assert response.status_code == 200
        self._lines = response.iter_lines()  # kept: an abandoned iterator would close the connection
        next(self._lines)

    def __exit__(self, *exc) -> None:
        self._stream.__exit__(*exc)


def test_concurrent_streaming_clients_all_get_the_greedy_answer(server, greedy_reference):
    def streamed_text(client) -> str:
        chunks = client.chat.completions.create(model=DEFAULT_MODEL, messages=FRANCE, temperature=0, max_tokens=2, stream=True)
        return "".join(c.choices[0].delta.content or "" for c in chunks)

    expected = streamed_text(server.client())
    assert greedy_reference.startswith(expected) and expected

    def one_client(_index: int) -> list[str]:
        client = server.client(timeout=300)
        return [streamed_text(client) for _ in range(REQUESTS_EACH)]

    with ThreadPoolExecutor(CLIENTS) as pool:
        answers = [text for texts in pool.map(one_client, range(CLIENTS)) for text in texts]
    assert answers == [expected] * (CLIENTS * REQUESTS_EACH)
    health = server.health()
    assert health["status"] == "ok" and health["generating"] is False and health["queued"] == 0


def test_client_leaving_mid_stream_cancels_its_generation(server, no_end_bias, greedy_reference):
    before = server.health()
    with server.http() as http, http.stream("POST", "/v1/chat/completions", json=long_answer(no_end_bias)) as response:
        assert response.status_code == 200
        texts = 0
        for line in response.iter_lines():
            texts += '"content": "' in line and '"content": ""' not in line
            if texts == 2:
                break
    # Uncancelled, 2000 tokens would take minutes; the wait below would fail long before.
    health = server.wait_until(lambda h: not h["generating"], timeout=60)
    assert health["cancelled"] == before["cancelled"] + 1
    assert health["served"] == before["served"] + 1
    reply = server.client().chat.completions.create(model=DEFAULT_MODEL, messages=FRANCE, temperature=0, max_tokens=6)
    assert reply.choices[0].message.content == greedy_reference


def test_client_leaving_a_whole_answer_request_cancels_it(server, no_end_bias):
    before = server.health()
    with server.http(timeout=2.0) as http, pytest.raises(httpx.ReadTimeout):
        http.post("/v1/chat/completions", json=long_answer(no_end_bias, stream=False))
    health = server.wait_until(lambda h: not h["generating"], timeout=60)
    assert health["cancelled"] == before["cancelled"] + 1


def test_full_queue_is_429_and_leaving_clients_free_their_places(server_generator, default_catalog, no_end_bias,
                                                                  greedy_reference):
    with running(create_app(default_catalog, generator=server_generator, max_queue=2, max_concurrency=1)) as live, live.http() as http:
        with ThreadPoolExecutor(2) as pool:
            long = holding_a_slot(http, no_end_bias)
            waiting = pool.submit(live.client().chat.completions.create, model=DEFAULT_MODEL, messages=FRANCE,
                                  temperature=0, max_tokens=6)
            live.wait_until(lambda h: h["queued"] == 1)
            impatient = pool.submit(live.http(timeout=3.0).post, "/v1/chat/completions", json=long_answer(no_end_bias, False))
            live.wait_until(lambda h: h["queued"] == 2)
            with pytest.raises(openai.RateLimitError) as caught:
                live.client().chat.completions.create(model=DEFAULT_MODEL, messages=FRANCE, max_tokens=1)
            assert caught.value.status_code == 429 and caught.value.body["code"] == "queue_full"
            retry_after = caught.value.response.headers["retry-after"]
            assert f"the line's expected wait is about {retry_after} s" in caught.value.body["message"]
            # A waiting client that gives up leaves the line at once.
            with pytest.raises(httpx.ReadTimeout):
                impatient.result(timeout=60)
            assert live.wait_until(lambda h: h["queued"] == 1)["cancelled"] == 1
            # The running client leaves: its generation stops and the next one runs.
            long.__exit__(None, None, None)
            assert waiting.result(timeout=120).choices[0].message.content == greedy_reference
        health = live.health()
        assert health == {**health, "cancelled": 2, "served": 2, "queued": 0, "generating": False}


def test_429_counts_what_runs_and_retry_after_is_the_lines_expected_wait(server_generator, default_catalog, no_end_bias):
    with running(create_app(default_catalog, generator=server_generator, max_queue=1, max_concurrency=1)) as live, live.http() as http:
        started = time.monotonic()
        timed = live.client().chat.completions.create(model=DEFAULT_MODEL, messages=FRANCE, temperature=0, max_tokens=48,
                                                      logit_bias=no_end_bias)
        held = time.monotonic() - started  # the server held its slot a little less than this
        assert timed.usage.completion_tokens == 48 and held > 1
        with ThreadPoolExecutor(1) as pool:
            long = holding_a_slot(http, no_end_bias)
            waiting = pool.submit(live.http(timeout=10.0).post, "/v1/chat/completions", json=long_answer(no_end_bias, False))
            live.wait_until(lambda h: h["queued"] == 1)
            with pytest.raises(openai.RateLimitError) as caught:
                live.client().chat.completions.create(model=DEFAULT_MODEL, messages=FRANCE, max_tokens=1)
            retry_after = int(caught.value.response.headers["retry-after"])
            # A generation held its slot for about `held` seconds and one waits: a newcomer would start after two such.
            assert math.ceil(2 * (held - 0.5)) <= retry_after <= math.ceil(2 * held)
            assert caught.value.body["message"] == ("The server is busy: 1 generation is running and 1 waiting (--max-concurrency 1, "
                                                    f"--max-queue 1); the line's expected wait is about {retry_after} s: retry then.")
            with pytest.raises(httpx.ReadTimeout):
                waiting.result(timeout=60)
            long.__exit__(None, None, None)
        live.wait_until(lambda h: not h["generating"] and h["queued"] == 0, timeout=60)


def test_a_burst_fills_the_free_slots_before_the_line():
    """Right after a burst, before the slot threads have taken their jobs, the free slots count as taken, not the line's places."""

    async def burst() -> APIError:
        slots = GenerationSlots(max_queue=1, max_concurrency=4)  # never started: each job stays where a free slot would take it
        for _ in range(5):
            slots.submit(Job(served=None, work=None))
        with pytest.raises(APIError) as caught:
            slots.submit(Job(served=None, work=None))
        return caught.value

    error = asyncio.run(burst())
    assert error.status == 429 and error.code == "queue_full"
    assert error.message.startswith("The server is busy: 4 generations are running and 1 waiting (--max-concurrency 4, --max-queue 1); ")


def test_a_client_that_leaves_is_noticed_even_while_pieces_keep_coming():
    """Beside the real disconnect tests above: a model fast enough never to leave a gap must not hide a departure."""
    import asyncio

    from mlx_harmony_tui.server.slot import Job

    class LeftClient:  # stands in for Starlette's Request, whose client has gone
        async def is_disconnected(self) -> bool:
            return True

    async def scenario() -> list:
        job = Job(served=None, work=None)
        stop = asyncio.Event()

        async def fast_model():
            while not stop.is_set():
                job.emit("piece")
                await asyncio.sleep(0.01)

        feeder = asyncio.ensure_future(fast_model())
        seen = []
        while (item := await job.next(LeftClient(), poll_s=0.05)) is not None and len(seen) < 100:
            seen.append(item)
        stop.set()
        await feeder
        job.close()
        return seen

    seen = asyncio.run(scenario())
    assert len(seen) < 100  # it stopped for the departure, not because the pieces ran out

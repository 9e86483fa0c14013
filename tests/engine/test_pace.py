"""The prefill pace model: it learns how a chunk's time grows with its size and depth, and sizes chunks in seconds."""

from __future__ import annotations

import random

from mlx_harmony_tui.engine.pace import INITIAL_CHUNK, MAX_CHUNK, MIN_CHUNK, PrefillPace

TRUE = (0.05, 0.004, 5e-6)  # fixed, per token, per token and context token: a 2-core CPU's order of magnitude


def seconds(n: int, offset: int) -> float:
    fixed, per_token, per_pair = TRUE
    return fixed + n * (per_token + per_pair * (offset + n / 2))


def test_it_predicts_the_time_of_chunks_like_those_measured():
    pace, pick = PrefillPace(), random.Random(0)
    assert pace.chunk(0, 0.5) == INITIAL_CHUNK  # nothing measured yet
    for _ in range(40):
        n, offset = pick.choice((64, 96, 128, 200)), pick.randrange(0, 6000)
        pace.observe(n, offset, seconds(n, offset) * pick.uniform(0.97, 1.03))
    for n in (64, 128, 200):
        for offset in (0, 2000, 5000):
            assert abs(pace.seconds(n, offset) - seconds(n, offset)) <= 0.1 * seconds(n, offset)
    for offset in (0, 1000, 3000):
        n = pace.chunk(offset, 0.8)
        assert abs(seconds(n, offset) - 0.8) < 0.1 or n in (MIN_CHUNK, MAX_CHUNK)
    assert pace.chunk(0, 0.8) > pace.chunk(3000, 0.8)  # deeper in a prompt, fewer tokens fit the same time


def test_chunks_stay_within_their_bounds_and_shared_coefficients_decide_alike():
    pace = PrefillPace()
    for offset in range(0, 4000, 200):
        pace.observe(64, offset, seconds(64, offset))
    assert pace.chunk(50_000, 0.1) == MIN_CHUNK and pace.chunk(0, 1000.0) == MAX_CHUNK
    follower = PrefillPace()
    follower.coefficients = pace.coefficients  # what another rank of a group receives with each round
    assert [follower.chunk(o, 0.35) for o in range(0, 9000, 500)] == [pace.chunk(o, 0.35) for o in range(0, 9000, 500)]
    noisy = PrefillPace()
    noisy.observe(64, 0, 0.4)  # one kind of measurement: every coefficient still comes out at least 0
    assert all(c >= 0 for c in noisy.coefficients) and MIN_CHUNK <= noisy.chunk(0, 0.5) <= MAX_CHUNK

"""The prefill pace model: it learns how a chunk's time grows with its size and depth, and sizes chunks in seconds."""

from __future__ import annotations

import random

from mlx_harmony_tui.engine.pace import INITIAL_CHUNK, MAX_CHUNK, MIN_CHUNK, PrefillPace

SIZES = [MIN_CHUNK * 2**k for k in range(6)]
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
        assert n in SIZES and (seconds(n, offset) <= 0.88 or n == MIN_CHUNK)  # the largest size that fits...
        assert n == MAX_CHUNK or seconds(2 * n, offset) > 0.72  # ...and the next one up does not
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


def test_the_first_chunk_of_each_size_is_left_out_of_the_fit():
    pace = PrefillPace()
    pace.observe(128, 0, 30.0)  # a GPU backend compiling the kernels of a new shape
    assert not pace.known and pace.chunk(0, 0.35) == INITIAL_CHUNK
    for offset in range(0, 3000, 300):
        for n in (64, 128, 256):
            pace.observe(n, offset, seconds(n, offset))
    assert abs(pace.seconds(128, 0) - seconds(128, 0)) <= 0.05 * seconds(128, 0)  # the 30 s left no trace
    assert {pace.chunk(o, t) for o in range(0, 20_000, 1000) for t in (0.05, 0.35, 2.0, 50.0)} <= set(SIZES)

"""Presence and frequency penalties on real MLX logits."""

from __future__ import annotations

from collections import Counter

import numpy as np

from mlx_harmony_tui.engine.penalties import TokenPenalties
from mlx_harmony_tui.runtime import mlx_core

mx = mlx_core()


def test_generated_tokens_are_penalised_by_count_and_presence_prompt_tokens_are_not():
    penalties = TokenPenalties(presence=0.5, frequency=0.25)
    prompt = [1, 2, 3]
    logits = mx.zeros((1, 8))
    assert np.array(penalties(prompt, logits)).tolist() == [[0.0] * 8]  # nothing generated yet
    out = np.array(penalties(prompt + [5, 5, 6], logits))[0]
    assert out[5] == -(0.5 + 2 * 0.25) and out[6] == -(0.5 + 0.25)
    assert out[1] == out[2] == out[3] == out[0] == 0.0
    out = np.array(penalties(prompt + [5, 5, 6, 6, 6], logits))[0]
    assert out[6] == -(0.5 + 3 * 0.25)  # counts grow as the answer does


def test_negative_values_encourage_and_special_tokens_are_exempt():
    penalties = TokenPenalties(presence=-1.0, frequency=0.0, exempt_from=6)
    penalties([0], mx.zeros((1, 8)))
    out = np.array(penalties([0, 4, 7], mx.zeros((1, 8))))[0]
    assert out[4] == 1.0 and out[7] == 0.0


def test_frequency_penalty_is_an_ordinary_sampling_parameter(generator):
    ask = [{"role": "user", "content": "Count from 1 to 30, separated by commas."}]
    plain = list(generator.generate(messages=ask, max_tokens=30, temperature=0.0))
    penalised = list(generator.generate(messages=ask, max_tokens=30, temperature=0.0, frequency_penalty=2.0))

    def most_repeated(ids: list[int]) -> int:
        return max(Counter(ids).values())

    assert most_repeated(plain) >= 5  # the model does repeat itself here
    assert most_repeated(penalised) < most_repeated(plain)

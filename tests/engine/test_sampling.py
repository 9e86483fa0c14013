"""Sampling knobs, one by one, on small hand-made ``(1, V)`` logits.

Every test checks that a knob changes the distribution the way the module
docstring of :mod:`mlx_harmony_tui.engine.sampling` says, so a knob that
silently does nothing fails here. No model is loaded.
"""

from __future__ import annotations

import math
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from pydantic import ValidationError

from mlx_harmony_tui.engine.sampling import (
    LiveSampler,
    SamplingParams,
    apply_logit_bias,
    apply_min_p,
    apply_repetition_penalty,
    apply_top_k,
    apply_top_p,
    apply_xtc,
    processed_logits,
)
from mlx_harmony_tui.runtime import mlx_core

mx = mlx_core()  # only after mlx_harmony_tui put its BLAS in place

NEG_INF = float("-inf")

# A known distribution over V=8 tokens, deliberately not in index order, so a
# filter that confuses sorted ranks with token ids is caught.
#            id:   0      1     2      3     4      5     6      7
PROBS = [0.10, 0.40, 0.015, 0.25, 0.005, 0.15, 0.05, 0.03]
ORDER = [1, 3, 5, 0, 6, 7, 2, 4]  # ids from most to least likely
V = len(PROBS)


def log_probs_logits():
    """Logits whose softmax is exactly ``PROBS`` (up to float32 rounding)."""
    return mx.array([[math.log(p) for p in PROBS]], dtype=mx.float32)


def row(a) -> list[float]:
    """The single row of a ``(1, V)`` array as Python floats."""
    assert a.shape == (1, V) or a.ndim == 2 and a.shape[0] == 1, a.shape
    return [float(x) for x in a.tolist()[0]]


def softmax_row(a) -> list[float]:
    return row(mx.softmax(a.astype(mx.float32), axis=-1))


def kept(a) -> set[int]:
    """Ids whose logit is not -inf."""
    return {i for i, x in enumerate(row(a)) if x != NEG_INF}


def renormalised(ids: set[int]) -> list[float]:
    mass = sum(PROBS[i] for i in ids)
    return [PROBS[i] / mass if i in ids else 0.0 for i in range(V)]


def params(**kw) -> SamplingParams:
    """Everything off (temperature 1, no filters) unless given."""
    base = dict(temperature=1.0, top_p=1.0, top_k=0, min_p=0.0, repetition_penalty=1.0, xtc_probability=0.0)
    base.update(kw)
    return SamplingParams(**base)


def draws(sampler: LiveSampler, logits, n: int, recent=None) -> list[int]:
    return [int(sampler(logits, recent).item()) for _ in range(n)]


def softmax_list(values: list[float], temperature: float = 1.0) -> list[float]:
    m = max(values)
    e = [math.exp((v - m) / temperature) for v in values]
    s = sum(e)
    return [x / s for x in e]


# --------------------------------------------------------------------------
# The fixture distribution itself
# --------------------------------------------------------------------------


def test_fixture_distribution_is_what_the_tests_assume():
    assert sum(PROBS) == pytest.approx(1.0)
    assert sorted(range(V), key=lambda i: -PROBS[i]) == ORDER
    assert softmax_row(log_probs_logits()) == pytest.approx(PROBS, abs=1e-6)


def test_defaults_with_filters_off_leave_logits_untouched():
    logits = log_probs_logits()
    out = processed_logits(logits, params(), recent_tokens=[1, 3], xtc_draw=mx.array(0.0))
    assert row(out) == pytest.approx(row(logits))
    assert kept(out) == set(range(V))


# --------------------------------------------------------------------------
# temperature
# --------------------------------------------------------------------------


def test_temperature_zero_is_argmax_even_on_a_flat_ish_distribution():
    logits = mx.array([[0.0, 0.1, 0.2, 0.3, 0.29, 0.28, 0.27, 0.26]])
    sampler = LiveSampler(params(temperature=0.0))
    assert draws(sampler, logits, 20) == [3] * 20


def test_temperature_zero_skips_filters_steps_3_to_6():
    # At temperature 0 only logit_bias and repetition penalty act; the filters
    # cannot change the argmax, so processed_logits leaves them out.
    logits = log_probs_logits()
    p = params(temperature=0.0, top_k=1, top_p=0.1, min_p=0.9, xtc_probability=1.0, xtc_threshold=0.01)
    out = processed_logits(logits, p, xtc_draw=mx.array(0.0))
    assert kept(out) == set(range(V))
    assert row(out) == pytest.approx(row(logits))


def test_temperature_zero_disables_xtc_in_the_sampler():
    # XTC at probability 1 would drop the top token; at temperature 0 it is off.
    sampler = LiveSampler(params(temperature=0.0, xtc_probability=1.0, xtc_threshold=0.1, seed=0))
    assert draws(sampler, log_probs_logits(), 10) == [1] * 10


def _frequencies(temperature: float, n: int, seed: int) -> list[float]:
    sampler = LiveSampler(params(temperature=temperature, seed=seed))
    counts = Counter(draws(sampler, log_probs_logits(), n))
    return [counts[i] / n for i in range(V)]


def test_temperature_one_draws_match_softmax():
    n = 2000
    freq = _frequencies(1.0, n, seed=1234)
    for i in range(V):
        assert freq[i] == pytest.approx(PROBS[i], abs=0.035), (i, freq, PROBS)


def test_temperature_scales_the_distribution():
    logs = [math.log(p) for p in PROBS]
    n = 1500
    cold = _frequencies(0.5, n, seed=7)
    hot = _frequencies(2.0, n, seed=7)
    expect_cold = softmax_list(logs, 0.5)
    expect_hot = softmax_list(logs, 2.0)
    for i in range(V):
        assert cold[i] == pytest.approx(expect_cold[i], abs=0.04), (i, cold, expect_cold)
        assert hot[i] == pytest.approx(expect_hot[i], abs=0.04), (i, hot, expect_hot)
    # Higher temperature flattens: the top token loses mass, the tail gains it.
    assert cold[1] > PROBS[1] + 0.1 > hot[1] + 0.2
    tail = [0, 6, 7, 2, 4]
    assert sum(hot[i] for i in tail) > sum(PROBS[i] for i in tail) + 0.1 > sum(cold[i] for i in tail) + 0.15


# --------------------------------------------------------------------------
# top_k
# --------------------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 2, 3, 5, 7])
def test_top_k_keeps_exactly_the_k_most_likely(k):
    out = processed_logits(log_probs_logits(), params(top_k=k))
    assert kept(out) == set(ORDER[:k])
    assert softmax_row(out) == pytest.approx(renormalised(set(ORDER[:k])), abs=1e-6)
    assert row(apply_top_k(log_probs_logits(), k)) == row(out)


@pytest.mark.parametrize("k", [0, V, V + 5])
def test_top_k_zero_or_at_least_vocab_is_off(k):
    out = processed_logits(log_probs_logits(), params(top_k=k))
    assert kept(out) == set(range(V))


def test_top_k_one_at_temperature_one_always_draws_argmax():
    logits = mx.array([[0.0, 0.1, 0.2, 0.3, 0.29, 0.28, 0.27, 0.26]])
    sampler = LiveSampler(params(temperature=1.0, top_k=1, seed=3))
    assert set(draws(sampler, logits, 100)) == {3}
    # And without top_k the same sampler setup does spread out.
    free = LiveSampler(params(temperature=1.0, seed=3))
    assert len(set(draws(free, logits, 100))) > 3


# --------------------------------------------------------------------------
# top_p
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("p", "expected"),
    [
        (0.0, ORDER[:1]),  # p=0 still keeps one token
        (0.3, ORDER[:1]),  # 0.40 alone reaches 0.3
        (0.5, ORDER[:2]),  # 0.40 < 0.5, 0.40+0.25 >= 0.5
        (0.7, ORDER[:3]),  # 0.65 < 0.7, 0.80 >= 0.7
        (0.85, ORDER[:4]),  # 0.80 < 0.85, 0.90 >= 0.85
        (0.93, ORDER[:5]),  # 0.90 < 0.93, 0.95 >= 0.93
        (0.99, ORDER[:7]),  # 0.98 < 0.99, 0.995 >= 0.99: only the 0.005 token goes
    ],
)
def test_top_p_keeps_the_smallest_set_reaching_p(p, expected):
    out = processed_logits(log_probs_logits(), params(top_p=p))
    assert kept(out) == set(expected)
    assert softmax_row(out) == pytest.approx(renormalised(set(expected)), abs=1e-6)
    assert row(apply_top_p(log_probs_logits(), p, 1)) == row(out)


def test_top_p_one_is_off():
    out = processed_logits(log_probs_logits(), params(top_p=1.0))
    assert kept(out) == set(range(V))


@pytest.mark.parametrize(("p", "min_keep", "expected"), [(0.0, 3, ORDER[:3]), (0.3, 2, ORDER[:2]), (0.5, 4, ORDER[:4]), (0.7, 2, ORDER[:3]), (0.3, 20, ORDER)])
def test_top_p_respects_min_tokens_to_keep(p, min_keep, expected):
    out = processed_logits(log_probs_logits(), params(top_p=p, min_tokens_to_keep=min_keep))
    assert kept(out) == set(expected)


def test_top_p_works_on_what_top_k_left():
    # Chain order: top_k first, then top_p on the renormalised survivors.
    # Alone, p=0.6 keeps the two best (0.40 < 0.6). After top_k=2 the best has
    # 0.40/0.65 = 0.615 >= 0.6, so it alone reaches p.
    assert kept(processed_logits(log_probs_logits(), params(top_p=0.6))) == set(ORDER[:2])
    assert kept(processed_logits(log_probs_logits(), params(top_k=2, top_p=0.6))) == set(ORDER[:1])


def test_top_p_in_the_sampler_never_draws_outside_the_nucleus():
    sampler = LiveSampler(params(top_p=0.5, seed=11))
    got = Counter(draws(sampler, log_probs_logits(), 300))
    assert set(got) == set(ORDER[:2])
    # 0.40 : 0.25 renormalised is 0.615 : 0.385
    assert got[1] / 300 == pytest.approx(0.615, abs=0.08)


# --------------------------------------------------------------------------
# min_p
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("min_p", "expected"),
    [
        (0.05, ORDER[:6]),  # floor 0.02: 0.03 stays, 0.015 goes
        (0.2, ORDER[:4]),  # floor 0.08: 0.10 stays, 0.05 goes
        (0.3, ORDER[:3]),  # floor 0.12: 0.15 stays, 0.10 goes
        (0.5, ORDER[:2]),  # floor 0.20: 0.25 stays, 0.15 goes
        (0.7, ORDER[:1]),  # floor 0.28: only 0.40
        (1.0, ORDER[:1]),
    ],
)
def test_min_p_drops_tokens_below_min_p_times_the_top(min_p, expected):
    out = processed_logits(log_probs_logits(), params(min_p=min_p))
    assert kept(out) == set(expected)
    assert softmax_row(out) == pytest.approx(renormalised(set(expected)), abs=1e-6)
    assert row(apply_min_p(log_probs_logits(), min_p, 1)) == row(out)


def test_min_p_is_relative_to_the_top_not_absolute():
    # Shift all logits: probabilities are the same, so the kept set is too.
    shifted = log_probs_logits() + 37.0
    assert kept(processed_logits(shifted, params(min_p=0.3))) == set(ORDER[:3])
    # A flatter distribution with the same min_p keeps more tokens.
    flat = mx.array([[0.0, 0.1, 0.2, 0.3, 0.29, 0.28, 0.27, 0.26]])
    assert kept(processed_logits(flat, params(min_p=0.3))) == set(range(V))


def test_min_p_zero_is_off():
    assert kept(processed_logits(log_probs_logits(), params(min_p=0.0))) == set(range(V))


@pytest.mark.parametrize(("min_p", "min_keep", "expected"), [(0.7, 3, ORDER[:3]), (1.0, 2, ORDER[:2]), (0.3, 5, ORDER[:5]), (0.3, 2, ORDER[:3]), (0.9, 50, ORDER)])
def test_min_p_respects_min_tokens_to_keep(min_p, min_keep, expected):
    out = processed_logits(log_probs_logits(), params(min_p=min_p, min_tokens_to_keep=min_keep))
    assert kept(out) == set(expected)


# --------------------------------------------------------------------------
# repetition_penalty / repetition_context_size
# --------------------------------------------------------------------------

REP_LOGITS = [2.0, -1.0, 4.0, -3.0, 1.0, 0.5, -0.5, 3.0]


def rep_logits():
    return mx.array([REP_LOGITS], dtype=mx.float32)


def test_repetition_penalty_divides_positive_and_multiplies_negative():
    out = processed_logits(rep_logits(), params(repetition_penalty=2.0), recent_tokens=[0, 1, 2, 3])
    assert row(out) == pytest.approx([1.0, -2.0, 2.0, -6.0, 1.0, 0.5, -0.5, 3.0])


def test_repetition_penalty_below_one_encourages():
    out = processed_logits(rep_logits(), params(repetition_penalty=0.5), recent_tokens=[0, 1])
    assert row(out) == pytest.approx([4.0, -0.5, 4.0, -3.0, 1.0, 0.5, -0.5, 3.0])


def test_repetition_penalty_only_looks_at_the_last_n_tokens():
    history = [2, 7, 0, 3, 4]  # with N=3 only 0, 3, 4 count
    out = processed_logits(rep_logits(), params(repetition_penalty=2.0, repetition_context_size=3), recent_tokens=history)
    assert row(out) == pytest.approx([1.0, -1.0, 4.0, -6.0, 0.5, 0.5, -0.5, 3.0])
    # A larger window reaches the older ones too.
    wide = processed_logits(rep_logits(), params(repetition_penalty=2.0, repetition_context_size=5), recent_tokens=history)
    assert row(wide) == pytest.approx([1.0, -1.0, 2.0, -6.0, 0.5, 0.5, -0.5, 1.5])


def test_repetition_context_size_zero_penalises_nothing():
    out = processed_logits(rep_logits(), params(repetition_penalty=2.0, repetition_context_size=0), recent_tokens=[0, 1, 2])
    assert row(out) == pytest.approx(REP_LOGITS)


def test_repeated_token_is_penalised_once():
    out = processed_logits(rep_logits(), params(repetition_penalty=2.0), recent_tokens=[2, 2, 2, 1, 1])
    assert row(out) == pytest.approx([2.0, -2.0, 2.0, -3.0, 1.0, 0.5, -0.5, 3.0])


def test_repetition_penalty_changes_what_the_sampler_picks():
    # Token 2 is the argmax (4.0); penalised by 2 it drops to 2.0 below token 7 (3.0).
    assert draws(LiveSampler(params(temperature=0.0)), rep_logits(), 1, recent=[2]) == [2]
    sampler = LiveSampler(params(temperature=0.0, repetition_penalty=2.0))
    assert draws(sampler, rep_logits(), 3, recent=[2]) == [7] * 3
    # Outside the window it is not penalised.
    far = LiveSampler(params(temperature=0.0, repetition_penalty=2.0, repetition_context_size=1))
    assert draws(far, rep_logits(), 1, recent=[2, 5]) == [2]


def test_processed_logits_does_not_modify_the_callers_logits():
    logits = rep_logits()
    processed_logits(logits, params(repetition_penalty=2.0), recent_tokens=[0, 1, 2, 3])
    assert row(logits) == REP_LOGITS


def test_apply_repetition_penalty_does_not_modify_its_input():
    # Every other apply_* returns a new array and leaves its input alone;
    # apply_repetition_penalty changes the caller's array in place.
    logits = rep_logits()
    out = apply_repetition_penalty(logits, [0, 1], 2.0)
    assert row(out)[:2] == [1.0, -2.0]
    assert row(logits) == REP_LOGITS


def test_repetition_penalty_ignores_out_of_vocab_ids():
    # Run in a child process: the out-of-bounds scatter corrupts the heap
    # ("free(): invalid size", SIGABRT) or segfaults, which would kill pytest.
    code = (
        "from mlx_harmony_tui.engine.sampling import SamplingParams, processed_logits\n"
        "from mlx_harmony_tui.runtime import mlx_core\n"
        "mx = mlx_core()\n"
        f"logits = mx.array([{REP_LOGITS!r}])\n"
        f"out = processed_logits(logits, SamplingParams(temperature=1.0, repetition_penalty=2.0), recent_tokens=[0, {V}, 1000000])\n"
        "print(out.tolist()[0])\n"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, (done.returncode, done.stderr[-500:])
    assert [float(x) for x in done.stdout.strip().strip("[]").split(",")] == pytest.approx([1.0] + REP_LOGITS[1:])


# --------------------------------------------------------------------------
# XTC
# --------------------------------------------------------------------------


def xtc(threshold=0.12, probability=0.5, draw=0.0, protected=None, **kw):
    p = params(xtc_probability=probability, xtc_threshold=threshold, **kw)
    return processed_logits(log_probs_logits(), p, protected_ids=protected, xtc_draw=mx.array(draw))


def test_xtc_fires_when_draw_is_below_probability():
    # Above 0.12: 0.40 (id 1), 0.25 (id 3), 0.15 (id 5). All but the least
    # likely of them (id 5) go; tokens below the threshold stay.
    out = xtc(threshold=0.12, probability=0.5, draw=0.2)
    assert kept(out) == set(range(V)) - {1, 3}
    assert softmax_row(out) == pytest.approx(renormalised(set(range(V)) - {1, 3}), abs=1e-6)


@pytest.mark.parametrize("draw", [0.5, 0.7, 0.999])
def test_xtc_does_not_fire_when_draw_is_not_below_probability(draw):
    out = xtc(threshold=0.12, probability=0.5, draw=draw)
    assert kept(out) == set(range(V))
    assert row(out) == pytest.approx(row(log_probs_logits()))


def test_xtc_probability_zero_is_off():
    assert kept(xtc(threshold=0.12, probability=0.0, draw=0.0)) == set(range(V))


@pytest.mark.parametrize(
    ("threshold", "dropped"),
    [
        (0.04, {1, 3, 5, 0}),  # above: 0.40 0.25 0.15 0.10 0.05 -> keep 0.05 (id 6)
        (0.08, {1, 3, 5}),  # above: 0.40 0.25 0.15 0.10 -> keep 0.10 (id 0)
        (0.2, {1}),  # above: 0.40 0.25 -> keep 0.25 (id 3)
    ],
)
def test_xtc_keeps_the_least_likely_of_the_tokens_above_threshold(threshold, dropped):
    assert kept(xtc(threshold=threshold, probability=1.0, draw=0.0)) == set(range(V)) - dropped


@pytest.mark.parametrize("threshold", [0.3, 0.41, 0.5])
def test_xtc_does_nothing_with_fewer_than_two_tokens_above_threshold(threshold):
    out = xtc(threshold=threshold, probability=1.0, draw=0.0)
    assert kept(out) == set(range(V))
    assert row(out) == pytest.approx(row(log_probs_logits()))


def test_xtc_never_drops_protected_ids():
    # id 1 (0.40) stands for EOS, id 3 (0.25) for newline.
    assert kept(xtc(threshold=0.12, probability=1.0, protected=[1])) == set(range(V)) - {3}
    assert kept(xtc(threshold=0.12, probability=1.0, protected=[1, 3])) == set(range(V))
    # Protecting a token below the threshold changes nothing.
    assert kept(xtc(threshold=0.12, probability=1.0, protected=[4])) == set(range(V)) - {1, 3}


def test_xtc_applies_to_what_earlier_filters_left():
    # top_k=3 leaves 0.40 0.25 0.15 renormalised to 0.615 0.385 0.231; with a
    # threshold of 0.3 two are above, so XTC drops the best and keeps id 3.
    assert kept(xtc(threshold=0.3, probability=1.0, top_k=3)) == {3, 5}
    # Without top_k only 0.40 is above 0.3: nothing happens.
    assert kept(xtc(threshold=0.3, probability=1.0)) == set(range(V))


def test_apply_xtc_directly():
    logits = log_probs_logits()
    assert kept(apply_xtc(logits, 0.12, [], mx.array(0.1), 0.5)) == set(range(V)) - {1, 3}
    assert kept(apply_xtc(logits, 0.12, [], mx.array(0.6), 0.5)) == set(range(V))
    assert kept(apply_xtc(logits, 0.12, [3], mx.array(0.1), 0.5)) == set(range(V)) - {1}


def test_xtc_in_the_sampler():
    logits = log_probs_logits()
    on = Counter(draws(LiveSampler(params(xtc_probability=1.0, xtc_threshold=0.12, seed=5)), logits, 300))
    assert 1 not in on and 3 not in on
    assert on[5] > 0
    # protected ids given to the sampler survive XTC
    guarded = Counter(draws(LiveSampler(params(xtc_probability=1.0, xtc_threshold=0.12, seed=5), protected_ids=[1]), logits, 300))
    assert guarded[1] > 50 and 3 not in guarded
    # at probability 0.5 it fires on roughly half the draws: the top tokens show up, but less often
    half = Counter(draws(LiveSampler(params(xtc_probability=0.5, xtc_threshold=0.12, seed=5)), logits, 600))
    assert 0.5 * 0.40 * 600 * 0.6 < half[1] < 0.5 * 0.40 * 600 * 1.4


def test_xtc_draw_may_be_a_plain_float():
    # processed_logits documents xtc_draw as "a uniform number in [0, 1)".
    p = params(xtc_probability=0.5, xtc_threshold=0.12)
    assert kept(processed_logits(log_probs_logits(), p, xtc_draw=0.2)) == set(range(V)) - {1, 3}
    assert kept(processed_logits(log_probs_logits(), p, xtc_draw=0.7)) == set(range(V))


def test_xtc_threshold_zero_after_other_filters_leaves_a_token():
    # top_k=3 leaves ids 1, 3, 5; threshold 0 means all three are above it,
    # so XTC should keep the least likely of them (id 5). Instead the least
    # "above" token is one of the -inf ones (p=0) and all of 1, 3, 5 go too:
    # every logit is -inf and the draw is meaningless.
    assert kept(xtc(threshold=0.0, probability=1.0, top_k=3)) == {5}


# --------------------------------------------------------------------------
# logit_bias
# --------------------------------------------------------------------------


def test_logit_bias_adds_to_the_chosen_ids_only():
    base = row(log_probs_logits())
    out = processed_logits(log_probs_logits(), params(logit_bias={4: 3.0, 1: -2.5}))
    expected = list(base)
    expected[4] += 3.0
    expected[1] -= 2.5
    assert row(out) == pytest.approx(expected, abs=1e-6)
    assert row(apply_logit_bias(log_probs_logits(), {4: 3.0, 1: -2.5}, V)) == pytest.approx(expected, abs=1e-6)


def test_logit_bias_ignores_out_of_vocab_ids():
    base = row(log_probs_logits())
    out = processed_logits(log_probs_logits(), params(logit_bias={V: 100.0, 10_000: 5.0, 2: 1.0}))
    expected = list(base)
    expected[2] += 1.0
    assert row(out) == pytest.approx(expected, abs=1e-6)
    only_oov = processed_logits(log_probs_logits(), params(logit_bias={V: 100.0}))
    assert row(only_oov) == pytest.approx(base, abs=1e-6)


def test_logit_bias_moves_probability_mass():
    # +ln(8) on id 4 (p=0.005) multiplies its odds by 8.
    out = processed_logits(log_probs_logits(), params(logit_bias={4: math.log(8.0)}))
    probs = softmax_row(out)
    assert probs[4] == pytest.approx(0.04 / 1.035, abs=1e-6)
    assert probs[1] == pytest.approx(0.40 / 1.035, abs=1e-6)


def test_logit_bias_acts_before_the_filters():
    # Boosting id 4 to the top makes top_k=1 keep it.
    out = processed_logits(log_probs_logits(), params(top_k=1, logit_bias={4: 10.0}))
    assert kept(out) == {4}


def test_logit_bias_forces_and_bans_in_the_sampler():
    logits = log_probs_logits()
    assert draws(LiveSampler(params(temperature=0.0, logit_bias={7: 20.0})), logits, 5) == [7] * 5
    assert set(draws(LiveSampler(params(temperature=1.0, logit_bias={7: 50.0}, seed=2)), logits, 50)) == {7}
    banned = draws(LiveSampler(params(temperature=1.0, logit_bias={1: -1e4, 3: -1e4}, seed=2)), logits, 300)
    assert 1 not in banned and 3 not in banned
    assert draws(LiveSampler(params(temperature=0.0, logit_bias={1: -1e4})), logits, 1) == [3]


# --------------------------------------------------------------------------
# SamplingParams validation
# --------------------------------------------------------------------------

NAN, INF = float("nan"), float("inf")

BAD_VALUES = [
    ("temperature", -0.01),
    ("temperature", 2.01),
    ("temperature", NAN),
    ("temperature", INF),
    ("temperature", -INF),
    ("top_p", -0.01),
    ("top_p", 1.01),
    ("top_p", NAN),
    ("top_p", INF),
    ("min_p", -0.01),
    ("min_p", 1.01),
    ("min_p", NAN),
    ("min_p", INF),
    ("top_k", -1),
    ("top_k", NAN),
    ("top_k", INF),
    ("min_tokens_to_keep", 0),
    ("min_tokens_to_keep", -3),
    ("min_tokens_to_keep", NAN),
    ("repetition_penalty", 0.0),
    ("repetition_penalty", -1.0),
    ("repetition_penalty", NAN),
    ("repetition_penalty", INF),
    ("repetition_context_size", -1),
    ("repetition_context_size", NAN),
    ("xtc_probability", -0.01),
    ("xtc_probability", 1.01),
    ("xtc_probability", NAN),
    ("xtc_probability", INF),
    ("xtc_threshold", -0.01),
    ("xtc_threshold", 0.51),
    ("xtc_threshold", NAN),
    ("xtc_threshold", INF),
    ("max_tokens", 0),
    ("max_tokens", -5),
    ("max_tokens", NAN),
    ("max_tokens", INF),
    ("logit_bias", {1: NAN}),
    ("logit_bias", {1: INF}),
    ("logit_bias", {1: -INF}),
    ("logit_bias", {-1: 1.0}),
    ("logit_bias", {2: 1.0, -7: 0.0}),
    ("logit_bias", {"x": 1.0}),
]


@pytest.mark.parametrize(("field", "value"), BAD_VALUES, ids=[f"{f}={v!r}" for f, v in BAD_VALUES])
def test_out_of_range_values_are_rejected(field, value):
    with pytest.raises(ValidationError):
        SamplingParams(**{field: value})
    # Assignment is validated too.
    p = SamplingParams()
    with pytest.raises(ValidationError):
        setattr(p, field, value)


GOOD_EDGES = [
    ("temperature", 0.0),
    ("temperature", 2.0),
    ("top_p", 0.0),
    ("top_p", 1.0),
    ("min_p", 0.0),
    ("min_p", 1.0),
    ("top_k", 0),
    ("top_k", 100_000),
    ("min_tokens_to_keep", 1),
    ("repetition_penalty", 1e-3),
    ("repetition_penalty", 10.0),
    ("repetition_context_size", 0),
    ("xtc_probability", 0.0),
    ("xtc_probability", 1.0),
    ("xtc_threshold", 0.0),
    ("xtc_threshold", 0.5),
    ("max_tokens", 1),
    ("logit_bias", {0: -100.0, 5: 100.0}),
]


@pytest.mark.parametrize(("field", "value"), GOOD_EDGES, ids=[f"{f}={v!r}" for f, v in GOOD_EDGES])
def test_edges_of_each_range_are_accepted(field, value):
    assert getattr(SamplingParams(**{field: value}), field) == value


@pytest.mark.parametrize("seed", [-1, 2**64])
def test_a_seed_that_validates_can_be_used(seed):
    # Either SamplingParams rejects the seed, or a sampler can be built from it.
    try:
        p = params(seed=seed)
    except ValidationError:
        return
    assert 0 <= int(LiveSampler(p)(flat_logits(), None).item()) < V


def test_unknown_field_is_rejected():
    with pytest.raises(ValidationError):
        SamplingParams(temprature=0.5)
    with pytest.raises(ValidationError):
        SamplingParams(repeat_penalty=1.1)


# --------------------------------------------------------------------------
# LiveSampler
# --------------------------------------------------------------------------

FLAT = [0.5, 0.2, 0.9, 0.1, 0.4, 0.8, 0.3, 0.6]


def flat_logits():
    return mx.array([FLAT], dtype=mx.float32)


def test_same_seed_same_sequence():
    a = draws(LiveSampler(params(seed=42)), flat_logits(), 50)
    b = draws(LiveSampler(params(seed=42)), flat_logits(), 50)
    assert a == b
    assert len(set(a)) >= 4  # genuinely random, not a constant


def test_different_seeds_differ():
    a = draws(LiveSampler(params(seed=42)), flat_logits(), 50)
    b = draws(LiveSampler(params(seed=43)), flat_logits(), 50)
    assert a != b


def test_seeded_sampler_ignores_the_global_random_state():
    mx.random.seed(0)
    a = draws(LiveSampler(params(seed=9)), flat_logits(), 30)
    mx.random.seed(12345)
    mx.random.uniform()
    b = draws(LiveSampler(params(seed=9)), flat_logits(), 30)
    assert a == b


def test_update_applies_from_the_next_call_temperature():
    sampler = LiveSampler(params(seed=1))
    before = draws(sampler, flat_logits(), 20)
    assert set(before) != {2}  # at temperature 1 it is not always the argmax
    sampler.update(params(seed=1, temperature=0.0))
    assert draws(sampler, flat_logits(), 10) == [2] * 10
    sampler.update(params(seed=1, temperature=1.0))
    assert set(draws(sampler, flat_logits(), 30)) != {2}


def test_update_applies_from_the_next_call_logit_bias():
    sampler = LiveSampler(params(seed=1))
    assert set(draws(sampler, flat_logits(), 20)) != {3}
    sampler.update(params(seed=1, logit_bias={3: 50.0}))
    assert draws(sampler, flat_logits(), 10) == [3] * 10
    sampler.update(params(seed=1))
    assert set(draws(sampler, flat_logits(), 20)) != {3}


def test_update_is_not_applied_before_the_next_call():
    sampler = LiveSampler(params(temperature=0.0))
    sampler.update(params(temperature=0.0, logit_bias={3: 50.0}))
    assert sampler.params.logit_bias == {}  # still the old ones until a token is drawn
    assert draws(sampler, flat_logits(), 1) == [3]
    assert sampler.params.logit_bias == {3: 50.0}


def test_last_update_wins():
    sampler = LiveSampler(params(temperature=0.0))
    sampler.update(params(temperature=0.0, logit_bias={3: 50.0}))
    sampler.update(params(temperature=0.0, logit_bias={6: 50.0}))
    assert draws(sampler, flat_logits(), 2) == [6, 6]


def test_update_with_the_same_seed_continues_the_random_stream():
    straight = draws(LiveSampler(params(seed=21)), flat_logits(), 30)
    sampler = LiveSampler(params(seed=21))
    first = draws(sampler, flat_logits(), 15)
    sampler.update(params(seed=21, top_p=1.0, max_tokens=7))  # new object, same seed
    assert first + draws(sampler, flat_logits(), 15) == straight


def test_update_with_a_new_seed_restarts_from_that_seed():
    fresh = draws(LiveSampler(params(seed=99)), flat_logits(), 20)
    sampler = LiveSampler(params(seed=21))
    draws(sampler, flat_logits(), 7)
    sampler.update(params(seed=99))
    assert draws(sampler, flat_logits(), 20) == fresh


def test_unseeded_sampler_still_samples():
    got = draws(LiveSampler(params(seed=None)), flat_logits(), 100)
    assert len(set(got)) >= 4
    assert all(0 <= t < V for t in got)

"""Prompt-lookup speculative decoding: drafts, exact checks, caches taken back, and the same answers as without it."""

from __future__ import annotations

import math
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from mlx_harmony_tui.config.sampling import SamplingParams
from mlx_harmony_tui.engine.events import Done
from mlx_harmony_tui.engine.lookup import DraftPace, DraftPolicy, PromptLookup
from mlx_harmony_tui.engine.verify import settle
from mlx_harmony_tui.harmony.render import HarmonySettings

CODE = "\n".join(f"def scale_{i}(x):\n    return x * {i} + {i * i}\n" for i in range(12))
COPY = [{"role": "user", "content": "Repeat this code exactly, nothing else:\n\n" + CODE}]
QUOTE = [{"role": "user", "content": "Say 'the lamp is lit, the lamp is lit, the lamp is lit' ten times."}]
STORY = [{"role": "user", "content": "Write a long story about a lighthouse keeper and a storm."}]


def test_lookup_drafts_what_followed_the_latest_earlier_occurrence():
    tokens = [1, 2, 3, 4, 5, 9, 2, 3, 7, 8, 6, 2]
    lookup = PromptLookup(tokens)
    assert lookup.propose(3, 3) == [7, 8, 6]  # "2 3" last seen before 7 8 6 (the longest ending that matches)
    assert lookup.propose(42, 3) == []  # "2 42" never seen
    tokens += [3, 7]
    assert lookup.propose(8, 2) == [6, 2]  # the index grows with the list: "3 7 8" -> 6 2
    assert PromptLookup([5, 5, 5]).propose(5, 3) == [5]  # ran into the end, which goes on with the pending token
    assert PromptLookup([1, 2, 9, 1]).matches_end() is False
    assert PromptLookup([1, 2, 9, 1, 2]).matches_end() is True


def test_a_request_whose_drafts_fail_stops_drafting_for_longer_each_time():
    policy = DraftPolicy(max_tokens=6)
    assert policy.wants(0) and policy.length() == 6
    policy.record(step=10, drafted=6, accepted=0)
    assert not policy.wants(11) and policy.wants(12)
    policy.record(step=12, drafted=6, accepted=0)
    assert not policy.wants(15) and policy.wants(16)
    policy.record(step=16, drafted=6, accepted=2)
    assert policy.wants(17) and policy.length() == 4 and policy.misses == 0


def test_drafts_are_checked_only_where_the_measured_steps_say_they_pay():
    pace = DraftPace()
    assert pace.best_width(4, {3: 9.0}) == 1  # no plain step measured yet
    pace.note(4, 1, 0.100)
    assert pace.best_width(4, {3: 3.5}) == 1  # expected fewer tokens than a plain step gives: not even tried
    assert pace.best_width(4, {3: 6.0}) == 3  # never measured, might pay: tried
    pace.note(4, 3, 0.200)  # a CPU: three tokens a row cost twice a plain step
    assert pace.best_width(4, {3: 6.0}) == 1 and pace.best_width(4, {3: 10.0}) == 3
    pace.note(4, 3, 5.0)  # a step that waited on other work is not taken as the step's cost
    assert pace.best_width(4, {3: 10.0}) == 3


@pytest.fixture
def always_draft(monkeypatch):
    """Check drafts at every step, whatever the pace (the tests below are about answers, not speed)."""
    monkeypatch.setattr(DraftPace, "best_width", lambda self, rows, expected: max(expected, default=1))


def test_settle_keeps_the_leading_accepted_drafts_and_takes_the_draw_after_them():
    assert settle([5, 6, 9, 1], [5, 6, 7]) == (2, 9)  # greedy: argmaxes 5 6 9, draft 5 6 7
    assert settle([5, 6, 7, 1], [5, 6, 7]) == (3, 1)  # every draft kept: the last position's choice follows
    assert settle([1, 0, 1, 40, 41, 42, 43], [5, 6, 7]) == (1, 41)  # sampling: kept flags, residual draws, last draw
    assert settle([8], []) == (0, 8)


def _chi_square_bound(dof: int, z: float = 3.29) -> float:
    """The chi-square quantile at about 1 - 5e-4 (Wilson-Hilferty)."""
    return dof * (1 - 2 / (9 * dof) + z * math.sqrt(2 / (9 * dof))) ** 3


@pytest.mark.parametrize("params", [
    SamplingParams(temperature=1.0),
    SamplingParams(temperature=0.7, top_p=0.9, top_k=6),
    SamplingParams(temperature=1.3, min_p=0.05, repetition_penalty=1.5, frequency_penalty=0.6),
])
def test_checked_drafts_leave_the_sampled_distribution_unchanged(params):
    """Two positions, a draft for each: the pair of tokens kept or drawn has the joint law of drawing them one by one."""
    from mlx_harmony_tui.engine.sampling import LiveSampler, mx

    vocab = 8
    first = mx.array([[2.0, 1.5, 1.0, 0.5, 0.0, -0.5, -1.0, 0.3]])
    second = mx.array([[0.1, 1.9, -0.4, 1.2, 0.0, 0.8, -2.0, 0.6]])  # the logits after either first token (a toy model)
    history = [3, 1, 1]
    draft = [1, 1]  # the second draft is checked only after the first is kept
    runs = 3000
    sampled, checked = Counter(), Counter()
    for seed in range(runs):
        one = LiveSampler(params.with_changes(seed=seed))
        a = one(first, history).item()
        b = one(second, history + [a]).item()
        sampled[(a, b)] += 1
        two = LiveSampler(params.with_changes(seed=seed + runs))
        draws = two.check_drafts(mx.concatenate([first, second, second]), history, draft).tolist()
        kept, token = settle(draws, draft)
        if kept == 0:
            pair_first = token
            pair_second = LiveSampler(params.with_changes(seed=seed + 2 * runs))(second, history + [token]).item()
        elif kept == 1:
            pair_first, pair_second = draft[0], token
        else:
            pair_first, pair_second = draft[0], draft[1]
        checked[(pair_first, pair_second)] += 1
    cells = [cell for cell in set(sampled) | set(checked) if sampled[cell] + checked[cell] >= 10]
    statistic = sum((sampled[c] - checked[c]) ** 2 / (sampled[c] + checked[c]) for c in cells)  # two-sample chi-square
    assert len(cells) > 4 and vocab
    assert statistic < _chi_square_bound(len(cells) - 1), (statistic, len(cells))
    assert checked[(1, 1)] > 0  # the drafts were kept in some runs


def _answers(generator, messages_list, speculative: str, together: bool = False, **sampling) -> list[Done]:
    def one(messages):
        for event in generator.stream(messages=messages, conversation=generator.new_conversation_id(),
                                      speculative=speculative, **sampling):
            if isinstance(event, Done):
                return event
    if not together:
        return [one(m) for m in messages_list]
    with ThreadPoolExecutor(len(messages_list)) as pool:
        return list(pool.map(one, messages_list))


def test_greedy_answers_are_the_same_with_drafts_checked(generator, always_draft):
    prompts = [COPY, QUOTE, STORY]
    off = _answers(generator, prompts, "off", temperature=0, max_tokens=120)
    on = _answers(generator, prompts, "ngram", temperature=0, max_tokens=120)
    for plain, drafted in zip(off, on):
        assert list(drafted.token_ids) == list(plain.token_ids) and drafted.finish_reason == plain.finish_reason
    assert sum(d.stats.accepted_tokens for d in on) > 40  # the copies were drafted and the drafts kept
    assert all(d.stats.drafted_tokens == 0 for d in off)


def test_batched_rows_each_keep_their_own_drafts(generator, monkeypatch, always_draft):
    """Rows accepting different numbers of tokens per step, in one batch: each as it is alone and without drafts
    (with the rows copied into fresh batch caches every few steps, as when their padding spreads too far)."""
    from mlx_harmony_tui.engine import batch, lm

    monkeypatch.setattr(batch, "MAX_PADDING_SPREAD", 4)
    monkeypatch.setattr(batch, "REPACK_CHECK_EVERY", 3)
    spreads: list[int] = []
    measure = lm.padding_spread
    monkeypatch.setattr(lm, "padding_spread", lambda cache: spreads.append(measure(cache)) or spreads[-1])
    prompts = [COPY, QUOTE, STORY, COPY]
    sampling = {"temperature": 0, "max_tokens": 90}
    off = _answers(generator, prompts, "off", **sampling)
    on = _answers(generator, prompts, "ngram", together=True, **sampling)
    for plain, drafted in zip(off, on):
        assert list(drafted.token_ids) == list(plain.token_ids)
    assert sum(d.stats.accepted_tokens for d in on) > 40
    assert max(spreads) > 4  # the rows were repacked at least once


def test_tiny_gpt_oss_same_answers_past_its_sliding_window(tiny_gpt_oss_dir, always_draft):
    from mlx_harmony_tui import TokenGenerator

    settings = HarmonySettings(conversation_start_date="2026-11-26")
    questions = [[{"role": "user", "content": text}] for text in ("Name three fruits.", "Repeat: a b c a b c", "Hello")]
    sampling = {"temperature": 0.0, "max_tokens": 220, "harmony": settings}  # past the 128-token window
    with TokenGenerator(str(tiny_gpt_oss_dir)) as generator:
        off = _answers(generator, questions, "off", **sampling)
        solo = _answers(generator, questions, "ngram", **sampling)
        together = _answers(generator, questions, "ngram", together=True, **sampling)
    for plain, alone, batched in zip(off, solo, together):
        assert list(alone.token_ids) == list(plain.token_ids) == list(batched.token_ids)
    for runs in (solo, together):  # drafts kept, and many taken back out of the window layers
        accepted, drafted = sum(d.stats.accepted_tokens for d in runs), sum(d.stats.drafted_tokens for d in runs)
        assert 0 < accepted and drafted > 2 * accepted


def test_taking_drafts_back_leaves_the_caches_as_a_cold_prefill_would(tiny_gpt_oss_dir):
    """Window layers past their window, alone and in a batch whose rows forget different numbers of tokens."""
    from mlx_harmony_tui.engine import lm

    mx = lm.mx
    loaded = lm.load(tiny_gpt_oss_dir)
    prompts = [list(range(1000, 1000 + 170)), list(range(3000, 3000 + 150))]  # both past the 128-token window
    fed = [[7, 8, 9, 10, 11], [21, 22, 23, 24, 25]]
    forget = [3, 1]

    def cold_next(tokens: list[int], nxt: int):
        cache = lm.new_cache(loaded)
        lm.prefill(loaded, mx.array(tokens), cache)
        return lm.forward(loaded, mx.array([nxt]), cache)

    def own(prompt):
        cache = lm.new_cache(loaded)
        lm.prefill(loaded, mx.array(prompt), cache)
        return cache

    for prompt, row, count in zip(prompts, fed, forget):  # alone
        cache = own(prompt)
        lm.forward_tokens(loaded, mx.array([row]), cache)
        lm.forget_last(cache, [count])
        kept = row[: len(row) - count]
        got = lm.forward(loaded, mx.array([99]), cache)
        assert mx.allclose(got, cold_next(prompt + kept, 99), atol=1e-4).item()
    batch = lm.batch_cache([own(p) for p in prompts])
    lm.forward_tokens(loaded, mx.array(fed), batch)
    lm.forget_last(batch, forget)
    got = lm.forward_rows(loaded, mx.array([99, 98]), batch)
    for i, (prompt, row, count) in enumerate(zip(prompts, fed, forget)):
        want = cold_next(prompt + row[: len(row) - count], [99, 98][i])
        assert mx.allclose(got[i : i + 1], want, atol=1e-4).item()
    lm.forward_tokens(loaded, mx.array([[1, 2, 3], [4, 5, 6]]), batch)  # a second round on the shifted rows
    lm.forget_last(batch, [0, 2])
    got = lm.forward_rows(loaded, mx.array([97, 96]), batch)
    second = [[99, 1, 2, 3], [98, 4]]
    for i, (prompt, row, count) in enumerate(zip(prompts, fed, forget)):
        want = cold_next(prompt + row[: len(row) - count] + second[i], [97, 96][i])
        assert mx.allclose(got[i : i + 1], want, atol=1e-4).item()


def _stream_acting(generator, messages, act_after: int, act, **sampling) -> tuple[int, Done]:
    received, acted_at, done = 0, None, None
    for event in generator.stream(messages=messages, conversation=generator.new_conversation_id(), request_id="spec-live",
                                  speculative="ngram", **sampling):
        if isinstance(event, Done):
            done = event
        elif hasattr(event, "token_ids") and event.token_ids:
            received += len(event.token_ids)
            if acted_at is None and received >= act_after:
                acted_at = received
                act()
    return acted_at, done


def test_live_changes_and_cancel_reach_a_drafting_answer(generator, always_draft):
    """A sampling change applies from the next token the model decides (the tokens a step already kept are sent);
    a cancel ends the answer at the step it arrives; max_tokens is exact."""
    forced = generator.tokenizer.encode(" banana", add_special_tokens=False)[0]
    changed_at, steered = _stream_acting(generator, COPY, 10, lambda: generator.update_sampling(
        request_id="spec-live", logit_bias={forced: 100.0}), temperature=0, max_tokens=60)
    tokens = list(steered.token_ids)
    first = tokens.index(forced)
    assert forced not in tokens[:changed_at] and first <= changed_at + generator.sampling.draft_tokens + 1
    assert set(tokens[first:]) == {forced} and len(tokens) == 60
    cancelled_at, cancelled = _stream_acting(generator, COPY, 10, lambda: generator.cancel("spec-live"),
                                             temperature=0, max_tokens=200)
    assert cancelled.finish_reason == "cancelled"
    assert len(cancelled.token_ids) <= cancelled_at + 2 * (generator.sampling.draft_tokens + 1)
    exact = [e for e in generator.stream(messages=COPY, max_tokens=37, temperature=0, speculative="ngram") if isinstance(e, Done)][0]
    assert len(exact.token_ids) == 37 and exact.finish_reason == "length" and exact.stats.accepted_tokens > 0


def test_quantized_kv_cache_takes_drafts_back_too(default_model_dir, always_draft):
    from mlx_harmony_tui import TokenGenerator

    with TokenGenerator(str(default_model_dir), kv_bits=8) as generator:
        off, on = (_answers(generator, [COPY, QUOTE], mode, temperature=0, max_tokens=80) for mode in ("off", "ngram"))
    for plain, drafted in zip(off, on):
        assert list(drafted.token_ids) == list(plain.token_ids)
    assert sum(d.stats.accepted_tokens for d in on) > 20

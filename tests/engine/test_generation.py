"""The engine end to end on the real default model: answers, streaming, cancel, live sampling, seeds."""

from __future__ import annotations

import threading

import pytest

from mlx_harmony_tui.engine.events import Done, StatsUpdate, TextDelta
from mlx_harmony_tui.errors import UserError
from tests.conftest import FRANCE

STORY = [{"role": "user", "content": "Write a long story about a lighthouse keeper and a storm."}]


def test_greedy_answer_names_paris(generator):
    ids = list(generator.generate(messages=FRANCE, max_tokens=30, temperature=0))
    answer = generator.tokenizer.decode(ids)
    assert "Paris" in answer
    assert answer.strip() == "The capital of France is Paris."


def test_stream_events_match_tokens_and_carry_stats(generator):
    events = list(generator.stream(messages=FRANCE, max_tokens=30, temperature=0))
    deltas = [e for e in events if isinstance(e, TextDelta)]
    done = events[-1]
    assert isinstance(done, Done) and done.finish_reason == "stop"
    assert [t for d in deltas for t in d.token_ids] == list(done.token_ids)
    assert "".join(d.text for d in deltas) == generator.tokenizer.decode(list(done.token_ids))
    assert all(d.channel == "final" for d in deltas)
    stats = done.stats
    assert stats.prompt_tokens > 20 and stats.completion_tokens == len(done.token_ids)
    assert stats.ttft_s > 0 and stats.prefill_tps > 0 and stats.decode_tps > 0 and stats.peak_memory_gb > 0
    assert not any(isinstance(e, StatsUpdate) and e.stats.completion_tokens > len(done.token_ids) for e in events)


def test_length_limit_stops_with_length(generator):
    ids = list(generator.generate(messages=STORY, max_tokens=5, temperature=0))
    assert len(ids) == 5
    done = [e for e in generator.stream(messages=STORY, max_tokens=5, temperature=0) if isinstance(e, Done)][0]
    assert done.finish_reason == "length"


def _act_after(generator, tokens: int, max_tokens: int, act) -> tuple[int, Done]:
    """Stream STORY greedily; call ``act()`` once ``tokens`` tokens have arrived. Return (tokens seen then, Done)."""
    received = 0
    acted_at = None
    done = None
    for event in generator.stream(messages=STORY, max_tokens=max_tokens, temperature=0):
        if isinstance(event, TextDelta):
            received += len(event.token_ids)
            if acted_at is None and received >= tokens:
                acted_at = received
                act()
        elif isinstance(event, Done):
            done = event
    assert done is not None
    return acted_at, done


def test_cancel_mid_stream_stops_within_one_token(generator):
    at_cancel, done = _act_after(generator, 3, 300, generator.cancel)
    assert done.finish_reason == "cancelled"
    # The thread may be one token ahead of this consumer, plus the token it was sampling.
    assert at_cancel <= len(done.token_ids) <= at_cancel + 2


def test_cancel_from_another_thread_ends_generate(generator):
    timer = threading.Timer(0.5, generator.cancel)
    timer.start()
    ids = list(generator.generate(messages=STORY, max_tokens=500, temperature=0))
    timer.join()
    assert 0 < len(ids) < 500


def test_leaving_the_loop_early_cancels_and_frees_the_engine(generator):
    for i, _ in enumerate(generator.generate(messages=STORY, max_tokens=300, temperature=0)):
        if i == 2:
            break
    ids = list(generator.generate(messages=FRANCE, max_tokens=30, temperature=0))
    assert "Paris" in generator.tokenizer.decode(ids)


def test_sampling_change_applies_from_the_next_token(generator):
    forced = generator.tokenizer.encode(" banana", add_special_tokens=False)[0]
    switched_at, done = _act_after(generator, 2, 40, lambda: generator.update_sampling(logit_bias={forced: 100.0}))
    generator.update_sampling(logit_bias={})
    tokens = list(done.token_ids)
    assert forced not in tokens[:switched_at]
    tail = tokens[switched_at + 2 :]
    assert len(tail) >= 10 and set(tail) == {forced}
    # Only the changed field changes: this call's max_tokens=40 and temperature=0 still hold.
    assert done.finish_reason == "length" and len(tokens) == 40


def test_same_seed_same_tokens_each_turn_when_reseeded(generator):
    run = lambda seed: list(  # noqa: E731
        generator.generate(messages=STORY, max_tokens=24, temperature=1.0, seed=seed, reseed_each_turn=True)
    )
    first, second, other = run(1234), run(1234), run(99)
    assert first == second
    assert first != other


def test_seed_continues_across_turns_without_reseed(default_model_dir):
    from mlx_harmony_tui import TokenGenerator

    with TokenGenerator() as gen:
        turn1 = list(gen.generate(messages=STORY, max_tokens=24, temperature=1.0, seed=7))
        turn2 = list(gen.generate(messages=STORY, max_tokens=24, temperature=1.0, seed=7))
    reseeded = list(default_generator_tokens(default_model_dir, seed=7))
    assert turn1 == reseeded
    assert turn2 != turn1


def default_generator_tokens(model_dir, seed):
    from mlx_harmony_tui import TokenGenerator

    with TokenGenerator(str(model_dir)) as gen:
        yield from gen.generate(messages=STORY, max_tokens=24, temperature=1.0, seed=seed)


def test_top_k_one_at_high_temperature_is_greedy(generator):
    greedy = list(generator.generate(messages=STORY, max_tokens=16, temperature=0))
    top1 = list(generator.generate(messages=STORY, max_tokens=16, temperature=1.8, top_k=1, seed=3))
    assert top1 == greedy


def test_repetition_penalty_changes_greedy_output(generator):
    prompt = [{"role": "user", "content": "Repeat the word hello ten times."}]
    plain = list(generator.generate(messages=prompt, max_tokens=20, temperature=0))
    penalised = list(generator.generate(messages=prompt, max_tokens=20, temperature=0, repetition_penalty=3.0))
    assert plain != penalised
    assert len(set(penalised)) > len(set(plain))


def test_xtc_always_on_moves_off_the_top_choice(generator):
    greedy = list(generator.generate(messages=STORY, max_tokens=16, temperature=0))
    xtc = list(
        generator.generate(messages=STORY, max_tokens=16, temperature=0.01, xtc_probability=1.0, xtc_threshold=0.05, seed=1)
    )
    near_greedy = list(generator.generate(messages=STORY, max_tokens=16, temperature=0.01, seed=1))
    assert near_greedy == greedy
    assert xtc != greedy


def test_utf8_stream_never_shows_broken_characters(generator):
    prompt = [{"role": "user", "content": "Write the word 'cat' in Japanese, Chinese and Korean, then three animal emoji."}]
    events = list(generator.stream(messages=prompt, max_tokens=60, temperature=0))
    deltas = [e.text for e in events if isinstance(e, TextDelta)]
    text = "".join(deltas)
    assert any(ord(ch) > 0x2FFF for ch in text), text
    assert all("\ufffd" not in d for d in deltas)
    # A character cut off by max_tokens is dropped, never shown half-decoded.
    assert text == generator.tokenizer.decode(list(events[-1].token_ids)).rstrip("\ufffd")


def test_bad_messages_and_sampling_give_clear_errors(generator):
    with pytest.raises(UserError, match=r"messages\[0\]\.role"):
        list(generator.generate(messages=[{"role": "wizard", "content": "hi"}], max_tokens=3))
    with pytest.raises(UserError, match="temperature"):
        list(generator.generate(messages=FRANCE, max_tokens=3, temperature=float("nan")))
    ids = list(generator.generate(messages=FRANCE, max_tokens=30, temperature=0))
    assert "Paris" in generator.tokenizer.decode(ids)


SAMPLES = ["Hello there, how are you?", "Ünïcödé 日本語 and emoji 🌍🚀 in one line", " spaces  before , and . after !",
           "def f(x):\n    return x ** 2  # code\n"]


def test_the_streams_fast_decode_gives_what_the_tokenizer_gives(loaded_default, tiny_gpt_oss_dir, enc):
    from mlx_harmony_tui.engine import lm

    tiny = lm.load(tiny_gpt_oss_dir)
    for loaded in (loaded_default, tiny):
        fast = lm.text_decoder(loaded)
        assert fast is not loaded.tokenizer.decode  # both tokenizers are fast ones that keep spaces as they are
        for text in SAMPLES:
            ids = lm.encode(loaded, text)
            for end in range(1, len(ids) + 1):  # every prefix: pieces cut inside a character included
                assert fast(ids[:end]) == loaded.tokenizer.decode(ids[:end])
    specials = enc.encode("<|channel|>final<|message|>Hi<|return|>", allowed_special="all")
    assert lm.text_decoder(tiny)(specials) == tiny.tokenizer.decode(specials)

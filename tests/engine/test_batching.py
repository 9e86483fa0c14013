"""Many generations at once on one model: batched, each as it would be alone, each controlled on its own."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from mlx_harmony_tui.engine.events import Done, TextDelta
from mlx_harmony_tui.harmony.render import HarmonySettings

QUESTIONS = [
    "What is the capital of France? Answer in one sentence.",
    "Name three fruits.",
    "Write a short poem about the sea.",
    "Explain what a lighthouse does.",
    "List the days of the week.",
    "What is two plus two?",
    "Describe a storm at night.",
    "Give me a recipe for tea.",
]
# Different sampling per request: greedy ones, one with a bias, seeded random ones.
SAMPLING = [
    {"temperature": 0.0, "max_tokens": 24},
    {"temperature": 0.0, "max_tokens": 17},
    {"temperature": 0.9, "seed": 11, "max_tokens": 20},
    {"temperature": 0.0, "max_tokens": 30, "repetition_penalty": 1.3},
    {"temperature": 0.7, "top_p": 0.9, "seed": 5, "max_tokens": 22},
    {"temperature": 0.0, "max_tokens": 12, "frequency_penalty": 0.8},
    {"temperature": 1.0, "top_k": 20, "seed": 3, "reseed_each_turn": True, "max_tokens": 26},
    {"temperature": 0.0, "max_tokens": 28},
]
STORY = [{"role": "user", "content": "Write a long story about a lighthouse keeper and a storm."}]


def run(generator, messages, started: list | None = None, **kwargs) -> Done:
    """One stream to its end; ``started`` gets how many generations were running when its first token came."""
    done = None
    for event in generator.stream(messages=messages, conversation=generator.new_conversation_id(), **kwargs):
        if started is not None and isinstance(event, TextDelta) and not started[-1:] == ["seen"]:
            started.append(generator.running)
            started.append("seen")
        if isinstance(event, Done):
            done = event
    return done


def solo_then_together(generator, messages_list, sampling_list):
    solo = [run(generator, m, **s) for m, s in zip(messages_list, sampling_list)]
    runs: list[list] = [[] for _ in messages_list]
    with ThreadPoolExecutor(len(messages_list)) as pool:
        together = list(pool.map(lambda i: run(generator, messages_list[i], runs[i], **sampling_list[i]), range(len(messages_list))))
    running_at_first_token = [r[0] for r in runs if r]
    return solo, together, running_at_first_token


def test_eight_requests_at_once_each_equal_to_its_solo_output(generator):
    messages = [[{"role": "user", "content": q}] for q in QUESTIONS]
    solo, together, running = solo_then_together(generator, messages, SAMPLING)
    assert max(running) >= 4  # they really decoded together
    for alone, batched in zip(solo, together):
        assert batched.finish_reason == alone.finish_reason
        assert list(batched.token_ids) == list(alone.token_ids)
        assert batched.stats.prompt_tokens == alone.stats.prompt_tokens


def test_tiny_gpt_oss_requests_batched_equal_their_solo_output(tiny_gpt_oss_dir):
    from mlx_harmony_tui import TokenGenerator

    settings = HarmonySettings(conversation_start_date="2026-11-26", builtin_tools=("python",))
    with TokenGenerator(str(tiny_gpt_oss_dir)) as generator:
        messages = [[{"role": "user", "content": q}] for q in QUESTIONS[:6]]
        # 200 tokens each: past the 128-token sliding window, in the batch's rotating caches.
        sampling = [{"temperature": 0.0, "max_tokens": 200, "harmony": settings}] * 6
        solo, together, running = solo_then_together(generator, messages, sampling)
    assert max(running) >= 3
    for alone, batched in zip(solo, together):
        assert list(batched.token_ids) == list(alone.token_ids) and len(alone.token_ids) == 200


def test_cancelling_one_leaves_the_others_intact(generator):
    messages = [[{"role": "user", "content": q}] for q in QUESTIONS[:4]]
    solo = [run(generator, m, temperature=0.0, max_tokens=40) for m in messages]
    victim = "cancel-me"
    results: dict[int, Done] = {}

    def one(i: int) -> None:
        received = 0
        for event in generator.stream(messages=messages[i], conversation=generator.new_conversation_id(), temperature=0.0,
                                      max_tokens=40, request_id=victim if i == 1 else None):
            if isinstance(event, TextDelta) and i == 1:
                received += len(event.token_ids)
                if received >= 3:
                    generator.cancel(victim)
            if isinstance(event, Done):
                results[i] = event

    threads = [threading.Thread(target=one, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert results[1].finish_reason == "cancelled" and len(results[1].token_ids) < 40
    for i in (0, 2, 3):
        assert list(results[i].token_ids) == list(solo[i].token_ids)


def test_a_live_sampling_change_reaches_only_its_request(generator):
    forced = generator.tokenizer.encode(" banana", add_special_tokens=False)[0]
    plain = run(generator, STORY, temperature=0.0, max_tokens=30)
    results: dict[str, tuple[int | None, Done]] = {}

    def one(name: str) -> None:
        received, changed_at = 0, None
        for event in generator.stream(messages=STORY, conversation=generator.new_conversation_id(), temperature=0.0,
                                      max_tokens=30, request_id=name):
            if isinstance(event, TextDelta):
                received += len(event.token_ids)
                if name == "steered" and changed_at is None and received >= 2:
                    changed_at = received
                    generator.update_sampling(request_id="steered", logit_bias={forced: 100.0})
            if isinstance(event, Done):
                results[name] = (changed_at, event)

    threads = [threading.Thread(target=one, args=(name,)) for name in ("steered", "left-alone")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    changed_at, steered = results["steered"]
    tokens = list(steered.token_ids)
    assert forced not in tokens[:changed_at] and set(tokens[changed_at + 2 :]) == {forced}
    assert list(results["left-alone"][1].token_ids) == list(plain.token_ids)
    assert generator.sampling.logit_bias == {}  # the defaults for later calls did not change


@pytest.mark.timeout(600)
def test_a_long_prompt_arriving_mid_batch_does_not_stall_the_others(generator):
    long_question = [{"role": "user", "content": "Summarise this. " + "The keeper climbed the stairs and lit the lamp. " * 160}]
    no_end = {int(t): -100.0 for t in generator.tokenizer.eos_token_ids}
    progress = {"running": 0, "during_prefill": 0}
    prefill_started = threading.Event()
    prefill_over = threading.Event()

    def runner() -> None:
        for event in generator.stream(messages=STORY, conversation=generator.new_conversation_id(), temperature=0.0,
                                      max_tokens=400, logit_bias=no_end, request_id="runner"):
            if isinstance(event, TextDelta):
                progress["running"] += len(event.token_ids)
                if prefill_started.is_set() and not prefill_over.is_set():
                    progress["during_prefill"] += len(event.token_ids)
                if progress["running"] >= 5 and not prefill_started.is_set():
                    prefill_started.set()
                if prefill_over.is_set():
                    generator.cancel("runner")

    thread = threading.Thread(target=runner)
    thread.start()
    prefill_started.wait(120)
    first = None
    for event in generator.stream(messages=long_question, conversation=generator.new_conversation_id(), temperature=0.0,
                                  max_tokens=4):
        if isinstance(event, TextDelta) and first is None:
            first = event
            prefill_over.set()
        if isinstance(event, Done):
            long_done = event
    prefill_over.set()
    thread.join(120)
    assert long_done.stats.prompt_tokens - long_done.stats.cached_tokens > 1200  # computed, not taken from a cache
    assert progress["during_prefill"] >= 3  # the running stream kept going while the long prompt was prefilled


def test_a_finished_request_hears_of_it_while_the_others_decode(generator):
    """Events wait at most until the next step is handed to the device (engine/scheduler.py HeldEvents), never until
    the batch is empty: the short request's Done reaches it while the long one is still mid-answer."""
    no_end = {int(t): -100.0 for t in generator.tokenizer.eos_token_ids}
    long_received = [0]
    seen_at_short_done: list[int] = []
    long_started = threading.Event()

    def long_one() -> None:
        for event in generator.stream(messages=STORY, conversation=generator.new_conversation_id(), temperature=0.0,
                                      max_tokens=80, logit_bias=no_end):
            if isinstance(event, TextDelta):
                long_received[0] += len(event.token_ids)
                if long_received[0] >= 2:
                    long_started.set()

    thread = threading.Thread(target=long_one)
    thread.start()
    assert long_started.wait(120)
    short = run(generator, [{"role": "user", "content": QUESTIONS[1]}], temperature=0.0, max_tokens=3)
    seen_at_short_done.append(long_received[0])
    thread.join(300)
    assert short.finish_reason == "length" and len(short.token_ids) == 3
    assert long_received[0] == 80
    assert 2 <= seen_at_short_done[0] < 75  # the long answer went on well after the short one was reported done

"""Every conversation of a model shares what it has in common with the others: a client's own system prompt and tools
are prefilled once, by whichever conversation came first, and reused exactly by every later or concurrent one."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from mlx_harmony_tui.engine.events import Done
from mlx_harmony_tui.engine.token_tree import common_length
from mlx_harmony_tui.harmony.render import FunctionTool, HarmonySettings
from mlx_harmony_tui.harmony.stream import END
from tests.support.engine import FirstLogits

INSTRUCTIONS = " ".join(f"Rule {i}: answer politely, briefly, and in plain words about lighthouses." for i in range(20))
TOOLS = "Tools: " + " ".join(f"tool_{i}(path: str, depth: int) reads the lighthouse log number {i}." for i in range(12))
QUESTIONS = ["Where is the nearest lighthouse?", "What colour is a lighthouse?", "Who keeps the light?",
             "How far does the beam reach?"]


def finish(events) -> Done:
    return [e for e in events if isinstance(e, Done)][-1]


def ask(generator, system: str, question: str, reuse: bool = True, **kwargs) -> tuple[Done, np.ndarray]:
    """A new conversation: the client's own system message (nothing marks it as a fixed opening), then a question."""
    recorder = FirstLogits()
    messages = [{"role": "system", "content": system}, {"role": "user", "content": question}]
    done = finish(generator.stream(messages=messages, conversation=generator.new_conversation_id(), reuse_cache=reuse,
                                   temperature=0.0, max_tokens=12, processors=(recorder,), **kwargs))
    return done, recorder.logits


def test_a_client_system_prompt_is_prefilled_once_and_reused_exactly(generator):
    system = INSTRUCTIONS + " " + TOOLS
    first, _ = ask(generator, system, QUESTIONS[0])
    second, warm_logits = ask(generator, system, QUESTIONS[1])
    cold, cold_logits = ask(generator, system, QUESTIONS[1], reuse=False)
    opening = common_length(first.prompt_ids, second.prompt_ids)
    assert opening > 300
    assert first.stats.cached_tokens < 10  # at most the chat template's first tokens, which every conversation has
    assert cold.stats.cached_tokens == 0
    # The whole shared opening came from the first conversation's cache, and nothing past it.
    assert second.stats.cached_tokens == opening
    assert list(second.token_ids) == list(cold.token_ids)
    assert float(np.max(np.abs(warm_logits - cold_logits))) < 1e-4


def test_conversations_that_start_together_compute_their_opening_once(generator):
    system = TOOLS + " Always cite the tool you used. " + INSTRUCTIONS
    with ThreadPoolExecutor(3) as pool:
        together = list(pool.map(lambda q: ask(generator, system, q)[0], QUESTIONS[:3]))
    opening = common_length(together[0].prompt_ids, together[1].prompt_ids)
    assert opening > 300
    computed = sorted(d.stats.prompt_tokens - d.stats.cached_tokens for d in together)
    # One of them prefilled the opening; the other two waited for it and computed only their question.
    assert computed[0] < 40 and computed[1] < 40 and computed[2] > opening
    assert sorted(d.stats.cached_tokens for d in together)[1:] == [opening, opening]
    for done, question in zip(together, QUESTIONS):
        cold, _ = ask(generator, system, question, reuse=False)
        assert list(done.token_ids) == list(cold.token_ids)


@pytest.fixture(scope="module")
def tiny(tiny_gpt_oss_dir):
    from mlx_harmony_tui import TokenGenerator

    with TokenGenerator(str(tiny_gpt_oss_dir)) as generator:
        yield generator


SETTINGS = HarmonySettings(conversation_start_date="2026-11-26", developer_instructions=INSTRUCTIONS,
                           builtin_tools=("python",), function_tools=(FunctionTool("lookup", "Look a word up.", {"type": "object"}),))


def ask_tiny(tiny, question: str, reuse: bool = True) -> tuple[Done, np.ndarray]:
    recorder = FirstLogits()
    done = finish(tiny.stream(messages=[{"role": "user", "content": question}], harmony=SETTINGS,
                              conversation=tiny.new_conversation_id(), reuse_cache=reuse, temperature=0.0, max_tokens=40,
                              processors=(recorder,)))
    return done, recorder.logits


def opening_end(prompt: tuple[int, ...], other: tuple[int, ...]) -> int:
    """Where the last message the two prompts have in common ends (the system and developer messages)."""
    shared = common_length(prompt, other)
    return max(i + 1 for i, token in enumerate(prompt[:shared]) if token == END)


def test_gpt_oss_openings_past_the_sliding_window_are_shared_exactly(tiny):
    first, _ = ask_tiny(tiny, QUESTIONS[0])
    shared, shared_logits = ask_tiny(tiny, QUESTIONS[1])
    cold, cold_logits = ask_tiny(tiny, QUESTIONS[1], reuse=False)
    end = opening_end(shared.prompt_ids, first.prompt_ids)
    assert end > 128  # longer than the 128-token window: the window layers' copy must be exact
    assert shared.stats.cached_tokens == end
    assert list(shared.token_ids) == list(cold.token_ids)
    assert float(np.max(np.abs(shared_logits - cold_logits))) < 1e-4


def test_gpt_oss_conversations_that_start_together_share_the_opening(tiny):
    questions = [q + " Tell me more." for q in QUESTIONS]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda q: ask_tiny(tiny, q)[0], questions))
    end = opening_end(together[0].prompt_ids, together[1].prompt_ids)
    # Either the opening was still kept from an earlier test, or one of these computed it for the others.
    assert sorted(d.stats.cached_tokens for d in together)[1:] == [end] * 3
    for done, question in zip(together, questions):
        assert list(done.token_ids) == list(ask_tiny(tiny, question, reuse=False)[0].token_ids)

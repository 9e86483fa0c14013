"""Conversations that open alike share the opening's cache: prefilled once, exact for every later one."""

from __future__ import annotations

import numpy as np
import pytest

from mlx_harmony_tui.engine.events import Done
from mlx_harmony_tui.harmony.render import FunctionTool, HarmonySettings
from tests.support.engine import FirstLogits

INSTRUCTIONS = " ".join(f"Rule {i}: answer politely, briefly, and in plain words about lighthouses." for i in range(20))


def finish(events) -> Done:
    return [e for e in events if isinstance(e, Done)][-1]


def ask(generator, conversation: str, question: str, system: bool, **kwargs) -> Done:
    messages = ([{"role": "system", "content": INSTRUCTIONS}] if system else []) + [{"role": "user", "content": question}]
    return finish(generator.stream(messages=messages, keep_messages=1 if system else 0, conversation=conversation,
                                   temperature=0.0, max_tokens=12, **kwargs))


def test_a_shared_system_prompt_is_prefilled_once_and_reused_exactly(generator):
    first = ask(generator, generator.new_conversation_id(), "Where is the nearest lighthouse?", True)
    assert first.stats.cached_tokens == 0
    second = ask(generator, generator.new_conversation_id(), "What colour is a lighthouse?", True)
    cold = ask(generator, generator.new_conversation_id(), "What colour is a lighthouse?", True, reuse_cache=False)
    assert cold.stats.cached_tokens == 0
    # The whole system prompt came from the cache: more than its 200-odd tokens, less than the prompt.
    assert 200 < second.stats.cached_tokens < second.stats.prompt_tokens
    assert list(second.token_ids) == list(cold.token_ids)
    # Nothing past an opening is shared: one without the system prompt gets at most the template's own (24 tokens).
    assert ask(generator, generator.new_conversation_id(), "What colour is a lighthouse?", False).stats.cached_tokens < 100


@pytest.fixture(scope="module")
def tiny(tiny_gpt_oss_dir):
    from mlx_harmony_tui import TokenGenerator

    with TokenGenerator(str(tiny_gpt_oss_dir)) as generator:
        yield generator


def test_gpt_oss_openings_past_the_sliding_window_are_shared_exactly(tiny):
    settings = HarmonySettings(conversation_start_date="2026-11-26", developer_instructions=INSTRUCTIONS,
                               builtin_tools=("python",), function_tools=(FunctionTool("lookup", "Look a word up.", {"type": "object"}),))

    def run(question: str, reuse: bool = True):
        recorder = FirstLogits()
        done = finish(tiny.stream(messages=[{"role": "user", "content": question}], harmony=settings,
                                  conversation=tiny.new_conversation_id(), reuse_cache=reuse, temperature=0.0, max_tokens=40,
                                  processors=(recorder,)))
        return done, recorder.logits

    first, _ = run("Where is the nearest lighthouse?")
    assert first.stats.cached_tokens == 0
    shared, shared_logits = run("What colour is a lighthouse?")
    cold, cold_logits = run("What colour is a lighthouse?", reuse=False)
    assert shared.stats.cached_tokens > 128  # the opening is longer than the 128-token window: its copy must be exact
    assert list(shared.token_ids) == list(cold.token_ids)
    assert float(np.max(np.abs(shared_logits - cold_logits))) < 1e-4

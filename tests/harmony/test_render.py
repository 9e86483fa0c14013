"""Harmony rendering: system settings, developer instructions, history on the final channel."""

from __future__ import annotations

import pytest

from mlx_harmony_tui.errors import UserError
from mlx_harmony_tui.harmony.render import HarmonySettings, harmony_prompt_tokens
from mlx_harmony_tui.harmony.vocab import load_encoding


@pytest.fixture(scope="module")
def enc():
    return load_encoding()


def test_system_developer_and_history(enc):
    settings = HarmonySettings(
        model_identity="You are Ada.", reasoning_effort="high", knowledge_cutoff="2024-06", developer_instructions="Be brief."
    )
    messages = [
        {"role": "system", "content": "Answer in French."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Bonjour !"},
        {"role": "user", "content": "Capital of Italy?"},
    ]
    text = enc.decode(harmony_prompt_tokens(enc, messages, settings, start_date="2026-11-21"))
    assert text.startswith("<|start|>system<|message|>You are Ada.\nKnowledge cutoff: 2024-06\nCurrent date: 2026-11-21")
    assert "Reasoning: high" in text
    assert "<|start|>developer<|message|># Instructions\n\nBe brief.\n\nAnswer in French.<|end|>" in text
    assert "<|start|>assistant<|channel|>final<|message|>Bonjour !<|end|>" in text
    assert text.endswith("<|start|>user<|message|>Capital of Italy?<|end|><|start|>assistant")


def test_prefix_is_stable_across_turns(enc):
    settings = HarmonySettings()
    turn1 = harmony_prompt_tokens(enc, [{"role": "user", "content": "One"}], settings, start_date="2026-01-02")
    turn2 = harmony_prompt_tokens(
        enc,
        [{"role": "user", "content": "One"}, {"role": "assistant", "content": "Uno"}, {"role": "user", "content": "Two"}],
        settings,
        start_date="2026-01-02",
    )
    assert turn2[: len(turn1)] == turn1


def test_earlier_analysis_is_not_rendered(enc):
    messages = [
        {"role": "user", "content": "Q"},
        {"role": "assistant", "content": "A", "analysis": "secret reasoning"},
        {"role": "user", "content": "Q2"},
    ]
    text = enc.decode(harmony_prompt_tokens(enc, messages, HarmonySettings(), start_date="2026-01-02"))
    assert "secret reasoning" not in text and "<|channel|>analysis" not in text


def test_bad_messages_are_user_errors(enc):
    with pytest.raises(UserError, match=r"messages\[0\]\.role"):
        harmony_prompt_tokens(enc, [{"role": "robot", "content": "x"}], HarmonySettings())

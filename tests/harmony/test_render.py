"""Harmony rendering: system settings, developer instructions, history on the final channel."""

from __future__ import annotations

import pytest

from mlx_harmony_tui.errors import UserError
from mlx_harmony_tui.harmony.render import FunctionTool, HarmonySettings, harmony_prompt_tokens


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


WEATHER = FunctionTool(
    "get_weather", "Weather for a city", {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
)


def test_tool_namespaces(enc):
    settings = HarmonySettings(builtin_tools=("python", "browser"), function_tools=(WEATHER,))
    text = enc.decode(harmony_prompt_tokens(enc, [{"role": "user", "content": "Hi"}], settings, start_date="2026-11-21"))
    system, developer = text.split("<|end|>")[:2]
    assert "namespace browser {" in system and "## python" in system
    assert "# Valid channels: analysis, commentary, final." in system
    assert "namespace functions {" in developer and "type get_weather = (_: {\ncity: string,\n}) => any;" in developer
    plain = enc.decode(harmony_prompt_tokens(enc, [{"role": "user", "content": "Hi"}], HarmonySettings(), start_date="2026-11-21"))
    assert "# Tools" not in plain and "<|start|>developer" not in plain


def test_tool_loop_keeps_current_turn_and_drops_earlier_turns(enc):
    messages = [
        {"role": "user", "content": "Weather in Rome?"},
        {"role": "assistant", "content": "", "analysis": "old reasoning",
         "tool_calls": [{"recipient": "functions.get_weather", "arguments": '{"city":"Rome"}'}]},
        {"role": "tool", "name": "functions.get_weather", "content": '{"temp": 30}'},
        {"role": "assistant", "content": "It is 30 degrees in Rome."},
        {"role": "user", "content": "And Paris?"},
        {"role": "assistant", "content": "Checking.", "analysis": "need the tool",
         "tool_calls": [{"recipient": "functions.get_weather", "arguments": '{"city":"Paris"}', "content_type": "<|constrain|>json"}]},
        {"role": "tool", "name": "functions.get_weather", "content": '{"temp": 20}'},
    ]
    text = enc.decode(harmony_prompt_tokens(enc, messages, HarmonySettings(function_tools=(WEATHER,)), start_date="2026-11-21"))
    earlier, current = text.split("<|start|>user<|message|>And Paris?<|end|>")
    # the earlier turn: only its final text
    assert "old reasoning" not in earlier and '{"temp": 30}' not in earlier and "Rome\"}" not in earlier
    assert earlier.endswith("<|start|>assistant<|channel|>final<|message|>It is 30 degrees in Rome.<|end|>")
    # the current turn, whole: analysis, preamble, the call and its result on the call's channel
    assert current == (
        "<|start|>assistant<|channel|>analysis<|message|>need the tool<|end|>"
        "<|start|>assistant<|channel|>commentary<|message|>Checking.<|end|>"
        '<|start|>assistant to=functions.get_weather<|channel|>commentary <|constrain|>json<|message|>{"city":"Paris"}<|call|>'
        '<|start|>functions.get_weather to=assistant<|channel|>commentary<|message|>{"temp": 20}<|end|>'
        "<|start|>assistant"
    )


def test_raw_tokens_of_the_turn_extend_the_previous_prompt(enc):
    first = [{"role": "user", "content": "Run it"}]
    settings = HarmonySettings(builtin_tools=("python",))
    prompt = harmony_prompt_tokens(enc, first, settings, start_date="2026-11-21")
    # The model's own header order (channel before recipient), which Harmony would re-render differently.
    generated = enc.encode("<|channel|>analysis<|message|>Use python.<|end|><|start|>assistant<|channel|>analysis to=python code<|message|>print(1)<|call|>", allowed_special="all")
    following = first + [
        {"role": "assistant", "content": "", "token_ids": generated, "tool_calls": [{"recipient": "python", "arguments": "print(1)", "channel": "analysis"}]},
        {"role": "tool", "name": "python", "content": "1"},
    ]
    extended = harmony_prompt_tokens(enc, following, settings, start_date="2026-11-21")
    assert extended[: len(prompt) + len(generated)] == prompt + generated
    assert enc.decode(extended[len(prompt) + len(generated):]) == "<|start|>python to=assistant<|channel|>analysis<|message|>1<|end|><|start|>assistant"


@pytest.mark.parametrize(
    "messages, field",
    [
        ([{"role": "tool", "content": "x"}], r"messages\[0\]\.name"),
        ([{"role": "assistant", "content": "x", "tool_calls": "nope"}], r"messages\[0\]\.tool_calls"),
        ([{"role": "assistant", "content": "x", "tool_calls": [{"recipient": "python"}]}], r"messages\[0\]\.tool_calls\[0\]\.arguments"),
        ([{"role": "assistant", "content": "x", "tool_calls": [{"recipient": "p", "arguments": "", "channel": "final"}]}], r"tool_calls\[0\]\.channel"),
        ([{"role": "assistant", "content": "x", "token_ids": [1, "two"]}], r"messages\[0\]\.token_ids"),
        ([{"role": "user", "content": "x"}, {"role": "assistant", "analysis": 3}], r"messages\[1\]\.analysis"),
    ],
)
def test_bad_tool_messages_name_the_field(enc, messages, field):
    with pytest.raises(UserError, match=field):
        harmony_prompt_tokens(enc, messages, HarmonySettings())


def test_bad_settings_are_user_errors():
    with pytest.raises(UserError, match="reasoning_effort"):
        HarmonySettings(reasoning_effort="extreme")
    with pytest.raises(UserError, match="tools: 'shell'"):
        HarmonySettings(builtin_tools=("shell",))
    with pytest.raises(UserError, match="function name"):
        HarmonySettings(function_tools=(FunctionTool("bad name"),))

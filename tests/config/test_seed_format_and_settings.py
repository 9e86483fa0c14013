"""The seed tool's files as they are written, exact error lines, app settings, and random input."""

from __future__ import annotations

import json
import os
import warnings
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlx_harmony_tui.chat.prompt import harmony_prompt, template_prompt
from mlx_harmony_tui.config.files import read_json, relaxed_json_text
from mlx_harmony_tui.config.profiles import find_profile, load_profiles, profile_files
from mlx_harmony_tui.config.prompt_config import PromptConfig, fill_placeholders, filled_prompt, load_prompt_config
from mlx_harmony_tui.config.resolve import RunSettings
from mlx_harmony_tui.config.sampling import SamplingParams
from mlx_harmony_tui.config.settings import AppSettings, load_settings, save_settings
from mlx_harmony_tui.errors import UserError

STARTED = datetime(2025, 7, 4, 9, 30, 0, tzinfo=timezone(timedelta(hours=-4), "EDT"))

# Written the way the seed tool's example is: trailing commas, "Medium", seed -1, keys of its own.
SEED_STYLE = """{
    "system_model_identity": "You are {assistant} (also <|ASSISTANT|>) on <|DATE|> at <|TIMEZ|> (<|TIMEU|> UTC).",
    "reasoning_effort": "Medium",
    "conversation_start_date": "<|DATE|>",
    "knowledge_cutoff": "2024-06",
    "developer_instructions": "Call the user {user}, never \\"{user},\\" with a comma // not a comment",
    "assistant_greeting": "Hello {user}, I am {assistant}.",
    "use_harmony": true,
    "example_dialogues": [
        [
            {"role": "user", "content": "Hi, what do you do?"},
            {"role": "assistant", "content": "I help, {user}.",},
        ],
    ],
    "placeholders": {"assistant": "Iris", "ASSISTANT": "IRIS", "user": "Sam"},
    "max_context_tokens": 4096,
    "max_tokens": 1024,
    "temperature": 0.8,
    "top_p": 0.9,
    "top_k": 40,
    "xtc_special_tokens": null,
    "repetition_context_size": 20,
    "mlock": true,
    "seed": -1,
    "reseed_each_turn": false,
    "truncate_thinking": 1000,
    "chats_dir": "logs",
}
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_seed_style_config_loads_and_names_the_keys_it_does_not_use(tmp_path):
    path = write(tmp_path / "prompt-config.example.json", SEED_STYLE)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        config = load_prompt_config(path)
    (warning,) = [str(w.message) for w in caught]
    assert warning.startswith(f"{path}: seed-tool keys not used by mlx-harmony: ")
    for key in ("use_harmony", "xtc_special_tokens", "mlock", "truncate_thinking", "chats_dir"):
        assert key + " (" in warning
    assert config.reasoning_effort == "medium" and config.seed is None and config.max_context_tokens == 4096
    params = config.sampling()
    assert (params.temperature, params.top_p, params.top_k, params.max_tokens, params.seed) == (0.8, 0.9, 40, 1024, None)
    filled = filled_prompt(config, STARTED)
    assert filled.identity == "You are Iris (also IRIS) on 2025-07-04 at 09:30 EDT (13:30 UTC UTC)."
    assert filled.instructions == 'Call the user Sam, never "Sam," with a comma // not a comment'
    assert filled.greeting == "Hello Sam, I am Iris."
    assert filled.start_date == "2025-07-04"
    assert filled.examples == [{"role": "user", "content": "Hi, what do you do?"}, {"role": "assistant", "content": "I help, Sam."}]


def test_harmony_settings_take_the_filled_date_and_cutoff(tmp_path):
    config = load_quietly_ignoring_seed_keys(write(tmp_path / "p.json", SEED_STYLE))
    run = RunSettings(model=None, sampling=config.sampling(), prompt_config=config, started=STARTED)
    examples, harmony, _ = harmony_prompt(run, [])
    assert harmony.conversation_start_date == "2025-07-04" and harmony.knowledge_cutoff == "2024-06"
    assert harmony.reasoning_effort == "medium" and harmony.model_identity.startswith("You are Iris")
    assert len(examples) == 2 and run.greeting() == "Hello Sam, I am Iris."


def load_quietly_ignoring_seed_keys(path: Path) -> PromptConfig:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_prompt_config(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"temperature": 3.5}', "temperature: must be <= 2 (got 3.5)"),
        ('{"top_p": -0.5}', "top_p: must be >= 0 (got -0.5)"),
        ('{"repetition_penalty": 0}', "repetition_penalty: must be > 0 (got 0)"),
        ('{"top_k": 2.5}', "top_k: must be a whole number (got 2.5)"),
        ('{"reseed_each_turn": "sometimes"}', "reseed_each_turn: must be true or false (got 'sometimes')"),
        ('{"reasoning_effort": "max"}', "reasoning_effort: must be one of 'low', 'medium' or 'high' (got 'max')"),
        ('{"example_dialogues": [[{"role": "user"}]]}', "example_dialogues.0.0.content: is required"),
        ('{"seed": -7}', "seed: must be >= 0 (got -7)"),
        ('{"temperature": 0.5,,}', "prompt config is not valid JSON (line 1, column 22: Expecting property name enclosed in double quotes)"),
    ],
)
def test_one_line_messages_name_file_field_and_reason(tmp_path, text, message):
    path = write(tmp_path / "prompt.json", text)
    with pytest.raises(UserError) as info:
        load_prompt_config(path)
    assert str(info.value) == f"{path}: {message}"


def test_relaxed_json_keeps_strings_and_line_numbers():
    text = '{\n  "a": "x, ]", // note\n  /* block\n  comment */ "b": [1, 2,],\n  "c": "// kept", \n}'
    cleaned = relaxed_json_text(text)
    assert json.loads(cleaned) == {"a": "x, ]", "b": [1, 2], "c": "// kept"}
    assert cleaned.count("\n") == text.count("\n")


def test_json_error_line_counts_lines_as_written(tmp_path):
    path = write(tmp_path / "p.json", '{\n  // comment\n  "a": 1,\n  "b" 2\n}')
    with pytest.raises(UserError, match=r"line 4, column 7"):
        read_json(path, "prompt config")


# --- placeholders -------------------------------------------------------------------------------


def test_placeholder_case_rules():
    values = {"DATE": "2025-07-04"}
    users = {"name": "Ada", "Team": "blue"}
    assert fill_placeholders("<|date|> <|Date|> <|NAME|> <|team|> {name} {Name} {Team}", values, users) == (
        "2025-07-04 2025-07-04 Ada blue Ada {Name} blue"
    )
    # Harmony's own tokens and unknown names are left exactly as written.
    assert fill_placeholders("<|start|>x<|end|> <|nobody|> {nobody}", values, users) == "<|start|>x<|end|> <|nobody|> {nobody}"


def test_builtins_are_frozen_per_conversation():
    config = PromptConfig(system_model_identity="now <|DATETIME|>")
    first = RunSettings(model=None, sampling=SamplingParams(), prompt_config=config, started=STARTED)
    later = RunSettings(model=None, sampling=SamplingParams(), prompt_config=config, started=STARTED + timedelta(hours=1))
    assert template_prompt(first, []).messages == template_prompt(first, []).messages  # every turn of one conversation
    assert template_prompt(first, []).messages[0]["content"] == "now 2025-07-04 09:30:00"
    assert template_prompt(later, []).messages[0]["content"] == "now 2025-07-04 10:30:00"


# --- profiles -------------------------------------------------------------------------------------


def test_seed_layout_profiles_name_configs_from_the_project_folder(tmp_path, monkeypatch):
    project = tmp_path / "project"
    write(project / "configs" / "prompt-config.example.json", '{"temperature": 0.3,}')
    write(project / "configs" / "profiles.example.json",
          '{"gpt-oss-20b": {"model": "~/models/gpt-oss-20b", "prompt_config": "configs/prompt-config.example.json", "max_context_tokens": 131072}}')
    monkeypatch.chdir(project)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    profile = load_profiles(Path("configs/profiles.example.json"))["gpt-oss-20b"]
    assert profile.prompt_config == str(project / "configs" / "prompt-config.example.json")
    assert profile.model == str(tmp_path / "home" / "models" / "gpt-oss-20b")
    assert profile.max_context_tokens == 131072


def test_profile_search_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    files = profile_files(None)
    assert files[0] == Path(os.environ["MLX_HARMONY_CONFIG_DIR"]) / "profiles.json"
    assert files[1:3] == [tmp_path / "configs" / "profiles.json", tmp_path / "configs" / "profiles.example.json"]
    # The project's shipped examples are found with nothing else around.
    assert find_profile("deterministic", None).prompt_config.endswith("prompt-config.deterministic.json")
    write(tmp_path / "configs" / "profiles.json", '{"deterministic": {"model": "org/mine"}}')
    assert find_profile("deterministic", None).model == "org/mine"


def test_profile_tools_are_checked(tmp_path):
    path = write(tmp_path / "profiles.json", '{"p": {"tools": ["python", "shell"]}}')
    with pytest.raises(UserError) as info:
        load_profiles(path)
    assert str(info.value) == f"{path}: p.tools.1: must be one of 'browser', 'python' or 'apply_patch' (got 'shell')"


# --- app settings ---------------------------------------------------------------------------------


def test_settings_default_save_and_load(tmp_path):
    path = tmp_path / "cfg" / "settings.json"
    assert load_settings(path) == AppSettings()
    saved = AppSettings(theme="paper", keymap={"cancel": "ctrl+x"}, default_profile="precise", tool_approval="auto", cache_budget_mb=64)
    save_settings(saved, path)
    assert load_settings(path) == saved
    assert [p.name for p in path.parent.iterdir()] == ["settings.json"]  # no temporary file left behind


def test_settings_keep_keys_other_writers_added(tmp_path):
    path = write(tmp_path / "settings.json", '{"theme": "paper", "plugin_x": {"on": true}}')
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = load_settings(path)
    assert "unknown keys ignored: plugin_x" in str(caught[0].message)
    save_settings(loaded.model_copy(update={"theme": "night"}), path)
    data = json.loads(path.read_text())
    assert data["theme"] == "night" and data["plugin_x"] == {"on": True}


def test_damaged_settings_are_named_and_never_overwritten(tmp_path):
    path = write(tmp_path / "settings.json", '{"theme": "paper", "tool_approval": "maybe"}')
    with pytest.raises(UserError) as info:
        load_settings(path)
    assert str(info.value) == f"{path}: tool_approval: must be one of 'ask', 'auto' or 'deny' (got 'maybe')"
    broken = write(tmp_path / "b" / "settings.json", '{"theme": ')
    with pytest.raises(UserError, match="damaged"):
        save_settings(AppSettings(), broken)
    assert broken.read_text() == '{"theme": '
    bad_key = write(tmp_path / "k" / "settings.json", '{"keymap": {"cancel": "Ctrl C"}}')
    with pytest.raises(UserError, match=r"keymap: Value error|keymap: cancel: 'Ctrl C' is not a key name"):
        load_settings(bad_key)


# --- random input never gets past the clear error ----------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=20,
)
FIELDS = list(PromptConfig.model_fields) + ["sampling", "model", "prompt_config", "tools", "keymap", "theme", "tool_approval"]
OBJECTS = st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), JSON, max_size=6)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=JSON | OBJECTS | st.dictionaries(st.text(max_size=6), OBJECTS, max_size=3))
def test_random_json_gives_a_config_or_the_clear_error(tmp_path, data):
    assert_loaders_fail_only_clearly(tmp_path, json.dumps(data))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=60) | st.binary(max_size=40).map(lambda b: b.decode("latin-1")))
def test_random_text_gives_a_config_or_the_clear_error(tmp_path, text):
    assert_loaders_fail_only_clearly(tmp_path, text)


def assert_loaders_fail_only_clearly(tmp_path: Path, text: str) -> None:
    """Each loader returns a config or raises UserError with one line naming the file; nothing else."""
    path = tmp_path / "random.json"
    path.write_text(text, encoding="utf-8")
    for load in (load_prompt_config, load_profiles, load_settings):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                load(path)
            except UserError as exc:
                assert str(exc).startswith(str(path)) and "\n" not in str(exc)

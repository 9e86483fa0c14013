"""Prompt configs, profiles and how resolve_run_settings combines them."""

from __future__ import annotations

import json
import warnings
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from mlx_harmony_tui.chat.prompt import template_prompt
from mlx_harmony_tui.config.profiles import find_profile, load_profiles
from mlx_harmony_tui.config.prompt_config import PromptConfig, load_prompt_config
from mlx_harmony_tui.config.resolve import RunSettings, resolve_run_settings
from mlx_harmony_tui.engine.sampling import SamplingParams
from mlx_harmony_tui.errors import UserError

STARTED = datetime(2024, 3, 9, 14, 5, 7, tzinfo=timezone(timedelta(hours=2), "XYZ"))


def conversation_messages(config, prompt: str, system: str | None, started: datetime) -> list[dict]:
    """A first turn's messages, assembled as every front end assembles them (chat.prompt)."""
    settings = RunSettings(model=None, sampling=SamplingParams(), prompt_config=config, started=started)
    return template_prompt(settings, [{"role": "user", "content": prompt}], system).messages


def write_json(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def load_quietly(path: Path) -> PromptConfig:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return load_prompt_config(path)


# --- sampling fields ------------------------------------------------------------------------


def test_sampling_fields_apply_and_others_keep_defaults(tmp_path):
    path = write_json(
        tmp_path / "pc.json",
        {
            "temperature": 0.2,
            "top_p": 0.9,
            "top_k": 40,
            "min_p": 0.05,
            "min_tokens_to_keep": 2,
            "repetition_penalty": 1.1,
            "repetition_context_size": 32,
            "xtc_probability": 0.5,
            "xtc_threshold": 0.2,
            "logit_bias": {"42": -100, "7": 2.5},
            "max_tokens": 12,
            "seed": 3,
            "reseed_each_turn": True,
        },
    )
    params = load_quietly(path).sampling()
    assert params == SamplingParams(
        temperature=0.2,
        top_p=0.9,
        top_k=40,
        min_p=0.05,
        min_tokens_to_keep=2,
        repetition_penalty=1.1,
        repetition_context_size=32,
        xtc_probability=0.5,
        xtc_threshold=0.2,
        logit_bias={42: -100.0, 7: 2.5},
        max_tokens=12,
        seed=3,
        reseed_each_turn=True,
    )


def test_fields_left_out_keep_the_base(tmp_path):
    config = load_quietly(write_json(tmp_path / "pc.json", {"temperature": 0}))
    base = SamplingParams(top_p=0.5, max_tokens=7)
    params = config.sampling(base)
    assert params.temperature == 0 and params.top_p == 0.5 and params.max_tokens == 7
    assert PromptConfig().sampling() == SamplingParams()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("temperature", 7),
        ("temperature", -0.1),
        ("temperature", "hot"),
        ("top_p", 1.5),
        ("top_k", -1),
        ("min_p", -0.1),
        ("min_tokens_to_keep", 0),
        ("repetition_penalty", 0),
        ("repetition_context_size", -1),
        ("xtc_probability", 2),
        ("xtc_threshold", 0.6),
        ("max_tokens", 0),
        ("seed", -2),
        ("seed", 2**64),
        ("max_context_tokens", 0),
        ("logit_bias", {"abc": 1}),
        ("logit_bias", {"-1": 5}),
        ("reseed_each_turn", "sometimes"),
    ],
)
def test_out_of_range_names_file_and_field(tmp_path, field, value):
    path = write_json(tmp_path / "bad.json", {field: value})
    with pytest.raises(UserError) as info:
        load_prompt_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}: {field}"), message
    assert "\n" not in message


@pytest.mark.parametrize("text", ['{"temperature": NaN}', '{"top_p": Infinity}'])
def test_non_finite_numbers_are_refused(tmp_path, text):
    path = tmp_path / "nan.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(UserError, match="finite") as info:
        load_prompt_config(path)
    assert str(path) in str(info.value)


def test_broken_json_names_file_and_line(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{\n  "temperature": 0,\n  "top_p": 0.9\n', encoding="utf-8")
    with pytest.raises(UserError, match=r"line \d+") as info:
        load_prompt_config(path)
    assert str(info.value).startswith(str(path))


def test_not_an_object_and_missing_file_name_the_file(tmp_path):
    path = write_json(tmp_path / "list.json", [1, 2])
    with pytest.raises(UserError, match="JSON object") as info:
        load_prompt_config(path)
    assert str(path) in str(info.value)
    with pytest.raises(UserError, match="not found") as info:
        load_prompt_config(tmp_path / "nope.json")
    assert str(tmp_path / "nope.json") in str(info.value)


def test_bad_example_dialogue_names_the_nested_field(tmp_path):
    path = write_json(tmp_path / "pc.json", {"example_dialogues": [[{"role": "robot", "content": "x"}]]})
    with pytest.raises(UserError, match=r"example_dialogues\.0\.0\.role") as info:
        load_prompt_config(path)
    assert str(path) in str(info.value)


# --- reasoning effort, unknown keys -----------------------------------------------------------


@pytest.mark.parametrize(("given", "stored"), [("LOW", "low"), ("Medium", "medium"), ("high", "high"), ("hIgH", "high")])
def test_reasoning_effort_any_case(tmp_path, given, stored):
    assert load_quietly(write_json(tmp_path / "pc.json", {"reasoning_effort": given})).reasoning_effort == stored


def test_reasoning_effort_unknown_value_is_named(tmp_path):
    path = write_json(tmp_path / "pc.json", {"reasoning_effort": "extreme"})
    with pytest.raises(UserError, match="reasoning_effort") as info:
        load_prompt_config(path)
    assert str(path) in str(info.value)


def test_unknown_keys_warn_naming_them_and_are_ignored(tmp_path):
    path = write_json(tmp_path / "pc.json", {"temperature": 0.3, "colour": "blue", "flavour": 1})
    with pytest.warns(UserWarning, match="colour, flavour") as record:
        config = load_prompt_config(path)
    assert len(record) == 1 and str(path) in str(record[0].message)
    assert config.temperature == 0.3
    assert not hasattr(config, "colour")


def test_known_keys_do_not_warn(tmp_path):
    config = load_quietly(write_json(tmp_path / "pc.json", {"system_model_identity": "x", "placeholders": {"a": "b"}, "max_context_tokens": 4096}))
    assert config.max_context_tokens == 4096 and config.placeholders == {"a": "b"}


# --- placeholders and messages ----------------------------------------------------------------


def test_builtin_placeholders_any_case_and_user_placeholders():
    config = PromptConfig(
        system_model_identity="Today is <|DATE|> at <|time|>; full <|DateTime|>; utc <|timeu|>; am/pm <|TIMEA|>; zone <|TimeZ|>.",
        developer_instructions="Hello {name}, keep {unknown} and {not valid} and <|NOPE|>.",
        placeholders={"name": "Ada"},
    )
    messages = conversation_messages(config, "hi", None, STARTED)
    assert messages[0] == {
        "role": "system",
        "content": (
            "Today is 2024-03-09 at 14:05; full 2024-03-09 14:05:07; utc 12:05 UTC; am/pm 02:05 PM; zone 14:05 XYZ."
            "\n\nHello Ada, keep {unknown} and {not valid} and <|NOPE|>."
        ),
    }
    assert messages[1:] == [{"role": "user", "content": "hi"}]


def test_user_prompt_is_never_rewritten():
    config = PromptConfig(system_model_identity="On <|DATE|>", placeholders={"name": "Ada"})
    prompt = "What happened on <|DATE|> at <|time|>, {name}?"
    messages = conversation_messages(config, prompt, None, STARTED)
    assert messages[0]["content"] == "On 2024-03-09"
    assert messages[-1] == {"role": "user", "content": prompt}


def test_example_dialogues_come_before_the_prompt():
    config = PromptConfig.model_validate(
        {
            "system_model_identity": "You are {who}.",
            "placeholders": {"who": "a helper"},
            "example_dialogues": [
                [{"role": "user", "content": "Q1 on <|date|>"}, {"role": "assistant", "content": "A1 by {who}"}],
                [{"role": "developer", "content": "be brief"}, {"role": "user", "content": "Q2"}, {"role": "assistant", "content": "A2"}],
            ],
        }
    )
    messages = conversation_messages(config, "real question", "extra system", STARTED)
    assert messages == [
        {"role": "system", "content": "You are a helper.\n\nextra system"},
        {"role": "user", "content": "Q1 on 2024-03-09"},
        {"role": "assistant", "content": "A1 by a helper"},
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "Q2"},
        {"role": "assistant", "content": "A2"},
        {"role": "user", "content": "real question"},
    ]


def test_no_config_means_only_the_prompt_and_system():
    assert conversation_messages(None, "q", None, STARTED) == [{"role": "user", "content": "q"}]
    assert conversation_messages(None, "q", "sys", STARTED) == [{"role": "system", "content": "sys"}, {"role": "user", "content": "q"}]


def test_run_settings_keep_the_start_time_for_every_turn():
    settings = RunSettings(model=None, sampling=SamplingParams(), prompt_config=PromptConfig(system_model_identity="<|DATETIME|>"), started=STARTED)
    assert template_prompt(settings, [{"role": "user", "content": "a"}]).messages[0]["content"] == "2024-03-09 14:05:07"
    assert template_prompt(settings, [{"role": "user", "content": "b"}]).messages[0] == template_prompt(settings, [{"role": "user", "content": "a"}]).messages[0]


# --- profiles -------------------------------------------------------------------------------


def test_profile_paths_resolve_against_the_profiles_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "prof"
    (folder / "models" / "existing").mkdir(parents=True)
    path = write_json(
        folder / "profiles.json",
        {
            "dot": {"model": "./models/m", "prompt_config": "prompts/p.json"},
            "up": {"model": "../shared/x.gguf"},
            "bare-existing": {"model": "models/existing"},
            "absolute": {"model": str(tmp_path / "abs")},
        },
    )
    profiles = load_profiles(path)
    assert Path(profiles["dot"].model) == folder / "models" / "m"
    assert Path(profiles["dot"].prompt_config) == folder / "prompts" / "p.json"
    assert Path(profiles["up"].model).resolve() == (tmp_path / "shared" / "x.gguf").resolve()
    assert Path(profiles["bare-existing"].model) == folder / "models" / "existing"
    assert profiles["absolute"].model == str(tmp_path / "abs")


def test_profile_paths_expand_home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    path = write_json(tmp_path / "profiles.json", {"p": {"model": "~/models/m", "prompt_config": "~/prompts/p.json"}})
    profile = load_profiles(path)["p"]
    assert profile.model == str(home / "models" / "m")
    assert profile.prompt_config == str(home / "prompts" / "p.json")


def test_profile_repo_id_is_kept_and_missing_model_means_default(tmp_path):
    path = write_json(tmp_path / "profiles.json", {"hf": {"model": "mlx-community/SmolLM2-135M-Instruct"}, "none": {}})
    profiles = load_profiles(path)
    assert profiles["hf"].model == "mlx-community/SmolLM2-135M-Instruct"
    assert profiles["none"].model is None and profiles["none"].prompt_config is None
    assert resolve_run_settings(profile="none", profiles_file=str(path)).model is None


def test_profile_paths_from_a_relative_profiles_file_are_absolute(tmp_path, monkeypatch):
    """``./m`` next to a profiles file named relatively must not become ``prof/m``,
    which the model resolver takes for the Hugging Face repo id ``prof/m``."""
    monkeypatch.chdir(tmp_path)
    write_json(tmp_path / "prof" / "profiles.json", {"p": {"model": "./m"}})
    model = load_profiles(Path("prof/profiles.json"))["p"].model
    assert Path(model).resolve() == (tmp_path / "prof" / "m").resolve()
    assert Path(model).is_absolute(), model


def test_find_profile_errors_name_the_profile_and_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLX_HARMONY_CONFIG_DIR", str(tmp_path / "config"))
    path = write_json(tmp_path / "profiles.json", {"p": {}})
    with pytest.raises(UserError, match="'nosuch'") as info:
        find_profile("nosuch", str(path))
    assert str(path) in str(info.value)
    with pytest.raises(UserError, match="'nosuch'"):
        find_profile("nosuch", None)
    with pytest.raises(UserError, match="profiles file not found") as info:
        find_profile("p", str(tmp_path / "missing.json"))
    assert str(tmp_path / "missing.json") in str(info.value)


def test_profile_unknown_field_is_named(tmp_path):
    path = write_json(tmp_path / "profiles.json", {"p": {"modle": "x"}})
    with pytest.raises(UserError, match=r"p\.modle") as info:
        load_profiles(path)
    assert str(path) in str(info.value)


def test_profiles_are_found_in_the_config_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLX_HARMONY_CONFIG_DIR", str(tmp_path / "config"))
    write_json(tmp_path / "config" / "profiles.json", {"mine": {"model": "org/name"}})
    assert find_profile("mine", None).model == "org/name"


# --- resolve_run_settings -------------------------------------------------------------------


def test_precedence_profile_config_then_profile_sampling_then_prompt_config(tmp_path):
    write_json(
        tmp_path / "prof" / "profile-prompt.json",
        {"system_model_identity": "from profile", "temperature": 0.1, "top_p": 0.5, "top_k": 10, "max_tokens": 100},
    )
    explicit = write_json(tmp_path / "explicit.json", {"system_model_identity": "explicit", "temperature": 0.3})
    profiles = write_json(
        tmp_path / "prof" / "profiles.json",
        {"p": {"model": "org/name", "prompt_config": "profile-prompt.json", "sampling": {"temperature": 0.2, "top_p": 0.6}}},
    )
    profile_only = resolve_run_settings(profile="p", profiles_file=str(profiles))
    assert profile_only.model == "org/name" and profile_only.profile == "p"
    s = profile_only.sampling
    assert (s.temperature, s.top_p, s.top_k, s.max_tokens) == (0.2, 0.6, 10, 100)
    assert template_prompt(profile_only, [{"role": "user", "content": "q"}]).messages[0]["content"] == "from profile"

    both = resolve_run_settings(profile="p", profiles_file=str(profiles), prompt_config=str(explicit))
    s = both.sampling
    assert (s.temperature, s.top_p, s.top_k, s.max_tokens) == (0.3, 0.6, 10, 100)
    assert s.min_p == SamplingParams().min_p
    assert template_prompt(both, [{"role": "user", "content": "q"}]).messages[0]["content"] == "explicit"


def test_explicit_model_beats_the_profile_model(tmp_path):
    profiles = write_json(tmp_path / "profiles.json", {"p": {"model": "org/name"}})
    assert resolve_run_settings(model="/my/model", profile="p", profiles_file=str(profiles)).model == "/my/model"


def test_prompt_config_alone_and_nothing_at_all(tmp_path):
    config = write_json(tmp_path / "pc.json", {"temperature": 0, "max_tokens": 5})
    settings = resolve_run_settings(prompt_config=str(config))
    assert settings.model is None and settings.profile is None
    assert settings.sampling == SamplingParams(temperature=0, max_tokens=5)
    bare = resolve_run_settings()
    assert bare.sampling == SamplingParams() and bare.prompt_config is None
    assert template_prompt(bare, [{"role": "user", "content": "q"}]).messages == [{"role": "user", "content": "q"}]


def test_profile_sampling_out_of_range_names_file_profile_and_field(tmp_path):
    bad_value = write_json(tmp_path / "a" / "profiles.json", {"p": {"sampling": {"temperature": 9}}})
    with pytest.raises(UserError, match=r"a/profiles\.json: p\.sampling\.temperature"):
        resolve_run_settings(profile="p", profiles_file=str(bad_value))
    bad_name = write_json(tmp_path / "b" / "profiles.json", {"q": {"sampling": {"tempurature": 1}}})
    with pytest.raises(UserError, match=r"b/profiles\.json: q\.sampling\.tempurature"):
        resolve_run_settings(profile="q", profiles_file=str(bad_name))


def test_profiles_file_without_profile_is_refused(tmp_path):
    profiles = write_json(tmp_path / "profiles.json", {"p": {}})
    with pytest.raises(UserError, match="--profile NAME"):
        resolve_run_settings(profiles_file=str(profiles))

"""The configs shipped in configs/ load cleanly, as the README promises."""

from __future__ import annotations

import warnings
from pathlib import Path

from mlx_harmony_tui.config.profiles import load_profiles
from mlx_harmony_tui.config.prompt_config import load_prompt_config

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_example_prompt_config_loads_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        config = load_prompt_config(CONFIGS / "example-prompt.json")
    assert config.reasoning_effort == "low"
    assert config.sampling().top_p == 0.95


def test_shipped_profiles_point_at_existing_prompt_configs():
    profiles = load_profiles(CONFIGS / "profiles.json")
    assert {"default", "precise"} <= set(profiles)
    for profile in profiles.values():
        assert Path(profile.prompt_config).is_file()
        load_prompt_config(profile.prompt_config)

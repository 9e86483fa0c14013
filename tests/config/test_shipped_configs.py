"""The configs shipped in configs/ load cleanly and do what their names say."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from mlx_harmony_tui.config.profiles import load_profiles
from mlx_harmony_tui.config.prompt_config import load_prompt_config

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
PROMPT_CONFIGS = sorted(CONFIGS.glob("prompt-config.*.json"))


def test_every_shipped_file_is_there():
    names = {p.name for p in CONFIGS.glob("*.json")}
    assert {"prompt-config.example.json", "profiles.example.json", "prompt-config.deterministic.json", "prompt-config.gpt-oss.json"} <= names


@pytest.mark.parametrize("path", PROMPT_CONFIGS, ids=lambda p: p.name)
def test_shipped_prompt_configs_load_without_warnings(path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        config = load_prompt_config(path)
    config.sampling()


def test_deterministic_config_fixes_date_and_seed():
    config = load_prompt_config(CONFIGS / "prompt-config.deterministic.json")
    assert config.conversation_start_date == "2026-01-01" and "<|" not in json.dumps(config.model_dump())
    assert config.seed is not None and config.temperature == 0.0


def test_shipped_profiles_point_at_existing_prompt_configs():
    profiles = load_profiles(CONFIGS / "profiles.example.json")
    assert {"default", "precise", "deterministic", "gpt-oss-20b"} <= set(profiles)
    for profile in profiles.values():
        assert Path(profile.prompt_config).is_file()
        load_prompt_config(profile.prompt_config)
    assert profiles["default"].model is None  # the embedded default model
    assert profiles["gpt-oss-20b"].tools == ["browser", "python", "apply_patch"]


def test_deterministic_profile_gives_the_same_answer_twice(default_model_dir, tmp_path):
    cmd = [sys.executable, "-m", "mlx_harmony_tui.cli.generate", "--profile", "deterministic",
           "--profiles-file", str(CONFIGS / "profiles.example.json"), "--prompt", "Name a colour.", "--max-tokens", "12"]
    runs = [subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy(), timeout=300) for _ in range(2)]
    assert all(r.returncode == 0 for r in runs), runs[0].stderr
    assert runs[0].stdout.strip() and runs[0].stdout == runs[1].stdout

"""The installed console scripts, run for real as subprocesses.

Only a handful of tests run the model (each costs seconds on a small CPU);
every error case stops before the model would generate.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
FRANCE_PROMPT = "What is the capital of France? Answer in one sentence."
STORY_PROMPT = "Write a long story about a lighthouse keeper and a storm."
STATS_LINE = re.compile(r"TTFT \d+(\.\d+)?s.* \d+(\.\d+)? tok/s")


def _script(name: str) -> str:
    path = BIN / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    assert found, f"console script {name} is not installed"
    return found


def run(script: str, *args: str, stdin: str | None = None, cwd: Path | None = None, timeout: float = 180,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [_script(script), *args],
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        timeout=timeout,
    )


def generate(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return run("mlx-harmony-generate", *args, **kwargs)


def assert_one_error_line(result: subprocess.CompletedProcess) -> str:
    """Exit non-zero with exactly one ``error:`` line on stderr and no traceback; return that line."""
    lines = result.stderr.splitlines()
    assert result.returncode != 0, result
    assert "Traceback" not in result.stderr, result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), result.stderr
    assert result.stdout == "", result.stdout
    return lines[0]


def write_json(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


# --- running the model (kept to a few runs) -------------------------------------------------


def test_answer_names_paris_and_stats_go_to_stderr(default_model_dir):
    result = generate("--prompt", FRANCE_PROMPT, "--temperature", "0", "--stats")
    assert result.returncode == 0, result.stderr
    assert "Paris" in result.stdout
    assert "TTFT" not in result.stdout
    assert "Traceback" not in result.stderr
    assert any(STATS_LINE.search(line) for line in result.stderr.splitlines()), result.stderr


def test_speculative_flag_gives_the_same_answer_and_says_how_many_drafts_were_kept(default_model_dir):
    prompt = "Repeat exactly: the lamp is lit, the lamp is lit, the lamp is lit, the lamp is lit, the lamp is lit."
    off = generate("--prompt", prompt, "--temperature", "0", "--max-tokens", "40", "--speculative", "off", "--stats")
    on = generate("--prompt", prompt, "--temperature", "0", "--max-tokens", "40", "--speculative", "ngram",
                  "--draft-tokens", "4", "--stats")
    assert off.returncode == 0 and on.returncode == 0, on.stderr
    assert on.stdout == off.stdout and "lamp" in on.stdout
    assert "drafts kept" not in off.stderr
    assert re.search(r"drafts kept \d+/\d+", on.stderr), on.stderr  # a first draft is always checked: its cost is not known before
    refused = generate("--prompt", prompt, "--speculative", "eagle")
    assert "--speculative" in assert_one_error_line(refused)


def test_prompt_piped_on_stdin(default_model_dir):
    result = generate("--temperature", "0", stdin=FRANCE_PROMPT + "\n")
    assert result.returncode == 0, result.stderr
    assert "Paris" in result.stdout
    assert "TTFT" not in result.stderr  # no --stats, no stats line


def test_quantized_kv_cache_answers(default_model_dir):
    result = generate("--prompt", FRANCE_PROMPT, "--temperature", "0", "--kv-bits", "8", "--max-tokens", "24")
    assert result.returncode == 0, result.stderr
    assert "Paris" in result.stdout


def test_kv_bits_is_refused_for_gpt_oss(tiny_gpt_oss_dir):
    line = assert_one_error_line(generate("--model", str(tiny_gpt_oss_dir), "--prompt", "Hi", "--kv-bits", "4"))
    assert line.startswith("error: kv_bits: GPT-OSS models cannot use a quantized KV cache")


def test_prompt_config_limits_the_answer(default_model_dir, tmp_path):
    config = write_json(
        tmp_path / "short.json",
        {"system_model_identity": "You are a storyteller.", "temperature": 0, "max_tokens": 5},
    )
    result = generate("--prompt", STORY_PROMPT, "--prompt-config", str(config), "--stats")
    assert result.returncode == 0, result.stderr
    stats = [line for line in result.stderr.splitlines() if "TTFT" in line]
    assert stats and re.search(r"\b(\d+) generated", stats[0]), result.stderr
    assert int(re.search(r"\b(\d+) generated", stats[0]).group(1)) <= 5
    assert stats[0].startswith("[length]")
    answer = result.stdout.strip()
    assert answer and len(answer) <= 60 and len(answer.split()) <= 5, answer


def test_prompt_config_unknown_keys_warn_by_name_and_are_ignored(default_model_dir, tmp_path):
    config = write_json(tmp_path / "extra.json", {"temperature": 0, "max_tokens": 3, "colour": "blue", "flavour": 1})
    result = generate("--prompt", FRANCE_PROMPT, "--prompt-config", str(config))
    assert result.returncode == 0, result.stderr
    warning = [line for line in result.stderr.splitlines() if "unknown keys" in line]
    assert len(warning) == 1, result.stderr
    assert "colour" in warning[0] and "flavour" in warning[0] and "extra.json" in warning[0]
    assert "Traceback" not in result.stderr
    assert result.stdout.strip()


# --- prompt config and profile errors ---------------------------------------------------------


def test_prompt_config_out_of_range_names_file_and_field(tmp_path):
    config = write_json(tmp_path / "hot.json", {"temperature": 7})
    result = generate("--prompt", "hi", "--prompt-config", str(config))
    line = assert_one_error_line(result)
    assert result.returncode == 2
    assert str(config) in line and "temperature" in line


def test_prompt_config_broken_json_names_file_and_line(tmp_path):
    config = tmp_path / "broken.json"
    config.write_text('{\n  "temperature": 0,\n  "max_tokens": 5\n', encoding="utf-8")
    line = assert_one_error_line(generate("--prompt", "hi", "--prompt-config", str(config)))
    assert str(config) in line
    assert re.search(r"line \d+", line), line


def test_prompt_config_missing_file_is_named(tmp_path):
    missing = tmp_path / "nope.json"
    line = assert_one_error_line(generate("--prompt", "hi", "--prompt-config", str(missing)))
    assert str(missing) in line and "not found" in line


def test_profile_model_relative_path_missing_names_resolved_path(tmp_path):
    profiles = write_json(tmp_path / "prof" / "profiles.json", {"p": {"model": "./models/missing"}})
    result = generate("--prompt", "hi", "--profile", "p", "--profiles-file", str(profiles))
    line = assert_one_error_line(result)
    assert result.returncode == 2
    assert str(tmp_path / "prof" / "models" / "missing") in line
    assert "Hugging Face" not in line


def test_profile_model_relative_path_with_relative_profiles_file(tmp_path):
    """The same profile, with --profiles-file given relative to the working folder.

    ``./missing-model`` names a folder next to the profiles file; it must be
    reported as a missing path, not looked up as the Hugging Face repo id
    ``prof/missing-model``.
    """
    write_json(tmp_path / "prof" / "profiles.json", {"p": {"model": "./missing-model"}})
    result = generate("--prompt", "hi", "--profile", "p", "--profiles-file", "prof/profiles.json", cwd=tmp_path)
    line = assert_one_error_line(result)
    assert "Hugging Face" not in line, line
    assert "missing-model" in line and "not found" in line, line


def test_unknown_profile_is_named(tmp_path):
    profiles = write_json(tmp_path / "profiles.json", {"p": {"model": "./models/missing"}})
    line = assert_one_error_line(generate("--prompt", "hi", "--profile", "nosuch", "--profiles-file", str(profiles)))
    assert "'nosuch'" in line and str(profiles) in line


def test_unknown_profile_without_any_profiles_file(tmp_path):
    line = assert_one_error_line(generate("--prompt", "hi", "--profile", "nosuch", cwd=tmp_path))
    assert "'nosuch'" in line and "profiles" in line


def test_profiles_file_without_profile_is_refused(tmp_path):
    profiles = write_json(tmp_path / "profiles.json", {"p": {}})
    line = assert_one_error_line(generate("--prompt", "hi", "--profiles-file", str(profiles)))
    assert "--profiles-file" in line and "--profile" in line


# --- bad input: one error line, no traceback ------------------------------------------------


def _damaged_gguf(folder: Path) -> str:
    path = folder / "damaged.gguf"
    path.write_bytes(random.Random(0).randbytes(64 * 1024))
    return str(path)


def _damaged_gguf_with_header(folder: Path) -> str:
    path = folder / "header.gguf"
    path.write_bytes(b"GGUF" + (3).to_bytes(4, "little") + random.Random(1).randbytes(64 * 1024))
    return str(path)


def _folder_without_config(folder: Path) -> str:
    (folder / "empty-model").mkdir()
    (folder / "empty-model" / "model.safetensors").write_bytes(b"")
    return str(folder / "empty-model")


BAD_INPUT = {
    "missing-folder": (lambda d: ["--prompt", "hi", "--model", "/no/such/folder"], ["/no/such/folder"]),
    "missing-gguf": (lambda d: ["--prompt", "hi", "--model", "./missing.gguf"], ["missing.gguf"]),
    "folder-without-config": (lambda d: ["--prompt", "hi", "--model", _folder_without_config(d)], ["config.json", "empty-model"]),
    "random-bytes-gguf": (lambda d: ["--prompt", "hi", "--model", _damaged_gguf(d)], ["damaged.gguf", "GGUF"]),
    "damaged-gguf-after-header": (lambda d: ["--prompt", "hi", "--model", _damaged_gguf_with_header(d)], ["header.gguf", "GGUF"]),
    "offline-hf-repo": (lambda d: ["--prompt", "hi", "--model", "nobody-xyz/not-a-model"], ["nobody-xyz/not-a-model", "Hugging Face"]),
    "temperature-nan": (lambda d: ["--prompt", "hi", "--temperature", "nan"], ["--temperature"]),
    "temperature-3": (lambda d: ["--prompt", "hi", "--temperature", "3"], ["--temperature"]),
    "top-p-1.5": (lambda d: ["--prompt", "hi", "--top-p", "1.5"], ["--top-p"]),
    "frequency-penalty-3": (lambda d: ["--prompt", "hi", "--frequency-penalty", "3"], ["--frequency-penalty"]),
    "logit-bias-abc": (lambda d: ["--prompt", "hi", "--logit-bias", "abc"], ["--logit-bias", "abc"]),
    "empty-prompt": (lambda d: ["--prompt", ""], ["--prompt", "empty"]),
    "blank-prompt": (lambda d: ["--prompt", "  \n "], ["--prompt", "empty"]),
}


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_gives_one_error_line(case, tmp_path):
    build, expected = BAD_INPUT[case]
    cache = tmp_path / "cache"  # empty: a command that got as far as preparing a model would fill it
    result = generate(*build(tmp_path), cwd=tmp_path, timeout=120, env={"MLX_HARMONY_CACHE_DIR": str(cache)})
    line = assert_one_error_line(result)
    assert result.returncode == 2
    for text in expected:
        assert text in line, line
    assert not cache.exists() or not any(p.is_file() for p in cache.rglob("*")), "failed only after preparing a model"


def test_empty_stdin_prompt_is_refused():
    line = assert_one_error_line(generate(stdin=""))
    assert "--prompt" in line


# --- mlx-harmony doctor and --help ------------------------------------------------------------


def test_doctor_reports_every_row_and_the_env_folders(default_model_dir):
    result = run("mlx-harmony", "doctor", timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    rows = {}
    for line in result.stdout.splitlines():
        label, _, value = re.split(r"(\s{2,})", line.strip(), maxsplit=1)
        rows[label] = value
    for label in ("platform", "mlx", "BLAS", "Harmony vocabulary", "data dir", "config dir", "cache dir"):
        assert rows.get(label), f"no {label!r} row in:\n{result.stdout}"
    model_rows = [label for label in rows if label.startswith("default model")]
    assert model_rows and rows[model_rows[0]].startswith("ready"), result.stdout
    assert rows["data dir"] == os.environ["MLX_HARMONY_DATA_DIR"]
    assert rows["config dir"] == os.environ["MLX_HARMONY_CONFIG_DIR"]
    assert rows["cache dir"] == os.environ["MLX_HARMONY_CACHE_DIR"]


HELP_IMPORTS = textwrap.dedent(
    """
    import contextlib, io, sys
    from mlx_harmony_tui.cli import main, generate
    main.build_parser().format_help()
    generate.build_parser().format_help()
    for entry in (main.main, generate.main):
        with contextlib.redirect_stdout(io.StringIO()) as out:
            try:
                entry(["--help"])
            except SystemExit as exc:
                assert exc.code == 0, exc.code
        assert "usage:" in out.getvalue()
    heavy = sorted(m for m in ("mlx_lm", "mlx.core", "mlx") if m in sys.modules)
    assert not heavy, heavy
    print("ok")
    """
)


def test_help_does_not_import_mlx():
    result = subprocess.run(
        [sys.executable, "-c", HELP_IMPORTS], capture_output=True, text=True, env=os.environ.copy(), timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


@pytest.mark.parametrize("script", ["mlx-harmony", "mlx-harmony-generate"])
def test_help_of_console_scripts(script):
    result = run(script, "--help", timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: {script}")
    assert result.stderr == ""

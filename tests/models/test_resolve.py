"""Model resolution: default, folders, GGUF files, repo ids, and GPT-OSS detection."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mlx_harmony_tui.errors import UserError
from mlx_harmony_tui.models import default_model
from mlx_harmony_tui.models.resolve import resolve_model


def _folder(path: Path, config: dict) -> Path:
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps(config))
    (path / "model.safetensors").write_bytes(b"")
    return path


def test_no_model_means_the_embedded_default(default_model_dir):
    resolved = resolve_model(None, default_model_dir.name)
    assert resolved.source == "default" and resolved.name == default_model.NAME
    assert resolved.path == default_model_dir
    assert resolved.model_type == "llama" and not resolved.is_gpt_oss
    assert resolved.context_length == 8192


def test_gpt_oss_is_recognised_from_config_not_name(tmp_path):
    disguised = _folder(tmp_path / "llama-3-8b", {"model_type": "gpt_oss", "num_hidden_layers": 2})
    misleading = _folder(tmp_path / "gpt-oss-20b", {"model_type": "llama"})
    assert resolve_model(str(disguised), "quantized").is_gpt_oss
    assert not resolve_model(str(misleading), "quantized").is_gpt_oss


def test_local_folder_with_tilde(tmp_path, monkeypatch, default_model_dir):
    monkeypatch.setenv("HOME", str(tmp_path))
    shutil.copytree(default_model_dir, tmp_path / "models" / "smol")
    resolved = resolve_model("~/models/smol", "quantized")
    assert resolved.source == "folder" and resolved.path == (tmp_path / "models" / "smol").resolve()


def test_gguf_file_converts_once_into_the_cache(tmp_path, monkeypatch, default_model_dir):
    shutil.copy(default_model.gguf_path(), tmp_path / "smol.gguf")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("MLX_HARMONY_CACHE_DIR", str(tmp_path / "cache"))
    first = resolve_model("~/smol.gguf", "quantized")
    assert first.source == "gguf" and first.path.is_relative_to(tmp_path / "cache")
    assert json.loads((first.path / "config.json").read_text())["quantization"]["bits"] == 4
    stamp = (first.path / "model.safetensors").stat().st_mtime_ns
    again = resolve_model(str(tmp_path / "smol.gguf"), "quantized")
    assert again.path == first.path
    assert (again.path / "model.safetensors").stat().st_mtime_ns == stamp


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("/no/such/model", "model not found: /no/such/model"),
        ("./missing.gguf", "model not found"),
        ("~/definitely-missing-folder", "model not found"),
        ("not a repo id!", "model not found"),
    ],
)
def test_missing_models_give_one_clear_line(spec, message):
    with pytest.raises(UserError, match=message) as info:
        resolve_model(spec, "quantized")
    assert "\n" not in str(info.value)


def test_folder_problems_name_the_file(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UserError, match="no config.json"):
        resolve_model(str(empty), "quantized")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    with pytest.raises(UserError, match=r"broken/config.json: damaged model config"):
        resolve_model(str(broken), "quantized")
    no_weights = _folder(tmp_path / "no-weights", {"model_type": "llama"})
    (no_weights / "model.safetensors").unlink()
    with pytest.raises(UserError, match="no model.*safetensors"):
        resolve_model(str(no_weights), "quantized")
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(UserError, match="must be an mlx-lm folder, a .gguf file or a Hugging Face repo id"):
        resolve_model(str(text), "quantized")


def test_damaged_gguf_is_refused(tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + bytes(range(256)) * 8)
    with pytest.raises(UserError, match=str(bad)):
        resolve_model(str(bad), "quantized")


def test_offline_repo_id_fails_with_one_line(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UserError, match="could not get model 'nobody-xyz/not-a-model' from Hugging Face") as info:
        resolve_model("nobody-xyz/not-a-model", "quantized")
    assert "\n" not in str(info.value)

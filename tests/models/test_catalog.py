"""The models offered in the palette: the embedded one, the profiles' and the Hugging Face cache's."""

from __future__ import annotations

from mlx_harmony_tui.models.catalog import cached_hub_models, known_models, model_label


def test_cached_hub_models_lists_repos_with_a_config(tmp_path, monkeypatch):
    (tmp_path / "models--mlx-community--Qwen3-0.6B-4bit" / "snapshots" / "abc").mkdir(parents=True)
    (tmp_path / "models--mlx-community--Qwen3-0.6B-4bit" / "snapshots" / "abc" / "config.json").write_text("{}")
    (tmp_path / "models--someone--half-downloaded" / "blobs").mkdir(parents=True)
    (tmp_path / "datasets--x--y" / "snapshots" / "1").mkdir(parents=True)
    assert cached_hub_models(tmp_path) == ["mlx-community/Qwen3-0.6B-4bit"]
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    models = known_models(["./my-model", None, "./my-model", "mlx-community/Qwen3-0.6B-4bit"])
    assert models == [
        ("SmolLM2-135M-Instruct (embedded)", None),
        ("./my-model", "./my-model"),
        ("mlx-community/Qwen3-0.6B-4bit", "mlx-community/Qwen3-0.6B-4bit"),
    ]


def test_model_labels_name_the_model_not_its_storage_folder():
    assert model_label("/cache/models/SmolLM2-135M-Instruct/float32") == "SmolLM2-135M-Instruct"
    assert model_label("/hf/hub/models--mlx-community--gpt-oss-20b/snapshots/0123abc") == "mlx-community/gpt-oss-20b"
    assert model_label("/home/me/models/my-model") == "my-model"
    assert model_label(None) == "—"

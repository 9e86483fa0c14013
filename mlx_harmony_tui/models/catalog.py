"""Models a user can switch to without typing a path: the embedded one, the profiles' and the Hugging Face cache's."""

from __future__ import annotations

import os
from pathlib import Path

from . import default_model


def hf_cache_dir() -> Path:
    """Where huggingface_hub keeps downloaded repos (its own environment variables respected)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    home = Path(os.environ.get("HF_HOME") or Path.home() / ".cache" / "huggingface")
    return home / "hub"


def cached_hub_models(cache: Path | None = None) -> list[str]:
    """Repo ids in the Hugging Face cache that hold a model config (so they load offline)."""
    cache = cache or hf_cache_dir()
    found = []
    if not cache.is_dir():
        return found
    for repo in sorted(cache.glob("models--*")):
        if any(repo.glob("snapshots/*/config.json")):
            found.append(repo.name[len("models--") :].replace("--", "/", 1))
    return found


def known_models(profile_models: list[str | None]) -> list[tuple[str, str | None]]:
    """(label, spec) pairs, each model once: the embedded default (spec None) first."""
    models: list[tuple[str, str | None]] = [(f"{default_model.NAME} (embedded)", None)]
    seen: set[str] = set()
    for spec in [*profile_models, *cached_hub_models()]:
        if spec and spec not in seen:
            seen.add(spec)
            models.append((spec, spec))
    return models


def model_label(path: str | None) -> str:
    """A saved model path in the user's words: the embedded model's or a Hugging Face repo's name, else the folder's."""
    if not path:
        return "—"
    folder = Path(path)
    if folder.parent.name == default_model.NAME:
        return default_model.NAME  # its stored forms (float32, quantized) live in folders under its name
    if folder.parent.name == "snapshots" and folder.parent.parent.name.startswith("models--"):
        return folder.parent.parent.name[len("models--") :].replace("--", "/", 1)
    return folder.name or path

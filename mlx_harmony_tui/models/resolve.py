"""Resolve what the user named as a model into an mlx-lm folder.

Accepted: nothing (the embedded default model), a local mlx-lm folder, a
``.gguf`` file (converted once into the cache), or a Hugging Face repo id
(fetched into the Hugging Face cache). GPT-OSS is recognised from ``config.json``, never the name.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import UserError
from ..paths import cache_dir

Progress = Callable[[str, float], None]

# What an mlx-lm model repository needs: config, weights, tokenizer and chat template files.
HUB_FILES = ["*.json", "model*.safetensors", "*.py", "tokenizer.model", "*.tiktoken", "tiktoken.model", "*.txt", "*.jsonl", "*.jinja"]
REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class ResolvedModel:
    path: Path
    name: str
    source: str  # "default", "folder", "gguf" or "huggingface"
    config: dict

    @property
    def model_type(self) -> str:
        return str(self.config.get("model_type", "unknown"))

    @property
    def is_gpt_oss(self) -> bool:
        return self.model_type == "gpt_oss"

    @property
    def context_length(self) -> int | None:
        value = self.config.get("max_position_embeddings") or self.config.get("context_length")
        return int(value) if value else None


def read_config(folder: Path) -> dict:
    """The folder's ``config.json``; UserError naming the file when it is missing or damaged."""
    path = folder / "config.json"
    if not path.is_file():
        raise UserError(f"{folder}: not an mlx-lm model folder (no config.json)")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UserError(f"{path}: damaged model config ({exc})") from None
    if not isinstance(config, dict) or "model_type" not in config:
        raise UserError(f"{path}: model_type is missing")
    return config


def _check_weights(folder: Path) -> None:
    if not any(folder.glob("model*.safetensors")):
        raise UserError(f"{folder}: no model*.safetensors weights in the folder")


def _from_gguf(path: Path, form: str, progress: Progress | None) -> ResolvedModel:
    from .gguf_convert import convert_gguf

    stat = path.stat()
    key = hashlib.sha256(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{form}".encode()).hexdigest()[:16]
    out = cache_dir() / "models" / "gguf" / f"{path.stem}-{key}"
    if not (out / "config.json").exists():
        convert_gguf(path, out, form, progress)  # type: ignore[arg-type]
    return ResolvedModel(out, path.stem, "gguf", read_config(out))


def _looks_like_path(spec: str) -> bool:
    return spec.startswith(("/", "./", "../", "~", ".")) or spec.endswith(".gguf") or "\\" in spec or spec.count("/") > 1


def names_hub_repo(spec: str) -> bool:
    """Whether ``spec`` would be fetched from Hugging Face (a repo id, not a path) when no such path exists."""
    return not _looks_like_path(spec) and bool(REPO_ID.match(spec))


def _from_hub(repo_id: str) -> ResolvedModel:
    from huggingface_hub import snapshot_download

    try:
        folder = Path(snapshot_download(repo_id, allow_patterns=HUB_FILES))
    except Exception as exc:  # huggingface_hub raises many types: offline, 404, gated, auth
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"could not get model {repo_id!r} from Hugging Face (offline or not found): {reason}") from None
    return ResolvedModel(folder, repo_id, "huggingface", read_config(folder))


def resolve_model(spec: str | None, form: str, progress: Progress | None = None) -> ResolvedModel:
    """Find or prepare the model ``spec`` names; ``form`` applies to converted GGUFs."""
    if spec is None or spec.strip() == "":
        from . import default_model

        folder = default_model.ensure_default_model(form, progress)
        return ResolvedModel(folder, default_model.NAME, "default", read_config(folder))
    spec = spec.strip()
    path = Path(spec).expanduser()
    if path.is_dir():
        config = read_config(path)
        _check_weights(path)
        return ResolvedModel(path.resolve(), path.name, "folder", config)
    if path.is_file():
        if path.suffix.lower() != ".gguf":
            raise UserError(f"{path}: a model must be an mlx-lm folder, a .gguf file or a Hugging Face repo id")
        return _from_gguf(path, form, progress)
    if not names_hub_repo(spec):
        raise UserError(f"model not found: {path} (no such folder or file)")
    return _from_hub(spec)

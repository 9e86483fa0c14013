"""Prompt caches that outlive the process: a reopened chat or a restarted server goes on warm.

After each answer of a conversation that has a key (a saved chat's id, the
server's conversation key), its cache is written to one safetensors file,
as far as it can be reused exactly: up to the newest snapshot for models with
sliding-window layers (GPT-OSS), else whole. The file records the model's
identity and the token ids it holds, with their hash. Read back, it is used
only when everything matches: the same model, a well-formed file whose token
hash checks out, layers of the model's own kinds, and tokens the new prompt
shares (then reused as a cache in memory is, exactly). Anything else is
ignored (wrong output is worse than slow output) and the next answer writes
a good one. The folder is kept
under a byte budget, least recently used files first.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

from . import lm
from .prompt_cache import ConversationCache, shared_prefix

FORMAT = "mlx-harmony prompt cache 1"


def model_identity(path: Path, config: dict) -> str:
    """What makes two loaded models the same: the folder, its config, and its weight files' names and sizes."""
    digest = hashlib.sha256()
    digest.update(str(Path(path).resolve()).encode())
    digest.update(json.dumps(config, sort_keys=True, default=str).encode())
    for weights in sorted(Path(path).glob("*.safetensors")):
        digest.update(f"{weights.name}:{weights.stat().st_size}".encode())
    return digest.hexdigest()


def _tokens_hash(tokens: list[int]) -> str:
    return hashlib.sha256(json.dumps(tokens).encode()).hexdigest()


class DiskCaches:
    """One model's prompt cache files in ``folder``, within ``budget_bytes``."""

    def __init__(self, folder: Path, loaded: lm.LoadedModel, budget_bytes: int):
        self.identity = model_identity(loaded.path, loaded.config)
        self.folder = Path(folder) / self.identity[:16]
        self.budget_bytes = budget_bytes
        self._loaded = loaded

    def path_for(self, key: str) -> Path:
        return self.folder / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.safetensors"

    def save(self, key: str, cache: ConversationCache) -> None:
        """Write what ``cache`` holds that a later prompt can reuse exactly (nothing when it holds too little)."""
        layers, tokens = cache.reusable_state()
        if len(tokens) < 2 or self.budget_bytes <= 0:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.path_for(key)
        metadata = {"format": FORMAT, "identity": self.identity, "tokens": json.dumps(tokens), "tokens_sha256": _tokens_hash(tokens)}
        fd, temporary = tempfile.mkstemp(prefix=".", suffix=".safetensors", dir=self.folder)
        os.close(fd)
        try:
            lm.save_cache(temporary, layers, metadata)
            os.replace(temporary, target)
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)
        self._enforce_budget()

    def load(self, key: str, prompt: list[int]) -> tuple[list, list[int]] | None:
        """The saved layers and tokens for ``key`` if they are this model's, intact, and ``prompt`` starts like them.

        How much of them is reused is the caller's business (``ConversationCache.reuse_for``): plain
        layers are cut back to the shared prefix, sliding-window ones only serve a prompt that extends them.
        """
        path = self.path_for(key)
        if not path.is_file():
            return None
        try:
            layers, metadata = lm.load_cache(str(path))
            tokens = json.loads(metadata["tokens"])
            good = (
                metadata.get("format") == FORMAT
                and metadata.get("identity") == self.identity
                and isinstance(tokens, list)
                and metadata.get("tokens_sha256") == _tokens_hash(tokens)
                and lm.same_cache_kinds(layers, lm.new_cache(self._loaded))
                and all(lm.cache_offset(layer) == len(tokens) for layer in layers)
            )
        except Exception:  # a damaged or foreign file: ignored, and replaced by the next answer
            return None
        if not good or not shared_prefix(tokens, prompt[:-1]):
            return None
        os.utime(path)  # recently used
        return layers, tokens

    def _enforce_budget(self) -> None:
        files = sorted(self.folder.parent.glob("*/*.safetensors"), key=lambda p: p.stat().st_mtime)
        total = sum(p.stat().st_size for p in files)
        for path in files[:-1]:  # the newest one stays whatever its size
            if total <= self.budget_bytes:
                return
            total -= path.stat().st_size
            path.unlink(missing_ok=True)

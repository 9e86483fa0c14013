"""The only module that talks to mlx-lm.

mlx-lm changes its API between patch releases, so every call into it goes
through the few functions here, pinned to the version in ``pyproject.toml``.
Import this module lazily: importing mlx-lm costs about 1.7 s.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .runtime import mlx_core

mx = mlx_core()

import mlx_lm  # noqa: E402  (after the BLAS is in place)
from mlx_lm.models.cache import make_prompt_cache  # noqa: E402


@dataclass
class LoadedModel:
    """A model and its tokenizer, usable only on the thread that loaded them."""

    model: Any
    tokenizer: Any
    config: dict
    path: Path

    @property
    def eos_token_ids(self) -> set[int]:
        return set(self.tokenizer.eos_token_ids)

    @property
    def vocab_size(self) -> int:
        return int(self.config.get("vocab_size") or len(self.tokenizer.vocab))


def load(path: Path) -> LoadedModel:
    """Load an mlx-lm model folder (weights, config and tokenizer)."""
    model, tokenizer, config = mlx_lm.load(str(path), return_config=True)
    return LoadedModel(model=model, tokenizer=tokenizer, config=config, path=Path(path))


def new_cache(loaded: LoadedModel) -> list:
    """A fresh KV cache for one conversation."""
    return make_prompt_cache(loaded.model)


def forward(loaded: LoadedModel, tokens, cache: list):
    """Run the model on ``tokens`` (a 1-D int array); return the last position's logits, shape (1, V)."""
    return loaded.model(tokens[None], cache=cache)[:, -1, :]


def prefill(loaded: LoadedModel, tokens, cache: list) -> None:
    """Feed ``tokens`` into ``cache`` without keeping logits (evaluated before returning)."""
    loaded.model(tokens[None], cache=cache)
    mx.eval([c.state for c in cache])


def chat_template_tokens(loaded: LoadedModel, messages: list[dict], **template_args) -> list[int] | None:
    """Render ``messages`` with the tokenizer's own chat template; None when it has none."""
    tokenizer = loaded.tokenizer
    if not getattr(tokenizer, "chat_template", None):
        return None
    ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, **template_args)
    if isinstance(ids, dict) or hasattr(ids, "input_ids"):
        ids = ids["input_ids"]
    return list(ids)


def encode(loaded: LoadedModel, text: str) -> list[int]:
    return list(loaded.tokenizer.encode(text))


def decode(loaded: LoadedModel, ids: list[int]) -> str:
    return loaded.tokenizer.decode(ids)


def mlx_lm_generate_step(loaded: LoadedModel, prompt: list[int], max_tokens: int):
    """Raw mlx-lm greedy generation, the reference the benchmark compares with."""
    from mlx_lm.generate import generate_step

    return generate_step(mx.array(prompt), loaded.model, max_tokens=max_tokens)


def finish_pending_work() -> None:
    """Wait for work mlx-lm left queued on its generation stream (after a loop stops early)."""
    from mlx_lm.generate import generation_stream

    mx.synchronize(generation_stream)


def hf_snapshot(repo_id: str) -> Path:
    """Download (or find in the Hugging Face cache) an mlx-lm model repository."""
    from mlx_lm.utils import _download

    return Path(_download(repo_id))

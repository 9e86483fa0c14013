"""The tests' tiny random-weight GPT-OSS model: :mod:`mlx_harmony_tui.models.tiny_gpt_oss`, with the offline vocabulary."""

from __future__ import annotations

from pathlib import Path

from mlx_harmony_tui.models import tiny_gpt_oss as _tiny
from mlx_harmony_tui.models.tiny_gpt_oss import (  # noqa: F401  (re-exported for tests and ../shared/gpu scripts)
    BASE_VOCAB,
    BUILD_INFO,
    BUILD_VERSION,
    CONFIG,
    EOS_IDS,
    NAMED_SPECIALS,
    O200K_PATTERN,
    TOKENIZER_CONFIG,
    VOCAB_SIZE,
    build_tokenizer,
    is_built,
    random_weights,
    read_tiktoken_ranks,
    special_tokens,
)


def build_tiny_gpt_oss(out_dir: Path, seed: int = 0) -> Path:
    """Write the tiny GPT-OSS model folder to ``out_dir`` (replacing it) and return it."""
    from mlx_harmony_tui.harmony.vocab import ensure_vocab

    return _tiny.build_tiny_gpt_oss(out_dir, ensure_vocab(), seed)

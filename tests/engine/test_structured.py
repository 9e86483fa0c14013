"""The mask itself: llguidance's bits become exactly the tokens left in the logits, on any MLX backend."""

from __future__ import annotations

import numpy as np

from mlx_harmony_tui.engine.structured import apply_bitmask
from mlx_harmony_tui.runtime import mlx_core

mx = mlx_core()


def test_apply_bitmask_keeps_exactly_the_allowed_tokens():
    vocab = 70  # not a multiple of 32: the last word's high bits are past the vocabulary
    allowed = [0, 5, 31, 32, 63, 69]  # bit 31 of a word is the sign bit of the int32 llguidance writes
    words = np.zeros(3, dtype=np.uint32)
    for token in allowed:
        words[token // 32] |= np.uint32(1 << (token % 32))
    words[2] |= np.uint32(1 << 31)  # token 95 does not exist: it must not widen the logits
    logits = mx.arange(vocab, dtype=mx.float32)[None]
    masked = np.array(apply_bitmask(logits, words))
    assert masked.shape == (1, vocab)
    kept = [i for i in range(vocab) if np.isfinite(masked[0, i])]
    assert kept == allowed and all(masked[0, i] == i for i in kept)

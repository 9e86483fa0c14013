"""What a loaded model allows: a quantized KV cache or not, and the tokens XTC must never drop."""

from __future__ import annotations

from typing import Any

from ..errors import UserError
from .requests import LoadModel


def kv_settings(request: LoadModel, resolved: Any, loaded: Any) -> tuple[int | None, int]:
    """``(kv_bits, kv_group_size)`` for ``loaded``; UserError when it asks for a quantized KV cache the model cannot have."""
    from . import lm

    if request.kv_bits is None:
        return (None, 64)
    if resolved.is_gpt_oss or not lm.quantizable_cache(loaded):
        kind = "GPT-OSS models" if resolved.is_gpt_oss else f"{resolved.name}"
        raise UserError(
            f"kv_bits: {kind} cannot use a quantized KV cache: their sliding-window layers' cache "
            "cannot be quantized (it crashes or gives wrong output); leave kv_bits unset"
        )
    return (request.kv_bits, request.kv_group_size)


def protected_ids(loaded: Any) -> list[int]:
    """Tokens XTC must never drop: end-of-sequence and newlines."""
    ids = set(loaded.eos_token_ids)
    for text in ("\n", "\n\n"):
        encoded = loaded.tokenizer.encode(text, add_special_tokens=False)
        if len(encoded) == 1:
            ids.add(encoded[0])
    return sorted(ids)

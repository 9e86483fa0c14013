"""Convert a llama-architecture GGUF file into an mlx-lm model folder.

MLX reads GGUF directly (Q4_0, Q4_1 and Q8_0 tensors arrive already in MLX's
affine quantized form); this module renames the tensors to mlx-lm's names,
writes ``config.json`` from the GGUF hyper-parameters and builds a
``tokenizer.json`` from the GGUF vocabulary and merges.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Callable, Literal

from ..errors import UserError
from ..runtime import mlx_core
from .gguf_check import check_gguf

StoredForm = Literal["quantized", "float32", "float16", "bfloat16"]
Progress = Callable[[str, float], None]

_LAYER_NAMES = {
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
    "attn_norm": "input_layernorm",
    "ffn_norm": "post_attention_layernorm",
}
_TOP_NAMES = {"token_embd": "model.embed_tokens", "output_norm": "model.norm", "output": "lm_head"}
SPECIAL_TOKEN_TYPE = 3
GGUF_BLOCK = 32


def _tensor_name(gguf_name: str) -> str:
    stem, _, suffix = gguf_name.rpartition(".")
    if stem.startswith("blk."):
        _, index, layer = stem.split(".", 2)
        if layer not in _LAYER_NAMES:
            raise ValueError(f"tensor {gguf_name!r} is not part of a plain llama model (not supported)")
        return f"model.layers.{index}.{_LAYER_NAMES[layer]}.{suffix}"
    if stem not in _TOP_NAMES:
        raise ValueError(f"tensor {gguf_name!r} is not part of a plain llama model (not supported)")
    return f"{_TOP_NAMES[stem]}.{suffix}"


def _scalar(meta: dict, key: str, default=None):
    if key not in meta:
        if default is None:
            raise ValueError(f"missing GGUF metadata {key!r}")
        return default
    value = meta[key]
    return value.item() if hasattr(value, "item") else value


def _config(meta: dict, tied: bool, eos_id: int, bos_id: int) -> dict:
    prefix = "llama"
    heads = _scalar(meta, f"{prefix}.attention.head_count")
    hidden = _scalar(meta, f"{prefix}.embedding_length")
    config = {
        "model_type": "llama",
        "architectures": ["LlamaForCausalLM"],
        "hidden_size": hidden,
        "intermediate_size": _scalar(meta, f"{prefix}.feed_forward_length"),
        "num_hidden_layers": _scalar(meta, f"{prefix}.block_count"),
        "num_attention_heads": heads,
        "num_key_value_heads": _scalar(meta, f"{prefix}.attention.head_count_kv", heads),
        "head_dim": _scalar(meta, f"{prefix}.rope.dimension_count", hidden // heads),
        "rms_norm_eps": float(_scalar(meta, f"{prefix}.attention.layer_norm_rms_epsilon")),
        "rope_theta": float(_scalar(meta, f"{prefix}.rope.freq_base", 10000.0)),
        "max_position_embeddings": _scalar(meta, f"{prefix}.context_length", 2048),
        "vocab_size": len(meta["tokenizer.ggml.tokens"]),
        # GGUF permutes q/k for interleaved rotary embeddings.
        "rope_traditional": True,
        "tie_word_embeddings": tied,
        "bos_token_id": bos_id,
        "eos_token_id": eos_id,
    }
    return config


def _tokenizer_files(meta: dict, out: Path) -> None:
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

    if _scalar(meta, "tokenizer.ggml.model", "gpt2") != "gpt2":
        raise UserError(
            f"GGUF tokenizer {meta['tokenizer.ggml.model']!r} is not supported: only byte-level BPE (gpt2) vocabularies convert"
        )
    tokens: list[str] = list(meta["tokenizer.ggml.tokens"])
    merges = [tuple(m.split(" ", 1)) for m in meta["tokenizer.ggml.merges"]]
    types = meta.get("tokenizer.ggml.token_type")
    types = types.tolist() if hasattr(types, "tolist") else list(types or [])
    vocab = {tok: i for i, tok in enumerate(tokens)}
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=merges, fuse_unk=False, byte_fallback=False))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    specials = [tokens[i] for i, t in enumerate(types) if t == SPECIAL_TOKEN_TYPE]
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials])
    tokenizer.save(str(out / "tokenizer.json"))

    bos = tokens[_scalar(meta, "tokenizer.ggml.bos_token_id")]
    eos = tokens[_scalar(meta, "tokenizer.ggml.eos_token_id")]
    pad_id = meta.get("tokenizer.ggml.padding_token_id")
    tokenizer_config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": bos,
        "eos_token": eos,
        "pad_token": tokens[int(_scalar(meta, "tokenizer.ggml.padding_token_id"))] if pad_id is not None else eos,
        "unk_token": tokens[int(_scalar(meta, "tokenizer.ggml.unknown_token_id", 0))],
        "add_bos_token": bool(_scalar(meta, "tokenizer.ggml.add_bos_token", False)),
        "add_prefix_space": False,
        "clean_up_tokenization_spaces": False,
        "model_max_length": int(_scalar(meta, "llama.context_length", 2048)),
        "additional_special_tokens": [t for t in specials if t not in (bos, eos)],
    }
    template = meta.get("tokenizer.chat_template")
    if template:
        tokenizer_config["chat_template"] = template
    (out / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2, ensure_ascii=False))
    (out / "special_tokens_map.json").write_text(
        json.dumps({"bos_token": bos, "eos_token": eos, "pad_token": tokenizer_config["pad_token"]}, indent=2)
    )


def _dequantize_all(weights: dict, dtype) -> dict:
    mx = mlx_core()
    out = {}
    for name, value in weights.items():
        if name.endswith((".scales", ".biases")):
            continue
        stem = name[: -len(".weight")] if name.endswith(".weight") else None
        if stem is not None and f"{stem}.scales" in weights:
            scales = weights[f"{stem}.scales"]
            bits, group_size = _quant_params(value, scales)
            full = mx.dequantize(value, scales, weights[f"{stem}.biases"], group_size=group_size, bits=bits)
            out[name] = full.astype(dtype)
        else:
            out[name] = value.astype(dtype)
    return out


def _quant_params(value, scales) -> tuple[int, int]:
    """Bits and group size of a GGUF weight that MLX unpacked to affine form.

    GGUF's Q4_0, Q4_1 and Q8_0 blocks all hold 32 values, so the group size is
    32 and the bits follow from the packed width per group.
    """
    packed, groups = value.shape[-1], scales.shape[-1]
    if packed % groups:
        raise ValueError(f"cannot infer quantization of a tensor packed as {value.shape} with {scales.shape} scales")
    return packed // groups, GGUF_BLOCK


def convert_gguf(
    gguf_path: Path,
    out_dir: Path,
    form: StoredForm = "quantized",
    progress: Progress | None = None,
) -> Path:
    """Write an mlx-lm model folder for ``gguf_path`` into ``out_dir``.

    ``form`` picks how the weights are stored: ``quantized`` keeps the GGUF's
    packed weights, the float forms dequantize them. The folder appears
    atomically: a half-written conversion never looks complete.
    """
    mx = mlx_core()
    report = progress or (lambda _msg, _frac: None)
    gguf_path = Path(gguf_path)
    report(f"reading {gguf_path.name}", 0.0)
    check_gguf(gguf_path)
    try:
        weights, meta = mx.load(str(gguf_path), return_metadata=True)
    except Exception as exc:  # mlx raises bare RuntimeError/ValueError on damaged files
        raise UserError(f"{gguf_path}: not a readable GGUF file ({exc})") from None
    arch = meta.get("general.architecture")
    if arch != "llama":
        raise UserError(f"{gguf_path}: GGUF architecture {arch!r} is not supported (only llama-family models convert)")
    if "tokenizer.ggml.tokens" not in meta:
        raise UserError(f"{gguf_path}: the GGUF file has no tokenizer vocabulary (tokenizer.ggml.tokens)")

    try:
        renamed = {_tensor_name(k): v for k, v in weights.items()}
        eos_id = int(_scalar(meta, "tokenizer.ggml.eos_token_id"))
        bos_id = int(_scalar(meta, "tokenizer.ggml.bos_token_id"))
        config = _config(meta, "lm_head.weight" not in renamed, eos_id, bos_id)
    except ValueError as exc:
        raise UserError(f"{gguf_path}: {exc}") from None
    quantized = any(k.endswith(".scales") for k in renamed)
    report("preparing weights", 0.2)
    quantization = None
    if form == "quantized" and quantized:
        layers = {
            k[: -len(".scales")]: _quant_params(renamed[k[: -len(".scales")] + ".weight"], renamed[k])
            for k in renamed
            if k.endswith(".scales")
        }
        bits, group_size = max(set(layers.values()), key=list(layers.values()).count)
        quantization = {"group_size": group_size, "bits": bits}
        # Layers packed differently (GGUF keeps the embedding at 8 bits) are named explicitly.
        for stem, (layer_bits, layer_group) in layers.items():
            if (layer_bits, layer_group) != (bits, group_size):
                quantization[stem] = {"group_size": layer_group, "bits": layer_bits}
    elif quantized or form != "quantized":
        dtype = {"float32": mx.float32, "float16": mx.float16, "bfloat16": mx.bfloat16}.get(form, mx.float16)
        renamed = _dequantize_all(renamed, dtype)

    if quantization:
        config["quantization"] = quantization
    tmp = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        report("writing weights", 0.4)
        mx.eval(list(renamed.values()))
        mx.save_safetensors(str(tmp / "model.safetensors"), renamed, metadata={"format": "mlx"})
        report("building tokenizer", 0.7)
        (tmp / "config.json").write_text(json.dumps(config, indent=2))
        _tokenizer_files(meta, tmp)
        report("done", 1.0)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        tmp.rename(out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir

"""A tiny random-weight GPT-OSS model folder, built offline in a few seconds.

The folder is a real mlx-lm model folder (``config.json``, ``model.safetensors``,
``tokenizer.json``, ``tokenizer_config.json``): mlx-lm 0.32's ``gpt_oss`` model
loads it, and its Hugging Face tokenizer has exactly openai-harmony's GPT-OSS
token ids (the o200k BPE plus Harmony's special tokens), so prompts rendered by
openai-harmony and ids the model generates mean the same thing to both. The
tests use it; :mod:`.analysis_gpt_oss` builds a variant that speaks Harmony.

- Weights are float32: on the CPU backend the MoE layers' ``gather_mm`` runs only
  in float32. Names and shapes are those mlx-lm's ``gpt_oss.Model`` has
  (:func:`parameter_shapes`); values are drawn from ``mx.random.key(seed)``, so
  the same seed gives the same bytes.
- The tokenizer is converted from the ``o200k_base.tiktoken`` file (the caller
  passes it: :func:`mlx_harmony_tui.harmony.vocab.ensure_vocab` builds it
  offline) with transformers' ``TikTokenConverter`` (its tiktoken loader
  replaced: tiktoken is not installed and would download). Special tokens
  follow openai-harmony's ``HARMONY_GPT_OSS`` encoding: ids 199998..201087,
  ``<|reserved_200018|>`` at 200018 (harmony does not treat ``<|endofprompt|>``
  as special). Harmony also knows ``<|reserved_201088|>``, one past the model's
  vocabulary; it is left out.
- ``<|return|>`` (200002) and ``<|call|>`` (200012) end generation
  (``config.json`` ``eos_token_id``).

A build writes into a temporary sibling folder and renames it into place, so a
crashed build never leaves a folder that looks finished.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Callable

BUILD_VERSION = 1
BUILD_INFO = "tiny_gpt_oss.json"

VOCAB_SIZE = 201088
BASE_VOCAB = 199998  # o200k's ordinary tokens: ids 0..199997
EOS_IDS = [200002, 200012]  # <|return|>, <|call|>

CONFIG = {
    "architectures": ["GptOssForCausalLM"],
    "model_type": "gpt_oss",
    "hidden_size": 64,
    "intermediate_size": 64,
    "head_dim": 16,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "num_hidden_layers": 2,  # keep even: mlx-lm silently drops the last of an odd count
    "num_local_experts": 4,
    "num_experts_per_tok": 2,
    "vocab_size": VOCAB_SIZE,
    "sliding_window": 128,
    "rope_theta": 150000,
    "rope_scaling": None,
    "rms_norm_eps": 1e-5,
    "layer_types": ["sliding_attention", "full_attention"],
    "max_position_embeddings": 131072,
    "attention_bias": True,
    "tie_word_embeddings": False,
    "bos_token_id": 199998,
    "pad_token_id": 199999,
    "eos_token_id": EOS_IDS,
    "torch_dtype": "float32",
}

# Harmony's named special tokens; every other id from 199998 to the vocabulary's end is <|reserved_ID|>.
NAMED_SPECIALS = {
    199998: "<|startoftext|>",
    199999: "<|endoftext|>",
    200002: "<|return|>",
    200003: "<|constrain|>",
    200005: "<|channel|>",
    200006: "<|start|>",
    200007: "<|end|>",
    200008: "<|message|>",
    200012: "<|call|>",
}

# o200k's pre-tokenizer pattern (tiktoken's o200k_base, which harmony's o200k_harmony shares).
O200K_PATTERN = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)

TOKENIZER_CONFIG = {
    "tokenizer_class": "PreTrainedTokenizerFast",
    "bos_token": "<|startoftext|>",
    "eos_token": "<|return|>",
    "pad_token": "<|endoftext|>",
    "model_max_length": CONFIG["max_position_embeddings"],
    "clean_up_tokenization_spaces": False,
    "model_input_names": ["input_ids", "attention_mask"],
}


def special_tokens() -> list[str]:
    """Harmony's special tokens in id order, from 199998 to ``VOCAB_SIZE - 1``."""
    return [NAMED_SPECIALS.get(i, f"<|reserved_{i}|>") for i in range(BASE_VOCAB, VOCAB_SIZE)]


def read_tiktoken_ranks(path: Path) -> dict[bytes, int]:
    """The token bytes -> rank table of a ``.tiktoken`` file."""
    ranks: dict[bytes, int] = {}
    for line in Path(path).read_bytes().splitlines():
        if line:
            token, rank = line.split(b" ")
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


def build_tokenizer(vocab_file: Path):
    """A ``tokenizers.Tokenizer`` with harmony's ids, converted offline from ``o200k_base.tiktoken``."""
    from transformers.convert_slow_tokenizer import TikTokenConverter

    ranks = read_tiktoken_ranks(vocab_file)
    if len(ranks) != BASE_VOCAB or sorted(ranks.values()) != list(range(BASE_VOCAB)):
        raise ValueError(f"{vocab_file}: expected ranks 0..{BASE_VOCAB - 1}")

    class _OfflineConverter(TikTokenConverter):
        @staticmethod
        def load_tiktoken_bpe(tiktoken_url):  # the stock one needs tiktoken and may download
            return ranks

    specials = special_tokens()
    tokenizer = _OfflineConverter(vocab_file=str(vocab_file), pattern=O200K_PATTERN, extra_special_tokens=specials).converted()
    for token_id, token in ((BASE_VOCAB, specials[0]), (200002, "<|return|>"), (VOCAB_SIZE - 1, specials[-1])):
        if tokenizer.token_to_id(token) != token_id:
            raise ValueError(f"special token {token} got id {tokenizer.token_to_id(token)}, expected {token_id}")
    if tokenizer.get_vocab_size() != VOCAB_SIZE:
        raise ValueError(f"tokenizer has {tokenizer.get_vocab_size()} tokens, expected {VOCAB_SIZE}")
    return tokenizer


def parameter_shapes(config: dict) -> dict[str, tuple[int, ...]]:
    """Every parameter of mlx-lm's ``gpt_oss.Model`` for ``config``, by name, with its shape."""
    layers = config["num_hidden_layers"]
    if layers % 2:
        raise ValueError("num_hidden_layers must be even: mlx-lm's gpt_oss drops the last of an odd count")
    hidden, inner, head = config["hidden_size"], config["intermediate_size"], config["head_dim"]
    heads, kv_heads, experts = config["num_attention_heads"], config["num_key_value_heads"], config["num_local_experts"]
    vocab = config["vocab_size"]
    shapes: dict[str, tuple[int, ...]] = {"model.embed_tokens.weight": (vocab, hidden), "model.norm.weight": (hidden,)}
    if not config.get("tie_word_embeddings"):
        shapes["lm_head.weight"] = (vocab, hidden)
    for i in range(layers):
        p = f"model.layers.{i}."
        shapes[p + "input_layernorm.weight"] = (hidden,)
        shapes[p + "post_attention_layernorm.weight"] = (hidden,)
        for name, rows in (("q_proj", heads * head), ("k_proj", kv_heads * head), ("v_proj", kv_heads * head)):
            shapes[f"{p}self_attn.{name}.weight"] = (rows, hidden)
            shapes[f"{p}self_attn.{name}.bias"] = (rows,)
        shapes[p + "self_attn.o_proj.weight"] = (hidden, heads * head)
        shapes[p + "self_attn.o_proj.bias"] = (hidden,)
        shapes[p + "self_attn.sinks"] = (heads,)
        shapes[p + "mlp.router.weight"] = (experts, hidden)
        shapes[p + "mlp.router.bias"] = (experts,)
        for name in ("gate_proj", "up_proj"):
            shapes[f"{p}mlp.experts.{name}.weight"] = (experts, inner, hidden)
            shapes[f"{p}mlp.experts.{name}.bias"] = (experts, inner)
        shapes[p + "mlp.experts.down_proj.weight"] = (experts, hidden, inner)
        shapes[p + "mlp.experts.down_proj.bias"] = (experts, hidden)
    return shapes


def random_weights(config: dict, seed: int) -> dict:
    """float32 parameters named and shaped as mlx-lm's ``gpt_oss.Model`` expects, drawn from ``seed``."""
    from ..runtime import mlx_core

    mx = mlx_core()
    shapes = parameter_shapes(config)
    names = sorted(shapes)
    keys = mx.random.split(mx.random.key(seed), len(names))
    weights = {}
    for i, name in enumerate(names):
        shape, key = shapes[name], keys[i]
        if name.endswith("norm.weight"):  # RMSNorm scales
            value = mx.ones(shape)
        elif name.endswith(".sinks"):  # attention sinks: per-head logits
            value = mx.random.normal(shape, key=key)
        elif name.endswith(".bias"):
            value = 0.02 * mx.random.normal(shape, key=key)
        elif name == "model.embed_tokens.weight":
            value = mx.random.normal(shape, key=key)
        elif name == "lm_head.weight":
            # The final RMSNorm gives unit-RMS features: logits then have std about 2.
            value = (2.0 / shape[-1] ** 0.5) * mx.random.normal(shape, key=key)
        else:  # Linear / SwitchLinear weights: (..., out, in)
            value = (1.0 / shape[-1] ** 0.5) * mx.random.normal(shape, key=key)
        weights[name] = value.astype(mx.float32)
    mx.eval(weights)
    return weights


def write_model_files(folder: Path, config: dict, weights: dict, vocab_file: Path, tokenizer_config: dict, info: dict) -> None:
    """Write a model folder's files: config, weights, tokenizer and the build stamp ``info``."""
    from ..runtime import mlx_core

    (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    mlx_core().save_safetensors(str(folder / "model.safetensors"), weights, metadata={"format": "mlx"})
    build_tokenizer(vocab_file).save(str(folder / "tokenizer.json"), pretty=False)
    (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2) + "\n", encoding="utf-8")
    (folder / BUILD_INFO).write_text(json.dumps(info) + "\n", encoding="utf-8")


def build_info(folder: Path) -> dict:
    """The build stamp of ``folder`` (empty when there is none or it cannot be read)."""
    try:
        info = json.loads((Path(folder) / BUILD_INFO).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def is_built(folder: Path, seed: int = 0) -> bool:
    """True when ``folder`` holds a finished build of the random tiny model, this version and seed."""
    info = build_info(folder)
    return info.get("version") == BUILD_VERSION and info.get("seed") == seed and "variant" not in info


def build_atomically(out_dir: Path, write: Callable[[Path], None], finished: Callable[[Path], bool]) -> Path:
    """Run ``write(folder)`` on a temporary sibling of ``out_dir``, then rename it into place (replacing it).

    ``finished(out_dir)`` tells a concurrent build that got there first from a failure.
    """
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.building-", dir=out_dir.parent))
    try:
        os.chmod(tmp, 0o755)  # mkdtemp makes it 0700
        write(tmp)
        old = None
        if out_dir.exists():
            old = out_dir.with_name(f".{out_dir.name}.old-{uuid.uuid4().hex}")
            os.rename(out_dir, old)
        try:
            os.rename(tmp, out_dir)
        except OSError:
            if not finished(out_dir):
                raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def build_tiny_gpt_oss(out_dir: Path, vocab_file: Path, seed: int = 0) -> Path:
    """Write the random tiny GPT-OSS model folder to ``out_dir`` (replacing it) and return it."""
    info = {"builder": "mlx_harmony_tui/models/tiny_gpt_oss.py", "version": BUILD_VERSION, "seed": seed}

    def write(folder: Path) -> None:
        write_model_files(folder, CONFIG, random_weights(CONFIG, seed), vocab_file, TOKENIZER_CONFIG, info)

    return build_atomically(out_dir, write, lambda folder: is_built(folder, seed))

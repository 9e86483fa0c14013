"""The GGUF converter, checked on the real default model (SmolLM2-135M-Instruct, Q4_1).

The session fixtures ``default_model_dir`` / ``loaded_default`` fetch and
convert the default model once; the tests here read that folder, convert the
same GGUF again into temporary folders, and feed it damaged copies.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mlx_harmony_tui.errors import UserError
from mlx_harmony_tui.models import default_model
from mlx_harmony_tui.models.gguf_convert import GGUF_BLOCK, convert_gguf
from mlx_harmony_tui.runtime import mlx_core

mx = mlx_core()

IM_START, IM_END = 1, 2

ROUND_TRIP_TEXTS = [
    "The quick brown fox jumps over the lazy dog. It's 9 o'clock; \"quoted\" (parens) & more!",
    "def f(x):\n\tif x:\n        return x  # tab and spaces\n\treturn None\n",
    "class A:\n    def __init__(self):\n\t\tpass\n\n\n",
    "12345 and 3.14159, -42, 1e10, 0xFF",
    "déjà vu, naïve café, Ærø, Straße, Ελληνικά, русский",
    "日本語のテキスト、中文字符和한국어",
    "🎉👍🏽 party 🇫🇷 👨‍👩‍👧 done",
    "  lots   of\n\n\n whitespace \t\r\n end  ",
    "\n",
    " leading space",
    "trailing space ",
    "<|im_start|>user\nHello there<|im_end|>\n<|im_start|>assistant\n",
    "mixed: naïve 日本 🎉 123\tend\r\n",
]


@pytest.fixture(scope="module")
def tokenizer(loaded_default):
    return loaded_default.tokenizer


@pytest.fixture(scope="module")
def gguf_meta(default_model_dir: Path) -> dict:
    """The default GGUF's metadata (the fixture above guarantees the file is present)."""
    _, meta = mx.load(str(default_model.gguf_path()), return_metadata=True)
    return meta


@pytest.fixture(scope="module")
def quantized_dir(default_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("quantized") / "model"
    return convert_gguf(default_model.gguf_path(), out, "quantized")


# --- tokenizer -----------------------------------------------------------------


@pytest.mark.parametrize("text", ROUND_TRIP_TEXTS, ids=range(len(ROUND_TRIP_TEXTS)))
def test_tokenizer_round_trips_text_exactly(tokenizer, text: str) -> None:
    ids = list(tokenizer.encode(text))
    assert ids, text
    assert tokenizer.decode(ids) == text


def test_tokenizer_splits_digits_individually(tokenizer) -> None:
    ids = list(tokenizer.encode("12345"))
    assert len(ids) == 5
    assert [tokenizer.decode([i]) for i in ids] == list("12345")
    # Digits split even inside words and longer numbers.
    assert len(tokenizer.encode("2024")) == 4
    assert [tokenizer.decode([i]) for i in tokenizer.encode("v2024")][-4:] == list("2024")


def test_tokenizer_special_tokens_encode_to_single_ids(tokenizer) -> None:
    assert list(tokenizer.encode("<|im_start|>")) == [IM_START]
    assert list(tokenizer.encode("<|im_end|>")) == [IM_END]
    assert list(tokenizer.encode("<|endoftext|>")) == [0]
    ids = list(tokenizer.encode("<|im_start|>user\nhi<|im_end|>\n"))
    assert ids[0] == IM_START
    assert ids.count(IM_START) == 1 and ids.count(IM_END) == 1
    assert tokenizer.decode(ids[ids.index(IM_END) : ids.index(IM_END) + 1]) == "<|im_end|>"
    # The text of a special token written without its markers is ordinary text.
    assert IM_START not in tokenizer.encode("im_start")
    assert tokenizer.eos_token_id == IM_END


def test_tokenizer_vocabulary_matches_gguf(tokenizer, gguf_meta: dict) -> None:
    tokens = list(gguf_meta["tokenizer.ggml.tokens"])
    assert len(tokenizer.vocab) == len(tokens) == 49152
    for i in (0, 1, 2, 100, 4093, len(tokens) - 1):
        assert tokenizer.convert_ids_to_tokens(i) == tokens[i]


# --- folder contents -----------------------------------------------------------


def test_config_has_llama_hyper_parameters(default_model_dir: Path, gguf_meta: dict) -> None:
    config = json.loads((default_model_dir / "config.json").read_text())
    assert config["model_type"] == "llama"
    assert config["rope_traditional"] is True
    assert config["tie_word_embeddings"] is True
    assert config["num_hidden_layers"] == 30
    assert config["hidden_size"] == 576
    assert config["intermediate_size"] == 1536
    assert config["num_attention_heads"] == 9
    assert config["num_key_value_heads"] == 3
    assert config["head_dim"] == 64
    assert config["vocab_size"] == 49152
    assert config["max_position_embeddings"] == 8192
    assert config["rope_theta"] == pytest.approx(100000.0)
    assert config["rms_norm_eps"] == pytest.approx(1e-5)
    assert config["bos_token_id"] == IM_START and config["eos_token_id"] == IM_END
    assert config["num_hidden_layers"] == int(gguf_meta["llama.block_count"].item())
    assert config["hidden_size"] == int(gguf_meta["llama.embedding_length"].item())


def test_tokenizer_config_carries_gguf_chat_template(default_model_dir: Path, gguf_meta: dict) -> None:
    tok_config = json.loads((default_model_dir / "tokenizer_config.json").read_text())
    template = gguf_meta["tokenizer.chat_template"]
    assert isinstance(template, str) and "<|im_start|>" in template
    assert tok_config["chat_template"] == template
    assert tok_config["bos_token"] == "<|im_start|>"
    assert tok_config["eos_token"] == "<|im_end|>"


def test_chat_template_renders_with_loaded_tokenizer(loaded_default) -> None:
    from mlx_harmony_tui.engine import lm

    ids = lm.chat_template_tokens(loaded_default, [{"role": "user", "content": "Hi"}])
    assert ids is not None and ids[0] == IM_START
    text = lm.decode(loaded_default, ids)
    assert text.endswith("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")


def test_marker_records_gguf_sha256(default_model_dir: Path) -> None:
    marker = json.loads((default_model_dir / default_model.MARKER).read_text())
    assert marker["gguf_sha256"] == default_model.GGUF_SHA256
    assert marker["name"] == default_model.NAME
    assert marker["form"] == default_model_dir.name
    assert default_model.sha256_of(default_model.gguf_path()) == default_model.GGUF_SHA256


# --- quantized form ------------------------------------------------------------


def _bits(weights: dict, stem: str) -> int:
    weight, scales = weights[f"{stem}.weight"], weights[f"{stem}.scales"]
    assert weight.dtype == mx.uint32
    in_dims = scales.shape[-1] * GGUF_BLOCK
    assert (weight.shape[-1] * 32) % in_dims == 0
    return weight.shape[-1] * 32 // in_dims


def test_quantized_form_keeps_packed_weights(quantized_dir: Path) -> None:
    config = json.loads((quantized_dir / "config.json").read_text())
    assert config["quantization"] == {"group_size": 32, "bits": 4, "model.embed_tokens": {"group_size": 32, "bits": 8}}
    assert not (quantized_dir.parent / "model.partial").exists()

    weights = mx.load(str(quantized_dir / "model.safetensors"))
    assert "lm_head.weight" not in weights  # tied to the embedding
    assert _bits(weights, "model.embed_tokens") == 8
    assert weights["model.embed_tokens.scales"].shape[-1] * GGUF_BLOCK == config["hidden_size"]
    assert weights["model.embed_tokens.weight"].shape[0] == config["vocab_size"]
    layer_bits = {_bits(weights, k[: -len(".scales")]) for k in weights if k.endswith(".scales") and ".layers." in k}
    assert layer_bits == {4}
    assert weights["model.norm.weight"].dtype != mx.uint32


def test_quantized_form_loads_and_matches_float_greedy_token(
    quantized_dir: Path, loaded_default, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from mlx_harmony_tui.engine import lm

    reference = loaded_default
    if "quantization" in reference.config:  # this machine's default is 4-bit: compare with a float32 copy
        out = tmp_path_factory.mktemp("float32") / "model"
        reference = lm.load(convert_gguf(default_model.gguf_path(), out, "float32"))
    quantized = lm.load(quantized_dir)
    assert quantized.config["quantization"]["bits"] == 4

    for prompt in ("The capital of France is", "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"):
        tokens = lm.encode(quantized, prompt)
        assert tokens == lm.encode(reference, prompt)
        logits_q = lm.forward(quantized, mx.array(tokens), lm.new_cache(quantized)).astype(mx.float32)
        logits_f = lm.forward(reference, mx.array(tokens), lm.new_cache(reference)).astype(mx.float32)
        assert logits_q.shape == logits_f.shape == (1, 49152)
        assert mx.argmax(logits_q, axis=-1).item() == mx.argmax(logits_f, axis=-1).item(), prompt
        # Same weights, different arithmetic: the logits agree closely (observed max diff ~0.07).
        assert mx.abs(logits_q - logits_f).max().item() < 1.0


# --- damaged input -------------------------------------------------------------


def _damaged(kind: str, path: Path) -> None:
    if kind == "random":
        path.write_bytes(os.urandom(64 * 1024))
    elif kind == "truncated":
        with open(default_model.gguf_path(), "rb") as f:
            path.write_bytes(f.read(1 << 20))
    elif kind == "truncated-tensors":
        with open(default_model.gguf_path(), "rb") as f:
            path.write_bytes(f.read(4 << 20))  # whole header, tensor data cut short
    elif kind == "empty":
        path.write_bytes(b"")
    else:
        raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["random", "truncated", "truncated-tensors", "empty"])
def test_damaged_gguf_raises_user_error_and_leaves_nothing(default_model_dir: Path, tmp_path: Path, kind: str) -> None:
    src = tmp_path / f"{kind}.gguf"
    _damaged(kind, src)
    out = tmp_path / "out"
    with pytest.raises(UserError) as info:
        convert_gguf(src, out, "quantized")
    assert str(src) in str(info.value)
    assert not out.exists()
    assert not (tmp_path / "out.partial").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [src.name]


def test_missing_gguf_raises_user_error(tmp_path: Path) -> None:
    src = tmp_path / "absent.gguf"
    with pytest.raises(UserError, match=str(src)):
        convert_gguf(src, tmp_path / "out", "float32")
    assert list(tmp_path.iterdir()) == []


def test_failed_conversion_keeps_existing_output(tmp_path: Path) -> None:
    src = tmp_path / "bad.gguf"
    src.write_bytes(b"not a gguf")
    out = tmp_path / "out"
    out.mkdir()
    (out / "config.json").write_text("{}")
    with pytest.raises(UserError):
        convert_gguf(src, out, "quantized")
    assert (out / "config.json").read_text() == "{}"
    assert not (tmp_path / "out.partial").exists()


def test_gguf_header_with_garbage_body_raises_user_error(default_model_dir: Path, tmp_path: Path) -> None:
    # Run in a child process: the failure mode is a crash of the whole interpreter.
    with open(default_model.gguf_path(), "rb") as f:
        header = f.read(24)  # magic, version, tensor count, metadata count of the real file
    src = tmp_path / "garbage.gguf"
    src.write_bytes(header + bytes((i * 131 + 7) % 256 for i in range(4096)))
    code = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from mlx_harmony_tui.errors import UserError
        from mlx_harmony_tui.models.gguf_convert import convert_gguf
        try:
            convert_gguf(Path({str(src)!r}), Path({str(tmp_path / 'out')!r}), "quantized")
        except UserError as exc:
            print("USERERROR", exc)
            sys.exit(0)
        sys.exit(3)
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"child exited with {result.returncode}: {result.stderr[-500:]}"
    assert "USERERROR" in result.stdout and str(src) in result.stdout


# --- small synthetic GGUFs (real tokenizer metadata, tiny random llama weights) ---


def _tiny_gguf(path: Path, meta: dict, *, extra: dict | None = None, drop: tuple[str, ...] = (), **override) -> Path:
    hidden, ffn, layers, kv_dim = 64, 128, 2, 32
    u32 = lambda n: mx.array(n, dtype=mx.uint32)  # noqa: E731
    meta.update(
        {
            "llama.embedding_length": u32(hidden),
            "llama.feed_forward_length": u32(ffn),
            "llama.block_count": u32(layers),
            "llama.attention.head_count": u32(4),
            "llama.attention.head_count_kv": u32(2),
            "llama.rope.dimension_count": u32(16),
        }
    )
    meta = {k: v for k, v in meta.items() if k not in drop}
    meta.update(override)
    key = mx.random.key(0)

    def rand(*shape):
        nonlocal key
        key, sub = mx.random.split(key)
        return (mx.random.normal(shape, key=sub) * 0.02).astype(mx.float16)

    vocab = len(meta["tokenizer.ggml.tokens"])
    weights = {"token_embd.weight": rand(vocab, hidden), "output_norm.weight": mx.ones((hidden,))}
    for i in range(layers):
        weights.update(
            {
                f"blk.{i}.attn_q.weight": rand(hidden, hidden),
                f"blk.{i}.attn_k.weight": rand(kv_dim, hidden),
                f"blk.{i}.attn_v.weight": rand(kv_dim, hidden),
                f"blk.{i}.attn_output.weight": rand(hidden, hidden),
                f"blk.{i}.ffn_gate.weight": rand(ffn, hidden),
                f"blk.{i}.ffn_up.weight": rand(ffn, hidden),
                f"blk.{i}.ffn_down.weight": rand(hidden, ffn),
                f"blk.{i}.attn_norm.weight": mx.ones((hidden,)),
                f"blk.{i}.ffn_norm.weight": mx.ones((hidden,)),
            }
        )
    weights.update(extra or {})
    mx.save_gguf(str(path), weights, meta)
    return path


def test_tiny_float_gguf_converts_and_loads(gguf_meta: dict, tmp_path: Path) -> None:
    from mlx_harmony_tui.engine import lm

    src = _tiny_gguf(tmp_path / "tiny.gguf", gguf_meta)
    out = convert_gguf(src, tmp_path / "out", "quantized")  # nothing to keep packed: stays float
    config = json.loads((out / "config.json").read_text())
    assert "quantization" not in config
    assert (config["hidden_size"], config["num_hidden_layers"], config["head_dim"]) == (64, 2, 16)
    loaded = lm.load(out)
    tokens = lm.encode(loaded, "Hello")
    assert lm.forward(loaded, mx.array(tokens), lm.new_cache(loaded)).shape == (1, 49152)


def test_unsupported_architecture_raises_user_error(gguf_meta: dict, tmp_path: Path) -> None:
    src = _tiny_gguf(tmp_path / "qwen.gguf", gguf_meta, **{"general.architecture": "qwen2"})
    with pytest.raises(UserError, match="qwen2") as info:
        convert_gguf(src, tmp_path / "out", "quantized")
    assert str(src) in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == [src.name]


def test_unknown_tensor_raises_user_error(gguf_meta: dict, tmp_path: Path) -> None:
    src = _tiny_gguf(tmp_path / "llama3.gguf", gguf_meta, extra={"rope_freqs.weight": mx.ones((8,))})
    with pytest.raises(UserError) as info:
        convert_gguf(src, tmp_path / "out", "quantized")
    assert str(src) in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == [src.name]


def test_missing_metadata_raises_user_error(gguf_meta: dict, tmp_path: Path) -> None:
    src = _tiny_gguf(tmp_path / "noeps.gguf", gguf_meta, drop=("llama.attention.layer_norm_rms_epsilon",))
    with pytest.raises(UserError) as info:
        convert_gguf(src, tmp_path / "out", "quantized")
    assert str(src) in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == [src.name]

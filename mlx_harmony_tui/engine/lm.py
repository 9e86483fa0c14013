"""The only module that talks to mlx-lm.

mlx-lm changes its API between patch releases, so every call into it goes
through the few functions here, pinned to the version in ``pyproject.toml``.
Import this module lazily: importing mlx-lm costs about 1.7 s.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Callable

from ..runtime import mlx_core

mx = mlx_core()

import mlx_lm  # noqa: E402
from mlx.utils import tree_flatten, tree_map  # noqa: E402  (after the BLAS is in place)
from mlx_lm.models.cache import (  # noqa: E402
    BatchKVCache, BatchRotatingKVCache, KVCache, QuantizedKVCache, RotatingKVCache, load_prompt_cache, make_prompt_cache,
    save_prompt_cache,
)


@dataclass
class LoadedModel:
    """A model and its tokenizer, usable only on the thread that loaded them."""

    model: Any
    tokenizer: Any
    config: dict
    path: Path
    pipelined: bool = False  # split by layers across ranks: each forward pass must be evaluated to its logits

    @property
    def eos_token_ids(self) -> set[int]:
        return set(self.tokenizer.eos_token_ids)

    @property
    def vocab_size(self) -> int:
        return int(self.config.get("vocab_size") or len(self.tokenizer.vocab))


class CannotShard(ValueError):
    """The model cannot be split across the group's ranks (the message says why)."""


def load(path: Path, group: Any = None, shard: str | None = None) -> LoadedModel:
    """Load an mlx-lm model folder (weights, config and tokenizer).

    With a distributed ``group`` of several ranks, each rank keeps only its
    part: split across ranks by the model's own ``shard()`` (``shard`` is
    "tensor") or by layers where it has only a pipeline split ("pipeline");
    None picks tensor where the model has it. A model with neither, or whose
    head counts do not divide by the rank count, raises CannotShard naming why.
    """
    if group is None or group.size() == 1:
        model, tokenizer, config = mlx_lm.load(str(path), return_config=True)
        return LoadedModel(model=model, tokenizer=tokenizer, config=config, path=Path(path))
    model, tokenizer, config = mlx_lm.load(str(path), lazy=True, return_config=True)
    mode = shard or ("tensor" if hasattr(model, "shard") else "pipeline")
    inner = getattr(model, "model", None)
    if mode == "tensor" and not hasattr(model, "shard") or mode == "pipeline" and not hasattr(inner, "pipeline"):
        kinds = [name for name, ok in (("tensor", hasattr(model, "shard")), ("pipeline", hasattr(inner, "pipeline"))) if ok]
        other = f"; it has only {kinds[0]} (--shard {kinds[0]})" if kinds else ""
        raise CannotShard(f"model_type {config.get('model_type')!r} cannot be split across ranks by {mode}{other}")
    try:
        if mode == "tensor":
            _check_divisible(config, group.size())
            model.shard(group)
        else:
            inner.pipeline(group)
    except ValueError as exc:  # e.g. quantized weights whose groups do not split evenly (gpt-oss MXFP4 on 4 ranks)
        raise CannotShard(str(exc) if isinstance(exc, CannotShard) else f"mlx-lm could not split it {mode}-wise: {exc}") from None
    mx.eval(model.parameters())
    return LoadedModel(model=model, tokenizer=tokenizer, config=config, path=Path(path), pipelined=mode == "pipeline")


def _check_divisible(config: dict, ranks: int) -> None:
    """Tensor parallelism splits attention heads: their counts must divide by the rank count."""
    text = config.get("text_config") or config
    for key in ("num_attention_heads", "num_key_value_heads"):
        count = text.get(key)
        if isinstance(count, int) and count % ranks:
            raise CannotShard(
                f"{key} is {count}, which does not divide by {ranks} ranks: run it on a number of ranks that divides "
                f"{text.get('num_attention_heads')} and {text.get('num_key_value_heads')}"
            )


def new_cache(loaded: LoadedModel, kv_bits: int | None = None, kv_group_size: int = 64) -> list:
    """A fresh per-layer KV cache for one conversation, quantized when ``kv_bits`` is set."""
    cache = make_prompt_cache(loaded.model)
    if kv_bits is None:
        return cache
    return [layer.to_quantized(group_size=kv_group_size, bits=kv_bits) for layer in cache]


def quantizable_cache(loaded: LoadedModel) -> bool:
    """Whether every layer's cache is a plain KV cache, the only kind mlx-lm can quantize."""
    return all(type(layer) is KVCache for layer in make_prompt_cache(loaded.model))


def trims_exactly(layer) -> bool:
    """Whether ``layer`` can be cut back to any earlier length and then match a cold prefill.

    Plain and quantized KV caches keep every token; sliding-window (rotating)
    caches drop old ones once full, and recurrent caches keep no per-token state.
    """
    return type(layer) in (KVCache, QuantizedKVCache)


def can_trim_now(layer) -> bool:
    """Whether ``layer`` can be cut back right now (a rotating cache can until it first fills)."""
    return trims_exactly(layer) or bool(layer.is_trimmable())


def trim_layer(layer, n: int) -> None:
    layer.trim(n)


def _copy_arrays(tree):
    return tree_map(lambda x: mx.array(x[...]) if isinstance(x, mx.array) else x, tree)


def copy_layer_state(layer) -> tuple[Any, int]:
    """A real copy of ``layer``'s state (arrays copied, not aliased) and its size in bytes.

    Caches update their arrays in place, so an alias would change with them.
    """
    copied = _copy_arrays(list(layer.state))
    arrays = tree_flatten(copied)
    mx.eval([a for _, a in arrays if isinstance(a, mx.array)])
    return copied, sum(a.nbytes for _, a in arrays if isinstance(a, mx.array))


def layer_state(layer) -> Any:
    """``layer``'s state as it is now (its arrays, not copies: see :func:`layer_from_state`)."""
    return layer.state


def layer_from_state(like, state: Any):
    """A new cache layer of ``like``'s kind holding ``state`` (from :func:`copy_layer_state` or :func:`layer_state`).

    Its arrays are new array objects over the same memory: MLX copies one on
    its first write while another holds it, so neither sees the other's writes.
    """
    return type(like).from_state(_copy_arrays(state))


def cut_copy(layer, length: int):
    """A plain KV layer's first ``length`` tokens, as a new layer (sliced from its arrays, not copied)."""
    cut = KVCache()
    if layer.keys is not None:
        cut.state = (layer.keys[..., :length, :], layer.values[..., :length, :], length)
    return cut


def cache_offset(layer) -> int:
    """How many tokens ``layer`` has seen."""
    return int(layer.offset)


def same_cache_kinds(a: list, b: list) -> bool:
    """Whether two caches have layers of the same kinds (and window sizes), in order."""
    return len(a) == len(b) and all(
        type(x) is type(y) and getattr(x, "max_size", None) == getattr(y, "max_size", None) for x, y in zip(a, b)
    )


def save_cache(path: str, cache: list, metadata: dict[str, str]) -> None:
    """Write ``cache`` and ``metadata`` to one safetensors file (mlx-lm's prompt-cache format)."""
    save_prompt_cache(path, cache, metadata)


def load_cache(path: str) -> tuple[list, dict[str, str]]:
    """Read a file written by :func:`save_cache` (raises on a damaged one)."""
    cache, metadata = load_prompt_cache(path, return_metadata=True)
    mx.eval([layer.state for layer in cache])
    return cache, metadata


def cache_nbytes(cache: list) -> int:
    return sum(layer.nbytes for layer in cache if not layer.empty())


def forward(loaded: LoadedModel, tokens, cache: list):
    """Run the model on ``tokens`` (a 1-D int array); return the last position's logits, shape (1, V)."""
    return loaded.model(tokens[None], cache=cache)[:, -1, :]


def forward_rows(loaded: LoadedModel, tokens, cache: list):
    """One token per sequence: ``tokens`` (B,) through a cache of B rows (a sequence's own when B is 1); logits (B, V)."""
    return loaded.model(tokens[:, None], cache=cache)[:, -1, :]


def forward_tokens(loaded: LoadedModel, tokens, cache: list):
    """Several tokens per sequence: ``tokens`` (B, S) through a cache of B rows; logits at every position, (B, S, V)."""
    return loaded.model(tokens, cache=cache)


def forget_last(cache: list, counts: list[int]) -> None:
    """Forget row b's last ``counts[b]`` tokens, right after a pass that fed several tokens to every row.

    Rows forget different numbers of tokens: in a batch, a row that forgets
    more than the fewest is shifted right and its left padding grows, as
    mlx-lm pads a shorter prompt, so every row still ends at the same place.
    A sliding-window layer holds, after a pass of S tokens, the window's
    last tokens before it in order plus the S new ones: cutting its end
    leaves exactly the window the next token needs (mlx-lm's own ``trim``
    cannot once the window is full).
    """
    if not any(counts):
        return
    low = min(counts)
    extra = [count - low for count in counts]
    for layer in cache:
        if isinstance(layer, (KVCache, QuantizedKVCache)):
            layer.trim(counts[0])
        elif isinstance(layer, RotatingKVCache):
            _cut_window_end(layer, counts[0])
        elif isinstance(layer, BatchKVCache):
            layer.trim(low)
            if any(extra):
                layer._right_padding = mx.array(extra)
                layer.finalize()
        elif isinstance(layer, BatchRotatingKVCache):
            _cut_window_end(layer, low)
            if any(extra):
                layer._lengths = layer.offset - mx.array(extra)
                layer.finalize()
        else:
            raise TypeError(f"cannot take tokens back out of a {type(layer).__name__}")


def padding_spread(batch: list) -> int:
    """How many more padding positions the most padded row of ``batch`` has than the least (full-attention layers)."""
    spread = 0
    for layer in batch:
        if isinstance(layer, BatchKVCache):
            padding = layer.left_padding.tolist()
            low = min(padding)
            if low > 0:  # every row has it: cut it off (mlx-lm's filter does the same)
                layer.keys, layer.values = layer.keys[..., low:, :], layer.values[..., low:, :]
                layer._idx -= low
                layer.left_padding = layer.left_padding - low
            spread = max(spread, max(padding) - low)
    return spread


def _cut_window_end(layer, count: int) -> None:
    """A window layer just fed several tokens holds them in time order, its length its write index: cut its end."""
    if not count:
        return
    keep = layer._idx - count
    layer.keys, layer.values = layer.keys[..., :keep, :], layer.values[..., :keep, :]
    layer._idx = keep
    layer.offset = layer.offset - count
    if isinstance(layer, BatchRotatingKVCache):
        layer._offset -= count


def batchable(cache: list) -> bool:
    """Whether sequences with caches like ``cache`` can decode together (mlx-lm merges plain and rotating caches)."""
    return all(type(layer) in (KVCache, RotatingKVCache) for layer in cache)


def batch_cache(rows: list[list]) -> list:
    """mlx-lm's batch caches holding ``rows`` (each a sequence's own per-layer cache), in order; the rows are copied."""
    return [type(rows[0][i]).merge([row[i] for row in rows]) for i in range(len(rows[0]))]


def add_rows(batch: list, rows: list[list]) -> None:
    """Append ``rows`` (sequences' own caches) to ``batch`` in place."""
    for layer, extra in zip(batch, batch_cache(rows)):
        layer.extend(extra)


def keep_rows(batch: list, keep: list[int]) -> None:
    """Keep only rows ``keep`` of ``batch``, in place."""
    for layer in batch:
        layer.filter(keep)


def row_cache(batch: list, index: int) -> list:
    """Row ``index`` of ``batch`` as a sequence's own per-layer cache."""
    return [layer.extract(index) for layer in batch]


def prefill(loaded: LoadedModel, tokens, cache: list) -> None:
    """Feed ``tokens`` into ``cache`` without keeping logits (evaluated before returning).

    A pipelined model passes activations between ranks inside the forward
    pass: only its output depends on the hand-over, so it is evaluated too.
    """
    out = loaded.model(tokens[None], cache=cache)
    mx.eval([c.state for c in cache], out if loaded.pipelined else [])


def chat_template_tokens(loaded: LoadedModel, messages: list[dict], **template_args) -> list[int] | None:
    """Render ``messages`` with the tokenizer's own chat template; None when it has none."""
    tokenizer = loaded.tokenizer
    if not getattr(tokenizer, "chat_template", None):
        return None
    ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, **template_args)
    if isinstance(ids, dict) or hasattr(ids, "input_ids"):
        ids = ids["input_ids"]
    return list(ids)


def tool_call_format(loaded: LoadedModel):
    """``(start, end, parse)`` for a model whose chat template calls tools (None otherwise).

    ``start`` and ``end`` mark a call in the generated text (``end`` may be
    empty: the call runs to the end of the answer); ``parse(text, tools)`` is
    mlx-lm's parser for the format, giving ``{"name", "arguments"}`` or a list
    of them, raising ValueError on text it cannot read.
    """
    tokenizer = loaded.tokenizer
    if not getattr(tokenizer, "chat_template", None) or not getattr(tokenizer, "has_tool_calling", False):
        return None
    return tokenizer.tool_call_start, tokenizer.tool_call_end or "", tokenizer.tool_parser
def tokenizer_json(loaded: LoadedModel) -> str:
    """The model's Hugging Face tokenizer as its tokenizer.json text (what llguidance reads its vocabulary from)."""
    from copy import copy

    backend = copy(loaded.tokenizer._tokenizer.backend_tokenizer)
    backend.no_padding()
    backend.no_truncation()
    return backend.to_str()


def encode(loaded: LoadedModel, text: str) -> list[int]:
    return list(loaded.tokenizer.encode(text))


def decode(loaded: LoadedModel, ids: list[int]) -> str:
    return loaded.tokenizer.decode(ids)


def text_decoder(loaded: LoadedModel) -> Callable[[list[int]], str]:
    """A decode for the per-token stream: the Rust tokenizer's own where it gives what ``tokenizer.decode`` gives
    (a fast tokenizer that does not clean up spaces: transformers' wrapper around it costs twice the decode)."""
    wrapped = getattr(loaded.tokenizer, "_tokenizer", None)
    backend = getattr(wrapped, "backend_tokenizer", None)
    if backend is None or getattr(wrapped, "clean_up_tokenization_spaces", True):
        return loaded.tokenizer.decode
    return partial(backend.decode, skip_special_tokens=False)


def mlx_lm_generate_step(loaded: LoadedModel, prompt: list[int], max_tokens: int):
    """Raw mlx-lm greedy generation, the reference the benchmark compares with."""
    from mlx_lm.generate import generate_step

    return generate_step(mx.array(prompt), loaded.model, max_tokens=max_tokens)


def finish_pending_work() -> None:
    """Wait for work mlx-lm left queued on its generation stream (after a loop stops early)."""
    from mlx_lm.generate import generation_stream

    mx.synchronize(generation_stream)

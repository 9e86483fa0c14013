"""A tiny GPT-OSS model whose greedy answers are Harmony analysis: the turns benchmark's default model.

Its weights make greedy decoding follow a fixed chain of tokens, whatever came
before: ``assistant`` -> ``<|channel|>`` -> ``analysis`` -> ``<|message|>`` ->
about 43,000 ordinary word tokens (`` word``) -> the other ordinary tokens.
Since every prompt ends with ``<|start|>assistant``, every answer is the
opening of an analysis message that runs to ``max_tokens`` (no end or stop
token for about 200,000 steps): a server returns it as reasoning, and the next
turn's prompt drops it, as Harmony does with earlier turns' analysis.

How: embeddings are random (64 dimensions), ``lm_head[next(t)] = embed[t]``
and the attention and expert branches write only about 1% into the residual
stream, so the last hidden state is nearly ``embed[t]`` and its best match
among ``lm_head``'s rows is ``next(t)``. Weights are float32 (the CPU
backend's MoE runs only in float32) and the shape is that of the tests' tiny
model (:mod:`.tiny_gpt_oss`), with its tokenizer.

The tokenizer carries a chat template that renders a chat the way
openai-harmony does for mlx-harmony's default GPT-OSS prompt (identity,
knowledge cutoff, today's date, reasoning medium; system messages as developer
instructions; earlier assistant answers as their final text), so
``mlx_lm.server`` reads the same prompt tokens as mlx-harmony's server.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

from ..paths import cache_dir
from .tiny_gpt_oss import (
    BASE_VOCAB,
    BUILD_VERSION,
    CONFIG,
    TOKENIZER_CONFIG,
    VOCAB_SIZE,
    build_atomically,
    build_info,
    parameter_shapes,
    read_tiktoken_ranks,
    write_model_files,
)

VARIANT = "analysis chain"
FOLDER_NAME = "tiny-gpt-oss-analysis"
CHANNEL, MESSAGE = 200005, 200008  # <|channel|>, <|message|>
WORD = re.compile(rb" [a-z]{3,10}")  # ordinary tokens that read as words: the chain's first stretch

# openai-harmony's rendering of a plain chat (no tools) with mlx-harmony's default GPT-OSS settings.
CHAT_TEMPLATE = (
    "<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI.\n"
    "Knowledge cutoff: 2024-06\nCurrent date: {{ strftime_now('%Y-%m-%d') }}\n\nReasoning: medium\n\n"
    "# Valid channels: analysis, commentary, final. Channel must be included for every message.<|end|>"
    "{%- set instructions = messages | selectattr('role', 'in', ['system', 'developer']) | map(attribute='content') | list %}"
    "{%- if instructions %}<|start|>developer<|message|># Instructions\n\n{{ instructions | join('\n\n') }}<|end|>{%- endif %}"
    "{%- for m in messages %}"
    "{%- if m.role == 'user' %}<|start|>user<|message|>{{ m.content }}<|end|>"
    "{%- elif m.role == 'assistant' and m.content %}<|start|>assistant<|channel|>final<|message|>{{ m.content }}<|end|>"
    "{%- endif %}{%- endfor %}"
    "{%- if add_generation_prompt %}<|start|>assistant{%- endif %}"
)


def default_folder() -> Path:
    """Where the model is built on first use: in mlx-harmony's cache folder."""
    return cache_dir() / FOLDER_NAME


def chain(vocab_file: Path, seed: int = 0) -> list[int]:
    """Every token id once, in the order greedy decoding walks them (the last one leads back to the first)."""
    ranks = read_tiktoken_ranks(vocab_file)
    assistant, analysis = ranks[b"assistant"], ranks[b"analysis"]
    head = [assistant, CHANNEL, analysis, MESSAGE]
    shuffle = random.Random(seed).shuffle
    words = [rank for token, rank in ranks.items() if WORD.fullmatch(token) and rank not in head]
    shuffle(words)
    chosen = set(head) | set(words)
    others = [rank for rank in range(BASE_VOCAB) if rank not in chosen]
    shuffle(others)
    specials = [i for i in range(BASE_VOCAB, VOCAB_SIZE) if i not in chosen]
    order = head + words + others + specials
    if sorted(order) != list(range(VOCAB_SIZE)):
        raise ValueError(f"{vocab_file}: the chain does not hold every token id once")
    return order


def chain_weights(config: dict, order: list[int], seed: int) -> dict:
    """float32 parameters that make greedy decoding map ``order[i]`` to ``order[i + 1]``."""
    from ..runtime import mlx_core

    mx = mlx_core()
    shapes = parameter_shapes(config)
    names = sorted(shapes)
    keys = mx.random.split(mx.random.key(seed), len(names))
    previous = [0] * len(order)  # previous[t]: the token whose successor is t
    for i, token in enumerate(order):
        previous[order[(i + 1) % len(order)]] = token
    weights = {}
    for i, name in enumerate(names):
        shape, key = shapes[name], keys[i]
        if name.endswith("norm.weight"):
            value = mx.ones(shape)
        elif name.endswith(".sinks"):
            value = mx.random.normal(shape, key=key)
        elif name.endswith(".bias") or name == "lm_head.weight":
            value = mx.zeros(shape)  # lm_head is filled in below, from the embeddings
        elif name == "model.embed_tokens.weight":
            value = mx.random.normal(shape, key=key)
        elif name.endswith(("o_proj.weight", "down_proj.weight")):  # the branches barely touch the residual stream
            value = (0.01 / shape[-1] ** 0.5) * mx.random.normal(shape, key=key)
        else:
            value = (1.0 / shape[-1] ** 0.5) * mx.random.normal(shape, key=key)
        weights[name] = value.astype(mx.float32)
    weights["lm_head.weight"] = weights["model.embed_tokens.weight"][mx.array(previous)]
    mx.eval(weights)
    return weights


def is_built(folder: Path, seed: int = 0) -> bool:
    """True when ``folder`` holds a finished build of this model, this version and seed."""
    info = build_info(folder)
    return info.get("version") == BUILD_VERSION and info.get("seed") == seed and info.get("variant") == VARIANT


def build_analysis_gpt_oss(out_dir: Path, vocab_file: Path, seed: int = 0) -> Path:
    """Write the model folder to ``out_dir`` (replacing it) and return it; a few seconds."""
    order = chain(vocab_file, seed)
    info = {"builder": "mlx_harmony_tui/models/analysis_gpt_oss.py", "version": BUILD_VERSION, "seed": seed,
            "variant": VARIANT, "chain_head": order[:8]}
    tokenizer_config = {**TOKENIZER_CONFIG, "chat_template": CHAT_TEMPLATE}

    def write(folder: Path) -> None:
        write_model_files(folder, CONFIG, chain_weights(CONFIG, order, seed), vocab_file, tokenizer_config, info)

    return build_atomically(out_dir, write, lambda folder: is_built(folder, seed))


def ensure_analysis_gpt_oss(vocab_file: Path, folder: Path | None = None) -> Path:
    """The model's folder (default: :func:`default_folder`), built first if it is not there yet."""
    folder = Path(folder) if folder is not None else default_folder()
    if not is_built(folder):
        build_analysis_gpt_oss(folder, vocab_file)
    return folder

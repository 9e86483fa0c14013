"""Typed requests callers send to the inference thread."""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Callable

from ..config.response_schema import OutputConstraint
from ..config.sampling import SamplingParams


@dataclass(frozen=True)
class LoadModel:
    """Load ``spec`` (None = the embedded default model), replacing the current model.

    ``kv_bits`` (2, 3, 4, 6 or 8) stores the KV cache quantized, in groups of
    ``kv_group_size``; models with sliding-window layers (GPT-OSS) refuse it.
    ``shard`` picks how a group of ranks splits the model.
    """

    request_id: str
    spec: str | None = None
    kv_bits: int | None = None
    kv_group_size: int = 64
    shard: str | None = None  # under mlx.launch: "tensor" or "pipeline" (None: tensor where the model has it)


@dataclass(frozen=True)
class Generate:
    """Answer ``messages`` (chat form) or continue ``prompt_ids`` (raw tokens).

    ``conversation_id`` ties turns together: the prompt reuses what the
    conversation's cache already holds, and a seed is applied once per
    conversation unless ``params.reseed_each_turn``. ``reuse_cache=False``
    computes the whole prompt in a throwaway cache (a cold start).
    ``required_functions`` (GPT-OSS) makes the answer a call to one of these
    functions (OpenAI's ``tool_choice`` "required" or a named function).
    ``output`` keeps the answer (GPT-OSS: its final channel) and strict
    functions' arguments inside their JSON schemas.
    """

    request_id: str
    messages: list[dict] | None = None
    prompt_ids: list[int] | None = None
    params: SamplingParams = field(default_factory=SamplingParams)
    conversation_id: str = "default"
    harmony: Any = None  # HarmonySettings for GPT-OSS models, its conversation_start_date set
    processors: tuple[Callable[[list[int], Any], Any], ...] = ()  # logits constraints, see generation.token_stream
    reuse_cache: bool = True
    max_context_tokens: int | None = None  # drop the oldest turns to fit, see engine.context
    keep_messages: int = 0  # leading messages never dropped (a prompt config's examples)
    required_functions: tuple[str, ...] = ()
    persist_key: str | None = None  # the cache is also kept on disk under this key (see engine.disk_cache)
    tools: tuple[dict, ...] = ()  # a chat template's tools (OpenAI function shape); calls are parsed from the answer
    output: OutputConstraint | None = None  # structured output, see engine.structured


@dataclass(frozen=True)
class Cancel:
    """Stop generation ``request_id`` before its next token (or before it starts)."""

    request_id: str


@dataclass(frozen=True)
class UpdateSampling:
    """Use ``params`` for generation ``request_id`` from its next token."""

    request_id: str
    params: SamplingParams


@dataclass(frozen=True)
class Call:
    """Run ``fn(loaded_model)`` on the inference thread; the result lands in ``future``."""

    fn: Callable[[Any], Any]
    future: Future


@dataclass(frozen=True)
class Shutdown:
    pass


Request = LoadModel | Generate | Cancel | UpdateSampling | Call | Shutdown

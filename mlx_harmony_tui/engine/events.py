"""Typed events the inference thread emits; every front end consumes these."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

FinishReason = Literal["stop", "length", "cancelled", "tool_calls"]
Channel = Literal["final", "analysis", "commentary"]


@dataclass(frozen=True)
class ModelInfo:
    """What was loaded, in the user's words."""

    name: str
    path: str
    source: str
    is_gpt_oss: bool
    model_type: str
    context_length: int | None
    device: str = ""  # where it runs: "metal", "cuda", or "cpu, " and the BLAS in use
    ranks: int = 1  # processes the model is split across (mlx.launch), each holding its part
    rank_memory_gb: tuple[float, ...] = ()  # with several ranks: the memory each holds after loading, in rank order
    tool_calling: bool = False  # it can call tools: GPT-OSS, or a chat template with a tool-call format mlx-lm parses


@dataclass(frozen=True)
class GenerationStats:
    """Figures for one generation; rates are tokens per second."""

    prompt_tokens: int = 0
    cached_tokens: int = 0
    dropped_turns: int = 0  # oldest turns left out to fit max_context_tokens
    completion_tokens: int = 0
    ttft_s: float = 0.0
    prefill_tps: float = 0.0
    decode_tps: float = 0.0
    peak_memory_gb: float = 0.0
    masked_tokens: int = 0  # tokens drawn inside a JSON schema (structured output)
    mask_s: float = 0.0  # CPU time the inference thread spent on those tokens' masks
    drafted_tokens: int = 0  # tokens prompt lookup drafted (speculative decoding)
    accepted_tokens: int = 0  # of which the model kept


@dataclass(frozen=True)
class ModelLoading:
    request_id: str
    stage: str
    fraction: float


@dataclass(frozen=True)
class ModelLoaded:
    request_id: str
    info: ModelInfo
    load_s: float


@dataclass(frozen=True)
class TextDelta:
    """New text on a channel, with the token ids that produced it."""

    request_id: str
    text: str
    token_ids: tuple[int, ...] = ()
    channel: Channel = "final"


@dataclass(frozen=True)
class ToolCall:
    """A complete tool call: ``recipient`` like ``python`` or ``functions.NAME`` (GPT-OSS), or the function's name
    as a model with a tool-calling chat template called it (``arguments`` then JSON)."""

    request_id: str
    recipient: str
    arguments: str
    channel: str = "commentary"
    content_type: str | None = None
    token_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class ToolResult:
    """A tool call was run (or declined); ``output`` is what the model reads next."""

    request_id: str
    recipient: str
    output: str
    status: Literal["done", "error", "declined"]
    duration_s: float = 0.0


@dataclass(frozen=True)
class Notice:
    """A line for the user about the turn (an MCP server starting, or one that failed to)."""

    request_id: str
    text: str
    severity: Literal["information", "warning"] = "information"


@dataclass(frozen=True)
class StatsUpdate:
    """Live figures while a generation runs (about twice a second)."""

    request_id: str
    stats: GenerationStats


@dataclass(frozen=True)
class Done:
    request_id: str
    finish_reason: FinishReason
    stats: GenerationStats
    token_ids: tuple[int, ...] = field(default=(), repr=False)
    repairs: tuple[str, ...] = ()  # malformed model output that was recovered (GPT-OSS Harmony)
    prompt_ids: tuple[int, ...] = field(default=(), repr=False)  # the prompt exactly as the model read it


@dataclass(frozen=True)
class Error:
    """A request failed. ``user_error`` is False for bugs, whose ``detail`` holds the traceback.

    ``field`` names the request field at fault, when one is.
    """

    request_id: str
    message: str
    user_error: bool = True
    detail: str = ""
    field: str | None = None


Event = ModelLoading | ModelLoaded | TextDelta | ToolCall | ToolResult | Notice | StatsUpdate | Done | Error

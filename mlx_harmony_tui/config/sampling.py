"""``SamplingParams``: how the next token is chosen, validated, without importing MLX.

Front ends and config files use this model; the engine's sampler applies it.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class SamplingParams(BaseModel):
    """How the next token is chosen. Every field is validated against its range."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, validate_assignment=True)

    # 0.2: the default model's best on the bench's factual questions (docs/measure/default_temperature.py; README)
    temperature: float = Field(0.2, ge=0.0, le=2.0)
    top_p: float = Field(1.0, ge=0.0, le=1.0)
    top_k: int = Field(0, ge=0)
    min_p: float = Field(0.0, ge=0.0, le=1.0)
    min_tokens_to_keep: int = Field(1, ge=1)
    repetition_penalty: float = Field(1.0, gt=0.0)
    repetition_context_size: int = Field(64, ge=0)
    presence_penalty: float = Field(0.0, ge=-2.0, le=2.0)
    frequency_penalty: float = Field(0.0, ge=-2.0, le=2.0)
    xtc_probability: float = Field(0.0, ge=0.0, le=1.0)
    xtc_threshold: float = Field(0.1, ge=0.0, le=0.5)
    logit_bias: dict[int, float] = Field(default_factory=dict)
    max_tokens: int = Field(1024, ge=1)
    seed: int | None = Field(None, ge=0, lt=2**64)
    reseed_each_turn: bool = False
    speculative: Literal["off", "ngram"] = "off"
    draft_tokens: int = Field(6, ge=1, le=16)

    @field_validator("logit_bias")
    @classmethod
    def _finite_bias(cls, value: dict[int, float]) -> dict[int, float]:
        for token, bias in value.items():
            if token < 0:
                raise ValueError(f"token id {token} is negative")
            if not math.isfinite(bias):
                raise ValueError(f"bias for token {token} is not a finite number")
        return value

    def with_changes(self, **changes) -> "SamplingParams":
        """A copy with ``changes`` applied and range-checked (``model_copy`` would not validate)."""
        return SamplingParams.model_validate({**self.model_dump(), **changes})

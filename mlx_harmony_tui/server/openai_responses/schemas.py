"""The Responses API's request body, as far as this server serves it.

Unknown fields are refused, as for chat completions. Input items, tools and
``tool_choice`` are checked by :mod:`.translate`, which names the item and
field at fault; the fields that only label a request for the client's own
records (``metadata``, ``user``, ``prompt_cache_key``...) are accepted and
kept out of generation.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..schemas import SamplingFields

Effort = Literal["low", "medium", "high"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class ReasoningConfig(_Body):
    effort: Effort | None = None
    summary: Literal["auto", "concise", "detailed"] | None = None  # the whole analysis comes back either way
    generate_summary: Literal["auto", "concise", "detailed"] | None = None


class TextConfig(_Body):
    format: dict[str, Any] | None = None
    verbosity: Literal["low", "medium", "high"] | None = None  # GPT-OSS has no verbosity setting: accepted, no effect


class ResponsesRequest(SamplingFields):
    model: str = Field(min_length=1)
    input: str | list[dict[str, Any]]
    instructions: str | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None  # GPT-OSS calls one function per step either way
    reasoning: ReasoningConfig | None = None
    text: TextConfig | None = None
    max_output_tokens: int | None = Field(None, ge=1)
    previous_response_id: str | None = None
    store: bool = True
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    background: Literal[False] | None = None
    truncation: Literal["disabled", "auto"] | None = None
    include: list[str] | None = None
    metadata: dict[str, str] | None = None
    client_metadata: dict[str, Any] | None = None  # Codex labels its turns with it
    user: str | None = None
    safety_identifier: str | None = None
    prompt_cache_key: str | None = None
    service_tier: str | None = None

    @field_validator("input")
    @classmethod
    def _not_empty(cls, value: str | list) -> str | list:
        if not value:
            raise ValueError("must not be empty")
        return value

    def sampling_changes(self) -> dict[str, Any]:
        changes = super().sampling_changes()
        if self.max_output_tokens is not None:
            changes["max_tokens"] = self.max_output_tokens
        return changes

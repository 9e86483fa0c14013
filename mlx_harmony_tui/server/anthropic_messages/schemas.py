"""The Messages API's request body, as far as this server serves it.

Unknown fields are refused with a 400 naming them. Content blocks, tools and
``tool_choice`` are checked by :mod:`.translate`, which names the message,
block and field at fault.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..request_text import reject_lone_surrogates

MAX_STOPS = 16


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class InputMessage(_Body):
    role: Literal["user", "assistant", "system"]  # "system" mid-conversation, as Claude Code sends it
    content: str | list[dict[str, Any]]


class MessagesRequest(_Body):
    _valid_unicode = model_validator(mode="before")(reject_lone_surrogates)

    model: str = Field(min_length=1)
    max_tokens: int = Field(ge=1)
    messages: list[InputMessage] = Field(min_length=1)
    system: str | list[dict[str, Any]] | None = None
    stop_sequences: list[str] | None = None
    stream: bool = False
    temperature: float | None = Field(None, ge=0.0, le=1.0)
    top_p: float | None = None
    top_k: int | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: dict[str, Any] | None = None
    thinking: dict[str, Any] | None = None
    output_config: dict[str, Any] | None = None  # effort, format
    cache_control: dict[str, Any] | None = None  # every exact prompt prefix is reused anyway
    context_management: dict[str, Any] | None = None  # checked by translate: only clearing old thinking
    metadata: dict[str, Any] | None = None  # the client's own labels (user_id); unused here
    service_tier: str | None = None

    @field_validator("stop_sequences")
    @classmethod
    def _stops(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and len(value) > MAX_STOPS:
            raise ValueError(f"at most {MAX_STOPS} stop sequences")
        if value is not None and any(not s for s in value):
            raise ValueError("a stop sequence must not be empty")
        return value

    def sampling_changes(self) -> dict[str, Any]:
        """The sampling fields the client set, named as SamplingParams names them."""
        changes: dict[str, Any] = {"max_tokens": self.max_tokens}
        for name in ("temperature", "top_p", "top_k"):
            if getattr(self, name) is not None:
                changes[name] = getattr(self, name)
        return changes

"""Request bodies of the OpenAI API, as far as this server serves them.

Unknown fields are refused (a client asking for ``logprobs`` learns it gets
none, rather than receiving an answer without them). Sampling ranges are
checked once, by :class:`~mlx_harmony_tui.config.sampling.SamplingParams`;
the fields that exist only here carry their own ranges. Message content is
checked by :mod:`.messages`, which can say which part of which message is wrong.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)

from .openai_format import invalid_request
from .request_text import reject_lone_surrogates

Effort = Literal["low", "medium", "high"]
MAX_STOPS = 4


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class StreamOptions(_Body):
    include_usage: bool = False


class SamplingFields(_Body):
    """The sampling fields every OpenAI-shaped request takes (chat and text completions, Responses): the root of their bodies."""

    _valid_unicode = model_validator(mode="before")(reject_lone_surrogates)

    SAMPLING_NAMES: ClassVar[tuple[str, ...]] = ("temperature", "top_p", "top_k", "min_p", "repetition_penalty", "presence_penalty", "frequency_penalty",
                      "seed", "speculative", "draft_tokens")

    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    min_p: float | None = None
    repetition_penalty: float | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    seed: int | None = None
    speculative: Literal["off", "ngram"] | None = None  # extensions: prompt-lookup drafts for this request
    draft_tokens: int | None = None

    def sampling_changes(self) -> dict[str, Any]:
        """The sampling fields the client set, named as SamplingParams names them."""
        return {name: getattr(self, name) for name in self.SAMPLING_NAMES if getattr(self, name) is not None}


class GenerationRequest(SamplingFields):
    """What chat and text completions share."""

    SAMPLING_NAMES: ClassVar[tuple[str, ...]] = (*SamplingFields.SAMPLING_NAMES, "logit_bias", "max_tokens")

    model: str = Field(min_length=1)
    max_tokens: int | None = Field(None, ge=1)
    logit_bias: dict[int, Annotated[float, Field(ge=-100.0, le=100.0)]] | None = None
    stop: str | list[str] | None = Field(None, validate_default=True)  # always a list once validated
    n: int = 1
    stream: bool = False
    stream_options: StreamOptions | None = None
    user: str | None = None  # an end-user label for the client's own records; unused here

    @field_validator("n")
    @classmethod
    def _one_choice(cls, value: int) -> int:
        if value != 1:
            raise ValueError("only 1 is supported (one choice per request)")
        return value

    @field_validator("stop")
    @classmethod
    def _stops(cls, value: str | list[str] | None) -> list[str]:
        stops = [value] if isinstance(value, str) else list(value or [])
        if len(stops) > MAX_STOPS:
            raise ValueError(f"at most {MAX_STOPS} stop sequences")
        if any(not s for s in stops):
            raise ValueError("a stop sequence must not be empty")
        return stops

    @field_validator("stream_options")
    @classmethod
    def _only_when_streaming(cls, value: StreamOptions | None, info: ValidationInfo) -> StreamOptions | None:
        if value is not None and not info.data.get("stream"):
            raise ValueError("only allowed when stream is true")
        return value

    @property
    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)


class FunctionDefinition(_Body):
    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_\-]{0,63}$")
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class ToolDefinition(_Body):
    type: Literal["function"]
    function: FunctionDefinition


class FunctionName(_Body):
    name: str


class NamedToolChoice(_Body):
    type: Literal["function"]
    function: FunctionName


class CalledFunction(_Body):
    name: str
    arguments: str


class MessageToolCall(_Body):
    id: str = Field(min_length=1)
    type: Literal["function"] = "function"
    function: CalledFunction


class ChatMessage(_Body):
    """One message; ``content`` is text or a list of parts, checked by :mod:`.messages`."""

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: Any = None
    name: str | None = None
    tool_calls: list[MessageToolCall] | None = None
    tool_call_id: str | None = None
    reasoning_content: str | None = None
    # What this server's own replies carry, so a reply can be sent back as it came.
    refusal: None = None
    annotations: list | None = None


class ReasoningOptions(_Body):
    effort: Effort | None = None


class ChatCompletionRequest(GenerationRequest):
    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    tools: list[ToolDefinition] | None = None
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None
    parallel_tool_calls: bool | None = None  # GPT-OSS calls one function per step either way
    reasoning_effort: Effort | None = None
    reasoning: ReasoningOptions | None = None
    response_format: dict[str, Any] | None = None  # checked by config.response_schema, which names the bad field

    @field_validator("tool_choice", mode="wrap")
    @classmethod
    def _tool_choice(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        try:
            return handler(value)
        except ValidationError:
            raise ValueError('must be "none", "auto", "required" or {"type": "function", "function": {"name": ...}}') from None

    def required_functions(self) -> tuple[str, ...]:
        """The functions one of which must be called (empty when the model may answer freely)."""
        names = tuple(t.function.name for t in self.tools or [])
        if isinstance(self.tool_choice, NamedToolChoice):
            if self.tool_choice.function.name not in names:
                param = "tool_choice.function.name"
                raise invalid_request(f"{param}: {self.tool_choice.function.name!r} is not one of the tools", param=param)
            return (self.tool_choice.function.name,)
        if self.tool_choice == "required" and not names:
            raise invalid_request('tool_choice: "required" needs tools', param="tool_choice")
        return names if self.tool_choice == "required" else ()

    def sampling_changes(self) -> dict[str, Any]:
        changes = super().sampling_changes()
        if self.max_completion_tokens is not None:
            changes["max_tokens"] = self.max_completion_tokens
        return changes

    def effort(self) -> Effort | None:
        """The reasoning effort asked for either way; ``reasoning_effort`` wins if both are given."""
        if self.reasoning_effort is not None:
            return self.reasoning_effort
        return self.reasoning.effort if self.reasoning else None


class CompletionRequest(GenerationRequest):
    prompt: str = Field(min_length=1)
    max_tokens: int | None = Field(16, ge=1)  # OpenAI's default for text completions

"""One request's generation, run on the slot's thread: engine events in, answer pieces out.

A chat or text completion becomes a :class:`ChatGeneration` or
:class:`TextGeneration`; the slot calls it with the loaded
:class:`~mlx_harmony_tui.engine.token_generator.TokenGenerator` and the
job, and it sends :class:`TextPiece`, :class:`ToolCallPiece` and finally
:class:`Finished` through ``job.emit`` as the engine produces them: a piece
per text delta, nothing buffered but what could be the start of a stop
sequence.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any, Callable, Literal, Sequence

from ..engine.events import Done, TextDelta, ToolCall
from ..engine.sampling_params import SamplingParams
from .catalog import ServedModel
from .messages import function_name, plain_messages
from .openai_format import APIError, invalid_request, new_id
from .stop_text import StopText

HARMONY_SPECIAL_FROM = 199998  # Harmony's special tokens start here in the GPT-OSS vocabulary
ProcessorFactory = Callable[[], Sequence[Callable]]


@dataclass(frozen=True)
class TextPiece:
    kind: Literal["content", "reasoning"]
    text: str


@dataclass(frozen=True)
class ToolCallPiece:
    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class Finished:
    finish_reason: str
    prompt_tokens: int
    cached_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class Failed:
    error: APIError


Piece = TextPiece | ToolCallPiece | Finished | Failed


@dataclass(frozen=True)
class GenerationOptions:
    """What both kinds of request share: the served model, sampling, stops and extra processors."""

    served: ServedModel
    params: SamplingParams
    stops: tuple[str, ...] = ()
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    extra_processors: ProcessorFactory | None = None

    def processors(self, gpt_oss: bool) -> tuple[Callable, ...]:
        found: list[Callable] = []
        if self.presence_penalty or self.frequency_penalty:
            from .penalties import TokenPenalties

            found.append(TokenPenalties(self.presence_penalty, self.frequency_penalty, HARMONY_SPECIAL_FROM if gpt_oss else None))
        if self.extra_processors is not None:
            found.extend(self.extra_processors())
        return tuple(found)


def _relay(generator, job, options: GenerationOptions, stream_args: dict[str, Any], channels: bool, constraints: tuple = ()) -> None:
    """Run one generation and emit its pieces; ``channels`` False sends every channel's text as content."""
    stop = StopText(list(options.stops))
    stopping = False
    processors = options.processors(generator.info.is_gpt_oss) + constraints
    events = generator.stream(**stream_args, processors=processors, **options.params.model_dump())
    for event in events:
        if job.cancelled and not stopping:
            stopping = True
            generator.cancel()  # the client left; the Done that follows ends the loop
        if isinstance(event, TextDelta) and event.text and not stop.hit and not job.cancelled:
            if channels and event.channel == "analysis":
                job.emit(TextPiece("reasoning", event.text))
            else:
                text = stop.add(event.text)
                if text:
                    job.emit(TextPiece("content", text))
                if stop.hit and not stopping:
                    stopping = True
                    generator.cancel()  # the Done that follows still brings the usage figures
        elif isinstance(event, ToolCall) and channels and not stop.hit:
            job.emit(ToolCallPiece(new_id("call_"), function_name(event.recipient), event.arguments))
        elif isinstance(event, Done):
            tail = stop.flush()
            if tail:
                job.emit(TextPiece("content", tail))
            s = event.stats
            reason = "stop" if stop.hit else event.finish_reason
            job.emit(Finished(reason, s.prompt_tokens, s.cached_tokens, s.completion_tokens))


def conversation_key(served: ServedModel, messages: list[dict]) -> str:
    """Requests that open the same way share a cache: a client's next turn reuses its last one's tokens.

    Reuse itself is by exact token prefix, so a request never sees another's context; the key only
    keeps different conversations in different caches.
    """
    users = [i for i, m in enumerate(messages) if m["role"] == "user"]
    opening = messages[: users[0] + 1] if users else messages[:1]
    digest = hashlib.sha256(json.dumps([served.id, opening], sort_keys=True).encode()).hexdigest()
    return f"server-{digest[:24]}"


@dataclass(frozen=True)
class ChatGeneration:
    """A chat completion: ``messages`` already checked (:func:`.messages.harmony_messages`)."""

    options: GenerationOptions
    messages: list[dict]
    tools: tuple = ()  # FunctionTool, for GPT-OSS models
    required_functions: tuple[str, ...] = ()  # tool_choice "required" or a named function: one of these is called
    reasoning_effort: str | None = None

    def __call__(self, generator, job) -> None:
        info = generator.info
        settings = replace(self.options.served.settings, started=datetime.now().astimezone())
        if info.is_gpt_oss:
            harmony, prefix = settings.harmony_prefix()
            harmony = replace(
                harmony,
                reasoning_effort=self.reasoning_effort or harmony.reasoning_effort,
                function_tools=tuple(self.tools),
                conversation_start_date=harmony.conversation_start_date or date.today().isoformat(),
            )
            messages = prefix + self.messages
        else:
            if self.tools:
                raise invalid_request(f"tools: {info.name} has no function calling; tools need a GPT-OSS model", param="tools")
            if self.reasoning_effort:
                raise invalid_request(f"reasoning_effort: {info.name} does not reason; only GPT-OSS models take an effort",
                                      param="reasoning_effort")
            harmony, prefix = None, settings.prefix_messages()
            messages = prefix + plain_messages(self.messages, info.name)
        # The generator serves one request at a time (the slot's thread), so its conversation is ours to pick.
        generator.use_conversation(conversation_key(self.options.served, messages))
        stream_args = {"messages": messages, "harmony": harmony, "max_context_tokens": settings.max_context_tokens,
                       "keep_messages": len(prefix)}
        required = ()
        if self.required_functions:
            from .tool_choice import FunctionCallRequired

            required = (FunctionCallRequired(list(self.required_functions)),)
        _relay(generator, job, self.options, stream_args, channels=True, constraints=required)


@dataclass(frozen=True)
class TextGeneration:
    """A text completion: the prompt as raw text, no chat template."""

    options: GenerationOptions
    prompt: str

    def __call__(self, generator, job) -> None:
        generator.use_conversation(f"server-completions-{self.options.served.id}")
        _relay(generator, job, self.options, {"prompt": self.prompt}, channels=False)

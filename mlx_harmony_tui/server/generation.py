"""One request's generation, run on the slot's thread: engine events in, answer pieces out.

A chat or text completion becomes a :class:`ChatGeneration` or
:class:`TextGeneration`; the slot calls it with the loaded
:class:`~mlx_harmony_tui.engine.token_generator.TokenGenerator`, the
job and the model's :class:`~.model_limits.ModelLimits`, which the request
is checked against first (its ``logit_bias`` ids, its prompt's length). The prompt is the chat layer's business (:mod:`..chat.completion`);
here its events become :class:`Opened` (the prompt's figures, once it is
read), :class:`TextPiece`, :class:`ToolCallPiece` and finally
:class:`Finished`, sent through ``job.emit`` as the engine produces them: a
piece per text delta, nothing buffered but what could be the start of a stop
sequence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator, Literal, Sequence

from pydantic import ValidationError

from ..chat.completion import ChatRequest, complete_chat, complete_text
from ..config.sampling import SamplingParams
from ..engine.events import Done, Event, StatsUpdate, TextDelta, ToolCall
from ..harmony.render import function_name
from .catalog import ServedModel
from .model_limits import ModelLimits
from .openai_format import APIError, new_id, validation_error
from .stop_text import StopText

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
class Opened:
    """The prompt is read and the first token drawn: its figures, before any text."""

    prompt_tokens: int
    cached_tokens: int


@dataclass(frozen=True)
class Finished:
    finish_reason: str
    prompt_tokens: int
    cached_tokens: int
    completion_tokens: int
    reasoning_tokens: int = 0  # of completion_tokens, those on the analysis channel
    stop_sequence: str | None = None  # the stop sequence that ended the answer, if one did
    drafted_tokens: int = 0  # tokens prompt lookup drafted (speculative decoding)
    accepted_tokens: int = 0  # of which the model kept


@dataclass(frozen=True)
class Failed:
    error: APIError


Piece = Opened | TextPiece | ToolCallPiece | Finished | Failed


@dataclass(frozen=True)
class GenerationOptions:
    """What both kinds of request share: the served model, sampling, stops and extra processors."""

    served: ServedModel
    params: SamplingParams
    stops: tuple[str, ...] = ()
    extra_processors: ProcessorFactory | None = None

    def processors(self) -> tuple[Callable, ...]:
        return tuple(self.extra_processors()) if self.extra_processors is not None else ()

    @classmethod
    def build(cls, served: ServedModel, changes: dict[str, Any], stops: Sequence[str] = (),
              extra_processors: ProcessorFactory | None = None) -> "GenerationOptions":
        """The served model's sampling with a request's ``changes`` (SamplingParams names); APIError (400) naming a bad field."""
        try:
            params = served.settings.sampling.with_changes(**changes, reseed_each_turn=True)
        except ValidationError as exc:
            raise validation_error(exc.errors()) from None
        return cls(served, params, tuple(stops), extra_processors)


def _relay(generator, job, stops: tuple[str, ...], events: Iterator[Event], channels: bool) -> None:
    """Emit the pieces of one generation's ``events``; ``channels`` False sends every channel's text as content."""
    stop = StopText(list(stops))
    stopping = False
    reasoning_tokens = 0
    opened = False
    for event in events:
        if job.cancelled and not stopping:
            stopping = True
            generator.cancel(job.id)  # the client left; the Done that follows ends the loop
        if isinstance(event, TextDelta) and event.text and not stop.hit and not job.cancelled:
            if channels and event.channel == "analysis":
                reasoning_tokens += len(event.token_ids)
                job.emit(TextPiece("reasoning", event.text))
            else:
                text = stop.add(event.text)
                if text:
                    job.emit(TextPiece("content", text))
                if stop.hit and not stopping:
                    stopping = True
                    generator.cancel(job.id)  # the Done that follows still brings the usage figures
        elif isinstance(event, StatsUpdate) and not opened:
            opened = True
            job.emit(Opened(event.stats.prompt_tokens, event.stats.cached_tokens))
        elif isinstance(event, ToolCall) and channels and not stop.hit:
            job.emit(ToolCallPiece(new_id("call_"), function_name(event.recipient), event.arguments))
        elif isinstance(event, Done):
            tail = stop.flush()
            if tail:
                job.emit(TextPiece("content", tail))
            s = event.stats
            reason = "stop" if stop.hit else event.finish_reason
            job.emit(Finished(reason, s.prompt_tokens, s.cached_tokens, s.completion_tokens, reasoning_tokens, stop.matched,
                              s.drafted_tokens, s.accepted_tokens))


@dataclass(frozen=True)
class ChatGeneration:
    """A chat completion: the request's messages already in the engine's shape (:func:`.messages.harmony_messages`)."""

    options: GenerationOptions
    request: ChatRequest
    field: str = "messages"  # the request field holding the conversation, for a 400 when it is too long

    def __call__(self, generator, job, limits: ModelLimits) -> None:
        served = self.options.served
        limits.check_logit_bias(self.options.params.logit_bias)
        limits.check_chat(self.request, served.settings.max_context_tokens, self.field)
        events = complete_chat(generator, served.settings, served.id, self.request, self.options.processors(), job.id)
        _relay(generator, job, self.options.stops, events, channels=True)


@dataclass(frozen=True)
class TextGeneration:
    """A text completion: the prompt as raw text, no chat template."""

    options: GenerationOptions
    prompt: str

    def __call__(self, generator, job, limits: ModelLimits) -> None:
        limits.check_logit_bias(self.options.params.logit_bias)
        limits.check_text(self.prompt, self.options.params.max_tokens)
        events = complete_text(generator, self.options.served.id, self.prompt, self.options.params, self.options.processors(), job.id)
        _relay(generator, job, self.options.stops, events, channels=False)

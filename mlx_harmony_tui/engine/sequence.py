"""One generation request as the scheduler runs it: its prompt, cache, sampler, output reader and events.

A sequence is admitted (its prompt rendered and its reusable cache prefix
found), prefilled in chunks up to its prompt's last token, then decodes in the
batch one token per step until its output reader, its length limit, the
context or a cancel ends it. Every token it accepts becomes events at once:
text on a channel or a tool call, live figures twice a second, and ``Done``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

from ..harmony.output import ToolCallParsed
from .events import Done, Event, GenerationStats, StatsUpdate, TextDelta, ToolCall
from .requests import Generate

STATS_INTERVAL_S = 0.5
Sink = Callable[[Event], None]


@dataclass
class GenerationClock:
    """Measures TTFT, prefill and decode rates of one generation (TTFT from its admission)."""

    prompt_tokens: int
    cached_tokens: int = 0
    dropped_turns: int = 0
    start: float = field(default_factory=time.perf_counter)
    first: float | None = None
    last: float | None = None
    count: int = 0
    arrivals: int = 0
    peak_memory: Callable[[], float] = lambda: 0.0
    mask_cost: Any = None  # engine.structured.MaskCost of a constrained generation
    drafted: int = 0  # tokens prompt lookup drafted for it
    accepted: int = 0  # of which the model's checks kept

    def tick(self, counted: bool = True) -> None:
        """Note that a token arrived; ``counted`` is False for the end-of-turn token."""
        now = time.perf_counter()
        if self.first is None:
            self.first = now
        self.last = now
        self.arrivals += 1
        self.count += counted

    def stats(self) -> GenerationStats:
        ttft = (self.first - self.start) if self.first is not None else 0.0
        computed = self.prompt_tokens - self.cached_tokens
        decode_s = (self.last - self.first) if self.first is not None and self.last is not None else 0.0
        return GenerationStats(
            prompt_tokens=self.prompt_tokens,
            cached_tokens=self.cached_tokens,
            dropped_turns=self.dropped_turns,
            completion_tokens=self.count,
            ttft_s=ttft,
            prefill_tps=computed / ttft if ttft > 0 else 0.0,
            decode_tps=(self.arrivals - 1) / decode_s if self.arrivals > 1 and decode_s > 0 else 0.0,
            peak_memory_gb=self.peak_memory(),
            masked_tokens=self.mask_cost.tokens if self.mask_cost is not None else 0,
            mask_s=self.mask_cost.seconds if self.mask_cost is not None else 0.0,
            drafted_tokens=self.drafted,
            accepted_tokens=self.accepted,
        )


@dataclass(eq=False)
class Sequence:
    """A request in the scheduler. ``cache`` is the engine.prompt_cache.TokenCache it computes in, found when its
    prefill starts (None until then); ``history`` is the prompt and every token generated so far."""

    request: Generate
    prompt: list[int]
    cache: Any
    output: Any  # engine.turn_output's PlainOutput or HarmonyOutput
    sampler: Any  # engine.sampling.LiveSampler
    processors: tuple
    clock: GenerationClock
    room: int  # tokens left in the context window
    conversation: Any  # engine.prompt_cache.ConversationState: its seed key is kept there
    history: list[int] = field(default_factory=list)
    generated: list[int] = field(default_factory=list)
    unsent: list[int] = field(default_factory=list)
    finish: str | None = None
    boundaries: tuple[int, ...] = ()  # prompt lengths where a message ends (models with sliding-window layers)
    stops: set[int] = field(default_factory=set)  # prompt lengths where prefill stops and snapshots the window layers
    source: Any = None  # the kept TokenCache its cache was forked from
    queued_at: int = 0  # the scheduler's count of prefilled tokens when it was admitted (its age, in others' work)
    own_prefill: int = 0  # tokens it prefilled itself
    lookup: Any = None  # engine.lookup.PromptLookup over its history, once it drafts
    policy: Any = None  # engine.lookup.DraftPolicy: how its drafts fared
    _stats_at: float = field(default_factory=time.perf_counter)

    @property
    def rid(self) -> str:
        return self.request.request_id

    @property
    def started(self) -> bool:
        return self.cache is not None

    @property
    def held(self) -> int:
        """Prompt tokens in its cache so far."""
        return len(self.cache.tokens) if self.cache is not None else 0

    @property
    def prefilled(self) -> bool:
        """Everything but the prompt's last token is in the cache: it can join the batch."""
        return self.held >= len(self.prompt) - 1

    @property
    def draws_early(self) -> bool:
        """Its next token can be drawn before the host has read this one (no processors, no history-based penalties)."""
        return not self.processors and self.sampler.history_free

    def accept(self, token: int, cancelled: bool, sink: Sink) -> bool:
        """Take the token just fed to the model; emit what it completed; True when the sequence is over."""
        self.cache.tokens.append(token)
        self.history.append(token)
        is_end = self.output.is_end(token)
        self.clock.tick(counted=not is_end)
        if self.clock.arrivals == 1:
            sink(StatsUpdate(self.rid, self.clock.stats()))  # the prompt's figures, before the answer's first text
        if not is_end:
            self.generated.append(token)
            self.unsent.append(token)
        outputs, ended = self.output.feed(token)
        self._send(outputs, sink)
        if ended:
            self.finish = self.output.finish_reason
        elif cancelled:
            self.finish = "cancelled"
        elif len(self.generated) >= self.sampler.params.max_tokens or len(self.generated) >= self.room:
            self.finish = "length"
        if self.finish is None:
            self.sampler.observe(self.history)
            now = time.perf_counter()
            if now - self._stats_at >= STATS_INTERVAL_S:
                self._stats_at = now
                sink(StatsUpdate(self.rid, self.clock.stats()))
            return False
        return True

    def _send(self, outputs: list, sink: Sink) -> None:
        for item in outputs:
            if isinstance(item, ToolCallParsed):
                sink(ToolCall(self.rid, item.recipient, item.arguments, item.channel, item.content_type, tuple(self.unsent)))
            else:
                sink(TextDelta(self.rid, item.text, tuple(self.unsent), item.channel))
            self.unsent.clear()

    def done(self, sink: Sink) -> None:
        """Flush what the output reader still holds and send ``Done``."""
        self._send(self.output.close(), sink)
        if self.unsent:
            sink(TextDelta(self.rid, "", tuple(self.unsent)))
            self.unsent.clear()
        self.conversation.keep_seed_key(self.sampler.params, self.sampler.key)
        repairs = tuple(dict.fromkeys(self.output.repairs))
        sink(Done(self.rid, self.finish or "cancelled", self.clock.stats(), tuple(self.generated), repairs, tuple(self.prompt)))

"""The token loop: prefill, then sample and run the model one token ahead.

Like mlx-lm's ``generate_step`` it keeps the next forward pass queued
(``async_eval``) while the caller handles the current token, so the host
never waits on the model more than once per token. Unlike it, the sampler is
applied after the caller has seen the previous token, so sampling changes and
cancellation take effect from the very next token.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

from ..runtime import mlx_core
from . import lm
from .events import GenerationStats
from .prompt_cache import ConversationCache
from .sampling import LiveSampler

mx = mlx_core()

PREFILL_STEP = 2048
CLEAR_CACHE_EVERY = 256

_stream = mx.new_thread_local_stream(mx.default_device())


def token_stream(
    loaded: lm.LoadedModel,
    prompt_ids: list[int],
    sampler: LiveSampler,
    conversation: ConversationCache | None = None,
    processors: tuple[Callable, ...] = (),
) -> Iterator[int]:
    """Yield generated token ids for ``prompt_ids`` until the caller stops.

    ``conversation`` holds the cache; whatever prefix of the prompt it already
    holds (see :meth:`ConversationCache.reuse_for`) is not computed again, and
    a snapshot is taken once the prompt is in but its last token. Its
    ``tokens`` always list what the cache holds: the prompt and every yielded
    token, each fed to the model before it is yielded.
    ``processors`` are ``(tokens_so_far, logits) -> logits`` functions applied
    before sampling (constraints such as a grammar or a scripted sequence).
    The caller decides when to stop (end token, length, cancel).
    """
    if not prompt_ids:
        raise ValueError("empty prompt")
    conversation = conversation if conversation is not None else ConversationCache(loaded)
    cache, held = conversation.layers, conversation.tokens
    if held != prompt_ids[: len(held)] or len(held) >= len(prompt_ids):
        raise ValueError("the cache must hold a proper prefix of the prompt (call reuse_for first)")
    history = list(prompt_ids)
    prompt = mx.array(prompt_ids)

    def sample(logits):
        for processor in processors:
            logits = processor(history, logits)
        return sampler(logits, history)

    total = len(prompt_ids)
    with mx.stream(_stream):
        done = len(held)
        while total - done > 1:
            n = min(PREFILL_STEP, total - done - 1)
            lm.prefill(loaded, prompt[done : done + n], cache)
            held.extend(prompt_ids[done : done + n])
            done += n
            mx.clear_cache()
        conversation.take_snapshot()
        token = sample(lm.forward(loaded, prompt[done:], cache))
        held.append(prompt_ids[done])
        mx.async_eval(token)
        produced = 0
        try:
            while True:
                next_logits = lm.forward(loaded, token, cache)
                mx.async_eval(next_logits)
                value = token.item()
                held.append(value)
                history.append(value)
                yield value
                produced += 1
                if produced % CLEAR_CACHE_EVERY == 0:
                    mx.clear_cache()
                token = sample(next_logits)
                mx.async_eval(token)
        finally:
            # The caller stopped with a forward pass still queued: let it finish,
            # so no MLX work is left in flight when the thread or process ends.
            mx.synchronize(_stream)


@dataclass
class GenerationClock:
    """Measures TTFT, prefill and decode rates of one generation."""

    prompt_tokens: int
    cached_tokens: int = 0
    dropped_turns: int = 0
    start: float = field(default_factory=time.perf_counter)
    first: float | None = None
    last: float | None = None
    count: int = 0
    arrivals: int = 0

    def __post_init__(self) -> None:
        mx.reset_peak_memory()

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
            peak_memory_gb=mx.get_peak_memory() / 1e9,
        )

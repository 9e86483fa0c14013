"""Continuous batching on the inference thread: admit requests, prefill them in chunks, decode them together.

A request is admitted at once: its prompt is rendered (the oldest turns
dropped to fit the context) and its conversation's cache reused as far as it
matches. It then waits its turn to prefill, one sequence at a time, in
chunks; while others decode, a chunk is sized to take about
:data:`CHUNK_TARGET_S`, so a long prompt never freezes their streams. Once
its prompt is in but its last token (where GPT-OSS's sliding-window layers
are copied, see :mod:`.prompt_cache`), it joins the batch and decodes one
token per step with the others until it ends; then its cache goes back to its
conversation.
"""

from __future__ import annotations

import time
import traceback
from collections import deque
from typing import Any, Callable

from ..errors import UserError
from ..harmony.render import harmony_prompt_tokens
from ..harmony.stream import CALL, RETURN, SPECIAL_FROM
from ..runtime import mlx_core
from . import lm
from .batch import DecodeBatch
from .context import fit_context
from .disk_cache import DiskCaches
from .events import Error, Event, ModelInfo
from .group import Group, is_link_error
from .prompt import prompt_tokens
from .prompt_cache import ConversationCache, PromptCacheStore, shared_prefix
from .requests import Generate
from .sampling import LiveSampler
from .sequence import GenerationClock, Sequence
from .structured import JsonGrammars, model_vocabulary, output_processor
from .tool_choice import FunctionCallRequired
from .turn_output import HarmonyOutput, PlainOutput, TemplateToolOutput

mx = mlx_core()

PREFILL_STEP = 2048  # tokens a chunk when nothing else is decoding
CHUNK_TARGET_S = 0.25  # while others decode, a prefill chunk takes about this long
MIN_CHUNK = 16
MIN_OPENING = 16  # shorter openings are not worth a copy of the cache
CLEAR_CACHE_EVERY = 256  # decode steps between releases of MLX's buffer cache

Sink = Callable[[Event], None]


class HeldEvents:
    """The scheduler's events, held until the inference thread is about to wait for the device.

    A decode step spends milliseconds in Python building the next forward
    pass, with the GIL held. An event handed over at once wakes the receiving
    thread in the middle of that build: it asks for the GIL and, after the
    switch interval, takes it while the build waits. Handed over just before
    MLX evaluates (which lets the GIL go), the receiver runs while the device
    works. An event reaches its receiver one graph build later.
    """

    def __init__(self, sink: Sink):
        self._sink = sink
        self._held: list[Event] = []

    def __call__(self, event: Event) -> None:
        self._held.append(event)

    def flush(self) -> None:
        held, self._held = self._held, []
        for event in held:
            self._sink(event)


class Scheduler:
    """Sequences waiting to prefill, the one prefilling, and the batch decoding."""

    def __init__(self, loaded: Any, info: ModelInfo, caches: PromptCacheStore, kv: tuple[int | None, int],
                 protected: list[int], encoding: Callable[[], Any], sink: Sink, cancelled: Callable[[], set[str]],
                 samplers: dict[str, LiveSampler], disk: DiskCaches | None = None, group: Group | None = None):
        self._loaded, self._info, self._caches, self._kv = loaded, info, caches, kv
        self._protected, self._encoding, self._cancelled = protected, encoding, cancelled
        self._sink = HeldEvents(sink)
        self._waiting: deque[Sequence] = deque()
        self._batch = DecodeBatch(loaded, group.share_tokens if group is not None else None)
        self.prefill_rate = 0.0  # tokens a second, measured on the last chunk (rank 0's, in a group)
        self._steps = 0
        # In a group, the model's collectives and the rounds' share one stream, so they stay in order.
        self._stream = group.stream if group is not None else mx.new_thread_local_stream(mx.default_device())
        self._samplers = samplers  # shared with the inference thread's callers, for live updates
        self._disk = disk
        self._grammars: JsonGrammars | None = None  # the vocabulary for structured output, built at first use
        self._decode = lm.text_decoder(loaded)  # the output readers' detokenizer

    @property
    def busy(self) -> bool:
        return bool(self._waiting or self._batch)

    @property
    def running(self) -> int:
        """Requests admitted and not yet done."""
        return len(self._waiting) + len(self._batch)

    def sampler(self, request_id: str) -> LiveSampler | None:
        """The sampler of a running request (for live parameter updates)."""
        return self._samplers.get(request_id)

    # --- admission ---------------------------------------------------------------------------------------

    def admit(self, request: Generate) -> None:
        """Render ``request``'s prompt, find its reusable cache, and queue it to prefill (UserError if it cannot run)."""
        if not self.busy:
            mx.reset_peak_memory()
        start = time.perf_counter()
        gpt_oss = self._info.is_gpt_oss
        in_use = {seq.request.conversation_id for seq in self._all()}
        kept = self._caches.get(request.conversation_id, self._loaded, *self._kv)
        prompt, output, dropped, render = self._prompt_and_output(request, kept)
        if not prompt:
            raise UserError("the prompt is empty")
        processors = request.processors
        if request.required_functions:
            if not gpt_oss:
                raise UserError(f"tool_choice: only a GPT-OSS model can be made to call a function; {self._info.name} calls "
                                'tools when it decides to (tool_choice "auto")', "tool_choice")
            processors += (FunctionCallRequired(list(request.required_functions)),)
        constrained = None
        if request.output:
            constrained = output_processor(self._json_grammars(), request.output, gpt_oss, self._loaded.tokenizer.decode,
                                           self._loaded.eos_token_ids)
            processors += (constrained,)
        # A conversation's cache serves one request at a time; another one at once computes in its own.
        shared = request.reuse_cache and request.conversation_id not in in_use
        cache = kept if shared else ConversationCache(self._loaded, *self._kv)
        cached = cache.reuse_for(prompt)
        opening = None
        if request.reuse_cache and request.persist_key and self._disk is not None and not cache.tokens:
            found = self._disk.load(request.persist_key, prompt)  # a reopened chat, a restarted server
            if found is not None:
                cache.install(*found)
                cached = cache.reuse_for(prompt)
        if request.reuse_cache:
            prefix = self._caches.find_prefix(prompt)
            if prefix is not None and len(prefix.tokens) > cached:
                cache.start_from(prefix)
                cached = len(prefix.tokens)
            if cached == 0 and render is not None:
                opening = self._opening(request, render, prompt)
        sampler = LiveSampler(request.params, protected_ids=self._protected, key=kept.seed_key_for(request.params),
                              penalty_exempt_from=SPECIAL_FROM if gpt_oss else None)
        clock = GenerationClock(len(prompt), cached, dropped, start=start, peak_memory=lambda: mx.get_peak_memory() / 1e9,
                                mask_cost=constrained.cost if constrained is not None else None)
        room = (self._context_limit(request) or 1 << 62) - len(prompt)
        seq = Sequence(request, prompt, cache, output, sampler, processors, clock, room, kept, history=list(prompt),
                       opening=opening)
        self._samplers[request.request_id] = sampler
        self._waiting.append(seq)

    def _json_grammars(self) -> JsonGrammars:
        if self._grammars is None:
            stops = [RETURN, CALL] if self._info.is_gpt_oss else sorted(self._loaded.eos_token_ids)
            self._grammars = JsonGrammars(lambda: model_vocabulary(self._loaded, stops), self._loaded.vocab_size, stops)
        return self._grammars

    def _prompt_and_output(self, request: Generate, kept: ConversationCache):
        """The prompt ids, the output reader that fits the model, how many old turns were left out, and the renderer."""
        loaded = self._loaded
        output = HarmonyOutput(self._decode) if self._info.is_gpt_oss else self._plain_output(request)
        if request.prompt_ids is not None:
            return list(request.prompt_ids), output, 0, None
        if self._info.is_gpt_oss:
            if request.harmony is None:
                raise ValueError("a GPT-OSS chat request needs its HarmonySettings (TokenGenerator fills them in)")

            def render(messages: list[dict]) -> list[int]:
                return harmony_prompt_tokens(self._encoding(), messages, request.harmony)
        else:

            def render(messages: list[dict]) -> list[int]:
                return prompt_tokens(loaded, messages, request.tools)

        messages = request.messages or []
        limit = self._context_limit(request)
        if not limit:
            return render(messages), output, 0, render
        reserve = min(request.params.max_tokens, limit // 2)
        prompt, dropped = fit_context(messages, render, limit, reserve, request.keep_messages, kept.dropped_turns)
        kept.dropped_turns = dropped
        return prompt, output, dropped, render

    def _plain_output(self, request: Generate):
        """The reader for a model with a chat template: tool calls parsed from it when the request declares tools."""
        loaded = self._loaded
        calls = lm.tool_call_format(loaded) if request.tools else None
        if request.tools and calls is None:
            raise UserError(f"tools: {self._info.name} cannot call tools (its chat template declares no tool calls)", "tools")
        if calls is None:
            return PlainOutput(self._decode, loaded.eos_token_ids)
        return TemplateToolOutput(self._decode, loaded.eos_token_ids, *calls, request.tools)

    def _opening(self, request: Generate, render: Callable[[list[dict]], list[int]], prompt: list[int]) -> int | None:
        """How many of ``prompt``'s tokens are its fixed opening (system text, tools, examples), if worth keeping.

        It is where ``prompt`` parts from the same opening followed by an empty user message.
        """
        fixed = (request.messages or [])[: request.keep_messages]
        try:
            bare = render([*fixed, {"role": "user", "content": ""}])
        except UserError:
            return None
        length = shared_prefix(bare, prompt[:-1])
        if length < MIN_OPENING or self._caches.has_prefix(prompt[:length]):
            return None
        return length

    def _context_limit(self, request: Generate) -> int | None:
        return request.max_context_tokens or self._info.context_length

    # --- running -------------------------------------------------------------------------------------------

    def step(self) -> None:
        """One round: a prefill chunk for the first waiting sequence (if any), then one decode step for the batch."""
        try:
            self._step()
        finally:
            if not self._batch:
                self._sink.flush()  # no next step to hand them on at

    def _step(self) -> None:
        with mx.stream(self._stream):
            try:
                self._prefill()
            except Exception as exc:  # a bug: the sequence being prefilled fails, the batch goes on
                if is_link_error(exc):
                    raise
                self._fail([self._waiting.popleft()], exc)
            if self._batch:
                try:
                    ended = self._batch.step(self._cancelled(), self._sink, self._sink.flush)
                except Exception as exc:  # a bug in a forward pass: every row's cache may hold part of it
                    if is_link_error(exc):
                        raise
                    rows = list(self._batch.rows)
                    self._batch.remove(rows)
                    self._fail(rows, exc)
                    return
                for seq in ended:
                    try:
                        self._finish(seq)
                    except Exception as exc:  # a bug after the answer: report it for this request only
                        self._fail([seq], exc)
                self._steps += 1
                if self._steps % CLEAR_CACHE_EVERY == 0:
                    mx.clear_cache()

    def _prefill(self) -> None:
        cancelled = self._cancelled()
        while self._waiting and self._waiting[0].rid in cancelled:
            seq = self._waiting[0]
            seq.finish = "cancelled"
            self._finish(seq)
            self._waiting.popleft()
        if not self._waiting or (self._batch and not self._can_join()):
            return
        seq = self._waiting[0]
        cache, prompt = seq.cache, seq.prompt
        held = len(cache.tokens)
        target = len(prompt) - 1
        if held < target:
            size = PREFILL_STEP if not self._batch else self._chunk_size()
            n = min(size, target - held)
            if seq.opening is not None and held < seq.opening:
                n = min(n, seq.opening - held)  # stop at the end of the opening, to keep it for others
            self._sink.flush()  # the decoding rows' tokens: the chunk may take a while
            began = time.perf_counter()
            lm.prefill(self._loaded, mx.array(prompt[held : held + n]), cache.layers)
            cache.tokens.extend(prompt[held : held + n])
            mx.clear_cache()
            self.prefill_rate = n / max(time.perf_counter() - began, 1e-6)
            if len(cache.tokens) == seq.opening:
                self._caches.add_prefix(cache.capture_prefix())
        if seq.prefilled:
            cache.take_snapshot()
            self._waiting.popleft()
            self._batch.add(seq)

    def _can_join(self) -> bool:
        """Quantized KV caches cannot be batched: such sequences run one at a time."""
        return lm.batchable(self._waiting[0].cache.layers) and lm.batchable(self._batch.rows[0].cache.layers)

    def _chunk_size(self) -> int:
        if self.prefill_rate <= 0:
            return 64
        return max(MIN_CHUNK, min(PREFILL_STEP, int(self.prefill_rate * CHUNK_TARGET_S)))

    def _finish(self, seq: Sequence) -> None:
        self._samplers.pop(seq.rid, None)
        key = seq.request.persist_key
        if key and self._disk is not None and seq.cache is seq.kept and seq.finish != "cancelled":
            try:
                self._disk.save(key, seq.cache)
            except OSError:
                pass  # a full or read-only disk: the cache stays in memory, the next answer tries again
        seq.done(self._sink)
        self._caches.enforce_budget(in_use={s.request.conversation_id for s in self._all()})

    def _fail(self, rows: list[Sequence], exc: Exception) -> None:
        detail = traceback.format_exc()
        for seq in rows:
            self._samplers.pop(seq.rid, None)
            self._caches.drop(seq.request.conversation_id)  # its cache may hold part of a forward pass
            self._sink(Error(seq.rid, f"internal error: {type(exc).__name__}: {exc}", False, detail))

    def fail_all(self, exc: Exception) -> None:
        """Fail every request (the scheduler itself went wrong); the engine keeps serving new ones."""
        rows = self._all()
        self._waiting.clear()
        self._batch.remove(list(self._batch.rows))
        self._fail(rows, exc)
        self._sink.flush()

    def abandon(self, message: str) -> None:
        """Fail every request with ``message``, a user's error (a rank of the group is gone); nothing is kept."""
        rows = self._all()
        self._waiting.clear()
        self._batch = DecodeBatch(self._loaded)
        for seq in rows:
            self._samplers.pop(seq.rid, None)
            self._sink(Error(seq.rid, message))
        self._sink.flush()

    def _all(self) -> list[Sequence]:
        return list(self._waiting) + list(self._batch.rows)

    def close(self) -> None:
        """Let queued MLX work finish (nothing may be in flight when the thread or process ends)."""
        self._sink.flush()
        mx.synchronize(self._stream)

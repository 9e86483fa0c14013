"""Continuous batching on the inference thread: admit requests, prefill them in chunks, decode them together.

A request is admitted at once: its prompt is rendered (the oldest turns
dropped to fit the context) and it waits to prefill (:mod:`.prefill_queue`
picks which one goes next: the least left to compute, aged by others' work).
When its prefill starts it takes the longest exact prefix it can reuse: from
the caches every conversation leaves behind (:mod:`.prompt_cache`), from a
sequence being prefilled right now, or from a file on disk
(:mod:`.disk_cache`). It is then prefilled in chunks sized in seconds
(:mod:`.pace`): short while others decode or wait, so a long prompt never
freezes their streams nor keeps a short request from its first token. Once
its prompt is in but its last token (where GPT-OSS's sliding-window layers
are copied), its cache is offered to others and it joins the batch, decoding
one token per step with the others until it ends; then its cache is kept for
whatever comes next.
"""

from __future__ import annotations

import time
import traceback
from typing import Any, Callable

from ..errors import UserError
from ..harmony.render import harmony_prompt_tokens
from ..harmony.stream import CALL, END, RETURN, SPECIAL_FROM
from ..runtime import mlx_core
from . import lm
from .batch import DecodeBatch
from .context import fit_context
from .disk_cache import DiskCaches
from .events import Error, Event, ModelInfo
from .group import Group, is_link_error
from .pace import PrefillPace
from .prefill_queue import PrefillQueue
from .prompt import prompt_tokens
from .prompt_cache import ConversationState, PrefixCache, TokenCache
from .requests import Generate
from .sampling import LiveSampler
from .sequence import GenerationClock, Sequence
from .structured import JsonGrammars, model_vocabulary, output_processor
from .token_tree import common_length
from .tool_choice import FunctionCallRequired
from .turn_output import HarmonyOutput, PlainOutput, TemplateToolOutput

mx = mlx_core()

# A prefill chunk takes about this long (see engine.pace: never less than MIN_CHUNK tokens). A request arriving
# meanwhile waits for the chunk to end (a one-line request 1.5 s into a 5k-token prompt, 2-core CPU: 2.5x its idle
# TTFT with 0.5 s chunks); shorter chunks spend more of their time reading the weights.
CHUNK_TARGET_S = 0.35
SNAPSHOT_MARGIN = 4  # a message boundary this close to the end of the prefill is left to the snapshot taken there
MIN_OPENING_FILE = 256  # a shared opening shorter than this is not worth a file on disk
SAVE_AFTER_IDLE_S = 2.0  # cache files are written after the engine has been idle this long
SAVE_POLL_S = 0.1  # idle with files waiting for the disk writer's hands: how often to look again
MAX_UNSAVED = 32  # cache files waiting for an idle engine; older ones are given up
MAX_PENDING_FILES = 2  # cache files in the writer thread's hands at once (their bytes are held in memory)
MIN_DISK_GAIN = 32  # a file is read only when it gives at least this many tokens more than memory (reading takes a while)
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
    """Sequences waiting to prefill, and the batch decoding."""

    def __init__(self, loaded: Any, info: ModelInfo, caches: PrefixCache, kv: tuple[int | None, int],
                 protected: list[int], encoding: Callable[[], Any], sink: Sink, cancelled: Callable[[], set[str]],
                 samplers: dict[str, LiveSampler], disk: DiskCaches | None = None, group: Group | None = None,
                 share: Callable[[Any], Any] | None = None):
        self._loaded, self._info, self._caches, self._kv = loaded, info, caches, kv
        self._protected, self._encoding, self._cancelled = protected, encoding, cancelled
        self._sink = HeldEvents(sink)
        empty = TokenCache.empty(loaded, *kv)
        self._windowed = bool(empty.windowed)
        self._batchable = lm.batchable(empty.layers)  # quantized KV caches are not: such sequences run one at a time
        self._ends = frozenset((END, CALL, RETURN) if info.is_gpt_oss else loaded.eos_token_ids)  # tokens ending a message
        self._queue = PrefillQueue(caches, self._windowed)
        # In a group, each step's tokens are rank 0's: ``share`` (the lockstep's, carrying the next round's size) or the
        # group's own exchange.
        self._batch = DecodeBatch(loaded, share or (group.share_tokens if group is not None else None))
        self.pace = PrefillPace()  # rank 0's measurements, in a group
        self._measures = group is None or group.rank == 0
        self._steps = 0
        # In a group, the model's collectives and the rounds' share one stream, so they stay in order.
        self._stream = group.stream if group is not None else mx.new_thread_local_stream(mx.default_device())
        self._samplers = samplers  # shared with the inference thread's callers, for live updates
        self._disk = disk
        self._unsaved: dict[str, Callable[[], None]] = {}  # files to write when nothing else needs the thread
        self._grammars: JsonGrammars | None = None  # the vocabulary for structured output, built at first use
        self._decode = lm.text_decoder(loaded)  # the output readers' detokenizer

    @property
    def busy(self) -> bool:
        return bool(self._queue or self._batch)

    @property
    def running(self) -> int:
        """Requests admitted and not yet done."""
        return len(self._queue) + len(self._batch)

    def sampler(self, request_id: str) -> LiveSampler | None:
        """The sampler of a running request (for live parameter updates)."""
        return self._samplers.get(request_id)

    # --- admission ---------------------------------------------------------------------------------------

    def admit(self, request: Generate) -> None:
        """Render ``request``'s prompt and queue it to prefill (UserError if it cannot run)."""
        if not self.busy:
            mx.reset_peak_memory()
        start = time.perf_counter()
        gpt_oss = self._info.is_gpt_oss
        conversation = self._caches.conversation(request.conversation_id)
        prompt, output, dropped = self._prompt_and_output(request, conversation)
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
        sampler = LiveSampler(request.params, protected_ids=self._protected, key=conversation.seed_key_for(request.params),
                              penalty_exempt_from=SPECIAL_FROM if gpt_oss else None)
        clock = GenerationClock(len(prompt), 0, dropped, start=start, peak_memory=lambda: mx.get_peak_memory() / 1e9,
                                mask_cost=constrained.cost if constrained is not None else None)
        room = (self._context_limit(request) or 1 << 62) - len(prompt)
        seq = Sequence(request, prompt, None, output, sampler, processors, clock, room, conversation, history=list(prompt),
                       boundaries=self._boundaries(prompt))
        self._samplers[request.request_id] = sampler
        self._queue.append(seq)

    def _json_grammars(self) -> JsonGrammars:
        if self._grammars is None:
            stops = [RETURN, CALL] if self._info.is_gpt_oss else sorted(self._loaded.eos_token_ids)
            self._grammars = JsonGrammars(lambda: model_vocabulary(self._loaded, stops), self._loaded.vocab_size, stops)
        return self._grammars

    def _prompt_and_output(self, request: Generate, conversation: ConversationState):
        """The prompt ids, the output reader that fits the model, and how many old turns were left out."""
        loaded = self._loaded
        output = HarmonyOutput(self._decode) if self._info.is_gpt_oss else self._plain_output(request)
        if request.prompt_ids is not None:
            return list(request.prompt_ids), output, 0
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
            return render(messages), output, 0
        reserve = min(request.params.max_tokens, limit // 2)
        prompt, dropped = fit_context(messages, render, limit, reserve, request.keep_messages, conversation.dropped_turns)
        conversation.dropped_turns = dropped
        return prompt, output, dropped

    def _plain_output(self, request: Generate):
        """The reader for a model with a chat template: tool calls parsed from it when the request declares tools."""
        loaded = self._loaded
        calls = lm.tool_call_format(loaded) if request.tools else None
        if request.tools and calls is None:
            raise UserError(f"tools: {self._info.name} cannot call tools (its chat template declares no tool calls)", "tools")
        if calls is None:
            return PlainOutput(self._decode, loaded.eos_token_ids)
        return TemplateToolOutput(self._decode, loaded.eos_token_ids, *calls, request.tools)

    def _boundaries(self, prompt: list[int]) -> tuple[int, ...]:
        """Where the prompt's messages end, for models whose window layers can be reused only where a snapshot is."""
        if not self._windowed:
            return ()
        ends = self._ends
        return tuple(i + 1 for i, token in enumerate(prompt[:-1]) if token in ends)

    def _context_limit(self, request: Generate) -> int | None:
        return request.max_context_tokens or self._info.context_length

    # --- running -------------------------------------------------------------------------------------------

    def step(self) -> None:
        """One round: a prefill chunk for the waiting sequence picked (if any), then one decode step for the batch."""
        try:
            self._step()
        finally:
            if not self._batch:
                self._sink.flush()  # no next step to hand them on at

    def _step(self) -> None:
        with mx.stream(self._stream):
            self._drop_cancelled()
            seq = self._queue.pick() if not self._batch or self._batchable else None
            if seq is not None:
                try:
                    self._prefill(seq)
                except Exception as exc:  # a bug: the sequence being prefilled fails, the batch goes on
                    if is_link_error(exc):
                        raise
                    if seq in self._queue:
                        self._queue.remove(seq)
                    self._fail([seq], exc)
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

    def _drop_cancelled(self) -> None:
        cancelled = self._cancelled()
        for seq in self._queue:
            if seq.rid in cancelled:
                seq.finish = "cancelled"
                self._queue.remove(seq)
                self._finish(seq)

    def _prefill(self, seq: Sequence) -> None:
        """Prefill one chunk of ``seq``; once fully prefilled, it joins the batch."""
        if not seq.started:
            self._start(seq)
        if not seq.prefilled:
            self._chunk(seq)
        if seq.prefilled:
            seq.cache.take_snapshot()
            self._queue.remove(seq)
            if seq.request.reuse_cache:
                self._caches.add(seq.cache.fork(len(seq.cache)), seq.request.conversation_id)  # for requests to come
            self._batch.add(seq)

    def _start(self, seq: Sequence) -> None:
        """Give ``seq`` its cache: a fork of the longest exact prefix of its prompt found, or an empty one."""
        request, prompt = seq.request, seq.prompt
        source, length, origin = None, 0, None
        if request.reuse_cache:
            found = self._caches.find(prompt)
            source, length, origin = found.source, found.length, found.source.owner if found.source else None
            other, usable = self._queue.best_started_source(seq)
            if usable > length:
                source, length, origin = other.cache, usable, other.request.conversation_id
            if self._disk is not None and length < len(prompt) - 1:
                kept = self._disk.find(prompt, length + MIN_DISK_GAIN)  # a reopened chat, a restarted server
                if kept is not None:
                    self._caches.add(kept)
                    source, length, origin = kept, kept.usable(common_length(kept.tokens, prompt[:-1])), None
        seq.cache = source.fork(length) if source is not None and length else TokenCache.empty(self._loaded, *self._kv)
        seq.cache.take_snapshot()  # where it started is a point it can be cut back to, as its source could
        seq.source = source if source in self._caches else None
        seq.clock.cached_tokens = length
        if (self._disk is not None and source is not None and origin != request.conversation_id
                and MIN_OPENING_FILE <= length < len(source)):  # an opening two conversations share: kept for a restart
            disk, opening = self._disk, source.fork(length)  # a fork: nothing writes to it before it is saved
            self._keep_unsaved(str(disk.opening_path(opening.tokens)), lambda: disk.save_opening(opening, length))

    def _chunk(self, seq: Sequence) -> None:
        cache, prompt = seq.cache, seq.prompt
        held, target = len(cache.tokens), len(prompt) - 1
        n = min(self.pace.chunk(held, CHUNK_TARGET_S), target - held)
        stops = self._stops(seq)
        n = min([n] + [stop - held for stop in stops if held < stop < held + n])
        self._sink.flush()  # the decoding rows' tokens: the chunk may take a while
        began = time.perf_counter()
        lm.prefill(self._loaded, mx.array(prompt[held : held + n]), cache.layers)
        cache.tokens.extend(prompt[held : held + n])
        mx.clear_cache()
        if self._measures:
            self.pace.observe(n, held, time.perf_counter() - began)
        self._queue.counted(seq, n)
        if held + n in stops:
            cache.take_snapshot()

    def _stops(self, seq: Sequence) -> set[int]:
        """Where ``seq``'s prefill stops to snapshot its window layers: message ends, and where others wait."""
        if not self._windowed:
            return set()
        last = len(seq.prompt) - 1 - SNAPSHOT_MARGIN
        return seq.stops | {b for b in seq.boundaries if b <= last}

    def _finish(self, seq: Sequence) -> None:
        self._samplers.pop(seq.rid, None)
        cache, conversation = seq.cache, seq.request.conversation_id
        if cache is not None and seq.request.reuse_cache and len(cache.tokens):
            key, disk = seq.request.persist_key, self._disk
            if key and disk is not None and seq.finish != "cancelled":
                self._keep_unsaved(key, lambda: disk.save(key, cache))
            self._caches.add(cache, conversation)
            source = seq.source
            if source is not None and source.owner == conversation and source in self._caches:
                self._caches.remove(source)  # what it held past this answer's start was a branch its conversation left
        seq.done(self._sink)

    def _keep_unsaved(self, path: str, write: Callable[[], None]) -> None:
        """Write a file when the engine is idle: it replaces an earlier answer's not yet written; past MAX_UNSAVED
        the oldest is given up (each holds a cache in memory, and a busy engine may not be idle for a long while)."""
        self._unsaved.pop(path, None)
        self._unsaved[path] = write
        while len(self._unsaved) > MAX_UNSAVED:
            self._unsaved.pop(next(iter(self._unsaved)))

    def when_idle(self, idle_s: float) -> tuple[bool, float | None]:
        """The engine has had nothing to do for ``idle_s`` seconds: whether it may wait for requests, and for how long
        at most. Cache files are written once it has been idle SAVE_AFTER_IDLE_S: an agent's next request, sent right
        after an answer, does not find the thread writing one (0.4-1.4 s for a 4k-token cache on a 2-core CPU while
        earlier files were still being synced)."""
        if not self._unsaved:
            return True, None
        if idle_s < SAVE_AFTER_IDLE_S:
            return True, SAVE_AFTER_IDLE_S - idle_s
        if self.save_one():
            return False, None  # one file went to the writer; look for arrivals before the next
        return True, SAVE_POLL_S  # the writer's hands are full: try again soon

    def save_one(self) -> bool:
        """Hand one cache file waiting to be written to the disk's writer thread (the engine calls it when nothing
        else runs: making a long conversation's file takes a memory copy); False when none waits or the writer already
        has two files in hand."""
        if not self._unsaved or (self._disk is not None and self._disk.pending >= MAX_PENDING_FILES):
            return False
        write = self._unsaved.pop(next(iter(self._unsaved)))
        with mx.stream(self._stream):
            try:
                write()
            except OSError:
                pass  # a full or read-only disk: the cache stays in memory, the next answer tries again
        return True

    def _fail(self, rows: list[Sequence], exc: Exception) -> None:
        detail = traceback.format_exc()
        for seq in rows:  # their caches may hold part of a forward pass: they are not kept
            self._samplers.pop(seq.rid, None)
            self._sink(Error(seq.rid, f"internal error: {type(exc).__name__}: {exc}", False, detail))

    def fail_all(self, exc: Exception) -> None:
        """Fail every request (the scheduler itself went wrong); the engine keeps serving new ones."""
        rows = self._all()
        self._queue.clear()
        self._batch.remove(list(self._batch.rows))
        self._fail(rows, exc)
        self._sink.flush()

    def abandon(self, message: str) -> None:
        """Fail every request with ``message``, a user's error (a rank of the group is gone); nothing is kept."""
        rows = self._all()
        self._queue.clear()
        self._batch = DecodeBatch(self._loaded)
        for seq in rows:
            self._samplers.pop(seq.rid, None)
            self._sink(Error(seq.rid, message))
        self._sink.flush()

    def _all(self) -> list[Sequence]:
        return list(self._queue) + list(self._batch.rows)

    def close(self) -> None:
        """Let queued MLX work finish (nothing may be in flight when the thread or process ends); write the files
        still waiting."""
        self._sink.flush()
        mx.synchronize(self._stream)
        if self._disk is not None:
            while self._unsaved:
                self._disk.wait()
                self.save_one()
            self._disk.close()

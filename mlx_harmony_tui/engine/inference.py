"""The inference thread: it alone loads the model and runs generations.

MLX streams are thread-local, so the model must be loaded and run on one
long-lived thread. Callers put typed requests on its queue and get typed
events through a sink callable (invoked on this thread: a UI should hand
them over to its own thread, e.g. Textual's thread-safe ``post_message``).
Cancellation and sampling changes bypass the queue, so they reach a running
generation before its next token.
"""

from __future__ import annotations

import queue
import threading
import time
import traceback
from concurrent.futures import Future
from typing import Any, Callable

from ..config.sampling import SamplingParams
from ..errors import UserError
from ..harmony.output import ToolCallParsed
from ..harmony.render import harmony_prompt_tokens
from ..harmony.stream import SPECIAL_FROM
from ..harmony.vocab import load_encoding
from ..models.default_model import best_form
from ..models.resolve import resolve_model
from ..runtime import backend_name, blas_info
from .context import fit_context
from .events import Done, Error, Event, ModelInfo, ModelLoaded, ModelLoading, StatsUpdate, TextDelta, ToolCall
from .requests import Call, Cancel, Generate, LoadModel, Request, Shutdown, UpdateSampling
from .turn_output import HarmonyOutput, PlainOutput

# The modules that import MLX or mlx-lm (about 2 s) are imported where a model is
# loaded or run, on this thread: starting the app or a command never waits for them.

Sink = Callable[[Event], None]
KV_BITS = (2, 3, 4, 6, 8)
KV_GROUP_SIZES = (32, 64, 128)
STATS_INTERVAL_S = 0.5
THREAD_NAME = "mlx-harmony-inference"

_idle_workers: queue.Queue[Callable[[], None]] = queue.Queue()
_idle_count = 0
_idle_lock = threading.Lock()


def _worker_loop() -> None:
    global _idle_count
    while True:
        job = _idle_workers.get()
        with _idle_lock:
            _idle_count -= 1
        try:
            job()
        finally:
            job = None  # a parked thread must not keep a closed engine (and its model) alive
            with _idle_lock:
                _idle_count += 1


def _start_on_worker(job: Callable[[], None]) -> None:
    """Run ``job`` on a parked worker thread, starting one if none is idle.

    Worker threads live as long as the process: MLX aborts at exit when a
    thread that created a thread-local stream (importing mlx-lm does) has
    ended before it, so a finished engine parks its thread for reuse.
    """
    global _idle_count
    with _idle_lock:
        spawn = _idle_count == 0
        if spawn:
            _idle_count += 1
    if spawn:
        threading.Thread(target=_worker_loop, name=THREAD_NAME, daemon=True).start()
    _idle_workers.put(job)


class InferenceThread:
    """Owns the model; serves :mod:`requests` one at a time, in order."""

    def __init__(self, sink: Sink, cache_budget_bytes: int | None = None):
        from .prompt_cache import DEFAULT_BUDGET_BYTES, PromptCacheStore

        self._sink = sink
        self._caches = PromptCacheStore(DEFAULT_BUDGET_BYTES if cache_budget_bytes is None else cache_budget_bytes)
        self._kv: tuple[int | None, int] = (None, 64)
        self._queue: queue.Queue[Request] = queue.Queue()
        self._cancelled: set[str] = set()
        self._lock = threading.Lock()
        self._samplers: dict[str, Any] = {}
        self._harmony_encoding = None
        self._protected: list[int] = []
        self.loaded = None
        self.info: ModelInfo | None = None
        self._finished = threading.Event()
        _start_on_worker(self._run)

    # Caller side (any thread) -------------------------------------------------

    def submit(self, request: Request) -> None:
        """Queue ``request``; Cancel and UpdateSampling act at once, even mid-generation."""
        if isinstance(request, Cancel):
            self.cancel(request.request_id)
        elif isinstance(request, UpdateSampling):
            self.update_sampling(request.request_id, request.params)
        else:
            self._queue.put(request)

    def cancel(self, request_id: str) -> None:
        """Stop ``request_id`` before its next token (or before it starts)."""
        with self._lock:
            self._cancelled.add(request_id)

    def update_sampling(self, request_id: str, params: SamplingParams) -> bool:
        """Apply ``params`` from the next token of the running ``request_id``; False if it is not running."""
        with self._lock:
            sampler = self._samplers.get(request_id)
        if sampler is None:
            return False
        sampler.update(params)
        return True

    def call(self, fn: Callable[[Any], Any]) -> Future:
        """Run ``fn(loaded_model)`` on the inference thread."""
        future: Future = Future()
        self.submit(Call(fn, future))
        return future

    def shutdown(self, timeout: float | None = 10.0) -> None:
        with self._lock:
            self._cancelled.update(self._samplers)
        self.submit(Shutdown())
        self._finished.wait(timeout)

    # Inference thread ----------------------------------------------------------

    def _is_cancelled(self, request_id: str) -> bool:
        return request_id in self._cancelled

    def _run(self) -> None:
        try:
            self._serve_until_shutdown()
        finally:
            self.loaded = None
            self._finished.set()

    def _serve_until_shutdown(self) -> None:
        while True:
            request = self._queue.get()
            if isinstance(request, Shutdown):
                return
            try:
                self._serve(request)
            except UserError as exc:
                self._sink(Error(getattr(request, "request_id", ""), str(exc), field=exc.field))
            except Exception as exc:  # a bug: report it with its traceback, keep serving
                self._sink(
                    Error(getattr(request, "request_id", ""), f"internal error: {type(exc).__name__}: {exc}", False, traceback.format_exc())
                )
            finally:
                with self._lock:
                    self._cancelled.discard(getattr(request, "request_id", ""))

    def _serve(self, request: Request) -> None:
        if isinstance(request, LoadModel):
            self._load(request)
        elif isinstance(request, Generate):
            self._generate(request)
        elif isinstance(request, Call):
            if request.future.set_running_or_notify_cancel():
                try:
                    request.future.set_result(request.fn(self.loaded))
                except BaseException as exc:
                    request.future.set_exception(exc)

    def _load(self, request: LoadModel) -> None:
        from . import lm

        start = time.perf_counter()
        if request.kv_bits is not None and request.kv_bits not in KV_BITS:
            raise UserError(f"kv_bits: {request.kv_bits} is not one of {', '.join(map(str, KV_BITS))}")
        if request.kv_group_size not in KV_GROUP_SIZES:
            raise UserError(f"kv_group_size: {request.kv_group_size} is not one of {', '.join(map(str, KV_GROUP_SIZES))}")

        def progress(stage: str, fraction: float) -> None:
            self._sink(ModelLoading(request.request_id, stage, fraction))

        form = best_form(backend_name(), blas_info().fast)
        resolved = resolve_model(request.spec, form, progress)
        progress(f"loading {resolved.name}", 0.95)
        self.loaded = None
        self._caches.clear()
        try:
            self.loaded = lm.load(resolved.path)
        except Exception as exc:  # mlx-lm raises ValueError/KeyError/FileNotFoundError on unusable folders
            raise UserError(f"{resolved.path}: could not load the model: {type(exc).__name__}: {exc}") from None
        self.info = ModelInfo(
            name=resolved.name,
            path=str(resolved.path),
            source=resolved.source,
            is_gpt_oss=resolved.is_gpt_oss,
            model_type=resolved.model_type,
            context_length=resolved.context_length,
        )
        try:
            self._kv = self._kv_settings(request, resolved)
        except UserError:
            self.loaded = self.info = None
            raise
        self._protected = self._protected_ids(self.loaded)
        self._sink(ModelLoaded(request.request_id, self.info, time.perf_counter() - start))

    def _kv_settings(self, request: LoadModel, resolved) -> tuple[int | None, int]:
        """Check a KV quantization request against the loaded model."""
        from . import lm

        if request.kv_bits is None:
            return (None, 64)
        if resolved.is_gpt_oss or not lm.quantizable_cache(self.loaded):
            kind = "GPT-OSS models" if resolved.is_gpt_oss else f"{resolved.name}"
            raise UserError(
                f"kv_bits: {kind} cannot use a quantized KV cache: their sliding-window layers' cache "
                "cannot be quantized (it crashes or gives wrong output); leave kv_bits unset"
            )
        return (request.kv_bits, request.kv_group_size)

    def _prompt_and_output(self, request: Generate, conversation):
        """The prompt ids, the output reader that fits the loaded model, and how many old turns were left out."""
        from .prompt import prompt_tokens

        loaded = self.loaded
        decode = loaded.tokenizer.decode
        gpt_oss = self.info is not None and self.info.is_gpt_oss
        output = HarmonyOutput(decode) if gpt_oss else PlainOutput(decode, loaded.eos_token_ids)
        if request.prompt_ids is not None:
            return list(request.prompt_ids), output, 0
        if gpt_oss:
            if request.harmony is None:
                raise ValueError("a GPT-OSS chat request needs its HarmonySettings (TokenGenerator fills them in)")

            def render(messages: list[dict]) -> list[int]:
                return harmony_prompt_tokens(self._harmony(), messages, request.harmony)
        else:

            def render(messages: list[dict]) -> list[int]:
                return prompt_tokens(loaded, messages)

        messages = request.messages or []
        limit = self._context_limit(request)
        if not limit:
            return render(messages), output, 0

        reserve = min(request.params.max_tokens, limit // 2)
        prompt, dropped = fit_context(messages, render, limit, reserve, request.keep_messages, conversation.dropped_turns)
        conversation.dropped_turns = dropped
        return prompt, output, dropped

    def _context_limit(self, request: Generate) -> int | None:
        """The request's max_context_tokens, else the model's own context length."""
        return request.max_context_tokens or (self.info.context_length if self.info else None)

    def _harmony(self):
        if self._harmony_encoding is None:
            self._harmony_encoding = load_encoding()
        return self._harmony_encoding

    def _generate(self, request: Generate) -> None:
        from .generation import GenerationClock, token_stream
        from .prompt_cache import ConversationCache
        from .sampling import LiveSampler

        rid = request.request_id
        if self.loaded is None:
            raise UserError("no model is loaded")
        loaded = self.loaded
        gpt_oss = self.info is not None and self.info.is_gpt_oss
        kept = self._caches.get(request.conversation_id, loaded, *self._kv)  # the conversation's cache and state
        prompt, output, dropped = self._prompt_and_output(request, kept)
        if not prompt:
            raise UserError("the prompt is empty")
        processors = request.processors
        if request.required_functions:
            if not gpt_oss:
                raise UserError(f"tool_choice: {self.info.name} has no function calling; it needs a GPT-OSS model", "tool_choice")
            from .tool_choice import FunctionCallRequired

            processors += (FunctionCallRequired(list(request.required_functions)),)
        sampler = LiveSampler(request.params, protected_ids=self._protected, key=kept.seed_key_for(request.params),
                              penalty_exempt_from=SPECIAL_FROM if gpt_oss else None)
        conversation = kept if request.reuse_cache else ConversationCache(loaded, *self._kv)
        cached = conversation.reuse_for(prompt)
        clock = GenerationClock(prompt_tokens=len(prompt), cached_tokens=cached, dropped_turns=dropped)
        room = (self._context_limit(request) or 1 << 62) - len(prompt)  # tokens left in the context
        generated: list[int] = []
        unsent: list[int] = []
        finish = "length"

        def send(outputs) -> None:
            for item in outputs:
                if isinstance(item, ToolCallParsed):
                    self._sink(ToolCall(rid, item.recipient, item.arguments, item.channel, item.content_type, tuple(unsent)))
                else:
                    self._sink(TextDelta(rid, item.text, tuple(unsent), item.channel))
                unsent.clear()

        with self._lock:
            self._samplers[rid] = sampler
        try:
            if self._is_cancelled(rid):
                finish = "cancelled"
            else:
                last_stats = time.perf_counter()
                tokens = token_stream(loaded, prompt, sampler, conversation, processors=processors)
                for token in tokens:
                    is_end = output.is_end(token)
                    clock.tick(counted=not is_end)
                    if not is_end:
                        generated.append(token)
                        unsent.append(token)
                    outputs, ended = output.feed(token)
                    send(outputs)
                    if ended:
                        finish = output.finish_reason
                        break
                    if self._is_cancelled(rid):
                        finish = "cancelled"
                        break
                    if len(generated) >= sampler.params.max_tokens or len(generated) >= room:
                        finish = "length"
                        break
                    now = time.perf_counter()
                    if now - last_stats >= STATS_INTERVAL_S:
                        last_stats = now
                        self._sink(StatsUpdate(rid, clock.stats()))
                tokens.close()
                send(output.close())
                if unsent:
                    self._sink(TextDelta(rid, "", tuple(unsent)))
        except BaseException:
            self._caches.drop(request.conversation_id)  # it may hold part of a forward pass
            raise
        finally:
            with self._lock:
                self._samplers.pop(rid, None)
        kept.keep_seed_key(sampler.params, sampler.key)
        self._caches.enforce_budget()
        self._sink(Done(rid, finish, clock.stats(), tuple(generated), tuple(dict.fromkeys(output.repairs)), tuple(prompt)))

    @staticmethod
    def _protected_ids(loaded) -> list[int]:
        """Tokens XTC must never drop: end-of-sequence and newlines."""
        ids = set(loaded.eos_token_ids)
        for text in ("\n", "\n\n"):
            encoded = loaded.tokenizer.encode(text, add_special_tokens=False)
            if len(encoded) == 1:
                ids.add(encoded[0])
        return sorted(ids)

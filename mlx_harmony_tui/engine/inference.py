"""The inference thread: it alone loads the model and runs generations, several at once.

MLX streams are thread-local, so the model must be loaded and run on one
long-lived thread. Callers put typed requests on its queue and get typed
events through a sink callable (invoked on this thread: a UI should hand
them over to its own thread, e.g. Textual's thread-safe ``post_message``).
Generations are admitted as they arrive and decode together
(:mod:`.scheduler`); a model load waits until none is running. Cancellation
and sampling changes bypass the queue, so they reach a running generation
before its next token.
"""

from __future__ import annotations

import queue
import threading
import time
import traceback
from collections import deque
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Callable

from ..config.sampling import SamplingParams
from ..errors import UserError
from ..harmony.vocab import load_encoding
from ..models.default_model import best_form
from ..models.resolve import resolve_model
from ..runtime import backend_name, blas_info
from .events import Done, Error, Event, ModelInfo, ModelLoaded, ModelLoading
from .requests import Call, Cancel, Generate, LoadModel, Request, Shutdown, UpdateSampling

# The modules that import MLX or mlx-lm (about 2 s) are imported where a model is
# loaded or run, on this thread: starting the app or a command never waits for them.

Sink = Callable[[Event], None]
KV_BITS = (2, 3, 4, 6, 8)
KV_GROUP_SIZES = (32, 64, 128)
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
    """Owns the model; admits generations as they come and runs them together."""

    def __init__(self, sink: Sink, cache_budget_bytes: int | None = None, disk_cache: tuple[Path, int] | None = None):
        self._sink = sink
        self._budget = cache_budget_bytes  # None: the store's default
        self._disk_cache = disk_cache  # (folder, byte budget) for prompt caches kept on disk
        self._caches = None  # the PromptCacheStore, made on this thread with the first model
        self._kv: tuple[int | None, int] = (None, 64)
        self._queue: queue.Queue[Request] = queue.Queue()
        self._waiting: deque[Request] = deque()  # taken from the queue, not served yet (a load waits for idle)
        self._cancelled: set[str] = set()
        self._lock = threading.Lock()
        self._samplers: dict[str, Any] = {}  # request id -> LiveSampler of running generations
        self._scheduler = None
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
        """Run ``fn(loaded_model)`` on the inference thread (between steps of running generations)."""
        future: Future = Future()
        self.submit(Call(fn, future))
        return future

    @property
    def running(self) -> int:
        """Generations admitted and not finished."""
        scheduler = self._scheduler
        return scheduler.running if scheduler is not None else 0

    def shutdown(self, timeout: float | None = 10.0) -> None:
        """Cancel what runs (each gets its Done), then stop the thread."""
        with self._lock:
            self._cancelled.update(self._samplers)
        self.submit(Shutdown())
        self._finished.wait(timeout)

    # Inference thread ----------------------------------------------------------

    def _emit(self, event: Event) -> None:
        if isinstance(event, (Done, Error)):
            with self._lock:
                self._cancelled.discard(event.request_id)
        self._sink(event)

    def _cancelled_now(self) -> set[str]:
        with self._lock:
            return set(self._cancelled)

    def _run(self) -> None:
        try:
            self._serve_until_shutdown()
        finally:
            if self._scheduler is not None:
                self._scheduler.close()
            self._scheduler = None
            self.loaded = None
            self._finished.set()

    def _busy(self) -> bool:
        return self._scheduler is not None and self._scheduler.busy

    def _serve_until_shutdown(self) -> None:
        stopping = False
        while True:
            block = not self._busy() and not self._waiting
            try:
                while True:
                    self._waiting.append(self._queue.get(block=block))
                    block = False
            except queue.Empty:
                pass
            while self._waiting:
                request = self._waiting[0]
                if isinstance(request, Shutdown):
                    stopping = True
                    with self._lock:
                        self._cancelled.update(self._samplers)
                    if not self._busy():
                        return
                    break
                if isinstance(request, LoadModel) and self._busy():
                    break  # a new model waits until the running generations are done
                self._waiting.popleft()
                self._serve(request)
            if self._busy():
                try:
                    self._scheduler.step()
                except Exception as exc:  # the scheduler guards each request; this would be its own bug
                    self._scheduler.fail_all(exc)
            elif stopping:
                return

    @staticmethod
    def _device() -> str:
        backend = backend_name()
        if backend != "cpu":
            return backend
        blas = blas_info()
        return f"cpu, {blas.name}" if blas.fast else "cpu, slow bundled BLAS"

    def _serve(self, request: Request) -> None:
        rid = getattr(request, "request_id", "")
        try:
            if isinstance(request, LoadModel):
                self._load(request)
            elif isinstance(request, Generate):
                if self._scheduler is None:
                    raise UserError("no model is loaded")
                self._scheduler.admit(request)
            elif isinstance(request, Call):
                if request.future.set_running_or_notify_cancel():
                    try:
                        request.future.set_result(request.fn(self.loaded))
                    except BaseException as exc:
                        request.future.set_exception(exc)
        except UserError as exc:
            self._emit(Error(rid, str(exc), field=exc.field))
        except Exception as exc:  # a bug: report it with its traceback, keep serving
            self._emit(Error(rid, f"internal error: {type(exc).__name__}: {exc}", False, traceback.format_exc()))

    def _load(self, request: LoadModel) -> None:
        from . import lm
        from .disk_cache import DiskCaches
        from .prompt_cache import DEFAULT_BUDGET_BYTES, PromptCacheStore
        from .scheduler import Scheduler

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
        if self._scheduler is not None:
            self._scheduler.close()
        self.loaded = self._scheduler = None
        if self._caches is not None:
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
            device=self._device(),
            tool_calling=resolved.is_gpt_oss or lm.tool_call_format(self.loaded) is not None,
        )
        try:
            self._kv = self._kv_settings(request, resolved)
        except UserError:
            self.loaded = self.info = None
            raise
        self._protected = self._protected_ids(self.loaded)
        if self._caches is None:
            self._caches = PromptCacheStore(DEFAULT_BUDGET_BYTES if self._budget is None else self._budget)
        disk = DiskCaches(self._disk_cache[0], self.loaded, self._disk_cache[1]) if self._disk_cache else None
        self._scheduler = Scheduler(self.loaded, self.info, self._caches, self._kv, self._protected, self._harmony, self._emit,
                                    self._cancelled_now, self._samplers, disk)
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

    def _harmony(self):
        if self._harmony_encoding is None:
            self._harmony_encoding = load_encoding()
        return self._harmony_encoding

    @staticmethod
    def _protected_ids(loaded) -> list[int]:
        """Tokens XTC must never drop: end-of-sequence and newlines."""
        ids = set(loaded.eos_token_ids)
        for text in ("\n", "\n\n"):
            encoded = loaded.tokenizer.encode(text, add_special_tokens=False)
            if len(encoded) == 1:
                ids.add(encoded[0])
        return sorted(ids)

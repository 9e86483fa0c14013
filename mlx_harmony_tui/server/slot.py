"""The generation slots: up to ``max_concurrency`` generations at once, the others waiting in a bounded line.

A thread per slot takes jobs in order and runs each one's generation on the
shared :class:`~mlx_harmony_tui.engine.token_generator.TokenGenerator`,
whose inference thread decodes the running ones together. The model a job's
served name needs is loaded when nothing else runs (one model at a time;
jobs for another model wait their turn). Pieces go back to the event loop
through :meth:`Job.emit`. A job leaves the line when its client leaves; a
running one is cancelled before its next token, the others go on.

The server holds at most ``max_concurrency + max_queue`` requests; past that
a request gets 429 with ``Retry-After`` set to the line's expected wait: the
mean time a generation has held its slot, times the requests ahead of the
newcomer, over the slots.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections import deque
from typing import Any, Callable

from ..engine.token_generator import TokenGenerator
from ..errors import UserError
from .catalog import ServedModel
from .generation import Failed, Finished
from .local_paths import without_local_paths
from .model_limits import ModelLimits
from .openai_format import APIError, new_id

log = logging.getLogger("mlx_harmony_tui.server")
_UNKNOWN = object()  # the loaded model after a failed load: the next job loads its own
MEAN_WEIGHT = 0.2  # weight of the latest generation in the mean time a generation holds its slot


class Job:
    """One request's generation: its place in line and its way back to the event loop."""

    def __init__(self, served: ServedModel, work: Callable[[Any, "Job"], None]):
        self.served, self.work = served, work
        self.id = new_id("gen_")  # the engine request it runs as
        self.cancelled = False
        self.over = False  # its last piece (Finished or Failed) has been taken
        self.started: float | None = None  # when a slot took it (time.monotonic)
        self._loop = asyncio.get_running_loop()
        self._items: asyncio.Queue = asyncio.Queue()
        self._getter: asyncio.Future | None = None
        self._checked = self._loop.time()  # when the client was last seen connected

    def emit(self, item: Any) -> None:
        """Send a piece to the request (from any thread)."""
        try:
            self._loop.call_soon_threadsafe(self._items.put_nowait, item)
        except RuntimeError:
            pass  # the event loop has closed: nobody is listening any more

    async def next(self, request: Any = None, poll_s: float = 0.2) -> Any:
        """The next piece; None if ``request``'s client disconnects while waiting for it.

        The client is checked at least every ``poll_s``, also while pieces keep
        coming (a fast model would otherwise never leave a gap to check in).
        """
        if self._getter is None:
            self._getter = asyncio.ensure_future(self._items.get())
        while True:
            if request is not None and self._loop.time() - self._checked >= poll_s:
                self._checked = self._loop.time()
                if await request.is_disconnected():
                    return None
            done, _ = await asyncio.wait({self._getter}, timeout=poll_s if request is not None else None)
            if done:
                item, self._getter = self._getter.result(), None
                self.over = isinstance(item, (Finished, Failed))
                return item

    def close(self) -> None:
        """Stop waiting for pieces (the request is over)."""
        if self._getter is not None:
            self._getter.cancel()
            self._getter = None


class GenerationSlots:
    """Runs up to ``max_concurrency`` jobs at once; at most ``max_queue`` wait beyond them.

    ``generator`` serves an already loaded TokenGenerator (left open on
    close); without one, the slots make their own on first use or
    :meth:`preload`, keeping prompt caches within ``cache_budget_bytes``.
    """

    def __init__(self, max_queue: int = 16, generator: Any = None, cache_budget_bytes: int | None = None,
                 max_concurrency: int = 8, disk_cache: tuple | None = None):
        if max_queue < 0:
            raise ValueError("max_queue must be >= 0")
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be >= 1")
        self.max_queue, self.max_concurrency = max_queue, max_concurrency
        self._cache_budget, self._disk_cache = cache_budget_bytes, disk_cache
        self._generator = generator
        self._owns_generator = generator is None
        self._loaded: Any = generator.model_spec if generator is not None else _UNKNOWN
        self._waiting: deque[Job] = deque()
        self._running: list[Job] = []
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._closed = False
        self._switching = False  # a job is loading its model: nothing else starts meanwhile
        self._threads: list[threading.Thread] = []
        self._limits: ModelLimits | None = None  # the loaded model's, read at its first job
        self._limits_lock = threading.Lock()
        self._mean_s: float | None = None  # how long a generation holds its slot, on average (recent ones weigh more)
        self.served_count = 0
        self.cancelled_count = 0

    # Event-loop side -------------------------------------------------------------

    def start(self) -> None:
        for i in range(self.max_concurrency):
            thread = threading.Thread(target=self._serve, name=f"mlx-harmony-server-slot-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def submit(self, job: Job) -> None:
        """Queue ``job``; APIError 429 when the server holds all it may, 503 once the server is closing."""
        with self._lock:
            if self._closed:
                raise APIError(503, "The server is shutting down.", type="server_error", code="shutting_down")
            held = len(self._running) + len(self._waiting)
            if held >= self.max_concurrency + self.max_queue:
                # Waiting jobs that a free slot is about to take are running, as far as a client can tell.
                starting = 0 if self._switching else min(len(self._waiting), self.max_concurrency - len(self._running))
                running, waiting = len(self._running) + starting, len(self._waiting) - starting
                wait = self._expected_wait(waiting)
                raise APIError(429, f"The server is busy: {running} generation{'s are' if running != 1 else ' is'} running and "
                                    f"{waiting} waiting (--max-concurrency {self.max_concurrency}, --max-queue {self.max_queue}); "
                                    f"the line's expected wait is about {wait} s: retry then.",
                               type="rate_limit_error", code="queue_full", headers={"Retry-After": str(wait)})
            self._waiting.append(job)
            self._wake.notify_all()

    def _expected_wait(self, waiting: int) -> int:
        """Whole seconds until a request joining the line now would start: the mean time a generation holds its slot
        (before any has ended: the longest that a running one has held it so far) times the ``waiting`` jobs ahead
        and itself, over the slots; at least 1."""
        mean = self._mean_s
        if mean is None:
            now = time.monotonic()
            mean = max((now - job.started for job in self._running if job.started is not None), default=0.0)
        return max(1, math.ceil(mean * (waiting + 1) / self.max_concurrency))

    def cancel(self, job: Job) -> None:
        """The client is gone: drop ``job`` from the line, or stop it before its next token."""
        job.close()
        if job.over:
            return
        with self._lock:
            if job in self._waiting:
                self._waiting.remove(job)
                self.cancelled_count += 1
                self._wake.notify_all()
            elif job in self._running and not job.cancelled:
                job.cancelled = True
                self._generator.cancel(job.id)

    def status(self) -> dict:
        with self._lock:
            info = getattr(self._generator, "info", None) if self._loaded is not _UNKNOWN else None
            return {
                "model": info.name if info is not None else None,
                "generating": bool(self._running),
                "running": len(self._running),
                "queued": len(self._waiting),
                "served": self.served_count,
                "cancelled": self.cancelled_count,
            }

    def close(self, timeout: float = 30.0) -> None:
        """Refuse new jobs, fail the waiting ones, cancel the running ones, and stop the threads."""
        with self._lock:
            self._closed = True
            waiting, self._waiting = list(self._waiting), deque()
            for job in self._running:
                job.cancelled = True
                self._generator.cancel(job.id)
            self._wake.notify_all()
        for job in waiting:
            job.emit(Failed(APIError(503, "The server is shutting down.", type="server_error", code="shutting_down")))
        for thread in self._threads:
            thread.join(timeout)
        if self._owns_generator and self._generator is not None:
            self._generator.close()

    # Slot threads -------------------------------------------------------------------

    def preload(self, spec: str | None, progress: Callable[[str, float], None] | None = None) -> None:
        """Load ``spec`` now (before :meth:`start`); UserError with one clear line if it cannot be loaded."""
        if self._threads:
            raise RuntimeError("preload before start")
        self._load(spec, progress)

    def _load(self, spec: str | None, progress: Callable[[str, float], None] | None = None) -> Any:
        if self._generator is not None and self._loaded == spec and self._generator.ready:
            return self._generator  # (not ready: the ranks it was split across broke up; it loads here alone)
        log.info("loading model %s", spec or "(the default model)")
        self._loaded = _UNKNOWN
        with self._limits_lock:
            self._limits = None
        if self._generator is None:
            self._generator = TokenGenerator(spec, progress=progress, cache_budget_bytes=self._cache_budget, disk_cache=self._disk_cache)
        else:
            self._generator.load(spec, progress)
        self._loaded = spec
        return self._generator

    def _model_limits(self, generator: Any) -> ModelLimits:
        with self._limits_lock:
            if self._limits is None:
                self._limits = ModelLimits.of(generator)
            return self._limits

    def _next_job(self) -> tuple[Job | None, bool]:
        """The first waiting job that can start now, and whether it must load its model first (nothing else runs then)."""
        while True:
            if self._closed:
                return None, False
            if self._waiting and not self._switching:
                job = self._waiting[0]
                loaded = job.served.settings.model == self._loaded
                if loaded or not self._running:
                    self._waiting.popleft()
                    self._running.append(job)
                    job.started = time.monotonic()
                    self._switching = not loaded
                    return job, not loaded
            self._wake.wait()

    def _serve(self) -> None:
        while True:
            with self._lock:
                job, needs_load = self._next_job()
            if job is None:
                return
            try:
                self._run(job, needs_load)
            finally:
                with self._lock:
                    self._running.remove(job)
                    held = time.monotonic() - job.started
                    self._mean_s = held if self._mean_s is None else (1 - MEAN_WEIGHT) * self._mean_s + MEAN_WEIGHT * held
                    self.served_count += 1
                    self.cancelled_count += job.cancelled
                    self._wake.notify_all()

    def _run(self, job: Job, needs_load: bool) -> None:
        generator = self._generator
        try:
            try:
                generator = self._load(job.served.settings.model) if needs_load else self._generator
            except UserError as exc:
                raise APIError(503, f"The model {job.served.id!r} could not be loaded: {self._public(exc, job, None)}",
                               type="server_error", param="model", code="model_unavailable") from None
            finally:
                if needs_load:
                    with self._lock:
                        self._switching = False
                        self._wake.notify_all()
            job.work(generator, job, self._model_limits(generator))
        except APIError as exc:
            job.emit(Failed(exc))
        except UserError as exc:  # refused: a prompt too long, a template that rejects it, tools for a model without them
            job.emit(Failed(APIError(400, self._public(exc, job, generator), param=exc.field)))
        except Exception as exc:  # a bug: logged with its traceback, reported without it
            log.exception("generation failed")
            job.emit(Failed(APIError(500, f"internal error: {type(exc).__name__}", type="server_error")))
        if job.cancelled:
            log.info("generation cancelled: the client left")

    @staticmethod
    def _public(exc: UserError, job: Job, generator: Any) -> str:
        """A refusal's text as a client may read it: the model's folder named by its served name, no local paths."""
        info = getattr(generator, "info", None)
        models = [(job.served.settings.model, job.served.id)]
        if info is not None:
            models.append((info.path, info.name))
        return without_local_paths(str(exc), models)

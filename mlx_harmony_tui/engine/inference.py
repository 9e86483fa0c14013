"""The inference thread: it alone loads the model and runs generations, several at once.

MLX streams are thread-local, so the model must be loaded and run on one long-lived thread. Callers put typed
requests on its queue and get typed events through a sink callable (invoked on this thread: a UI should hand them
over to its own thread, e.g. Textual's thread-safe ``post_message``). Generations are admitted as they arrive and
decode together (:mod:`.scheduler`); a model load waits until none is running. Cancellation and sampling changes
bypass the queue, so they reach a running generation before its next token.
"""

from __future__ import annotations

import os
import queue
import threading
import time
import traceback
from collections import deque
from concurrent.futures import Future
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Callable

from ..config.sampling import SamplingParams
from ..errors import UserError
from ..harmony.vocab import load_encoding
from ..models.default_model import best_form
from ..models.resolve import resolve_model
from ..runtime import backend_name, blas_info, device_label
from .events import Done, Error, Event, ModelInfo, ModelLoaded, ModelLoading
from .group import SHARD_ENV, Group, GroupLost, is_link_error, launched
from .lockstep import HEARTBEAT_S, Lockstep, RankZeroCall, Round, StallWatch, agree, in_turn, stall_limit
from .memory import default_budget_bytes
from .model_checks import kv_settings, protected_ids
from .requests import Call, Cancel, Generate, LoadModel, Request, Shutdown, UpdateSampling

# The modules that import MLX or mlx-lm (about 2 s) are imported where a model is
# loaded or run, on this thread: starting the app or a command never waits for them.

Sink = Callable[[Event], None]
KV_BITS = (2, 3, 4, 6, 8)
KV_GROUP_SIZES = (32, 64, 128)
SHARD_MODES = ("tensor", "pipeline")
THREAD_NAME = "mlx-harmony-inference"
_group_taken = False  # in rank 0's process, only the first engine leads the group; later ones run alone

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


def _take_group() -> bool:
    global _group_taken
    with _idle_lock:
        taken, _group_taken = _group_taken, True
    return not taken


class InferenceThread:
    """Owns the model; admits generations as they come and runs them together.

    Under ``mlx.launch`` with several ranks, rank 0's first engine leads the
    group and loads models sharded; ``follow=True`` (on the other ranks) makes
    an engine that takes no requests of its own and repeats rank 0's rounds.
    """

    def __init__(self, sink: Sink, cache_budget_bytes: int | None = None, disk_cache: tuple[Path, int] | None = None,
                 follow: bool = False):
        self._sink = sink
        # Bytes of kept prompt caches; rank 0's figure is every rank's (see Round).
        self._budget = default_budget_bytes() if cache_budget_bytes is None else cache_budget_bytes
        self._disk_cache = disk_cache  # (folder, byte budget) for prompt caches kept on disk
        self._caches = None  # the PrefixCache, made on this thread with the first model
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
        self._launch = launched()
        self._follows = follow
        self._lockstep: Lockstep | None = None
        self._round_cancelled: frozenset[str] = frozenset()  # in a group: what this round treats as cancelled
        self._updates: dict[str, SamplingParams] = {}  # rank 0: sampling changes for the next round
        self._group_note = ""  # why the group is not (or no longer) used, told at the next load or request
        self._join_failure = ""  # the group never formed: the first load says so (the next one runs here alone)
        self.failure: str | None = None  # a following engine: why it stopped early
        self._watch: StallWatch | None = None  # rank 0 in a group: notices ranks that stop answering
        self._epoch = 0  # which thread serves: a stall starts a new one and the stuck one must stand down
        self._stalled = False
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
            if sampler is not None and self._lockstep is not None:
                self._updates[request_id] = params  # every rank applies it in the same round
                return True
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

    def wait(self) -> None:
        """Block until the engine has stopped (a following engine stops with rank 0's)."""
        self._finished.wait()

    # Inference thread ----------------------------------------------------------

    def _emit(self, event: Event) -> None:
        if isinstance(event, (Done, Error)):
            with self._lock:
                self._cancelled.discard(event.request_id)
        self._sink(event)

    def _cancelled_now(self) -> set[str]:
        if self._lockstep is not None:
            return set(self._round_cancelled)
        with self._lock:
            return set(self._cancelled)

    def _run(self, epoch: int = 0) -> None:
        try:
            if epoch == 0:
                self._join_group()
            self._serve_until_shutdown(epoch)
        except Exception as exc:  # a following engine whose group broke: it stops, the others will too
            if self._epoch != epoch:
                return  # a thread a stall left behind: its successor serves now
            if not self._follows:
                raise
            self.failure = f"{type(exc).__name__}: {exc}"
        finally:
            if self._epoch == epoch:
                if self._watch is not None:
                    self._watch.stop()
                if self._scheduler is not None:
                    self._scheduler.close()
                self._scheduler = None
                self.loaded = None
                self._finished.set()

    def _busy(self) -> bool:
        return self._scheduler is not None and self._scheduler.busy

    def _join_group(self) -> None:
        """Join the launcher's group when this engine leads it (rank 0's first) or follows it."""
        launch = self._launch
        if self._follows and (launch is None or launch.rank == 0):
            raise GroupLost("only a rank other than 0 of an mlx.launch group can follow rank 0")
        if launch is None or not self._follows and (launch.rank != 0 or not _take_group()):
            return
        try:
            self._lockstep = Lockstep(Group.join(self._mx(), launch))
            if not self._follows:
                self._watch = StallWatch(self._on_stall, stall_limit(self._mx().default_device() != self._mx().cpu))
        except GroupLost as exc:
            if self._follows:
                raise
            self._group_note = self._join_failure = f"{exc}; load the model again to run it on this machine alone"

    @staticmethod
    def _mx():
        from ..runtime import mlx_core

        return mlx_core()

    def _take_round(self, block: bool, epoch: int, wait: float | None = None) -> bool:
        """Add the requests this round serves to those waiting (from the queue alone, or shared by rank 0 in a
        group); False when a stall handed this engine to a new thread meanwhile."""
        lockstep = self._lockstep
        if lockstep is not None and not lockstep.leads:
            round_ = lockstep.follow()
            if round_ is not None:
                self._apply(round_)
                self._waiting.extend(round_.requests)
            return True
        prepared = lockstep is not None and lockstep.prepared  # decided during the last step: nothing to wait for
        arrivals = [] if prepared else self._arrivals(block, HEARTBEAT_S if block and lockstep is not None else wait)
        self._waiting.extend(arrivals)  # before the round is shared: a stall hands them to the next thread
        if lockstep is None:
            return True
        try:
            with self._watch.waiting():
                round_ = lockstep.lead_prepared() if prepared else lockstep.lead(*self._round_news(arrivals))
        except Exception as exc:
            if self._epoch != epoch or not is_link_error(exc):
                raise
            self._lose_group(exc)
            return True
        if self._epoch != epoch:
            return False
        self._apply(round_, leads=True)
        return True

    def _arrivals(self, block: bool, timeout: float | None) -> list[Request]:
        arrivals: list[Request] = []
        try:
            arrivals.append(self._queue.get(block=block, timeout=timeout))
            while True:
                arrivals.append(self._queue.get(block=False))
        except queue.Empty:
            return arrivals

    def _round_news(self, arrivals: list[Request]) -> tuple:
        """Rank 0: the next round's requests, cancels, sampling changes, prefill pace and budget (see Lockstep.lead)."""
        with self._lock:
            cancelled, updates, self._updates = frozenset(self._cancelled), self._updates, {}
        pace = self._scheduler.pace.coefficients if self._scheduler is not None else (0.0, 0.0, 0.0)
        return arrivals, cancelled, updates, pace, self._budget

    def _next_round(self) -> tuple:
        """Rank 0, during a decode step: the next round, with what has arrived by now."""
        arrivals = self._arrivals(False, None)
        self._waiting.extend(arrivals)
        return self._round_news(arrivals)

    def _apply(self, round_: Round, leads: bool = False) -> None:
        self._round_cancelled = round_.cancelled
        for rid, params in round_.updates.items():
            sampler = self._samplers.get(rid)
            if sampler is not None:
                sampler.update(params)
        if not leads:
            self._budget = round_.budget
            if self._scheduler is not None:
                self._scheduler.pace.coefficients = round_.pace

    def _lose_group(self, exc: BaseException) -> None:
        """A rank is gone: fail what runs with one clear line and go on alone (the sharded model is unusable)."""
        if self._follows:
            raise exc
        size = self._lockstep.group.size if self._lockstep is not None else 0
        self._group_note = (f"the group of {size} ranks broke ({exc}); the model was split across them and is gone: "
                            "load it again to run it on this machine alone")
        if self._scheduler is not None:
            self._scheduler.abandon(self._group_note)
        self._alone()
        if self._caches is not None:
            self._caches.clear()

    def _alone(self) -> None:
        if self._watch is not None:
            self._watch.stop()
        self._lockstep = self._watch = None
        self._scheduler = self.loaded = self.info = None

    def _on_stall(self, waited: float) -> None:
        """(The watch's thread.) The other ranks stopped answering: fail what runs, go on alone on a new thread."""
        size = self._lockstep.group.size if self._lockstep is not None else 0
        with self._lock:
            self._epoch += 1
            running, self._samplers = list(self._samplers), {}
        # MLX still counts the stuck work as running and makes every later evaluation wait for it: no model can
        # load in this process any more (after a lost link MLX fails that work, and a local load works).
        self._stalled = True
        self._group_note = (f"the group of {size} ranks stopped answering (no reply for {waited:.0f} s); the model "
                            "was split across them and is gone, and MLX in this process still waits for it: "
                            "restart without mlx.launch to run the model on this machine alone")
        self._alone()
        self._caches = None  # the stuck thread may still hold the old store
        self._waiting = deque(self._waiting)
        for rid in running:
            self._emit(Error(rid, self._group_note))
        epoch = self._epoch
        _start_on_worker(lambda: self._run(epoch))

    def _serve_until_shutdown(self, epoch: int) -> None:
        stopping = False
        active = time.monotonic()  # when the engine last had work
        while True:
            if self._epoch != epoch:
                return  # a stall handed the engine to a new thread while this one waited
            block, wait = not self._busy() and not self._waiting, None
            active = active if block else time.monotonic()
            if block and self._scheduler is not None:  # idle: cache files are written now
                block, wait = self._scheduler.when_idle(time.monotonic() - active)
            if not self._take_round(block, epoch, wait):
                return
            while self._waiting:
                request = self._waiting[0]
                if isinstance(request, Shutdown):
                    stopping = True
                    with self._lock:
                        self._cancelled.update(self._samplers)
                    if not self._busy():
                        return self._farewell()
                    break
                if isinstance(request, LoadModel) and self._busy():
                    break  # a new model waits until the running generations are done
                self._waiting.popleft()
                self._serve(request)
            if self._busy():
                try:
                    with self._watch.waiting() if self._watch is not None else nullcontext():
                        self._scheduler.step()
                except Exception as exc:  # the scheduler guards each request; this would be its own bug
                    if self._epoch != epoch:
                        return
                    if self._lockstep is not None and is_link_error(exc):
                        self._lose_group(exc)
                    else:
                        self._scheduler.fail_all(exc)
            elif stopping:
                return self._farewell()

    def _farewell(self) -> None:
        """In a group, the ranks stop together (see Lockstep.farewell)."""
        if self._lockstep is not None:
            with self._watch.waiting() if self._watch is not None else nullcontext():
                self._lockstep.farewell()

    def _serve(self, request: Request) -> None:
        rid = getattr(request, "request_id", "")
        try:
            if isinstance(request, LoadModel):
                self._load(request)
            elif isinstance(request, Generate):
                if self._scheduler is None:
                    raise UserError(f"no model is loaded{' (' + self._group_note + ')' if self._group_note else ''}")
                self._scheduler.admit(request)
            elif isinstance(request, RankZeroCall):
                pass  # rank 0 ran it
            elif isinstance(request, Call):
                if request.future.set_running_or_notify_cancel():
                    try:
                        request.future.set_result(request.fn(self.loaded))
                    except BaseException as exc:
                        request.future.set_exception(exc)
        except UserError as exc:
            self._emit(Error(rid, str(exc), field=exc.field))
        except Exception as exc:  # a bug: report it with its traceback, keep serving
            if self._lockstep is not None and is_link_error(exc):
                self._lose_group(exc)
                self._emit(Error(rid, self._group_note))
                return
            self._emit(Error(rid, f"internal error: {type(exc).__name__}: {exc}", False, traceback.format_exc()))

    def _load(self, request: LoadModel) -> None:
        from . import lm
        from .disk_cache import DiskCaches
        from .prompt_cache import PrefixCache
        from .scheduler import Scheduler

        start = time.perf_counter()
        if request.kv_bits is not None and request.kv_bits not in KV_BITS:
            raise UserError(f"kv_bits: {request.kv_bits} is not one of {', '.join(map(str, KV_BITS))}")
        if request.kv_group_size not in KV_GROUP_SIZES:
            raise UserError(f"kv_group_size: {request.kv_group_size} is not one of {', '.join(map(str, KV_GROUP_SIZES))}")

        def progress(stage: str, fraction: float) -> None:
            self._sink(ModelLoading(request.request_id, stage, fraction))

        if self._join_failure:
            failure, self._join_failure = self._join_failure, ""
            raise UserError(failure)
        if self._stalled:
            raise UserError(self._group_note)
        shard = request.shard or os.environ.get(SHARD_ENV) or None
        if shard not in (None, *SHARD_MODES):
            raise UserError(f"shard: {shard!r} is not one of {', '.join(SHARD_MODES)}", "shard")
        form = best_form(backend_name(), blas_info().fast)
        group = self._lockstep.group if self._lockstep is not None else None
        if group is None:
            resolved = resolve_model(request.spec, form, progress)
        else:
            resolved = in_turn(group, lambda: resolve_model(request.spec, form, progress if group.rank == 0 else None))
        progress(f"loading {resolved.name}" + (f" on {group.size} ranks" if group else ""), 0.95)
        if self._scheduler is not None:
            self._scheduler.close()
        self.loaded = self._scheduler = self.info = None
        if self._caches is not None:
            self._caches.clear()
        problem = ""
        try:
            self.loaded = lm.load(resolved.path, group.mlx_group if group else None, shard)
        except lm.CannotShard as exc:
            problem = f"{resolved.name} cannot run on {group.size} ranks: {exc}"
        except Exception as exc:  # mlx-lm raises ValueError/KeyError/FileNotFoundError on unusable folders
            problem = f"{resolved.path}: could not load the model: {type(exc).__name__}: {exc}"
        if group is not None:
            problem = agree(group, problem)
        if problem:
            self.loaded = None
            raise UserError(problem)
        ranks = group.size if group else 1
        memory = tuple(group.gather_value(self._mx().get_active_memory() / 1e9)) if group else ()
        self.info = ModelInfo(
            name=resolved.name,
            path=str(resolved.path),
            source=resolved.source,
            is_gpt_oss=resolved.is_gpt_oss,
            model_type=resolved.model_type,
            context_length=resolved.context_length,
            device=device_label(),
            ranks=ranks,
            rank_memory_gb=memory,
            tool_calling=resolved.is_gpt_oss or lm.tool_call_format(self.loaded) is not None,
        )
        try:
            self._kv = kv_settings(request, resolved, self.loaded)
        except UserError:
            self.loaded = self.info = None
            raise
        self._protected = protected_ids(self.loaded)
        if self._caches is None:
            self._caches = PrefixCache(self._budget)
        # Under a group each rank holds only its part of a cache: a file of one rank's part is of no use alone.
        disk = DiskCaches(self._disk_cache[0], self.loaded, self._disk_cache[1]) if self._disk_cache and not group else None
        share = (lambda tokens: self._lockstep.share_step(tokens, self._next_round)) if group else None
        self._scheduler = Scheduler(self.loaded, self.info, self._caches, self._kv, self._protected, self._harmony, self._emit,
                                    self._cancelled_now, self._samplers, disk, group, share)
        self._sink(ModelLoaded(request.request_id, self.info, time.perf_counter() - start))

    def _harmony(self):
        if self._harmony_encoding is None:
            self._harmony_encoding = load_encoding()
        return self._harmony_encoding

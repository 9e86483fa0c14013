"""Rank 0 and the other ranks of a group run the same scheduler, round by round.

Every round of the inference thread's loop begins with a :class:`Round` that
rank 0 shares: the requests it took from its queue, the requests cancelled so
far, live sampling changes, its prefill pace (which sizes prefill chunks),
and its cache budget. Every rank then takes exactly the same decisions, so
their forward passes (and the collectives inside them) line up; the tokens
themselves are rank 0's, shared at each decode step (``Group.share_tokens``).
Nothing a rank's clock or threads decide on its own reaches the scheduler.
"""

from __future__ import annotations

import json
import os
import pickle
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterator

from ..config.sampling import SamplingParams
from ..errors import UserError
from .events import Done, Event
from .group import Group, is_link_error
from .requests import Call, Generate, Request

HEARTBEAT_S = 1.0  # an idle rank 0 still speaks this often, so a lost rank is noticed before the next request
STALL_CPU_S = 20.0  # see StallWatch
# On a GPU a first step of a new shape compiles kernels: 30-90 s were seen on CUDA (2x H200, gpt-oss-20b shape),
# which a 20 s limit took for a lost rank.
STALL_GPU_S = 180.0


def stall_limit(on_gpu: bool) -> float:
    """Seconds one round may wait before rank 0 gives the group up (``MLX_HARMONY_STALL_TIMEOUT`` overrides)."""
    chosen = os.environ.get("MLX_HARMONY_STALL_TIMEOUT")
    return float(chosen) if chosen else STALL_GPU_S if on_gpu else STALL_CPU_S
RANK_LOG_ENV = "MLX_HARMONY_RANK_LOG"  # a file where ranks other than 0 note the tokens of each finished request


@dataclass(frozen=True)
class RankZeroCall:
    """Stands, on the other ranks, for a ``Call`` that runs on rank 0 alone (it must not run the model)."""


@dataclass
class Round:
    """What rank 0 decided for this round; every rank applies it before doing anything else."""

    requests: list[Any]
    cancelled: frozenset[str]
    updates: dict[str, SamplingParams] = field(default_factory=dict)
    pace: tuple[float, float, float] = (0.0, 0.0, 0.0)  # engine.pace.PrefillPace's coefficients
    budget: int | None = None


def shareable(request: Request) -> Any:
    """``request`` as the other ranks get it: logits processors, output constraints and callables stay on rank 0,
    which samples (the others take its tokens, so a grammar there would only cost time)."""
    if isinstance(request, Call):
        return RankZeroCall()
    if isinstance(request, Generate) and (request.processors or request.output):
        return replace(request, processors=(), output=None)
    return request


class Lockstep:
    """Shares each round from rank 0 and receives it elsewhere."""

    def __init__(self, group: Group):
        self.group = group
        self.leads = group.rank == 0
        self._said: tuple[frozenset[str], tuple[float, float, float]] | None = None  # the last round's cancels and pace
        self._prepared: tuple[Round, bytes] | None = None  # rank 0: the round decided during the last step
        self._announced: Any = None  # another rank: the size of that round, received with the step's tokens

    def _news(self, requests: list[Request], cancelled: frozenset[str], updates: dict[str, SamplingParams],
              pace: tuple[float, float, float], budget: int | None) -> tuple[Round, bytes]:
        """The round, and what the others need of it: nothing when nothing changed."""
        news = bool(requests or updates) or self._said != (cancelled, pace)
        round_ = Round([shareable(r) for r in requests], cancelled, updates, pace, budget)
        self._said = (cancelled, pace)
        return round_, pickle.dumps(round_) if news else b""

    def lead(self, requests: list[Request], cancelled: frozenset[str], updates: dict[str, SamplingParams],
             pace: tuple[float, float, float], budget: int | None) -> Round:
        """Rank 0: share this round (only a tiny "nothing new" when nothing changed)."""
        round_, data = self._news(requests, cancelled, updates, pace, budget)
        self.group.share_bytes(data, self.group.size_of(data))
        return round_

    @property
    def prepared(self) -> bool:
        """Rank 0: the next round was decided during the last decode step (its size already shared)."""
        return self._prepared is not None

    def lead_prepared(self) -> Round:
        """Rank 0: the round decided during the last step; its contents are shared only if they hold news."""
        round_, data = self._prepared
        self._prepared = None
        self.group.share_bytes(data, len(data))
        return round_

    def share_step(self, tokens: Any, prepare: Callable[[], tuple]) -> Any:
        """A decode step's tokens (rank 0's) on every rank, with the size of the next round in the same exchange.

        ``prepare`` (rank 0) gives the next round's ``(requests, cancelled,
        updates, pace, budget)`` as :meth:`lead` takes them.
        """
        size = 0
        if self.leads:
            self._prepared = self._news(*prepare())
            size = len(self._prepared[1])
        shared, announced = self.group.share_tokens(tokens, size)
        if not self.leads:
            self._announced = announced
        return shared

    def follow(self) -> Round | None:
        """Another rank: wait for rank 0's next round (None: nothing new)."""
        if self._announced is not None:
            size, self._announced = int(self._announced.item()), None
            return self.group.share_bytes(b"", size)
        return self.group.share()

    def farewell(self) -> None:
        """One last exchange after the round that stopped every rank. A rank other than 0 leaves its process right
        after it (see token_generator.serve_rank_zero), so rank 0's exit, which makes mlx.launch end any rank still
        running, comes after theirs. A rank lost at this point changes nothing: everything has stopped."""
        try:
            self.group.gather_text("")
        except Exception as exc:
            if not is_link_error(exc):
                raise


def rank_log(rank: int):
    """A sink for a rank other than 0: it shows nothing, and notes finished requests' tokens where RANK_LOG_ENV says."""
    path = os.environ.get(RANK_LOG_ENV)

    def sink(event: Event) -> None:
        if path and isinstance(event, Done):
            line = {"rank": rank, "request": event.request_id, "finish": event.finish_reason, "tokens": list(event.token_ids), "prompt_tokens": len(event.prompt_ids), "cached": event.stats.cached_tokens}
            with open(path, "a", encoding="utf-8") as out:
                out.write(json.dumps(line) + "\n")

    return sink


def in_turn(group: Group, work) -> Any:
    """Run ``work()`` on rank 0 first, then on the others (ranks that share a disk never download or convert at once).

    ``work`` raises UserError for a problem a user can fix; any rank's problem
    is raised on every rank, rank 0's own as it was, another's with its rank.
    """
    result, problem = None, ""
    for turn in (0, 1):
        if (group.rank == 0) == (turn == 0):
            try:
                result = work()
            except UserError as exc:
                problem = str(exc)
        agreed = agree(group, problem)
        if agreed:
            raise UserError(agreed)
    return result


def agree(group: Group, problem: str) -> str:
    """Wait for every rank; the first problem any of them had ("" when none), naming the rank unless it is 0."""
    for rank, text in enumerate(group.gather_text(problem)):
        if text:
            return text if rank == 0 else f"rank {rank} of {group.size}: {text}"
    return ""


class StallWatch:
    """Rank 0's guard against a rank that stops answering while its link stays open (or whose failure MLX leaves
    a wait hanging on): when one round or step has waited longer than the limit, ``on_stall(seconds)`` runs on
    the watch's own thread. The limit is ``limit`` (see :func:`stall_limit`), or five times the slowest round
    seen, whichever is longer."""

    def __init__(self, on_stall: Callable[[float], None], limit: float):
        self._on_stall, self._limit = on_stall, limit
        self._since: float | None = None
        self._slowest = 0.0
        self._stopped = False
        threading.Thread(target=self._watch, name="mlx-harmony-stall-watch", daemon=True).start()

    @contextmanager
    def waiting(self) -> Iterator[None]:
        start = time.monotonic()
        self._since = start
        try:
            yield
        finally:
            self._since = None
            self._slowest = max(self._slowest, time.monotonic() - start)

    def stop(self) -> None:
        self._stopped = True

    def _watch(self) -> None:
        while not self._stopped:
            time.sleep(0.5)
            since = self._since
            waited = time.monotonic() - since if since is not None else 0.0
            if waited > max(self._limit, 5 * self._slowest) and not self._stopped:
                self._stopped = True
                self._on_stall(waited)

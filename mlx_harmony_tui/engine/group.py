"""The distributed group a process runs in under ``mlx.launch`` (MLX's own ring, JACCL, MPI or NCCL backends).

Rank 0 runs the front end and leads; every other rank runs only the engine
and repeats rank 0's work in lockstep (:mod:`.lockstep`). :func:`launched`
reads the launcher's environment without importing MLX, so a command can
tell at start-up whether it is a follower; :class:`Group` wraps the joined
group with the few collectives the engine needs, all run on one stream so
they stay in order with the model's own.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SHARD_ENV = "MLX_HARMONY_SHARD"  # --shard on the command lines: how a group splits the model
JOIN_TIMEOUT_S = float(os.environ.get("MLX_HARMONY_JOIN_TIMEOUT", "60"))
TEXT_BYTES = 512  # room for one rank's error line in gather_text
LINK_WORDS = ("[ring]", "[jaccl]", "[nccl]", "[mpi]", "connection to a peer", "peer was lost")


@dataclass(frozen=True)
class Launch:
    """What the launcher told this process: its rank, the group's size, the backend and hosts (when known)."""

    rank: int
    size: int
    backend: str
    hosts: tuple[str, ...] = ()


def _hostfile_hosts(path: str | None) -> list[str]:
    if not path:
        return []
    try:
        entries = json.loads(Path(path).read_text(encoding="utf-8") or "[]")
    except (OSError, ValueError):
        return []
    return [",".join(node) if isinstance(node, list) else str(node) for node in entries]


def launched(env: dict[str, str] | None = None) -> Launch | None:
    """The group the launcher started this process in, from its environment; None when it runs alone."""
    env = os.environ if env is None else env
    if "OMPI_COMM_WORLD_SIZE" in env:
        size, rank, backend = int(env["OMPI_COMM_WORLD_SIZE"]), int(env.get("OMPI_COMM_WORLD_RANK", 0)), "mpi"
        return Launch(rank, size, backend) if size > 1 else None
    if "MLX_RANK" not in env:
        return None
    rank = int(env["MLX_RANK"])
    hosts: list[str] = []
    if "MLX_WORLD_SIZE" in env:
        size, backend = int(env["MLX_WORLD_SIZE"]), "nccl"
        hosts = [env.get("NCCL_HOST_IP", "")] if env.get("NCCL_HOST_IP") else []
    elif env.get("MLX_IBV_DEVICES") or env.get("MLX_JACCL_COORDINATOR"):
        devices = _hostfile_hosts(env.get("MLX_IBV_DEVICES"))
        size, backend = len(devices), "jaccl"
    else:
        hosts = _hostfile_hosts(env.get("MLX_HOSTFILE"))
        size, backend = len(hosts), "ring"
    return Launch(rank, size, backend, tuple(hosts)) if size > 1 else None


def follower() -> bool:
    """Whether this process is a rank other than 0 of a group: it must run only the engine."""
    launch = launched()
    return launch is not None and launch.rank > 0


_WATCHDOG = """
import os, select, signal, sys
pid, timeout, message = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
ready, _, _ = select.select([sys.stdin], [], [], timeout)
if not ready:
    print(message, file=sys.stderr, flush=True)
    os.kill(pid, signal.SIGKILL)
"""


def _start_watchdog(launch: Launch) -> subprocess.Popen:
    message = (f"mlx-harmony rank {launch.rank}: the {launch.backend} group of {launch.size} ranks did not form within "
               f"{JOIN_TIMEOUT_S:.0f} s (a rank never started or cannot reach the others; MLX_HARMONY_JOIN_TIMEOUT "
               "sets the wait): stopped. Without mlx.launch the model runs on this machine alone.")
    return subprocess.Popen([sys.executable, "-c", _WATCHDOG, str(os.getpid()), str(JOIN_TIMEOUT_S), message],
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)


class GroupLost(RuntimeError):
    """A rank died, left, or never joined: the sharded model is gone."""


def is_link_error(exc: BaseException) -> bool:
    """Whether ``exc`` is the group's link failing (a rank died or stopped answering), not a bug of ours."""
    if isinstance(exc, GroupLost):
        return True
    return isinstance(exc, RuntimeError) and any(word in str(exc) for word in LINK_WORDS)


class Group:
    """The joined group: rank, size, and the collectives the engine uses (call them on the inference thread)."""

    def __init__(self, mx: Any, group: Any, launch: Launch, stream: Any):
        self._mx, self.mlx_group, self.launch, self.stream = mx, group, launch, stream
        self.rank, self.size = group.rank(), group.size()

    @classmethod
    def join(cls, mx: Any, launch: Launch) -> "Group":
        """Join the group the launcher started (the first call waits for every rank; later ones return at once).

        MLX holds the interpreter while it waits for the other ranks, so no
        thread of this process can time it out: a small watchdog process ends
        this one with one clear line when the group has not formed within
        JOIN_TIMEOUT_S (front ends join before they take the terminal).
        """
        watchdog = _start_watchdog(launch)
        try:
            group = mx.distributed.init(strict=True)
        except Exception as exc:  # a backend that cannot start (bad hostfile, missing library)
            raise GroupLost(f"could not join the {launch.backend} group of {launch.size} ranks: {exc}") from None
        finally:
            watchdog.stdin.close()
            watchdog.wait()
        if group.size() != launch.size:
            raise GroupLost(f"the launcher said {launch.size} ranks but MLX joined {group.size()}")
        return cls(mx, group, launch, mx.new_thread_local_stream(mx.default_device()))

    def _all_sum(self, array: Any) -> Any:
        return self._mx.distributed.all_sum(array, group=self.mlx_group, stream=self.stream)

    def share(self, obj: Any = None) -> Any:
        """Rank 0's ``obj`` on every rank (None when rank 0 had nothing to say); blocks until rank 0 speaks."""
        data = pickle.dumps(obj) if self.rank == 0 and obj is not None else b""
        return self.share_bytes(data, self.size_of(data))

    def size_of(self, data: bytes) -> int:
        """The length of rank 0's ``data``, on every rank (the others pass b"")."""
        return int(self._all_sum(self._mx.array([len(data)], dtype=self._mx.int32)).item())

    def share_bytes(self, data: bytes, size: int) -> Any:
        """Rank 0's pickled ``data`` on every rank, unpickled, when every rank already knows its ``size`` (0: None)."""
        mx = self._mx
        if size == 0:
            return None
        if self.rank == 0:
            buffer = mx.array(memoryview(data), dtype=mx.uint8)
        else:
            buffer = mx.zeros((size,), dtype=mx.uint8)
        summed = self._all_sum(buffer)
        mx.eval(summed)
        return pickle.loads(data if self.rank == 0 else bytes(memoryview(summed)))

    def gather_text(self, text: str) -> list[str]:
        """Every rank's ``text`` (cut to TEXT_BYTES), in rank order: how each rank says what went wrong."""
        mx = self._mx
        rows = [[0] * TEXT_BYTES for _ in range(self.size)]
        encoded = text.encode("utf-8")[:TEXT_BYTES]
        rows[self.rank][: len(encoded)] = list(encoded)
        summed = self._all_sum(mx.array(rows, dtype=mx.uint8))
        return [bytes(row).rstrip(b"\0").decode("utf-8", "replace") for row in summed.tolist()]

    def share_tokens(self, tokens: Any, header: int | None = None) -> Any:
        """Rank 0's tokens on every rank (lazy): every rank then decodes exactly what rank 0 sampled.

        With a ``header`` (rank 0's number, say the size of what it will share
        next), the one exchange carries it too: returns ``(tokens, header)``,
        the header a lazy scalar.
        """
        mx = self._mx
        if header is not None:
            tokens = mx.concatenate([tokens, mx.array([header], dtype=tokens.dtype)])
        mine = tokens if self.rank == 0 else mx.zeros_like(tokens)
        shared = self._all_sum(mine)
        if self.launch.backend == "ring":
            # When a peer dies, MLX's ring backend fails its pending all_sums; one read only later, inside the next
            # forward pass, crashed rank 0 (SIGSEGV in tolist) in 2 of 13 kills under load, where evaluated here it
            # raised a clear error in 25 of 25. The step waits for its tokens a little earlier instead.
            mx.eval(shared)
        return shared if header is None else (shared[:-1], shared[-1])

    def gather_value(self, local: float) -> list[float]:
        """Every rank's ``local`` value (say, the memory it holds), in rank order."""
        mx = self._mx
        row = [0.0] * self.size
        row[self.rank] = local
        return self._all_sum(mx.array(row, dtype=mx.float32)).tolist()


def describe(launch: Launch | None) -> str:
    """One line about the group for ``doctor``: backend, ranks and hosts."""
    if launch is None:
        return "not under mlx.launch (one process)"
    hosts = f", hosts {' / '.join(launch.hosts)}" if launch.hosts else ""
    return f"{launch.backend}, {launch.size} ranks, this is rank {launch.rank}{hosts}"


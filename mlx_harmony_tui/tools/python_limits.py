"""Limits on the python tool's whole process tree: its total memory and what its working folder holds.

Per-process rlimits (``python_worker.py``) cannot stop code that spreads over
many processes or many files. Here:

- ``MemoryCgroup``: on Linux, where this process may create a child of its own
  cgroup v2 group and that group passes the memory controller down (a
  delegated group, or the root one), the sandbox runs in one with
  ``memory.max`` (swap off, the whole group killed together): the kernel holds
  the total. ``cgroup_support()`` says whether that works here, and why not.
- ``TreeWatcher``: a thread of the app that, every ``WATCH_INTERVAL_S`` while a
  call runs, sums the memory of the sandbox's processes (when no cgroup holds
  it: on Linux their PSS of anonymous and shared pages, elsewhere their resident
  size) and the disk space and entries of its working folder (measured by
  ``python_folder``), and kills the whole tree when one goes over its limit.
  It sees what the kernel reports, at that pace: a fast writer or allocator
  overshoots by what it manages in one tick, and memory no process maps (a
  memfd only written to) is not counted.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from mlx_harmony_tui.tools.python_folder import FolderUsage, measure_folder

WATCH_INTERVAL_S = 0.1  # while a call runs
IDLE_INTERVAL_S = 0.5  # between calls (only background processes can run then)
MB = 1024 * 1024
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


@dataclass(frozen=True)
class CgroupSupport:
    """Where sandbox cgroups can be made (``parent``), or ``reason`` why none can."""

    parent: Path | None
    reason: str = ""


_support_lock = threading.Lock()
_support: list[CgroupSupport] = []
_names = itertools.count()


def cgroup_support() -> CgroupSupport:
    """Probe once per process whether a memory-limited cgroup v2 group can be made here."""
    with _support_lock:
        if not _support:
            _support.append(_probe_cgroup())
        return _support[0]


def _cgroup2_mount() -> Path | None:
    with open("/proc/self/mountinfo") as mounts:
        for line in mounts:
            fields = line.split()
            if fields[fields.index("-") + 1] == "cgroup2":
                return Path(fields[4])
    return None


def _probe_cgroup() -> CgroupSupport:
    if sys.platform != "linux":
        return CgroupSupport(None, f"cgroups exist only on Linux, not {sys.platform}")
    try:
        mount = _cgroup2_mount()
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError as error:
        return CgroupSupport(None, f"cannot read this process's cgroups: {error}")
    own = next((line[3:] for line in lines if line.startswith("0::")), None)
    if mount is None or own is None:
        return CgroupSupport(None, "cgroup v2 is not mounted")
    here = mount / own.lstrip("/")
    try:
        offered = (here / "cgroup.controllers").read_text().split()
    except OSError as error:
        return CgroupSupport(None, f"cannot read {here / 'cgroup.controllers'}: {error}")
    if "memory" not in offered:
        v1 = any(":memory:" in line for line in lines)
        return CgroupSupport(None, f"this process's cgroup v2 group {here} has no memory controller (it offers: "
                             f"{' '.join(offered) or 'none'})" + ("; memory is on the cgroup v1 hierarchy here"
                                                                   if v1 else ""))
    try:
        passed_down = "memory" in (here / "cgroup.subtree_control").read_text().split()
    except OSError as error:
        return CgroupSupport(None, f"cannot read {here / 'cgroup.subtree_control'}: {error}")
    if not passed_down:  # turning it on is the system's business (and fails in a group holding processes)
        return CgroupSupport(None, f"this process's cgroup v2 group {here} does not pass its memory controller to "
                             "groups below it (cgroup.subtree_control)")
    probe = here / f"mlx-harmony-probe-{os.getpid()}"
    try:
        probe.mkdir()
        try:
            (probe / "memory.max").write_text(str(64 * MB))
        finally:
            probe.rmdir()
    except OSError as error:
        return CgroupSupport(None, f"cannot make a memory-limited group under {here}: {error.strerror or error}")
    return CgroupSupport(here)


class MemoryCgroup:
    """A cgroup v2 group for one sandbox session holding its memory to ``limit_mb`` in total."""

    def __init__(self, parent: Path, limit_mb: int) -> None:
        self.path = parent / f"mlx-harmony-python-{os.getpid()}-{next(_names)}"
        self.limit_mb = limit_mb
        self.path.mkdir()
        try:
            (self.path / "memory.max").write_text(str(limit_mb * MB))
            if (self.path / "memory.swap.max").exists():
                (self.path / "memory.swap.max").write_text("0")
            (self.path / "memory.oom.group").write_text("1")  # one out-of-memory kill takes the whole tree
        except OSError:
            self.remove()
            raise

    def wrap(self, command: list[str]) -> list[str]:
        """``command`` started inside this group (the shell moves itself in, then becomes it)."""
        return ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', str(self.path / "cgroup.procs"), *command]

    def out_of_memory(self) -> bool:
        try:
            events = dict(line.split() for line in (self.path / "memory.events").read_text().splitlines())
        except OSError:
            return False
        return int(events.get("oom_kill", 0)) > 0 or int(events.get("oom_group_kill", 0)) > 0

    def remove(self) -> None:
        """Kill whatever is left in the group and remove it."""
        try:
            (self.path / "cgroup.kill").write_text("1")
        except OSError:
            pass
        for _ in range(100):
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.01)


Processes = dict[int, tuple[int, int, int | None]]  # pid -> (parent pid, process group, resident bytes if known)


def _linux_processes() -> Processes:
    """Every process's parent and group, from /proc (memory is read for the tree's only)."""
    found: Processes = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as stat:
                fields = stat.read().rpartition(b")")[2].split()
        except OSError:  # it ended meanwhile
            continue
        found[int(name)] = (int(fields[1]), int(fields[2]), None)
    return found


def group_running(pgid: int) -> bool:
    """Whether a process of group ``pgid`` still runs (a zombie has ended: its writes are done)."""
    if sys.platform != "linux":
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", "rb") as stat:
                    fields = stat.read().rpartition(b")")[2].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] not in (b"Z", b"X"):
                return True
    return False


def wait_for_group(pgid: int, timeout_s: float = 2.0) -> bool:
    """Wait until no process of group ``pgid`` runs (at most ``timeout_s``): a killed writer must not go on
    filling the folder while the next session measures it. True when the group has ended."""
    ends = time.monotonic() + timeout_s
    while group_running(pgid):
        if time.monotonic() > ends:
            return False
        time.sleep(0.01)
    return True


def _linux_memory(pid: int) -> int:
    """The process's share of anonymous and shared-memory pages (PSS: a page that forked
    processes share counts once in all); its resident size where that cannot be read."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as rollup:
            kib = sum(int(line.split()[1]) for line in rollup if line.startswith((b"Pss_Anon:", b"Pss_Shmem:")))
        return kib * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        with open(f"/proc/{pid}/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0


def _ps_processes() -> Processes:
    """The same from ``ps`` (macOS and other Unixes), with resident bytes (shared pages in each)."""
    listing = subprocess.run(["ps", "-A", "-o", "pid=,ppid=,pgid=,rss="], capture_output=True, text=True).stdout
    found: Processes = {}
    for line in listing.splitlines():
        parts = line.split()
        if len(parts) == 4 and all(p.isdigit() for p in parts):
            found[int(parts[0])] = (int(parts[1]), int(parts[2]), int(parts[3]) * 1024)
    return found


def process_tree(root: int, table: Processes) -> set[int]:
    """``root``, its descendants and its process group's members."""
    children: dict[int, list[int]] = {}
    for pid, (parent, _, _) in table.items():
        children.setdefault(parent, []).append(pid)
    tree = {pid for pid, (_, group, _) in table.items() if group == root}
    stack = [root] if root in table else []
    while stack:
        pid = stack.pop()
        tree.add(pid)
        stack.extend(c for c in children.get(pid, ()) if c not in tree)
    return tree


def tree_memory(root: int) -> tuple[set[int], int]:
    """The sandbox's processes below ``root`` and the memory they hold together, in bytes."""
    table = _linux_processes() if sys.platform == "linux" else _ps_processes()
    tree = process_tree(root, table)
    return tree, sum(table[pid][2] or _linux_memory(pid) for pid in tree)


class TreeWatcher:
    """Watch one sandbox session's processes and folder; call ``stop(reason)`` once when over a limit.

    ``memory_mb`` None leaves memory to a cgroup. The folder may hold
    ``disk_mb`` and ``max_files`` entries (files, folders, links: every name),
    or what it held when the session began if that was more; a folder already
    over that (a burst written faster than the watch) may shrink, but a call
    that grows it is stopped, or fails when it ends.

    The folder is measured in full when the session begins and once per call,
    when it ends: that one walk gives the call's verdict and the next call's
    baseline (between calls only background processes can change it, and the
    idle watch stops those when they grow it). The watch reads the folder
    only until it passes a ceiling (``measure_folder``'s ``stop_over``), outside
    the lock, and gives up a reading that a call's start or end overtook, so a
    big folder never holds a call up by more than the walk its end needs. The
    file-count quota keeps that walk short: a call costs one walk of at most
    ``max_files`` entries, not a walk of whatever a flood left.
    """

    def __init__(self, root: int, workdir: Path, memory_mb: int | None, disk_mb: int,
                 stop: Callable[[str], None], *, max_files: int) -> None:
        self.root = root
        self.workdir = workdir
        self.memory_mb = memory_mb
        self.disk_mb = disk_mb
        self.max_files = max_files
        self._stop = stop
        # what the folder held when the last call ended (or the session began); the watch thread reads it under the lock
        self._baseline = measure_folder(workdir)
        self._ceiling = (max(disk_mb * MB, self._baseline.bytes), max(max_files, self._baseline.entries))
        self._busy = threading.Event()  # a call runs: watch closely
        # A judgement and its stop happen under this lock, and a call's start and end move the baseline under it.
        # Between a call's end and ``call_ends`` measuring the folder afresh, the watch judges nothing: the call's own
        # growth is ``call_ends``'s to report, and what the folder held then is what background processes may not grow.
        # Memory and the folder are read outside the lock (reading a forking process's memory waits for the fork: under
        # a fork loop one reading took 36 s) and judged only if no call started or ended meanwhile (``_moves``, which
        # a call's start or end bumps before it takes the lock, so that a folder walk under way gives up).
        self._lock = threading.Lock()
        self._in_call = False
        self._baseline_at_end = True
        self._moves = 0
        self._wake = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="python-sandbox-limits", daemon=True)
        self._thread.start()

    def call_starts(self) -> None:
        self._moves += 1
        with self._lock:
            (bytes_ceiling, entries_ceiling), baseline = self._ceiling, self._baseline
            # each may shrink, never grow
            self._ceiling = (max(self.disk_mb * MB, min(baseline.bytes, bytes_ceiling)),
                             max(self.max_files, min(baseline.entries, entries_ceiling)))
            self._in_call, self._baseline_at_end = True, False
            self._busy.set()
        self._wake.set()

    def call_ends(self) -> str | None:
        """Stop watching closely; say why the call must fail if it grew the folder past its quota."""
        self._in_call = False  # before the lock: a check under way must not stop what has already replied
        self._busy.clear()
        self._moves += 1
        with self._lock:
            usage = measure_folder(self.workdir, self._baseline.records)
            reason = self._folder_over(usage)
            self._baseline = usage  # between calls, only background processes can grow it from here
            self._baseline_at_end = True
        return None if reason is None else f"{reason}; delete files there to make room"

    def close(self) -> None:
        self._done.set()
        self._wake.set()

    def _watch(self) -> None:
        while not self._done.is_set():
            self._wake.wait(WATCH_INTERVAL_S if self._busy.is_set() else IDLE_INTERVAL_S)
            self._wake.clear()
            if self._done.is_set():
                return
            began = time.monotonic()
            with self._lock:
                judging, moves = self._in_call or self._baseline_at_end, self._moves
                baseline, ceiling = self._baseline, self._ceiling
            if judging:
                memory = tree_memory(self.root) if self.memory_mb is not None else None
                over = (max(ceiling[0], baseline.bytes), max(ceiling[1], baseline.entries))
                usage = measure_folder(self.workdir, baseline.records, stop_over=over,
                                       going=lambda moves=moves: self._moves == moves and not self._done.is_set())
                with self._lock:
                    reason = self._over(memory, usage) if self._moves == moves else None
                    if reason is not None:
                        self._stop(reason)
                        return
            # a huge folder or process table must not eat the CPU: look at most 10% of the time
            self._done.wait(9 * (time.monotonic() - began))

    def _over(self, memory: tuple[set[int], int] | None, usage: FolderUsage) -> str | None:
        """Why to stop, from ``memory`` (tree_memory's reading, when memory is watched) and the folder's."""
        if memory is not None and self.memory_mb is not None:
            tree, used = memory
            if used > self.memory_mb * MB:
                for pid in tree:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except (ProcessLookupError, PermissionError):
                        pass
                return (f"the python processes ({len(tree)}) used {used // MB} MB of memory in total, over the "
                        f"python tool's limit of {self.memory_mb} MB of memory in total, and were stopped")
        reason = self._folder_over(usage)
        return None if reason is None else f"{reason}, and the python processes were stopped (delete files there to make room)"

    def _folder_over(self, usage: FolderUsage) -> str | None:
        """Why the folder is over its quota (past its ceiling and grown since the baseline), or None."""
        (bytes_ceiling, entries_ceiling), baseline = self._ceiling, self._baseline
        at_least = "" if usage.complete else "at least "  # a walk that stopped at its proof
        if usage.bytes > bytes_ceiling and usage.bytes > baseline.bytes:
            return (f"the working folder grew to {at_least}{usage.bytes // MB} MB, over the python tool's disk quota of "
                    f"{self.disk_mb} MB")
        if usage.entries > entries_ceiling and usage.entries > baseline.entries:
            return (f"the working folder grew to {at_least}{usage.entries:,} files and folders, over the python tool's "
                    f"limit of {self.max_files:,} files and folders")
        return None

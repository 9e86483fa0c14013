"""The python tool's whole-tree limits, piece by piece: which processes are the sandbox's, how much
memory they hold, when the watch stops them, and what this machine's cgroups allow."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from mlx_harmony_tui.tools.python_limits import (
    IDLE_INTERVAL_S,
    MB,
    TreeWatcher,
    _linux_processes,
    _ps_processes,
    cgroup_support,
    process_tree,
    tree_memory,
)
from mlx_harmony_tui.tools.python_sandbox import PythonSandbox


def test_the_sandbox_tree_is_the_same_from_proc_and_from_ps(tmp_path: Path) -> None:
    """``ps`` is how macOS finds the tree: on Linux it must agree with /proc."""
    with PythonSandbox(tmp_path / "w", timeout_s=10) as box:
        assert box.run("1").ok
        root = box._session.proc.pid
        from_proc = process_tree(root, _linux_processes())
        assert len(from_proc) >= 2  # unshare or the supervisor, and the kernel
        assert process_tree(root, _ps_processes()) == from_proc
        tree, used = tree_memory(root)
        assert tree == from_proc and 2 * MB < used < 200 * MB
        assert os.getpid() not in tree


@pytest.mark.parametrize("grown", ["bytes", "entries"])
def test_the_watch_leaves_a_finished_calls_growth_to_call_ends_and_stops_later_growth(tmp_path: Path, grown: str) -> None:
    stops: list[str] = []
    stopped = threading.Event()
    watcher = TreeWatcher(os.getpid(), tmp_path, None, 1, lambda reason: (stops.append(reason), stopped.set()), max_files=10)
    quota = "disk quota of 1 MB" if grown == "bytes" else "limit of 10 files and folders"

    def grow(name: str, count: int) -> None:
        if grown == "bytes":
            (tmp_path / f"{name}.bin").write_bytes(b"x" * (count * MB))
        else:
            (tmp_path / name).mkdir()
            for n in range(count * 10):
                (tmp_path / name / f"{n}.txt").touch()

    try:
        watcher.call_starts()
        grow("burst", 2)  # faster than the watch, or caught by it: either way
        reason = watcher.call_ends()
        if not stops:
            said = "grew to 2 MB" if grown == "bytes" else "grew to 21 files and folders"
            assert reason is not None and f"{said}, over the python tool's {quota}" in reason
            assert not stopped.wait(3 * IDLE_INTERVAL_S)  # the idle watch does not judge the call's growth again
            grow("background", 1)  # what a background process writes between calls
            assert stopped.wait(30)
        assert len(stops) == 1 and f"over the python tool's {quota}" in stops[0]
    finally:
        watcher.close()


def test_the_cgroup_probe_gives_a_place_or_a_reason() -> None:
    support = cgroup_support()
    if support.parent is None:
        assert support.reason  # e.g. "this process's cgroup v2 group ... has no memory controller"
    else:
        assert (support.parent / "cgroup.subtree_control").read_text().split().count("memory") == 1

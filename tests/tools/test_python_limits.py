"""The python tool's whole-tree limits, piece by piece: which processes are the sandbox's, how much
memory and disk they hold, and what this machine's cgroups allow."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from mlx_harmony_tui.tools.python_limits import (
    IDLE_INTERVAL_S,
    MB,
    TreeWatcher,
    _linux_processes,
    _ps_processes,
    cgroup_support,
    folder_bytes,
    folder_usage,
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


def test_folder_use_counts_allocated_blocks_and_each_hard_link_once(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "data.bin").write_bytes(b"x" * (3 * MB))
    os.link(tmp_path / "sub" / "data.bin", tmp_path / "again.bin")
    with open(tmp_path / "sparse.bin", "wb") as sparse:
        sparse.truncate(500 * MB)  # a hole takes no disk
    assert 3 * MB <= folder_bytes(tmp_path) < 4 * MB


def test_an_untouched_file_keeps_its_count_while_a_changed_one_is_read_again(tmp_path: Path) -> None:
    """Blocks are allocated after write() returns: an unchanged file must not seem to grow (or shrink) on its own."""
    (tmp_path / "burst.bin").write_bytes(b"x" * MB)
    with open(tmp_path / "holes.bin", "wb") as holes:
        holes.truncate(10 * MB)
    _, known = folder_usage(tmp_path)
    burst = next(k for k in known if k[1] == (tmp_path / "burst.bin").stat().st_ino)
    size, changed, _ = known[burst]
    as_if_unallocated = {**known, burst: (size, changed, 0)}  # what a stat in the middle of writeback may have said
    assert folder_usage(tmp_path, as_if_unallocated)[0] < MB // 2

    stat = (tmp_path / "holes.bin").stat()
    with open(tmp_path / "holes.bin", "r+b") as holes:  # fill a hole, then set the modification time back
        holes.write(b"y" * (3 * MB))
    os.utime(tmp_path / "holes.bin", ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert (tmp_path / "holes.bin").stat().st_size == stat.st_size
    assert folder_usage(tmp_path, as_if_unallocated)[0] >= 3 * MB  # the change time moved: counted afresh


def test_the_watch_leaves_a_finished_calls_growth_to_call_ends_and_stops_later_growth(tmp_path: Path) -> None:
    stops: list[str] = []
    stopped = threading.Event()
    watcher = TreeWatcher(os.getpid(), tmp_path, None, 1, lambda reason: (stops.append(reason), stopped.set()))
    try:
        watcher.call_starts()
        (tmp_path / "burst.bin").write_bytes(b"x" * (2 * MB))  # faster than the watch, or caught by it: either way
        reason = watcher.call_ends()
        if not stops:
            assert reason is not None and "grew to 2 MB, over the python tool's disk quota of 1 MB" in reason
            assert not stopped.wait(3 * IDLE_INTERVAL_S)  # the idle watch does not judge the call's growth again
            (tmp_path / "background.bin").write_bytes(b"y" * MB)  # what a background process writes between calls
            assert stopped.wait(30)
        assert len(stops) == 1 and "over the python tool's disk quota of 1 MB" in stops[0]
    finally:
        watcher.close()


def test_the_cgroup_probe_gives_a_place_or_a_reason() -> None:
    support = cgroup_support()
    if support.parent is None:
        assert support.reason  # e.g. "this process's cgroup v2 group ... has no memory controller"
    else:
        assert (support.parent / "cgroup.subtree_control").read_text().split().count("memory") == 1

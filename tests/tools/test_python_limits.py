"""The python tool's whole-tree limits, piece by piece: which processes are the sandbox's, how much
memory and disk they hold, and what this machine's cgroups allow."""

from __future__ import annotations

import os
from pathlib import Path

from mlx_harmony_tui.tools.python_limits import MB, _linux_processes, _ps_processes, cgroup_support, folder_bytes, process_tree, tree_memory
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


def test_the_cgroup_probe_gives_a_place_or_a_reason() -> None:
    support = cgroup_support()
    if support.parent is None:
        assert support.reason  # e.g. "this process's cgroup v2 group ... has no memory controller"
    else:
        assert (support.parent / "cgroup.subtree_control").read_text().split().count("memory") == 1

"""Measuring the python tool's working folder: its disk space and entries, however the code shaped it."""

from __future__ import annotations

import json
import os
import resource
from pathlib import Path

import pytest

from mlx_harmony_tui.tools.python_folder import MAX_OPEN_FOLDERS, folder_bytes, measure_folder

MB = 1024 * 1024


def make_chain(top: Path, name: str, depth: int, payload: bytes) -> None:
    """``depth`` nested folders called ``name`` below ``top``, ``payload`` in a file at the bottom; made through
    descriptors, as the sandboxed code makes them with chdir: their path is longer than any path call takes."""
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(depth):
            os.mkdir(name, dir_fd=fd)
            deeper = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = deeper
        out = os.open("payload.bin", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.write(out, payload)
        os.fsync(out)
        os.close(out)
    finally:
        os.close(fd)


def remove_chain(top: Path, name: str) -> None:
    """Remove a chain of folders called ``name`` below ``top`` and the files at its bottom, one descriptor at a
    time (shutil.rmtree, and so pytest's clean-up, recurses once per level and gives up thousands deep)."""
    fd, depth = os.open(top, os.O_RDONLY | os.O_DIRECTORY), 0
    while True:
        try:
            deeper = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        except FileNotFoundError:
            break
        os.close(fd)
        fd, depth = deeper, depth + 1
    for entry in os.listdir(fd):
        os.unlink(entry, dir_fd=fd)
    for _ in range(depth):
        parent = os.open("..", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = parent
        os.rmdir(name, dir_fd=fd)
    os.close(fd)


@pytest.mark.parametrize(("name", "depth"), [("n" * 250, 20), ("d", 2500)], ids=["long names", "many levels"])
def test_a_chain_deeper_than_path_max_is_counted_to_its_bottom(tmp_path: Path, name: str, depth: int) -> None:
    make_chain(tmp_path, name, depth, b"x" * (3 * MB))
    try:
        assert depth * (len(name) + 1) > os.pathconf(tmp_path, "PC_PATH_MAX")  # no path call reaches the bottom
        usage = measure_folder(tmp_path)
        assert usage.complete and usage.entries == depth + 1  # every folder and the file
        assert 3 * MB <= usage.bytes < 3 * MB + depth * 8192
    finally:
        remove_chain(tmp_path, name)
    assert list(tmp_path.iterdir()) == []


def test_a_deep_walk_holds_few_descriptors(tmp_path: Path) -> None:
    """Thousands of levels must not take a descriptor each: the app has other files open, and a limit."""
    make_chain(tmp_path, "d", 3000, b"y" * MB)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    open_now = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else len(os.listdir("/dev/fd"))
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (open_now + MAX_OPEN_FOLDERS + 16, hard))
        usage = measure_folder(tmp_path)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        remove_chain(tmp_path, "d")
    assert usage.complete and usage.entries == 3001 and usage.bytes >= MB


def test_every_name_is_an_entry_and_a_hard_linked_file_takes_its_space_once(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "data.bin").write_bytes(b"x" * (3 * MB))
    for n in range(50):
        os.link(tmp_path / "sub" / "data.bin", tmp_path / f"again-{n}.bin")
    (tmp_path / "link").symlink_to("sub/data.bin")
    (tmp_path / "system").symlink_to("/usr", target_is_directory=True)  # never followed
    with open(tmp_path / "sparse.bin", "wb") as sparse:
        sparse.truncate(500 * MB)  # a hole takes no disk
    usage = measure_folder(tmp_path)
    assert usage.entries == 1 + 1 + 50 + 2 + 1  # sub, data.bin, the hard links, the two links, sparse.bin
    assert 3 * MB <= usage.bytes < 4 * MB and folder_bytes(tmp_path) == usage.bytes


def test_an_untouched_file_keeps_its_count_while_a_changed_one_is_read_again(tmp_path: Path) -> None:
    """Blocks are allocated after write() returns: an unchanged file must not seem to grow (or shrink) on its own."""
    (tmp_path / "burst.bin").write_bytes(b"x" * MB)
    with open(tmp_path / "holes.bin", "wb") as holes:
        holes.truncate(10 * MB)
    known = measure_folder(tmp_path).records
    burst = next(k for k in known if k[1] == (tmp_path / "burst.bin").stat().st_ino)
    size, changed, _ = known[burst]
    as_if_unallocated = {**known, burst: (size, changed, 0)}  # what a stat in the middle of writeback may have said
    assert measure_folder(tmp_path, as_if_unallocated).bytes < MB // 2

    stat = (tmp_path / "holes.bin").stat()
    with open(tmp_path / "holes.bin", "r+b") as holes:  # fill a hole, then set the modification time back
        holes.write(b"y" * (3 * MB))
    os.utime(tmp_path / "holes.bin", ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert (tmp_path / "holes.bin").stat().st_size == stat.st_size
    assert measure_folder(tmp_path, as_if_unallocated).bytes >= 3 * MB  # the change time moved: counted afresh


def test_a_walk_for_a_breach_stops_at_its_proof(tmp_path: Path) -> None:
    for folder in range(10):
        (tmp_path / f"f{folder}").mkdir()
        for n in range(500):
            (tmp_path / f"f{folder}" / f"{n}.txt").touch()
    assert measure_folder(tmp_path).entries == 5010
    over = measure_folder(tmp_path, stop_over=(10**12, 700))
    assert not over.complete and over.entries == 701
    asked = []
    told = measure_folder(tmp_path, going=lambda: asked.append(1) or len(asked) < 3)
    assert not told.complete and told.entries < 5010


def measured_as_owner(top: Path) -> list:
    """measure_folder(top) with the rights of the folder's owner: as root (who reads anything), in a child
    process that became the unprivileged user 65534, owner of the folder."""
    if os.geteuid() != 0:
        usage = measure_folder(top)
        return [usage.bytes, usage.entries, usage.complete]
    for path in [top, *top.rglob("*")]:
        os.chown(path, 65534, 65534, follow_symlinks=False)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            os.close(read)
            os.chdir(top)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            usage = measure_folder(Path("."))
            os.write(write, json.dumps([usage.bytes, usage.entries, usage.complete]).encode())
            status = 0
        finally:
            os._exit(status)
    os.close(write)
    with os.fdopen(read) as answer:
        said = answer.read()
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
    return json.loads(said)


def test_a_folder_its_owner_locked_is_opened_and_counted(tmp_path: Path) -> None:
    """The code may chmod its own folders to 000 (or take away their search right): what they hold still counts."""
    for locked in ("no-rights", "no-search"):
        (tmp_path / locked / "inner").mkdir(parents=True)
        (tmp_path / locked / "inner" / "data.bin").write_bytes(b"z" * (2 * MB))
    (tmp_path / "no-rights").chmod(0o000)
    (tmp_path / "no-search").chmod(0o600)
    used, entries, complete = measured_as_owner(tmp_path)
    assert complete and entries == 6 and used >= 4 * MB
    assert (tmp_path / "no-rights").stat().st_mode & 0o500 == 0o500  # the owner's read and search rights are back

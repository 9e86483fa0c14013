"""What the python tool's working folder holds: its disk space and its number of entries.

``measure_folder`` walks the folder with descriptor-relative calls only
(``openat``, ``fstatat`` and ``os.scandir`` on a folder's descriptor): no path
longer than one name is ever built, so a chain of folders deeper than PATH_MAX
is measured like any other (a walk by path fails there with ENAMETOOLONG and
misses everything below). At most ``MAX_OPEN_FOLDERS`` descriptors are held
whatever the depth: past that, a finished folder's parent is opened again
through its ``..`` and checked to be the folder it left (device and inode); one
moved meanwhile is found again from the top by its names. Symbolic links are
never followed, and a folder the app's user cannot read or search (the code
may ``chmod 000`` its own folders) is given back its owner's read and search
rights, so that nothing below it goes uncounted.

The cost of a walk is one ``fstatat`` per entry. It does not grow call by call:
the file-count quota keeps the folder itself small (a flood of empty files,
links or folders is stopped there, where the byte quota would never see it);
a walk made only to catch a breach (``stop_over``) stops reading as soon as it
has proof of one, so it costs at most the quota; and the sandbox measures the
whole folder only when a session starts and when a call ends (see
``TreeWatcher``).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

FileRecord = tuple[int, int, int]  # size, inode change time in ns, bytes counted
Records = dict[tuple[int, int], FileRecord]  # (device, inode) -> record

MAX_OPEN_FOLDERS = 32  # folder descriptors one walk holds at most, however deep the folder goes
_FOLDER = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_CHECK_EVERY = 1024  # entries between two calls of ``going``
_OWNER_IN = stat.S_IRUSR | stat.S_IXUSR  # what the walk needs of a folder: list it, stat its entries


@dataclass(frozen=True)
class FolderUsage:
    """What a folder held: ``bytes`` of allocated blocks (each inode once), ``entries`` below it.

    Every name counts as one entry: files, folders, links, each hard link of a
    file. ``complete`` is False when the walk stopped early (a ceiling passed,
    ``going`` said stop, a folder moved while it was read): the counts are
    then what it had seen, at most what the folder holds.
    """

    bytes: int = 0
    entries: int = 0
    records: Records = field(default_factory=dict)
    complete: bool = True


@dataclass
class _Level:
    """One folder of the walk's current branch: its name in its parent, identity, descriptor (-1: closed)
    and the subfolders still to visit (name, identity)."""

    name: str
    ident: tuple[int, int]
    fd: int
    pending: list[tuple[str, tuple[int, int]]] = field(default_factory=list)


def _ident(info: os.stat_result) -> tuple[int, int]:
    return info.st_dev, info.st_ino


def _open_folder(name: str, parent: int | None) -> int:
    """A descriptor of the folder ``name`` (in ``parent``, or a path when None), never through a link;
    a folder its owner may not read gets its owner's read and search rights back first."""
    try:
        return os.open(name, _FOLDER, dir_fd=parent)
    except PermissionError:
        pass
    if hasattr(os, "O_PATH"):  # Linux: chmod the folder through a descriptor of its own
        fd = os.open(name, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
        try:
            os.chmod(f"/proc/self/fd/{fd}", stat.S_IMODE(os.fstat(fd).st_mode) | _OWNER_IN)
        finally:
            os.close(fd)
    else:  # macOS: lchmod
        mode = os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode
        if stat.S_ISDIR(mode):
            os.chmod(name, stat.S_IMODE(mode) | _OWNER_IN, dir_fd=parent, follow_symlinks=False)
    return os.open(name, _FOLDER, dir_fd=parent)


class _Walk:
    """One measurement; ``run`` fills ``bytes``, ``entries`` and ``records``."""

    def __init__(self, known: Records, stop_over: tuple[int, int] | None, going: Callable[[], bool] | None) -> None:
        self.known = known
        self.stop_bytes, self.stop_entries = stop_over if stop_over is not None else (None, None)
        self.going = going
        self.bytes = 0
        self.entries = 0
        self.records: Records = {}
        self.complete = True
        self.levels: list[_Level] = []
        self.open_from = 1  # levels[open_from:] hold open descriptors (and levels[0], the top, always does)

    def run(self, top: int) -> None:
        self.levels.append(_Level("", _ident(os.fstat(top)), top))
        if not self._read(self.levels[0]):
            return
        while self.levels:
            level = self.levels[-1]
            if level.fd < 0 and not self._reopen_from_top():
                self.levels.pop()  # it moved while the walk was below it: what is left of it is not reached
                self.complete = False
                continue
            if not level.pending:
                self._leave()
                continue
            name, ident = level.pending.pop()
            try:
                fd = _open_folder(name, level.fd)
            except OSError:  # removed, or replaced by something else, since it was listed
                continue
            if _ident(os.fstat(fd)) != ident:  # replaced by another folder: that one is counted where it was listed
                os.close(fd)
                continue
            self.levels.append(_Level(name, ident, fd))
            self._hold_few()
            if not self._read(self.levels[-1]):
                return

    def close(self) -> None:
        for level in self.levels:
            if level.fd >= 0:
                os.close(level.fd)
                level.fd = -1

    def _read(self, level: _Level) -> bool:
        """Count the entries of one folder and note its subfolders; False when the walk must stop."""
        try:
            with os.scandir(level.fd) as entries:
                for entry in entries:
                    self.entries += 1
                    info = self._stat(entry, level)
                    if info is not None:
                        self._count(info, entry.name, level)
                    if self._must_stop() or (self.entries % _CHECK_EVERY == 0 and self._told_to_stop()):
                        return False
        except OSError:  # removed meanwhile, an I/O error, a folder not the app's: the rest of it is not seen
            self.complete = False
        return not self._told_to_stop()

    def _count(self, info: os.stat_result, name: str, level: _Level) -> None:
        key = _ident(info)
        if key in self.records:  # a hard link's blocks count once
            return
        counted = info.st_blocks * 512
        before = self.known.get(key)
        if before is not None and before[:2] == (info.st_size, info.st_ctime_ns):
            counted = before[2]
        self.records[key] = (info.st_size, info.st_ctime_ns, counted)
        self.bytes += counted
        if stat.S_ISDIR(info.st_mode):
            level.pending.append((name, key))

    @staticmethod
    def _stat(entry: os.DirEntry, level: _Level) -> os.stat_result | None:
        """The entry's own status (fstatat on its folder's descriptor); a folder without its owner's
        search right gets it back."""
        try:
            return entry.stat(follow_symlinks=False)
        except FileNotFoundError:  # removed since it was listed
            return None
        except PermissionError:
            os.fchmod(level.fd, stat.S_IMODE(os.fstat(level.fd).st_mode) | _OWNER_IN)
        try:
            return os.stat(entry.name, dir_fd=level.fd, follow_symlinks=False)
        except FileNotFoundError:
            return None

    def _must_stop(self) -> bool:
        """Over a ceiling: the walk has its proof and need not read on."""
        over = (self.stop_bytes is not None and self.bytes > self.stop_bytes) or (
            self.stop_entries is not None and self.entries > self.stop_entries)
        self.complete = self.complete and not over
        return over

    def _told_to_stop(self) -> bool:
        stop = self.going is not None and not self.going()
        self.complete = self.complete and not stop
        return stop

    def _hold_few(self) -> None:
        """Close the shallowest open descriptor but the top's once more than MAX_OPEN_FOLDERS are held."""
        if len(self.levels) - self.open_from + 1 > MAX_OPEN_FOLDERS:
            level = self.levels[self.open_from]
            os.close(level.fd)
            level.fd = -1
            self.open_from += 1

    def _leave(self) -> None:
        """Done with the deepest folder: close it, opening its parent again through ``..`` if that was closed."""
        done = self.levels.pop()
        if self.levels and self.levels[-1].fd < 0:
            parent = self.levels[-1]
            try:
                fd = os.open("..", _FOLDER, dir_fd=done.fd)
                if _ident(os.fstat(fd)) == parent.ident:
                    parent.fd = fd
                    self.open_from = len(self.levels) - 1
                else:  # the folder was moved elsewhere while it was read
                    os.close(fd)
            except OSError:
                pass
        os.close(done.fd)

    def _reopen_from_top(self) -> bool:
        """Open the deepest level again by its names from the top; False if that path no longer leads to it."""
        fd = self.levels[0].fd
        for level in self.levels[1:]:
            try:
                deeper = os.open(level.name, _FOLDER, dir_fd=fd)
            except OSError:
                deeper = -1
            if fd != self.levels[0].fd:
                os.close(fd)
            if deeper < 0:
                return False
            if _ident(os.fstat(deeper)) != level.ident:
                os.close(deeper)
                return False
            fd = deeper
        self.levels[-1].fd = fd
        self.open_from = len(self.levels) - 1
        return True


def measure_folder(folder: Path, known: Records | None = None, *, stop_over: tuple[int, int] | None = None,
                   going: Callable[[], bool] | None = None) -> FolderUsage:
    """What ``folder`` holds: its disk space (allocated blocks) and its entries, each counted once.

    A file of ``known`` (an earlier measurement's records) with the same size
    and inode change time counts what it counted then (the change time, unlike
    the modification time, cannot be set back by the code): filesystems
    allocate a file's blocks after ``write`` returns (ext4's delayed
    allocation, XFS's preallocation), so an untouched file's block count can
    move on its own for a while after a burst. ``stop_over`` (bytes, entries)
    stops the walk as soon as either is passed, and ``going`` is asked every
    1024 entries and after every folder whether to go on; either makes the
    result incomplete.
    """
    walk = _Walk(known or {}, stop_over, going)
    try:
        top = _open_folder(str(folder), None)
    except OSError:  # no folder: nothing in it
        return FolderUsage()
    try:
        walk.run(top)
    finally:
        walk.close()
    return FolderUsage(walk.bytes, walk.entries, walk.records, walk.complete)


def folder_bytes(folder: Path) -> int:
    """Disk space the files below ``folder`` take (allocated blocks; each hard-linked file once)."""
    return measure_folder(folder).bytes

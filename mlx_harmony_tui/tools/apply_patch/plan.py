"""Checking a whole patch against the workspace, then writing it: all of it, atomically, or none of it."""

from __future__ import annotations

import os
import re
import secrets
import stat
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from .hunks import apply_hunks
from .patch_format import ADD, CONTROL, DRIVE, MAX_FILE_BYTES, UPDATE, AddFile, DeleteFile, FileChange, PatchError, UpdateFile, parse_patch

# ---------------------------------------------------------------- paths and the plan


def _resolve(root: Path, path: str) -> tuple[str, Path]:
    """The path as shown to the model (normalised) and its real location inside ``root``."""
    refused = f"refused path {path!r}:"
    if "\x00" in path:
        raise PatchError(f"{refused} it contains a NUL byte")
    if CONTROL.search(path):
        raise PatchError(f"{refused} it contains a control character")
    if path.startswith(("/", "\\")) or DRIVE.match(path):
        raise PatchError(f"{refused} absolute paths are not allowed; use a path relative to the workspace root")
    parts = re.split(r"[\\/]", path)
    if ".." in parts:
        raise PatchError(f"{refused} '..' is not allowed; use a path relative to the workspace root")
    if path.startswith("~"):
        raise PatchError(f"{refused} '~' paths are not allowed; use a path relative to the workspace root")
    if "\\" in path:
        raise PatchError(f"{refused} use '/' between folders")
    shown = "/".join(part for part in parts if part not in ("", "."))
    if not shown:
        raise PatchError(f"{refused} it names the workspace itself, not a file")
    real = Path(os.path.realpath(root / shown))
    if real == root:
        raise PatchError(f"{refused} it leads to the workspace folder itself, not a file")
    if not real.is_relative_to(root):
        raise PatchError(f"{refused} it leads outside the workspace through a symbolic link")
    return shown, real


def _place(root: Path, shown: str) -> Path:
    """Where the name ``shown`` itself is: its folders resolved, its last part not, so a link stays a link."""
    folder, _, name = shown.rpartition("/")
    place = Path(os.path.realpath(root / folder)) / name
    if not place.parent.is_relative_to(root):
        raise PatchError(f"refused path {shown!r}: it leads outside the workspace through a symbolic link")
    return place


@dataclass
class Plan:
    """Every file's text before and after the patch, computed without touching the disk.

    Files are keyed by their real path: an update through a symbolic link edits
    the file it leads to. Deleting or moving a link acts on the link alone
    (``links``: where each link this patch removes or makes is, and its text
    before and after), never on the file it leads to.
    """

    root: Path
    before: dict[Path, str | None] = field(default_factory=dict)
    after: dict[Path, str | None] = field(default_factory=dict)
    modes: dict[Path, int] = field(default_factory=dict)
    links: dict[Path, tuple[str | None, str | None]] = field(default_factory=dict)
    changes: list[FileChange] = field(default_factory=list)

    def text(self, real: Path, shown: str) -> str | None:
        if real not in self.after:
            self.before[real] = self.after[real] = self._read(real, shown)
        return self.after[real]

    def _read(self, real: Path, shown: str) -> str | None:
        try:
            info = os.stat(real)
            if stat.S_ISDIR(info.st_mode):
                raise PatchError(f"{shown} is a folder, not a file")
            if not stat.S_ISREG(info.st_mode):
                raise PatchError(f"{shown} is not a regular file")
            if info.st_size > MAX_FILE_BYTES:
                raise PatchError(f"{shown} is larger than {MAX_FILE_BYTES // 2**20} MiB; apply_patch edits text files")
            data = real.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as error:
            raise PatchError(f"cannot read {shown}: {error.strerror}") from error
        self.modes[real] = info.st_mode
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as error:
            raise PatchError(f"{shown} is not UTF-8 text; apply_patch edits text files only") from error

    def check_parents(self, real: Path, shown: str) -> None:
        """A new file's folders must be folders (or not exist yet), on disk and in this patch."""
        for parent in real.parents:
            if parent == self.root:
                return
            if parent in self.after:
                is_file = self.after[parent] is not None
            else:
                is_file = parent.exists() and not parent.is_dir()
            if is_file:
                folder = parent.relative_to(self.root).as_posix()
                raise PatchError(f"cannot create {shown}: {folder} is a file, not a folder")

    def link(self, shown: str) -> tuple[Path, str] | None:
        """The symbolic link the name ``shown`` itself is (its place and text), or None for anything else."""
        place = _place(self.root, shown)
        if place in self.links:
            raise PatchError(f"cannot change {shown}: this patch already deletes or moves the symbolic link there; "
                             "change that path in a separate patch")
        try:
            return place, os.readlink(place)
        except OSError:  # not a link, or nothing there
            return None

    def move_link(self, link: tuple[Path, str], real: Path, shown: str, new_shown: str) -> None:
        """Move the link (not the file it leads to) to ``new_shown``; a relative link is rewritten to lead to the
        same file from its new folder."""
        place, text = link
        new_place = _place(self.root, new_shown)
        if new_place == place:
            return
        if new_place in self.links or os.path.lexists(new_place) or self.after.get(new_place) is not None:
            raise PatchError(f"cannot move {shown} to {new_shown}: {new_shown} already exists")
        self.check_parents(new_place, new_shown)
        new_text = text if os.path.isabs(text) else os.path.relpath(real, new_place.parent)
        self.links[place] = (text, None)
        self.links[new_place] = (None, new_text)

    def add(self, op: AddFile) -> None:
        shown, real = _resolve(self.root, op.path)
        if _place(self.root, shown) in self.links:
            raise PatchError(f"cannot add {shown}: this patch already deletes or moves the symbolic link there; "
                             "add it in a separate patch")
        self.check_parents(real, shown)
        if self.text(real, shown) is not None:
            raise PatchError(f"cannot add {shown}: it already exists; use '{UPDATE} {shown}' to change it")
        text = "".join(line + "\n" for line in op.lines)
        self.after[real] = text
        self.changes.append(FileChange("add", shown, None, text))

    def delete(self, op: DeleteFile) -> None:
        shown, real = _resolve(self.root, op.path)
        link = self.link(shown)
        if link is not None:  # the link goes, the file it leads to stays
            place, text = link
            self.links[place] = (text, None)
            self.changes.append(FileChange("delete", shown, text, None))  # a link's text, as git shows one
            return
        text = self.text(real, shown)
        if text is None:
            raise PatchError(f"cannot delete {shown}: no such file")
        self.after[real] = None
        self.changes.append(FileChange("delete", shown, text, None))

    def update(self, op: UpdateFile) -> None:
        shown, real = _resolve(self.root, op.path)
        link = self.link(shown)
        text = self.text(real, shown)
        if text is None:
            raise PatchError(f"cannot update {shown}: no such file; use '{ADD} {shown}' to create it")
        new_text = apply_hunks(shown, text, op.hunks)
        new_shown = None
        if op.move_to is not None:
            new_shown, new_real = _resolve(self.root, op.move_to)
            if link is not None:  # the link moves; the file it leads to stays (its text changes if hunks say so)
                self.move_link(link, real, shown, new_shown)
            elif new_real != real:
                self.check_parents(new_real, new_shown)
                if self.text(new_real, new_shown) is not None:
                    raise PatchError(f"cannot move {shown} to {new_shown}: {new_shown} already exists")
                self.after[real] = None
                real = new_real
        self.after[real] = new_text
        self.changes.append(FileChange("update", shown, text, new_text, new_shown))

    def writes(self) -> list[tuple[Path, str | None, str | None]]:
        return [(real, self.before[real], after) for real, after in self.after.items() if after != self.before[real]]

    def link_writes(self) -> list[tuple[Path, str | None, str | None]]:
        return [(place, before, after) for place, (before, after) in self.links.items() if after != before]


def plan_patch(text: str, workspace: Path) -> Plan:
    patch = parse_patch(text)
    root = Path(os.path.realpath(workspace))
    if not root.is_dir():
        raise PatchError(f"the workspace {workspace} is not an existing folder")
    plan = Plan(root)
    for op in patch.ops:
        if isinstance(op, AddFile):
            plan.add(op)
        elif isinstance(op, DeleteFile):
            plan.delete(op)
        else:
            plan.update(op)
    return plan


# ---------------------------------------------------------------- writing


def _write_atomic(real: Path, text: str, mode: int | None) -> None:
    temporary = real.with_name(f".{real.name}.{secrets.token_hex(4)}.tmp")
    # 0o666 as for any new file: the umask applies
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(text.encode("utf-8"))
            out.flush()
            os.fsync(out.fileno())
        if mode is not None:
            os.chmod(temporary, stat.S_IMODE(mode))
        os.replace(temporary, real)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    with suppress(OSError):  # the rename itself on disk too (a platform that cannot open folders skips it)
        folder = os.open(real.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


def _make_folders(real: Path, made: list[Path]) -> None:
    for folder in reversed([parent for parent in real.parents if not parent.exists()]):
        os.mkdir(folder)
        made.append(folder)


def commit(plan: Plan) -> None:
    """Write the plan: links removed first, then files, then links made; a failure undoes what was done."""
    undo: list[tuple[Path, Callable[[], None]]] = []
    made: list[Path] = []
    real = plan.root
    try:
        for real, before, _ in plan.link_writes():
            if before is not None:
                os.unlink(real)  # the link itself, never what it leads to
                undo.append((real, partial(os.symlink, before, real)))
        for real, before, after in plan.writes():
            if after is None:
                os.unlink(real)
            else:
                _make_folders(real, made)
                _write_atomic(real, after, plan.modes.get(real))
            undo.append((real, partial(os.unlink, real) if before is None
                         else partial(_write_atomic, real, before, plan.modes.get(real))))
        for real, _, after in plan.link_writes():
            if after is not None:
                _make_folders(real, made)
                os.symlink(after, real)
                undo.append((real, partial(os.unlink, real)))
    except OSError as error:
        where = real.relative_to(plan.root).as_posix()
        failed = _rollback(plan, undo, made)
        if failed:
            raise PatchError(
                f"could not write {where}: {error.strerror}; restoring the earlier files also failed for "
                + ", ".join(failed),
                files_changed=True,
            ) from error
        raise PatchError(f"could not write {where}: {error.strerror}") from error


def _rollback(plan: Plan, undo: list[tuple[Path, Callable[[], None]]], made: list[Path]) -> list[str]:
    failed = []
    for real, step in reversed(undo):
        try:
            step()
        except OSError:
            failed.append(real.relative_to(plan.root).as_posix())
    for folder in reversed(made):
        with suppress(OSError):
            os.rmdir(folder)
    return failed

"""The ``apply_patch`` tool: GPT-OSS edits files with V4A patches inside one workspace.

A patch is parsed and every file's new text computed in memory first; only when
every operation is valid is anything written, each file atomically (a temporary
file, then ``os.replace``), and a write that fails part-way rolls back the files
already written. Paths that are absolute, contain ``..`` or lead outside the
workspace through a symbolic link are refused.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import secrets
import stat
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from mlx_harmony_tui.errors import UserError
from mlx_harmony_tui.tools.output import ToolOutput

NAME = "apply_patch"

DESCRIPTION = """\
Create, change, rename or delete text files in the workspace with a patch.
Send the whole patch as `input`:

*** Begin Patch
*** Update File: src/app.py
@@ def greet(name):
     \"\"\"Say hello.\"\"\"
-    print("Hi")
+    print(f"Hello, {name}!")
     return None
*** Add File: docs/notes.md
+# Notes
+First line of the new file.
*** Delete File: old/unused.py
*** End Patch

Rules:
- Paths are relative to the workspace root, with / between folders; never absolute, never `..`.
- `*** Add File: PATH` creates a file that does not exist yet; every line of it starts with `+`.
- `*** Delete File: PATH` removes a file; nothing follows it.
- `*** Update File: PATH` changes a file, optionally renaming it with a next line `*** Move to: NEWPATH`.
  Then come hunks, in file order. A hunk starts with `@@`, optionally followed by a line of the file
  before the change (such as `@@ class Cart` or `@@ def total(self):`) to say where it is.
  Each hunk line starts with one character: a space for an unchanged line, `-` for a line to remove,
  `+` for a line to add. Copy about 3 unchanged lines before and after each change exactly from the file.
- Add `*** End of File` after a hunk whose last lines are the end of the file.
The patch is applied completely or not at all. If a hunk does not match, the error names the file,
the hunk and the lines not found: read the file again and send a corrected patch."""

PARAMETERS: dict = {
    "type": "object",
    "properties": {
        "input": {
            "type": "string",
            "description": "The whole patch, from the line *** Begin Patch to the line *** End Patch.",
        }
    },
    "required": ["input"],
}

MAX_FILE_BYTES = 8 * 1024 * 1024  # larger files are not source code a model should patch

_BEGIN = "*** Begin Patch"
_END = "*** End Patch"
_ADD = "*** Add File:"
_DELETE = "*** Delete File:"
_UPDATE = "*** Update File:"
_MOVE = "*** Move to:"
_END_OF_FILE = "*** End of File"
_UNIFIED_RANGES = re.compile(r"@@ -\d+(?:,\d+)? \+\d+(?:,\d+)? @@")
_DRIVE = re.compile(r"[A-Za-z]:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Typographic look-alikes that models substitute for the ASCII characters in a file.
_LOOKALIKES = str.maketrans(
    {
        **dict.fromkeys("\u2018\u2019\u201a\u201b", "'"),
        **dict.fromkeys("\u201c\u201d\u201e\u201f", '"'),
        **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212", "-"),
        **dict.fromkeys("\u00a0\u2002\u2003\u2009\u202f\u3000", " "),
    }
)


class PatchError(UserError):
    """A patch that cannot be applied; the message says what to fix and names the file.

    ``files_changed`` is True only when a failed write could not be rolled back.
    """

    def __init__(self, message: str, *, files_changed: bool = False) -> None:
        super().__init__(message)
        self.files_changed = files_changed


@dataclass(frozen=True)
class HunkLine:
    """One line of a hunk: ``op`` is ' ' (context), '-' (remove) or '+' (add)."""

    op: Literal[" ", "-", "+"]
    text: str


@dataclass(frozen=True)
class Hunk:
    """A change located by its context lines, after the ``@@`` anchor lines if any."""

    anchors: tuple[str, ...]
    lines: tuple[HunkLine, ...]
    end_of_file: bool = False


@dataclass(frozen=True)
class AddFile:
    path: str
    lines: tuple[str, ...]


@dataclass(frozen=True)
class DeleteFile:
    path: str


@dataclass(frozen=True)
class UpdateFile:
    path: str
    hunks: tuple[Hunk, ...]
    move_to: str | None = None


FileOp = AddFile | DeleteFile | UpdateFile


@dataclass(frozen=True)
class Patch:
    ops: tuple[FileOp, ...]


@dataclass(frozen=True)
class FileChange:
    """What one operation did: ``path`` relative to the workspace, ``new_path`` for a move.

    ``before`` is None for an added file, ``after`` is None for a deleted one.
    """

    kind: Literal["add", "update", "delete"]
    path: str
    before: str | None
    after: str | None
    new_path: str | None = None


# ---------------------------------------------------------------- parsing


def unwrap(text: str) -> str:
    """The patch inside a call's arguments: a JSON object's "input" or "patch" string, a JSON string, or the text."""
    stripped = text.strip()
    if not stripped.startswith(("{", '"')):
        return text
    try:
        value = json.loads(stripped, strict=False)  # strict=False: models put raw newlines in JSON strings
    except json.JSONDecodeError:
        return text
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        for key in ("input", "patch"):
            if isinstance(value.get(key), str):
                return value[key]
        raise PatchError('the arguments are a JSON object without an "input" string holding the patch')
    return text


def parse_patch(text: str) -> Patch:
    """Parse V4A patch text, bare, fenced or wrapped in JSON, into a :class:`Patch`.

    Raises :class:`PatchError` naming the patch line at fault. Text outside the
    ``*** Begin Patch`` / ``*** End Patch`` envelope (a Markdown fence, a shell
    heredoc) is ignored.
    """
    lines = [line.removesuffix("\r") for line in unwrap(text).split("\n")]
    begin = next((i for i, line in enumerate(lines) if line.strip() == _BEGIN), None)
    if begin is None:
        raise PatchError(f"the patch must start with a line '{_BEGIN}'")
    end = next((i for i in range(begin + 1, len(lines)) if lines[i].rstrip() == _END), None)
    if end is None:
        raise PatchError(f"the patch has no line '{_END}': send the whole patch, ending with that line")
    if any(line.strip() == _BEGIN for line in lines[end + 1 :]):
        raise PatchError(f"send one patch per call: found a second '{_BEGIN}' after '{_END}'")
    body = [(number, lines[number - 1]) for number in range(begin + 2, end + 1)]
    ops: list[FileOp] = []
    i = 0
    while i < len(body):
        number, line = body[i]
        header = line.rstrip()
        if not header:
            i += 1
        elif header.startswith(_ADD):
            i, op = _parse_add(body, i + 1, _header_path(header, _ADD, number))
            ops.append(op)
        elif header.startswith(_DELETE):
            ops.append(DeleteFile(_header_path(header, _DELETE, number)))
            i += 1
        elif header.startswith(_UPDATE):
            i, op = _parse_update(body, i + 1, _header_path(header, _UPDATE, number))
            ops.append(op)
        else:
            raise PatchError(
                f"patch line {number}: expected '{_ADD}', '{_UPDATE}' or '{_DELETE}', got {line!r}"
            )
    if not ops:
        raise PatchError("the patch contains no file operations")
    return Patch(tuple(ops))


def _header_path(header: str, marker: str, number: int) -> str:
    path = header[len(marker) :].strip()
    if not path:
        raise PatchError(f"patch line {number}: '{marker}' needs a path after it")
    return path


def _parse_add(body: list[tuple[int, str]], i: int, path: str) -> tuple[int, AddFile]:
    content: list[str] = []
    layout = 0  # unprefixed blank lines seen last: content only if a '+' line follows
    while i < len(body) and not body[i][1].startswith("*** "):
        number, line = body[i]
        if line.startswith("+"):
            content += [""] * layout + [line[1:]]
            layout = 0
        elif not line.strip():
            layout += 1
        else:
            raise PatchError(
                f"patch line {number}: in '{_ADD} {path}' every line of the new file starts with '+', got {line!r}"
            )
        i += 1
    if i < len(body) and body[i][1].rstrip() == _END_OF_FILE:
        i += 1  # meaningless after a new file's lines, but models write it
    return i, AddFile(path, tuple(content))


def _parse_update(body: list[tuple[int, str]], i: int, path: str) -> tuple[int, UpdateFile]:
    move_to = None
    if i < len(body) and body[i][1].startswith(_MOVE):
        move_to = _header_path(body[i][1].rstrip(), _MOVE, body[i][0])
        i += 1
    hunks: list[Hunk] = []
    anchors: list[str] = []
    lines: list[HunkLine] = []
    opened = False  # an '@@' line started a hunk that has no lines yet
    layout = 0  # unprefixed blank lines seen last: empty context lines only if the hunk goes on

    def close(end_of_file: bool, number: int) -> None:
        nonlocal anchors, lines, opened, layout
        layout = 0
        if not lines:
            raise PatchError(f"patch line {number}: hunk {len(hunks) + 1} of {path} has no lines")
        hunks.append(Hunk(tuple(anchors), tuple(lines), end_of_file))
        anchors, lines, opened = [], [], False

    while i < len(body):
        number, line = body[i]
        if line.startswith("@@"):
            if lines:
                close(False, number)
            anchor = _anchor(line)
            if anchor:
                anchors.append(anchor)
            opened = True
        elif line.rstrip() == _END_OF_FILE:
            close(True, number)
        elif line.startswith("*** "):
            break
        elif line[:1] in (" ", "-", "+"):
            lines.extend([HunkLine(" ", "")] * layout + [HunkLine(line[0], line[1:])])
            layout = 0
        elif not line.strip():
            layout += 1
        else:
            raise PatchError(
                f"patch line {number}: in hunk {len(hunks) + 1} of {path}, every line starts with ' ' (unchanged),"
                f" '-' (remove) or '+' (add), got {line!r}"
            )
        i += 1
    end_number = body[i][0] if i < len(body) else (body[-1][0] + 1 if body else 0)
    if lines or opened or anchors:
        close(False, end_number)
    if not hunks and move_to is None:
        raise PatchError(f"patch line {end_number}: '{_UPDATE} {path}' has no hunks ('@@' followed by changes)")
    return i, UpdateFile(path, tuple(hunks), move_to)


def _anchor(line: str) -> str | None:
    """The context named after '@@', dropping unified-diff line ranges a model may add."""
    ranges = _UNIFIED_RANGES.match(line)
    rest = line[ranges.end() :] if ranges else line[2:]
    rest = rest.strip()
    if rest.endswith("@@"):
        rest = rest[:-2].rstrip()
    return rest or None


# ---------------------------------------------------------------- file text


@dataclass
class _Lines:
    """A file as lines with their own endings, so untouched lines keep CRLF or LF."""

    lines: list[tuple[str, str]]
    eol: str
    final_newline: bool

    @classmethod
    def of(cls, text: str) -> _Lines:
        parts = text.split("\n")
        lines = [(part[:-1], "\r\n") if part.endswith("\r") else (part, "\n") for part in parts[:-1]]
        if parts[-1]:
            lines.append((parts[-1], ""))
        ended = [ending for _, ending in lines if ending]
        eol = "\r\n" if ended and ended.count("\r\n") * 2 >= len(ended) else "\n"
        return cls(lines, eol, text == "" or text.endswith("\n"))

    def text(self) -> str:
        out = []
        for k, (content, ending) in enumerate(self.lines):
            if k == len(self.lines) - 1:
                ending = (ending or self.eol) if self.final_newline else ""
            elif not ending:
                ending = self.eol  # a line that was last but no longer is
            out.append(content + ending)
        return "".join(out)


def _normalised(line: str) -> str:
    return line.translate(_LOOKALIKES).strip()


# Each pass is tried over the whole search range before the next, looser one.
_PASSES = (lambda s: s, str.rstrip, str.strip, _normalised)


def _seek(contents: list[str], wanted: list[str], start: int, end_of_file: bool) -> int | None:
    n = len(wanted)
    for norm in _PASSES:
        have = [norm(line) for line in contents]
        want = [norm(line) for line in wanted]
        if end_of_file and len(have) - n >= start and have[len(have) - n :] == want:
            return len(have) - n
        for at in range(start, len(have) - n + 1):
            if have[at : at + n] == want:
                return at
    return None


def _find_anchor(contents: list[str], anchor: str, start: int) -> int | None:
    bare = _normalised(anchor)
    tests = (
        lambda line: line == anchor,
        lambda line: _normalised(line) == bare,
        lambda line: _normalised(line).startswith(bare),  # '@@ def total' for 'def total(self):'
    )
    for test in tests:
        for at in range(start, len(contents)):
            if test(contents[at]):
                return at
    return None


def _apply_hunks(path: str, text: str, hunks: tuple[Hunk, ...]) -> str:
    """``text`` with every hunk applied in order; PatchError naming the hunk that does not match."""
    file = _Lines.of(text)
    contents = [content for content, _ in file.lines]
    edits: list[tuple[int, int, list[tuple[str, str]]]] = []
    cursor = 0
    for number, hunk in enumerate(hunks, 1):
        search_from = anchor_from = cursor
        for anchor in hunk.anchors:
            at = _find_anchor(contents, anchor, anchor_from)
            if at is None:
                after = f" after line {anchor_from}" if anchor_from else ""
                raise PatchError(
                    f"{path}, hunk {number}: no line of the file{after} matches '@@ {anchor}';"
                    " the text after '@@' must be copied from a line of the file"
                )
            anchor_from = at + 1
            search_from = at  # the hunk may repeat the anchor line as its first context line
        lines = list(hunk.lines)
        if not any(line.op != "+" for line in lines):
            at = search_from + 1 if hunk.anchors else len(contents)
            edits.append((at, 0, [(line.text, file.eol) for line in lines]))
            cursor = at
            continue
        at, lines = _locate(contents, lines, search_from, hunk.end_of_file)
        if at is None:
            raise PatchError(_mismatch(path, number, hunk, contents, search_from))
        replacement = []
        k = at
        for line in lines:
            if line.op == " ":
                replacement.append(file.lines[k])  # the file's own text and ending, even when matched loosely
            elif line.op == "+":
                replacement.append((line.text, file.eol))
            k += line.op != "+"
        edits.append((at, k - at, replacement))
        cursor = k
    for at, count, replacement in reversed(edits):
        file.lines[at : at + count] = replacement
    return file.text()


def _locate(
    contents: list[str], lines: list[HunkLine], start: int, end_of_file: bool
) -> tuple[int | None, list[HunkLine]]:
    candidates = [lines]
    trimmed = list(lines)
    while trimmed and trimmed[-1] == HunkLine(" ", ""):
        trimmed.pop()  # a trailing blank context line that the file does not have
    if trimmed != lines and any(line.op != "+" for line in trimmed):
        candidates.append(trimmed)
    for candidate in candidates:
        at = _seek(contents, [line.text for line in candidate if line.op != "+"], start, end_of_file)
        if at is not None:
            return at, candidate
    return None, lines


def _mismatch(path: str, number: int, hunk: Hunk, contents: list[str], start: int) -> str:
    wanted = [line.text for line in hunk.lines if line.op != "+"]
    where = f" after line {start}" if start else ""
    if hunk.anchors:
        where += " (after '@@ " + "', '@@ ".join(hunk.anchors) + "')"
    message = [f"{path}, hunk {number}: these lines were not found in the file{where}:"]
    message += [f"    {line}" for line in wanted]
    earlier = _seek(contents, wanted, 0, False) if start else None
    if earlier is not None:
        message.append(
            f"They are at line {earlier + 1}, before the previous hunk: list the hunks in the order of the file."
        )
        return "\n".join(message)
    present = {_normalised(line) for line in contents[start:]}
    missing = next((line for line in wanted if _normalised(line) not in present), None)
    if missing is None:
        message.append("Each line is in the file, but not together in this order.")
    else:
        close = difflib.get_close_matches(missing, contents[start:], n=1, cutoff=0.5)
        if close:
            line_number = contents.index(close[0], start) + 1
            message.append(f"Not in the file: {missing!r}; the closest line is line {line_number}: {close[0]!r}.")
        else:
            message.append(f"Not in the file, nor anything close: {missing!r}.")
    message.append("Read the file again and send a corrected patch.")
    return "\n".join(message)


# ---------------------------------------------------------------- paths and the plan


def _resolve(root: Path, path: str) -> tuple[str, Path]:
    """The path as shown to the model (normalised) and its real location inside ``root``."""
    refused = f"refused path {path!r}:"
    if "\x00" in path:
        raise PatchError(f"{refused} it contains a NUL byte")
    if _CONTROL.search(path):
        raise PatchError(f"{refused} it contains a control character")
    if path.startswith(("/", "\\")) or _DRIVE.match(path):
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


@dataclass
class _Plan:
    """Every file's text before and after the patch, computed without touching the disk."""

    root: Path
    before: dict[Path, str | None] = field(default_factory=dict)
    after: dict[Path, str | None] = field(default_factory=dict)
    modes: dict[Path, int] = field(default_factory=dict)
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

    def add(self, op: AddFile) -> None:
        shown, real = _resolve(self.root, op.path)
        self.check_parents(real, shown)
        if self.text(real, shown) is not None:
            raise PatchError(f"cannot add {shown}: it already exists; use '{_UPDATE} {shown}' to change it")
        text = "".join(line + "\n" for line in op.lines)
        self.after[real] = text
        self.changes.append(FileChange("add", shown, None, text))

    def delete(self, op: DeleteFile) -> None:
        shown, real = _resolve(self.root, op.path)
        text = self.text(real, shown)
        if text is None:
            raise PatchError(f"cannot delete {shown}: no such file")
        self.after[real] = None
        self.changes.append(FileChange("delete", shown, text, None))

    def update(self, op: UpdateFile) -> None:
        shown, real = _resolve(self.root, op.path)
        text = self.text(real, shown)
        if text is None:
            raise PatchError(f"cannot update {shown}: no such file; use '{_ADD} {shown}' to create it")
        new_text = _apply_hunks(shown, text, op.hunks)
        new_shown = None
        if op.move_to is not None:
            new_shown, new_real = _resolve(self.root, op.move_to)
            if new_real != real:
                self.check_parents(new_real, new_shown)
                if self.text(new_real, new_shown) is not None:
                    raise PatchError(f"cannot move {shown} to {new_shown}: {new_shown} already exists")
                self.after[real] = None
                real = new_real
        self.after[real] = new_text
        self.changes.append(FileChange("update", shown, text, new_text, new_shown))

    def writes(self) -> list[tuple[Path, str | None, str | None]]:
        return [(real, self.before[real], after) for real, after in self.after.items() if after != self.before[real]]


def _plan(text: str, workspace: Path) -> _Plan:
    patch = parse_patch(text)
    root = Path(os.path.realpath(workspace))
    if not root.is_dir():
        raise PatchError(f"the workspace {workspace} is not an existing folder")
    plan = _Plan(root)
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


def _commit(plan: _Plan) -> None:
    done: list[tuple[Path, str | None]] = []
    made: list[Path] = []
    real = plan.root
    try:
        for real, before, after in plan.writes():
            if after is None:
                os.unlink(real)
            else:
                missing = [parent for parent in real.parents if not parent.exists()]
                for folder in reversed(missing):
                    os.mkdir(folder)
                    made.append(folder)
                _write_atomic(real, after, plan.modes.get(real))
            done.append((real, before))
    except OSError as error:
        where = real.relative_to(plan.root).as_posix()
        failed = _rollback(plan, done, made)
        if failed:
            raise PatchError(
                f"could not write {where}: {error.strerror}; restoring the earlier files also failed for "
                + ", ".join(failed),
                files_changed=True,
            ) from error
        raise PatchError(f"could not write {where}: {error.strerror}") from error


def _rollback(plan: _Plan, done: list[tuple[Path, str | None]], made: list[Path]) -> list[str]:
    failed = []
    for real, before in reversed(done):
        try:
            if before is None:
                os.unlink(real)
            else:
                _write_atomic(real, before, plan.modes.get(real))
        except OSError:
            failed.append(real.relative_to(plan.root).as_posix())
    for folder in reversed(made):
        with suppress(OSError):
            os.rmdir(folder)
    return failed


# ---------------------------------------------------------------- public entry points


def apply_patch(text: str, workspace: Path) -> list[FileChange]:
    """Apply a V4A patch to files under ``workspace``, all of it or none of it.

    Returns one :class:`FileChange` per operation, in patch order. Raises
    :class:`PatchError` when the patch is malformed, a path is unsafe, a file is
    missing or already exists, a hunk does not match, or a write fails; the
    files on disk are then as they were.
    """
    plan = _plan(text, workspace)
    _commit(plan)
    return plan.changes


def preview(text: str, workspace: Path) -> str:
    """A unified diff of what :func:`apply_patch` would change, without changing anything.

    Added and deleted files show against ``/dev/null``; a move shows as a rename.
    Raises :class:`PatchError` as :func:`apply_patch` would.
    """
    blocks = []
    for change in _plan(text, workspace).changes:
        old_name = f"a/{change.path}"
        new_name = f"b/{change.new_path or change.path}"
        header = [f"diff --git {old_name} {new_name}"]
        if change.kind == "add":
            header.append("new file")
            old_name = "/dev/null"
        elif change.kind == "delete":
            header.append("deleted file")
            new_name = "/dev/null"
        elif change.new_path:
            header += [f"rename from {change.path}", f"rename to {change.new_path}"]
        old = [content for content, _ in _Lines.of(change.before or "").lines]
        new = [content for content, _ in _Lines.of(change.after or "").lines]
        diff = list(difflib.unified_diff(old, new, old_name, new_name, lineterm=""))
        blocks.append("\n".join(header + diff))
    return "\n".join(blocks)


def summary(changes: list[FileChange]) -> str:
    """One line for the model: 'Done. Updated a.py, added b.py, deleted c.py'."""
    parts = []
    for change in changes:
        if change.kind == "add":
            parts.append(f"added {change.path}")
        elif change.kind == "delete":
            parts.append(f"deleted {change.path}")
        elif change.new_path and change.before != change.after:
            parts.append(f"updated {change.path} and moved it to {change.new_path}")
        elif change.new_path:
            parts.append(f"moved {change.path} to {change.new_path}")
        else:
            parts.append(f"updated {change.path}")
    text = ", ".join(parts)
    return f"Done. {text[:1].upper()}{text[1:]}"


class ApplyPatchTool:
    """The ``functions.apply_patch`` tool, editing files inside one workspace folder."""

    name = NAME
    description = DESCRIPTION
    parameters = PARAMETERS

    def __init__(self, workspace: Path) -> None:
        self.workspace = Path(workspace)

    def preview(self, arguments: str) -> str:
        """The diff the approval screen shows; raises PatchError for a patch that cannot apply."""
        return preview(arguments, self.workspace)

    def run(self, arguments: str) -> ToolOutput:
        """Apply the patch in the call's arguments (JSON or bare); a failure is an ``ok=False`` output."""
        try:
            changes = apply_patch(arguments, self.workspace)
        except PatchError as error:
            after = "" if error.files_changed else "\nNo file was changed."
            return ToolOutput(text=f"apply_patch failed: {error}{after}", ok=False)
        return ToolOutput(text=summary(changes))

"""The V4A patch format: its parts as data, and the parser that reads a model's patch into them."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Literal

from ...errors import UserError

MAX_FILE_BYTES = 8 * 1024 * 1024  # larger files are not source code a model should patch

BEGIN = "*** Begin Patch"
END = "*** End Patch"
ADD = "*** Add File:"
DELETE = "*** Delete File:"
UPDATE = "*** Update File:"
MOVE = "*** Move to:"
END_OF_FILE = "*** End of File"
UNIFIED_RANGES = re.compile(r"@@ -\d+(?:,\d+)? \+\d+(?:,\d+)? @@")
DRIVE = re.compile(r"[A-Za-z]:")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Typographic look-alikes that models substitute for the ASCII characters in a file.
LOOKALIKES = str.maketrans(
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
    begin = next((i for i, line in enumerate(lines) if line.strip() == BEGIN), None)
    if begin is None:
        raise PatchError(f"the patch must start with a line '{BEGIN}'")
    end = next((i for i in range(begin + 1, len(lines)) if lines[i].rstrip() == END), None)
    if end is None:
        raise PatchError(f"the patch has no line '{END}': send the whole patch, ending with that line")
    if any(line.strip() == BEGIN for line in lines[end + 1 :]):
        raise PatchError(f"send one patch per call: found a second '{BEGIN}' after '{END}'")
    body = [(number, lines[number - 1]) for number in range(begin + 2, end + 1)]
    ops: list[FileOp] = []
    i = 0
    while i < len(body):
        number, line = body[i]
        header = line.rstrip()
        if not header:
            i += 1
        elif header.startswith(ADD):
            i, op = _parse_add(body, i + 1, _header_path(header, ADD, number))
            ops.append(op)
        elif header.startswith(DELETE):
            ops.append(DeleteFile(_header_path(header, DELETE, number)))
            i += 1
        elif header.startswith(UPDATE):
            i, op = _parse_update(body, i + 1, _header_path(header, UPDATE, number))
            ops.append(op)
        else:
            raise PatchError(
                f"patch line {number}: expected '{ADD}', '{UPDATE}' or '{DELETE}', got {line!r}"
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
                f"patch line {number}: in '{ADD} {path}' every line of the new file starts with '+', got {line!r}"
            )
        i += 1
    if i < len(body) and body[i][1].rstrip() == END_OF_FILE:
        i += 1  # meaningless after a new file's lines, but models write it
    return i, AddFile(path, tuple(content))


def _parse_update(body: list[tuple[int, str]], i: int, path: str) -> tuple[int, UpdateFile]:
    move_to = None
    if i < len(body) and body[i][1].startswith(MOVE):
        move_to = _header_path(body[i][1].rstrip(), MOVE, body[i][0])
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
        elif line.rstrip() == END_OF_FILE:
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
        raise PatchError(f"patch line {end_number}: '{UPDATE} {path}' has no hunks ('@@' followed by changes)")
    return i, UpdateFile(path, tuple(hunks), move_to)


def _anchor(line: str) -> str | None:
    """The context named after '@@', dropping unified-diff line ranges a model may add."""
    ranges = UNIFIED_RANGES.match(line)
    rest = line[ranges.end() :] if ranges else line[2:]
    rest = rest.strip()
    if rest.endswith("@@"):
        rest = rest[:-2].rstrip()
    return rest or None

"""Finding where a hunk applies in a file's text, leniently (trailing space, lookalike punctuation), and applying it."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from .patch_format import LOOKALIKES, Hunk, HunkLine, PatchError

# ---------------------------------------------------------------- file text


@dataclass
class FileLines:
    """A file as lines with their own endings, so untouched lines keep CRLF or LF."""

    lines: list[tuple[str, str]]
    eol: str
    final_newline: bool

    @classmethod
    def of(cls, text: str) -> FileLines:
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
    return line.translate(LOOKALIKES).strip()


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


def apply_hunks(path: str, text: str, hunks: tuple[Hunk, ...]) -> str:
    """``text`` with every hunk applied in order; PatchError naming the hunk that does not match."""
    file = FileLines.of(text)
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

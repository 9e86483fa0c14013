"""The difference between two answers, keeping their Markdown shape: code blocks stay blocks.

Both answers are cut into blocks (paragraphs, list items, code blocks; a
blank line outside a code fence ends a block). Blocks are matched whole;
a changed paragraph is compared word by word, a changed code block line by
line, drawn as a block of its own with its indentation, without the fences.
"""

from __future__ import annotations

import difflib
import re

from rich.console import Group
from rich.padding import Padding
from rich.text import Text

FENCE = re.compile(r"^(```|~~~)")
SAME, GONE, NEW = "dim", "red strike", "green"


def blocks(markdown: str) -> list[str]:
    """``markdown`` cut at blank lines outside code fences; a code block is one block, fences included."""
    found: list[str] = []
    current: list[str] = []
    fenced = False
    for line in markdown.strip("\n").splitlines():
        if FENCE.match(line.lstrip()):
            if not fenced and current:
                found.append("\n".join(current))
                current = []
            fenced = not fenced
            current.append(line)
            if not fenced:
                found.append("\n".join(current))
                current = []
            continue
        if not fenced and not line.strip():
            if current:
                found.append("\n".join(current))
            current = []
            continue
        current.append(line)
    if current:
        found.append("\n".join(current))
    return found


def is_code(block: str) -> bool:
    return bool(FENCE.match(block.lstrip()))


def code_lines(block: str) -> list[str]:
    """A code block's lines without its fences."""
    lines = block.splitlines()[1:]
    return lines[:-1] if lines and FENCE.match(lines[-1].lstrip()) else lines


def _code(lines: list[tuple[str, str]]) -> Padding:
    """Code lines, each with its style and a -/+ mark, indented as a block."""
    text = Text(no_wrap=True, overflow="ellipsis")
    for i, (line, style) in enumerate(lines):
        mark = {GONE: "- ", NEW: "+ "}.get(style, "  ")
        text.append(("\n" if i else "") + mark + line, style=style)
    return Padding(text, (0, 0, 0, 2))


def _words(old: str, new: str) -> Text:
    a, b = old.split(), new.split()
    text = Text()
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op == "equal":
            text.append(" ".join(a[i1:i2]) + " ", style=SAME)
            continue
        if op in ("delete", "replace"):
            text.append(" ".join(a[i1:i2]) + " ", style=GONE)
        if op in ("insert", "replace"):
            text.append(" ".join(b[j1:j2]) + " ", style=NEW)
    text.rstrip()
    return text


def _whole(block: str, style: str):
    if is_code(block):
        return _code([(line, style) for line in code_lines(block)])
    return Text(block, style=style)


def _changed(old: str, new: str):
    if is_code(old) and is_code(new):
        a, b = code_lines(old), code_lines(new)
        lines: list[tuple[str, str]] = []
        for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
            if op == "equal":
                lines += [(line, SAME) for line in a[i1:i2]]
                continue
            lines += [(line, GONE) for line in a[i1:i2]] if op in ("delete", "replace") else []
            lines += [(line, NEW) for line in b[j1:j2]] if op in ("insert", "replace") else []
        return [_code(lines)]
    if not is_code(old) and not is_code(new):
        return [_words(old, new)]
    return [_whole(old, GONE), _whole(new, NEW)]


def answer_diff(old: str, new: str) -> Group:
    """Removed text struck through in red, added text in green, block by block, and how alike the two are."""
    a, b = blocks(old), blocks(new)
    parts: list = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op == "equal":
            parts += [_whole(block, SAME) for block in a[i1:i2]]
        elif op == "replace" and i2 - i1 == j2 - j1:
            for old_block, new_block in zip(a[i1:i2], b[j1:j2]):
                parts += _changed(old_block, new_block)
        else:
            parts += [_whole(block, GONE) for block in a[i1:i2]]
            parts += [_whole(block, NEW) for block in b[j1:j2]]
    alike = difflib.SequenceMatcher(a=old.split(), b=new.split(), autojunk=False).ratio()
    spaced: list = []
    for part in parts:
        spaced += [part, Text("")]
    return Group(*spaced, Text(f"{alike:.0%} alike", style="bold"))

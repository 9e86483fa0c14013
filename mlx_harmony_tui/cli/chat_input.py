"""Reading what the user types in ``mlx-harmony-chat``: one message at a time.

A message is one line, or several: a line ending with a backslash goes on
to the next line, and a block that starts with triple quotes ends at the
line that ends with them. The same rules apply to piped input, so a script
can send multi-line messages too. While an answer streams, what the user
types ahead is kept for the next prompt but not echoed (:func:`typing_hidden`).
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Callable, Iterator

PROMPT = ">>> "
MORE = "... "
QUOTES = '"""'

ReadLine = Callable[[str], "str | None"]  # a line without its newline, or None at the end of input


def terminal_reader() -> ReadLine:
    """Lines typed at the terminal, with line editing and history when readline is available."""
    import importlib

    try:
        importlib.import_module("readline")  # importing it is what gives input() line editing and history
    except ImportError:
        pass

    def read(prompt: str) -> str | None:
        try:
            return input(prompt)
        except EOFError:
            print()
            return None

    return read


def stream_reader(stream=None) -> ReadLine:
    """Lines from a pipe or file; no prompt is printed."""
    stream = stream or sys.stdin

    def read(prompt: str) -> str | None:
        line = stream.readline()
        return line.removesuffix("\n").removesuffix("\r") if line else None

    return read


def read_message(read: ReadLine) -> str | None:
    """The next message (possibly several lines joined with newlines), or None at the end of input."""
    first = read(PROMPT)
    if first is None:
        return None
    if first.lstrip().startswith(QUOTES):
        return _quoted_block(first.lstrip()[len(QUOTES) :], read)
    lines = []
    line = first
    while line.endswith("\\"):
        lines.append(line[:-1])
        line = read(MORE)
        if line is None:
            line = ""
            break
    lines.append(line)
    return "\n".join(lines)


def _quoted_block(rest: str, read: ReadLine) -> str:
    lines = []
    line: str | None = rest
    while line is not None:
        stripped = line.rstrip()
        if stripped.endswith(QUOTES):
            lines.append(stripped[: -len(QUOTES)])
            break
        lines.append(line)
        line = read(MORE)
    text = "\n".join(lines)
    return text.strip("\n")


@contextmanager
def _echo(on: bool, stream=None) -> Iterator[None]:
    """While the block runs, the terminal on ``stream`` (default stdin) echoes typed keys or not; no terminal: nothing."""
    try:
        import termios

        fd = (stream or sys.stdin).fileno()
        before = termios.tcgetattr(fd)
    except (ImportError, AttributeError, OSError, ValueError):  # not a terminal (termios.error is an OSError)
        yield
        return
    changed = list(before)
    changed[3] = changed[3] | termios.ECHO if on else changed[3] & ~(termios.ECHO | termios.ECHONL)
    termios.tcsetattr(fd, termios.TCSANOW, changed)  # TCSANOW: keys typed ahead stay in the input queue
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSANOW, before)


def typing_hidden(stream=None):
    """Keys typed while an answer streams are not echoed (they wait for the next prompt): an echoed Enter moves the
    cursor under the answer's Live region, whose next repaint then starts a line too low and draws its first line
    again, once per Enter (issue 28)."""
    return _echo(False, stream)


def typing_shown(stream=None):
    """Keys are echoed again, for a question asked mid-answer (a tool's approval) without readline."""
    return _echo(True, stream)

"""Text from a model, a tool or an MCP server, made harmless for the terminal that shows it.

Such text may hold control sequences (OSC 52 writes the user's clipboard, OSC 0
the window title, CSI moves the cursor). The line-mode CLIs print text with
:func:`strip_controls`; the app shows it with :func:`show_controls`, so the
sequences stay visible as inert text. What is kept is what neither leaves:
tab, newline and every printable character.
"""

from __future__ import annotations

import re

# C0 but tab and newline, DEL, C1: any of them left in the text could start a sequence or move the cursor.
_CONTROL = r"[\x00-\x08\x0b-\x1f\x7f-\x9f]"
_SEQUENCE = re.compile(
    r"\x1b[\]PX^_][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)"  # OSC, DCS, SOS, PM, APC: a string up to its terminator
    r"|\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: parameters, intermediates, a final byte
    r"|\x1b[ -/]*[0-~]"  # every other ESC sequence (and the introducer of an unterminated one)
    rf"|{_CONTROL}"
)
_ONE_CONTROL = re.compile(_CONTROL)
# A sequence begun at the end of a piece and not ended yet (a string's body may end in the first half of ST).
_UNFINISHED = re.compile(r"\x1b(?:[\]PX^_][^\x07\x1b\x9c]*\x1b?|\[[0-?]*[ -/]*|[ -/]*)\Z")
MAX_HELD = 4096  # a sequence still open after this many characters is taken for text: its introducer goes, the rest shows


def strip_controls(text: str) -> str:
    """``text`` without control sequences or control characters (tab and newline stay; CRLF becomes a newline)."""
    return _SEQUENCE.sub("", text)


def show_controls(text: str) -> str:
    """``text`` with each control character written out as ``\\xNN`` (tab and newline stay; CRLF becomes a newline),
    so a sequence shows as the text it is and does nothing."""
    return _ONE_CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text.replace("\r\n", "\n"))


class ControlStripper:
    """:func:`strip_controls` for text that arrives in pieces (a streamed answer): a sequence split between pieces
    is held back until it ends, so it goes whole."""

    def __init__(self) -> None:
        self._held = ""

    def feed(self, piece: str) -> str:
        """What of the text so far can be printed now."""
        text = self._held + piece
        unfinished = _UNFINISHED.search(text)
        cut = unfinished.start() if unfinished and len(text) - unfinished.start() <= MAX_HELD else len(text)
        self._held = text[cut:]
        return strip_controls(text[:cut])

    def end(self) -> str:
        """The rest, at the end of the stream (an unfinished sequence loses its introducer)."""
        text, self._held = self._held, ""
        return strip_controls(text)

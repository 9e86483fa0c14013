"""Keys as terminals send them: alt+digit arrives as ESC and the digit.

xterm, tmux, GNOME Terminal, Konsole, kitty (without its keyboard protocol)
and the Linux console send alt+1 as ``ESC 1`` (the meta-sends-escape
convention). Textual 8.2 reads ``ESC 1`` … ``ESC 9`` as the characters the
option key types on a US Mac (WezTerm on macOS sends them that way), so alt
bindings on digits never fire there and the message box gets "¡" or "™"
instead. The app reads those sequences as alt+digit again. Terminals that
keep alt+digit for their own tabs never send it at all: F2 then a digit
picks a profile everywhere.
"""

from __future__ import annotations

from textual import _ansi_sequences

DIGITS = "123456789"


def read_alt_digits() -> None:
    """Make ``ESC 1`` … ``ESC 9`` arrive as alt+1 … alt+9 (Textual's table is shared by every parser)."""
    for digit in DIGITS:
        _ansi_sequences.ANSI_SEQUENCES_KEYS.pop(f"\x1b{digit}", None)

"""What the CLIs print and the app shows of untrusted text: control sequences stripped whole, or written out."""

from __future__ import annotations

from mlx_harmony_tui.chat.terminal_text import ControlStripper, show_controls, strip_controls

TEXT = "a\x1b]52;c;cHduZWQ=\x07b\x1b[31mc\x1b]0;title\x1b\\d\x1bP+q544e\x1b\\e\x1b(Bf\r\n\x9b\x07g\th"


def test_sequences_go_whole_and_lone_controls_alone():
    assert strip_controls(TEXT) == "abcdef\ng\th"


def test_a_stream_split_anywhere_prints_what_the_whole_text_prints():
    for first in range(len(TEXT) + 1):
        for second in range(first, len(TEXT) + 1):
            stripper = ControlStripper()
            pieces = [stripper.feed(part) for part in (TEXT[:first], TEXT[first:second], TEXT[second:])]
            assert "".join(pieces) + stripper.end() == "abcdef\ng\th", (first, second)


def test_an_unended_sequence_is_held_only_so_long():
    stripper = ControlStripper()
    assert stripper.feed("x\x1b]0;") == "x"  # may go on in the next piece
    assert stripper.feed("y" * 5000) == "0;" + "y" * 5000  # too long for a sequence: its introducer goes, the rest is text
    assert stripper.end() == ""


def test_the_app_shows_control_characters_written_out():
    assert show_controls("a\x1b]0;t\x07\r\nb\tc\x9b") == "a\\x1b]0;t\\x07\nb\tc\\x9b"

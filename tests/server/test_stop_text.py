"""Stop sequences across streamed pieces: nothing after the stop, nothing held that cannot be one."""

from __future__ import annotations

import pytest

from mlx_harmony_tui.server.stop_text import StopText


def feed(stops: list[str], pieces: list[str]) -> tuple[list[str], bool]:
    stop = StopText(stops)
    sent = [stop.add(p) for p in pieces]
    sent.append(stop.flush())
    return sent, stop.hit


def test_stop_inside_one_piece_cuts_there():
    assert feed(["END"], ["Hello END world"]) == (["Hello ", ""], True)


def test_stop_split_across_pieces_is_held_then_dropped():
    sent, hit = feed(["<stop>"], ["The answer", " is 4<st", "op> and more", " text"])
    assert "".join(sent) == "The answer is 4" and hit
    assert sent[0] == "The answer"  # text that cannot begin the stop leaves at once


def test_a_false_start_is_released():
    sent, hit = feed(["###"], ["a #", "# b", " c"])
    assert "".join(sent) == "a ## b c" and not hit
    assert sent[0] == "a " and sent[1] == "## b"


def test_earliest_of_several_stops_wins():
    assert "".join(feed(["world", "lo w"], ["hello world"])[0]) == "hel"


def test_without_stops_everything_passes_through():
    assert feed([], ["a", "b"]) == (["a", "b", ""], False)


@pytest.mark.parametrize("cut", range(1, 12))
def test_any_split_gives_the_same_text(cut):
    text = "one two STOP three"
    assert "".join(feed(["STOP"], [text[:cut], text[cut:]])[0]) == "one two "

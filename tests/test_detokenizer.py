"""StreamingDecoder: token-by-token text that never splits a character.

Checked with the real default tokenizer (byte-level BPE, where emoji, CJK and
accented characters often span several tokens) and with a small hand-made
SentencePiece-like decode that drops the leading space of the first piece.
"""

from __future__ import annotations

import pytest

from mlx_harmony_tui.detokenizer import REPLACEMENT, StreamingDecoder

IM_START, IM_END = 1, 2

TEXTS = [
    "🎉👍🏽",
    "日本語のテキスト",
    "déjà vu",
    "Party time 🎉👍🏽! 日本語のテキスト and déjà vu, naïve café.",
    "def f(x):\n\treturn x  # 12345\n",
    "  spaces   and\n\nnewlines \r\n",
    "🇫🇷 👨‍👩‍👧 ∑∫√ — “quotes” …",
    "한국어 中文 Ελληνικά русский עברית العربية",
    "<|im_start|>assistant\nHi 🎉<|im_end|>\n",
]


@pytest.fixture(scope="module")
def tokenizer(loaded_default):
    return loaded_default.tokenizer


def _stream(decoder: StreamingDecoder, ids: list[int]) -> list[str]:
    return [decoder.add(i) for i in ids]


def _splits_a_character(tokenizer, ids: list[int]) -> bool:
    return any(REPLACEMENT in tokenizer.decode([i]) for i in ids)


def test_texts_split_characters_across_tokens(tokenizer) -> None:
    """The texts below are meaningful only if some character's bytes span several tokens."""
    split = [t for t in TEXTS if _splits_a_character(tokenizer, list(tokenizer.encode(t)))]
    assert "🎉👍🏽" in split
    assert "日本語のテキスト" in split
    ids = list(tokenizer.encode("🎉👍🏽"))
    assert len(ids) > 2  # 3 characters (one a skin-tone modifier) in more tokens than characters
    assert tokenizer.decode(ids[:1]) == REPLACEMENT


@pytest.mark.parametrize("text", TEXTS, ids=range(len(TEXTS)))
def test_real_tokenizer_stream_matches_full_decode(tokenizer, text: str) -> None:
    ids = list(tokenizer.encode(text))
    expected = tokenizer.decode(ids)
    assert expected == text
    decoder = StreamingDecoder(tokenizer.decode)
    shown = ""
    for i in ids:
        delta = decoder.add(i)
        assert REPLACEMENT not in delta, (text, i, delta)
        shown += delta
        assert expected.startswith(shown)  # text once shown is never taken back
    tail = decoder.flush()
    assert REPLACEMENT not in tail
    assert shown + tail == expected
    assert decoder.flush() == ""


def test_real_tokenizer_stream_of_concatenated_texts(tokenizer) -> None:
    """One long stream, as a generation would produce it."""
    ids = [i for t in TEXTS for i in tokenizer.encode(t)]
    decoder = StreamingDecoder(tokenizer.decode)
    deltas = _stream(decoder, ids)
    assert all(REPLACEMENT not in d for d in deltas)
    assert "".join(deltas) + decoder.flush() == tokenizer.decode(ids)
    # Held-back tokens show up as empty deltas, so there are fewer non-empty deltas than tokens.
    assert sum(1 for d in deltas if d) < len(ids)


def test_real_tokenizer_random_ids_stream_matches_full_decode(tokenizer) -> None:
    """Arbitrary token sequences (invalid UTF-8 included) still add up to the full decode."""
    import random

    rng = random.Random(1234)
    byte_tokens = list(range(100, 400))  # many single-byte and short pieces
    for _ in range(20):
        ids = [rng.choice(byte_tokens) if rng.random() < 0.7 else rng.randrange(3, 49152) for _ in range(40)]
        decoder = StreamingDecoder(tokenizer.decode)
        shown = "".join(_stream(decoder, ids))
        expected = tokenizer.decode(ids)
        assert expected.startswith(shown)
        # A character cut off at the very end is dropped rather than shown broken.
        assert shown + decoder.flush() == expected.rstrip(REPLACEMENT)


def test_real_tokenizer_skip_ids_are_dropped(tokenizer) -> None:
    emoji = list(tokenizer.encode("🎉👍🏽"))
    words = list(tokenizer.encode(" done"))
    # A skipped id even between the bytes of one character does not break it.
    ids = [IM_START] + emoji[:1] + [IM_END] + emoji[1:] + [IM_END] + words + [IM_END]
    decoder = StreamingDecoder(tokenizer.decode, skip_ids={IM_START, IM_END})
    deltas = _stream(decoder, ids)
    assert all(REPLACEMENT not in d for d in deltas)
    for position, token in enumerate(ids):
        if token in (IM_START, IM_END):
            assert deltas[position] == ""
    assert "".join(deltas) + decoder.flush() == "🎉👍🏽 done"


def test_real_tokenizer_flush_drops_incomplete_character(tokenizer) -> None:
    ids = list(tokenizer.encode("ok 🎉"))
    assert tokenizer.decode(ids[-1:]) == REPLACEMENT  # the emoji's last token alone is incomplete
    decoder = StreamingDecoder(tokenizer.decode)
    shown = "".join(_stream(decoder, ids[:-1]))
    assert shown in ("ok", "ok ")  # the space may share a token with the emoji's first bytes
    assert REPLACEMENT not in shown
    held = decoder.flush()
    assert REPLACEMENT not in held and held.strip(" ") == ""
    assert shown + held == tokenizer.decode(ids[:-1]).rstrip(REPLACEMENT)
    assert decoder.flush() == ""


# --- a hand-made SentencePiece-like decode ----------------------------------------

SPACE = "\u2581".encode()  # "▁", SentencePiece's word-start marker
TABLE: dict[int, bytes] = {
    0: b"<s>",
    1: SPACE + b"Hello",
    2: SPACE + b"wor",
    3: b"ld",
    4: b"!",
    5: b"\xc3",  # é = C3 A9, as byte-fallback pieces
    6: b"\xa9",
    7: b"\xf0",  # 🎉 = F0 9F 8E 89
    8: b"\x9f",
    9: b"\x8e",
    10: b"\x89",
    11: SPACE + b"caf",
    12: SPACE,
}


def sp_decode(ids: list[int]) -> str:
    """Decode like SentencePiece: ``▁`` is a space, the first piece's leading space is dropped."""
    text = b"".join(TABLE[i] for i in ids).replace(SPACE, b" ").decode("utf-8", errors="replace")
    return text[1:] if text.startswith(" ") else text


def test_fake_naive_per_token_decode_would_be_wrong() -> None:
    ids = [1, 2, 3]
    assert "".join(sp_decode([i]) for i in ids) == "Helloworld"  # spaces lost
    assert sp_decode(ids) == "Hello world"


@pytest.mark.parametrize(
    "ids",
    [
        [1, 2, 3, 4],
        [1, 11, 5, 6, 4],
        [11, 5, 6, 12, 7, 8, 9, 10, 12, 7, 8, 9, 10, 4],
        [7, 8, 9, 10, 2, 3],
        [12, 12, 1, 12, 12, 2],
    ],
)
def test_fake_stream_keeps_leading_spaces_and_whole_characters(ids: list[int]) -> None:
    decoder = StreamingDecoder(sp_decode)
    deltas = _stream(decoder, ids)
    assert all(REPLACEMENT not in d for d in deltas)
    assert "".join(deltas) + decoder.flush() == sp_decode(ids)


def test_fake_stream_deltas() -> None:
    decoder = StreamingDecoder(sp_decode)
    assert _stream(decoder, [1, 2, 3, 11, 5, 6, 12, 7, 8, 9, 10]) == [
        "Hello", " wor", "ld", " caf", "", "é", " ", "", "", "", "🎉",
    ]
    assert decoder.flush() == ""


def test_fake_skip_ids_are_dropped() -> None:
    decoder = StreamingDecoder(sp_decode, skip_ids={0})
    assert _stream(decoder, [0, 1, 0, 2, 7, 0, 8, 9, 10, 0]) == ["", "Hello", "", " wor", "", "", "", "", "🎉", ""]
    assert decoder.flush() == ""


def test_fake_flush_drops_held_back_incomplete_bytes() -> None:
    decoder = StreamingDecoder(sp_decode)
    assert _stream(decoder, [1, 12, 7, 8]) == ["Hello", " ", "", ""]
    assert decoder.flush() == ""  # F0 9F, an emoji whose last bytes never came
    assert decoder.flush() == ""


def test_flush_of_empty_decoder_is_empty() -> None:
    assert StreamingDecoder(sp_decode).flush() == ""

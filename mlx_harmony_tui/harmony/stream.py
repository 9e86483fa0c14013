"""HarmonyStream: turn a GPT-OSS model's generated tokens into channel events.

A token-level state machine over Harmony's special tokens, so that every
malformed output a model can produce is recovered instead of raising (the
openai-harmony 0.0.8 parser raises on several, see FACTS.md): a stop token
after ``<|end|>``, a doubled ``<|start|>``, an empty channel, text with no
header, a missing ``<|end|>``, a missing ``<|message|>`` before ``<|call|>``.
Content is decoded with :class:`StreamingDecoder`, so multi-byte characters
never split; no Harmony markup ever reaches the text it emits.

Per token it does a few comparisons plus the decoder's work; it never reads
a parser ``state``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

from ..detokenizer import StreamingDecoder
from .output import ChannelText, ToolCallParsed

START, END, MESSAGE, CHANNEL, CONSTRAIN = 200006, 200007, 200008, 200005, 200003
RETURN, CALL = 200002, 200012
SPECIAL_FROM = 199998  # Harmony's special tokens start here in the GPT-OSS vocabulary
STOP_TOKENS = frozenset({RETURN, CALL})
CHANNELS = ("analysis", "commentary", "final")
# Header text longer than this with no <|message|> is taken for header-less output.
MAX_HEADER_TOKENS = 48
_RECIPIENT = re.compile(r"(?:^|\s)to=(\S+)")


@dataclass
class ParsedMessage:
    """One assistant message of the turn, as generated."""

    channel: str
    recipient: str | None
    content_type: str | None
    text: str = ""
    token_ids: list[int] = field(default_factory=list)


Output = ChannelText | ToolCallParsed


@dataclass
class _Header:
    role_ids: list[int] = field(default_factory=list)
    channel_ids: list[int] = field(default_factory=list)
    constrain_ids: list[int] = field(default_factory=list)
    part: str = "role"  # which of the three the next plain token belongs to
    expect_role: bool = True  # False right after the prompt, which already says "assistant"

    def add(self, token: int) -> None:
        {"role": self.role_ids, "channel": self.channel_ids, "constrain": self.constrain_ids}[self.part].append(token)

    def size(self) -> int:
        return len(self.role_ids) + len(self.channel_ids) + len(self.constrain_ids)


class HarmonyStream:
    """Feed generated tokens with :meth:`feed`; each call returns the events it completes."""

    def __init__(self, decode: Callable[[list[int]], str]):
        self._decode = decode
        self.messages: list[ParsedMessage] = []
        self.repairs: list[str] = []  # what was malformed and recovered, in order
        self.finished = False
        self.stop_token: int | None = None
        self._header: _Header | None = _Header(expect_role=False)  # the prompt ends with <|start|>assistant
        self._current: ParsedMessage | None = None
        self._decoder: StreamingDecoder | None = None

    @property
    def open_message(self) -> ParsedMessage | None:
        """The message being written now (its header complete), if any."""
        return self._current

    # ------------------------------------------------------------------ helpers

    def _text(self, ids: list[int]) -> str:
        return self._decode(ids) if ids else ""

    def _open(self, channel: str, recipient: str | None, content_type: str | None) -> None:
        self._current = ParsedMessage(channel, recipient, content_type)
        self._decoder = StreamingDecoder(self._decode)
        self._header = None

    def _emit_text(self, token: int, out: list[Output]) -> None:
        message = self._current
        message.token_ids.append(token)
        delta = self._decoder.add(token)
        if delta:
            message.text += delta
            if message.recipient is None:
                out.append(ChannelText(message.channel, delta))

    def _close(self, out: list[Output]) -> None:
        """Finish the open message, emitting a tool call if it had a recipient."""
        message = self._current
        if message is None:
            return
        tail = self._decoder.flush()
        if tail:
            message.text += tail
            if message.recipient is None:
                out.append(ChannelText(message.channel, tail))
        if message.recipient is not None:
            out.append(ToolCallParsed(message.recipient, message.text, message.channel, message.content_type))
        self.messages.append(message)
        self._current = None
        self._decoder = None

    def _parse_header(self, header: _Header) -> tuple[str, str | None, str | None, str]:
        """(channel, recipient, content type, leftover text) from a header's parts."""
        role_text = self._text(header.role_ids)
        channel_text = self._text(header.channel_ids)
        constrain_text = self._text(header.constrain_ids).strip()
        recipient = None
        for text in (role_text, channel_text):
            found = _RECIPIENT.search(text)
            if found:
                recipient = found.group(1)
        words = [w for w in channel_text.split() if not w.startswith("to=")]
        channel = words[0] if words and words[0] in CHANNELS else ""
        leftover_words = words[1:] if channel else words
        content_type = None
        leftover = ""
        if constrain_text:
            kind, _, rest = constrain_text.partition("{")
            content_type = "<|constrain|>" + kind.strip().split()[0] if kind.strip() else None
            leftover = ("{" + rest) if rest else ""
        elif leftover_words:
            content_type = leftover_words[0] if leftover_words[0] in ("json", "code") else None
            leftover = " ".join(leftover_words[1:] if content_type else leftover_words)
        if not channel:
            channel = "commentary" if recipient else "final"
        return channel, recipient, content_type, leftover

    def _start_content_from_header(self) -> None:
        channel, recipient, content_type, _ = self._parse_header(self._header)
        self._open(channel, recipient, content_type)

    def _headerless(self, out: list[Output]) -> None:
        """A header that never became one: show what was generated as final text."""
        header = self._header
        ids = header.role_ids + header.channel_ids + header.constrain_ids
        self.repairs.append("text without a Harmony header")
        self._open("final", None, None)
        for token in ids:
            self._emit_text(token, out)

    def _finish(self, token: int | None, out: list[Output]) -> None:
        self._close(out)
        self.finished = True
        self.stop_token = token

    # ------------------------------------------------------------------ feeding

    def feed(self, token: int) -> list[Output]:
        """Process one generated token; return the events it completes."""
        out: list[Output] = []
        if self.finished:
            return out
        if self._current is not None:
            self._feed_content(token, out)
        elif self._header is not None:
            self._feed_header(token, out)
        else:
            self._feed_between(token, out)
        return out

    def _feed_content(self, token: int, out: list[Output]) -> None:
        if token == END:
            self._close(out)
        elif token in STOP_TOKENS:
            self._finish(token, out)
        elif token == START:  # missing <|end|>
            self.repairs.append("a message had no <|end|>")
            self._close(out)
            self._header = _Header()
        elif token == CHANNEL:  # missing <|end|><|start|>assistant
            self.repairs.append("a message had no <|end|><|start|>")
            self._close(out)
            self._header = _Header(part="channel")
        elif token in (MESSAGE, CONSTRAIN):
            return  # stray markup inside a message: never shown
        else:
            self._emit_text(token, out)

    def _feed_header(self, token: int, out: list[Output]) -> None:
        header = self._header
        if token == MESSAGE:
            self._start_content_from_header()
        elif token == CHANNEL:
            header.part = "channel"
        elif token == CONSTRAIN:
            header.part = "constrain"
        elif token == START:  # doubled <|start|>: begin the header again
            self.repairs.append("a doubled <|start|>")
            self._header = _Header()
        elif token == END:  # a header with no message: nothing to show
            self._header = None
        elif token in STOP_TOKENS:
            self._header_then_stop(token, out)
        else:
            header.add(token)
            if header.size() > MAX_HEADER_TOKENS or self._plain_text_start(header):
                self._headerless(out)

    def _plain_text_start(self, header: _Header) -> bool:
        """True when the turn's first token is ordinary text rather than a header."""
        if header.expect_role or header.part != "role" or len(header.role_ids) != 1:
            return False
        first = self._text(header.role_ids).lstrip()
        return not (first.startswith("to") or "to=".startswith(first))

    def _header_then_stop(self, token: int, out: list[Output]) -> None:
        """A stop token while a header is open: recover a tool call whose <|message|> is missing."""
        channel, recipient, content_type, leftover = self._parse_header(self._header)
        self.repairs.append("a header with no <|message|>")
        if recipient is not None and token == CALL:
            self._open(channel, recipient, content_type)
            self._current.text = leftover
        elif leftover:
            self._open("final", None, None)
            self._current.text = leftover
            out.append(ChannelText("final", leftover))
        self._finish(token, out)

    def _feed_between(self, token: int, out: list[Output]) -> None:
        if token == START:
            self._header = _Header()
        elif token in STOP_TOKENS:  # <|end|> then a stop token: the turn simply ends
            self._finish(token, out)
        elif token == CHANNEL:  # missing <|start|>assistant
            self.repairs.append("a message had no <|start|>")
            self._header = _Header(part="channel")
        elif token in (END, MESSAGE, CONSTRAIN):
            return
        else:  # plain text after <|end|>
            self.repairs.append("text after <|end|> without a header")
            self._open("final", None, None)
            self._emit_text(token, out)

    def close(self) -> list[Output]:
        """End of generation without a stop token (length or cancel): flush what is open."""
        out: list[Output] = []
        if self._header is not None and self._current is None and self._header.size():
            self._headerless(out)
        self._close(out)
        self.finished = True
        return out

"""How generated tokens become text: plain detokenization or Harmony channels.

Both kinds take one token at a time and say what it produced and whether the
turn is over, so the generation loop is the same for every model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .detokenizer import StreamingDecoder


@dataclass(frozen=True)
class Piece:
    """Text on a channel, or (when ``recipient`` is set) a complete tool call."""

    channel: str
    text: str
    recipient: str | None = None
    content_type: str | None = None


class PlainOutput:
    """Ordinary models: every token is final-channel text; an end token ends the turn."""

    def __init__(self, decode: Callable[[list[int]], str], end_ids: set[int]):
        self._decoder = StreamingDecoder(decode, skip_ids=end_ids)
        self._end_ids = end_ids
        self.finish_reason = "stop"

    def is_end(self, token: int) -> bool:
        return token in self._end_ids

    def feed(self, token: int) -> tuple[list[Piece], bool]:
        if token in self._end_ids:
            return [], True
        text = self._decoder.add(token)
        return ([Piece("final", text)] if text else []), False

    def close(self) -> list[Piece]:
        tail = self._decoder.flush()
        return [Piece("final", tail)] if tail else []


class HarmonyOutput:
    """GPT-OSS: tokens go through :class:`HarmonyStream`; ``<|return|>`` or ``<|call|>`` ends the turn."""

    def __init__(self, decode: Callable[[list[int]], str]):
        from ..harmony.stream import HarmonyStream

        self._stream = HarmonyStream(decode)
        self.finish_reason = "stop"

    @property
    def messages(self):
        return self._stream.messages

    def is_end(self, token: int) -> bool:
        return False  # stop tokens are part of the raw history; the stream decides

    def feed(self, token: int) -> tuple[list[Piece], bool]:
        pieces = self._convert(self._stream.feed(token))
        if self._stream.finished:
            if any(p.recipient for p in pieces) or any(m.recipient for m in self._stream.messages):
                self.finish_reason = "tool_calls"
            return pieces, True
        return pieces, False

    def close(self) -> list[Piece]:
        return self._convert(self._stream.close())

    @staticmethod
    def _convert(outputs) -> list[Piece]:
        from ..harmony.stream import ChannelText

        pieces = []
        for item in outputs:
            if isinstance(item, ChannelText):
                pieces.append(Piece(item.channel, item.text))
            else:
                pieces.append(Piece(item.channel, item.arguments, item.recipient, item.content_type))
        return pieces

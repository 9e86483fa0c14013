"""How generated tokens become text: plain detokenization or Harmony channels.

Both readers take one token at a time and return what it completed
(``ChannelText`` or ``ToolCallParsed``, from :mod:`..harmony.output`) and
whether the turn is over, so the generation loop is the same for every model.
"""

from __future__ import annotations

from typing import Callable

from ..detokenizer import StreamingDecoder
from ..harmony.output import ChannelText, Output
from ..harmony.stream import HarmonyStream


class PlainOutput:
    """Ordinary models: every token is final-channel text; an end token ends the turn."""

    def __init__(self, decode: Callable[[list[int]], str], end_ids: set[int]):
        self._decoder = StreamingDecoder(decode)
        self._end_ids = end_ids
        self.finish_reason = "stop"
        self.repairs: list[str] = []

    def is_end(self, token: int) -> bool:
        return token in self._end_ids

    def feed(self, token: int) -> tuple[list[Output], bool]:
        if token in self._end_ids:
            return [], True
        text = self._decoder.add(token)
        return ([ChannelText("final", text)] if text else []), False

    def close(self) -> list[Output]:
        tail = self._decoder.flush()
        return [ChannelText("final", tail)] if tail else []


class HarmonyOutput:
    """GPT-OSS: tokens go through :class:`HarmonyStream`; ``<|return|>`` or ``<|call|>`` ends the turn."""

    def __init__(self, decode: Callable[[list[int]], str]):
        self._stream = HarmonyStream(decode)
        self.finish_reason = "stop"

    @property
    def repairs(self) -> list[str]:
        """What was malformed in the model's Harmony output and recovered."""
        return self._stream.repairs

    def is_end(self, token: int) -> bool:
        return False  # stop tokens are part of the raw history; the stream decides

    def feed(self, token: int) -> tuple[list[Output], bool]:
        outputs = self._stream.feed(token)
        if not self._stream.finished:
            return outputs, False
        if any(m.recipient for m in self._stream.messages):
            self.finish_reason = "tool_calls"
        return outputs, True

    def close(self) -> list[Output]:
        return self._stream.close()

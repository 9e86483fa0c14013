"""How generated tokens become text: plain detokenization, tool calls in a chat template's format, or Harmony channels.

Every reader takes one token at a time and returns what it completed
(``ChannelText`` or ``ToolCallParsed``, from :mod:`..harmony.output`) and
whether the turn is over, so the generation loop is the same for every model.
"""

from __future__ import annotations

import json
from typing import Callable

from ..detokenizer import StreamingDecoder
from ..harmony.output import ChannelText, Output, ToolCallParsed
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


def _held_back(text: str, marker: str) -> int:
    """How many characters at the end of ``text`` could be the start of ``marker``."""
    for size in range(min(len(marker) - 1, len(text)), 0, -1):
        if marker.startswith(text[-size:]):
            return size
    return 0


class TemplateToolOutput(PlainOutput):
    """A model that calls tools through its chat template: text between the template's call markers is a call.

    ``parse`` is mlx-lm's parser for the format (see ``lm.tool_call_format``);
    text that might be the start of a marker is held back until it is known
    not to be. A call that cannot be read is shown as text and noted in
    ``repairs``; a turn with calls ends with ``finish_reason`` "tool_calls".
    """

    def __init__(self, decode: Callable[[list[int]], str], end_ids: set[int], start: str, end: str,
                 parse: Callable, tools: tuple[dict, ...]):
        super().__init__(decode, end_ids)
        self._start, self._end, self._parse, self._tools = start, end, parse, list(tools)
        self._pending = ""  # text not yet emitted (outside a call) or the call being written
        self._in_call = False

    def feed(self, token: int) -> tuple[list[Output], bool]:
        if token in self._end_ids:
            return self._finish(), True
        return self._scan(self._decoder.add(token)), False

    def close(self) -> list[Output]:
        return self._finish()

    def _scan(self, text: str) -> list[Output]:
        self._pending += text
        outputs: list[Output] = []
        while True:
            if not self._in_call:
                at = self._pending.find(self._start)
                if at < 0:
                    keep = _held_back(self._pending, self._start)
                    shown, self._pending = self._pending[: len(self._pending) - keep], self._pending[len(self._pending) - keep :]
                    if shown:
                        outputs.append(ChannelText("final", shown))
                    return outputs
                if at:
                    outputs.append(ChannelText("final", self._pending[:at]))
                self._pending, self._in_call = self._pending[at + len(self._start) :], True
            else:
                at = self._pending.find(self._end) if self._end else -1
                if at < 0:
                    return outputs
                outputs += self._calls(self._pending[:at])
                self._pending, self._in_call = self._pending[at + len(self._end) :], False

    def _finish(self) -> list[Output]:
        outputs = self._scan(self._decoder.flush())
        rest, self._pending = self._pending, ""
        if self._in_call:
            self._in_call = False
            outputs += self._calls(rest) if rest.strip() else []
        elif rest:
            outputs.append(ChannelText("final", rest))
        return outputs

    def _calls(self, text: str) -> list[Output]:
        try:
            parsed = self._parse(text, self._tools)
        except Exception as exc:  # noqa: BLE001  (every parser raises its own kind on text it cannot read)
            self.repairs.append(f"a tool call could not be read ({type(exc).__name__}: {str(exc)[:120]}); it is shown as text")
            return [ChannelText("final", self._start + text + self._end)]
        calls = parsed if isinstance(parsed, list) else [parsed]
        outputs: list[Output] = []
        for call in calls:
            if not isinstance(call, dict) or not isinstance(call.get("name"), str):
                self.repairs.append(f"a tool call without a function name: {str(call)[:120]}")
                continue
            arguments = call.get("arguments", {})
            text_arguments = arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)
            outputs.append(ToolCallParsed(call["name"], text_arguments, "commentary", "json"))
            self.finish_reason = "tool_calls"
        return outputs


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

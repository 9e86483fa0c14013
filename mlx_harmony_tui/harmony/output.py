"""What a model's generated tokens become: text on a channel, or a complete tool call."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ChannelText:
    """New text on ``channel`` (analysis, commentary or final)."""

    channel: str
    text: str


@dataclass(frozen=True)
class ToolCallParsed:
    """A complete tool call: ``recipient`` such as ``python`` or ``functions.get_weather``."""

    recipient: str
    arguments: str
    channel: str
    content_type: str | None


Output = ChannelText | ToolCallParsed

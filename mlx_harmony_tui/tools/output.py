"""What a tool call gives back to the model and to the screen."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ToolOutput:
    """A tool's result: ``text`` is what the model reads next.

    ``ok`` is False when the call failed for a reason the model caused or can
    react to (an exception in its code, a timeout, a hunk that does not match);
    the text then explains the failure. ``truncated`` says the text was cut to
    the tool's output limit.
    """

    text: str
    ok: bool = True
    truncated: bool = False


def truncate(text: str, limit: int) -> tuple[str, bool]:
    """Cut ``text`` to at most ``limit`` characters, saying how much was left out."""
    if len(text) <= limit:
        return text, False
    dropped = len(text) - limit
    return f"{text[:limit]}\n[... {dropped} more characters not shown]", True

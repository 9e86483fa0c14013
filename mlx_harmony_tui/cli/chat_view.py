"""How ``mlx-harmony-chat`` shows things: streamed answers, notes and errors.

In a terminal an answer is rendered as Markdown while it streams (a Rich
``Live`` region showing the newest lines, printed whole when the turn
ends), with GPT-OSS reasoning dimmed above it. Anywhere else, or with
``--no-markdown``, the text is written as it arrives, without escape codes:
answers and command output go to stdout, notes and errors to stderr, so a
script reads only what it asked for. Everything shown passes through
:func:`strip_controls`: a model, a tool or an MCP server never reaches the
terminal's control sequences (clipboard, title, cursor).
"""

from __future__ import annotations

import sys
import time
from typing import Protocol

from rich.console import Console, Group
from rich.live import Live
from rich.markdown import Markdown
from rich.segment import Segment
from rich.text import Text

from ..chat.terminal_text import ControlStripper, strip_controls

REFRESH_S = 0.1  # the Live region repaints at most this often, so rendering never slows decoding much


class AnswerView(Protocol):
    def add(self, channel: str, text: str) -> None: ...
    def tool_call(self, recipient: str, arguments: str) -> None: ...
    def close(self) -> None: ...


class _Fit:
    """A renderable drawn one column short of the screen, without trailing blanks (and, for the tail, only its last lines).

    A line that filled the last column leaves the cursor waiting to wrap, and
    terminals differ on what the next newline then does; where it wraps, the
    Live region's line count is short and its first line stays on screen, drawn
    again below. Keeping every line off the last column makes the count exact.
    """

    def __init__(self, renderable, tail: bool):
        self.renderable = renderable
        self.tail = tail

    def __rich_console__(self, console, options):
        width = max(options.max_width - 1, 1)
        lines = console.render_lines(self.renderable, options.update(width=width, height=None), pad=False)
        if self.tail:  # a Live region taller than the screen cannot repaint
            lines = lines[-max(1, console.size.height - 1) :]
        for i, line in enumerate(lines):
            yield from _without_trailing_blanks(line)
            if i < len(lines) - 1:
                yield Segment.line()


def _without_trailing_blanks(line: list[Segment]) -> list[Segment]:
    """``line`` without the spaces that only pad it to the width (spaces with a background colour stay)."""
    line = list(line)
    while line:
        segment = line[-1]
        if segment.control or (segment.style and segment.style.bgcolor):
            break
        text = segment.text.rstrip(" ")
        if text:
            line[-1] = Segment(text, segment.style)
            break
        line.pop()
    return line


class LiveAnswer:
    """One answer streamed into a Live region as Markdown, reasoning dimmed (or folded to one line) above it."""

    def __init__(self, console: Console, hide_analysis: bool):
        self._hide = hide_analysis
        self._analysis: list[str] = []
        self._final: list[str] = []
        self._calls: list[str] = []
        self._live = Live(console=console, auto_refresh=False, transient=False)
        self._live.start()
        self._shown = 0.0

    def _view(self) -> Group:
        parts = []
        reasoning = strip_controls("".join(self._analysis)).strip()
        if reasoning:
            text = f"(reasoning: {len(reasoning.split())} words)" if self._hide else reasoning
            parts.append(Text(text, style="dim italic"))
        parts += [Text(call, style="dim") for call in self._calls]
        final = strip_controls("".join(self._final))  # whole: a sequence split between pieces goes whole
        if final:
            parts.append(Markdown(final))
        return Group(*parts)

    def _refresh(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._shown >= REFRESH_S:
            self._shown = now
            self._live.update(_Fit(self._view(), tail=True), refresh=True)

    def add(self, channel: str, text: str) -> None:
        (self._final if channel == "final" else self._analysis).append(text)
        self._refresh()

    def tool_call(self, recipient: str, arguments: str) -> None:
        self._calls.append(strip_controls(f"→ {recipient}: {arguments}"))
        self._refresh(force=True)

    def close(self) -> None:
        self._live.update(_Fit(self._view(), tail=False))  # whole, not the tail: stop() prints it in full
        self._live.stop()


class PlainAnswer:
    """One answer written as it arrives: the final text to stdout; reasoning dimmed in a terminal, else to stderr."""

    def __init__(self, console: Console | None, hide_analysis: bool):
        self._console = console  # None when not a terminal
        self._hide = hide_analysis
        self._side = ""  # what the reasoning stream holds since the last final text: "", "text" or "hidden"
        self._hidden_words = 0
        self._final_open = False  # final text written and not yet ended by a newline
        self._final_text, self._aside_text = ControlStripper(), ControlStripper()

    def _aside(self, text: str, style: str = "dim italic") -> None:
        if self._console is not None:
            self._console.print(Text(text, style=style), end="", soft_wrap=True)
        else:
            sys.stderr.write(text)
            sys.stderr.flush()

    def _end_aside(self) -> None:
        rest = self._aside_text.end()
        if self._side == "text":
            self._aside(rest + "\n")
        elif self._side == "hidden" and self._console is not None:
            self._hidden_words += len(rest.split())
            self._aside(f"(reasoning: {self._hidden_words} words)\n")
        self._side = ""
        self._hidden_words = 0

    def _end_final(self) -> None:
        rest = self._final_text.end()
        if rest:
            sys.stdout.write(rest)
            self._final_open = True
        if self._final_open:
            sys.stdout.write("\n")
            self._final_open = False

    def add(self, channel: str, text: str) -> None:
        if not text:
            return
        if channel == "final":
            self._end_aside()
            shown = self._final_text.feed(text)
            if shown:
                sys.stdout.write(shown)
                sys.stdout.flush()
                self._final_open = True
            return
        self._end_final()
        shown = self._aside_text.feed(text)
        if self._hide:
            self._side = "hidden"
            self._hidden_words += len(shown.split())
        else:
            self._side = "text"
            if shown:
                self._aside(shown)

    def tool_call(self, recipient: str, arguments: str) -> None:
        self._end_final()
        self._end_aside()
        self._aside(strip_controls(f"→ {recipient}: {arguments}") + "\n", style="dim")

    def close(self) -> None:
        self._end_aside()
        self._final_open = True  # every answer ends with one newline, an empty one too
        self._end_final()
        sys.stdout.flush()


class ChatOutput:
    """Everything the chat prints, in a terminal (Rich) or plainly (pipes and files)."""

    def __init__(self, terminal: bool, markdown: bool, hide_analysis: bool):
        self.terminal = terminal
        self.markdown = markdown and terminal
        self.hide_analysis = hide_analysis
        self.console = Console(highlight=False) if terminal else None
        self._errors = Console(stderr=True, highlight=False) if terminal else None

    def answer(self) -> AnswerView:
        if self.markdown:
            return LiveAnswer(self.console, self.hide_analysis)
        return PlainAnswer(self.console, self.hide_analysis)

    def say(self, text: str) -> None:
        """Command output: stdout, always."""
        text = strip_controls(text)
        if self.console is not None:
            self.console.print(text, markup=False, emoji=False)
        else:
            print(text, flush=True)

    def note(self, text: str) -> None:
        """Something about the chat rather than in it: dimmed in a terminal, on stderr otherwise."""
        text = strip_controls(text)
        if self.console is not None:
            self.console.print(Text(text, style="dim"))
        else:
            print(text, file=sys.stderr, flush=True)

    def error(self, text: str) -> None:
        """One ``error:`` line on stderr (the chat goes on)."""
        text = strip_controls(text)
        if self._errors is not None:
            self._errors.print(Text(f"error: {text}", style="red"))
        else:
            print(f"error: {text}", file=sys.stderr, flush=True)

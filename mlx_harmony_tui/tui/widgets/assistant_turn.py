"""One answer as it streams: folding reasoning (GPT-OSS) above Markdown that renders block by block.

The text is kept as shown: its control characters written out (``\\x1b``), so nothing the model writes reaches the
terminal as a control sequence.
"""

from __future__ import annotations

from rich.markdown import Markdown as RichMarkdown
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Collapsible, Markdown, Static

from ...chat.terminal_text import show_controls


def settled_length(text: str) -> int:
    """How much of a growing Markdown text is whole blocks: up to its last blank line outside a code fence."""
    end = text.rfind("\n\n")
    while end > 0 and text.count("```", 0, end) % 2:
        end = text.rfind("\n\n", 0, end)
    return end + 2 if end > 0 else 0


def open_fence(text: str) -> bool:
    """Whether ``text`` ends inside a fenced code block (one opened and not yet closed)."""
    return text.count("```") % 2 == 1


def tail_view(tail: str, dark: bool = True):
    """The block being written: plain text, or, inside an open code fence, the code drawn as code (fence closed for it)."""
    if not open_fence(tail):
        return Text(tail)
    return RichMarkdown(tail.rstrip("`") + ("" if tail.endswith("\n") else "\n") + "```", code_theme="ansi_dark" if dark else "ansi_light")


class AssistantTurn(Vertical):
    """One answer: a collapsible reasoning section (GPT-OSS only) above the streamed Markdown answer.

    Whole Markdown blocks go through Textual's MarkdownStream as soon as they
    are complete; the block still being written shows as plain text below
    them, or as code when it is an unfinished code block. Re-rendering an unfinished block (a long list is one block) on every
    update would rebuild its widgets each time and take the CPU from the model.
    """

    DEFAULT_CLASSES = "turn assistant-turn"
    DEFAULT_CSS = """
    AssistantTurn { margin: 1 0 0 0; height: auto; padding: 0 1; border-left: thick $primary; }
    AssistantTurn Collapsible { background: $surface; }
    AssistantTurn .reasoning-text { color: $text-muted; }
    AssistantTurn .turn-footer { color: $text-muted; }
    AssistantTurn .answer { margin: 0; padding: 0; }
    AssistantTurn .answer-tail { margin: 0 0 1 0; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.reasoning: Collapsible | None = None
        self.reasoning_text = ""
        self.answer_text = ""
        self.answer = Markdown("", classes="answer")
        self.tail = Static("", classes="answer-tail", markup=False)  # the block being written
        self._settled = 0  # how much of answer_text the Markdown widget has
        self._stream = None
        self.footer = Static("", classes="turn-footer")
        self.footer_text = ""
        self.finished = False

    @classmethod
    def done(cls, answer: str, reasoning: str = "", footer: str = "") -> "AssistantTurn":
        """A finished turn, built whole before it is mounted (a saved answer brought back on screen)."""
        turn = cls()
        answer, reasoning = show_controls(answer), show_controls(reasoning)
        turn.answer_text, turn.reasoning_text, turn.footer_text = answer, reasoning, footer
        turn.answer = Markdown(answer, classes="answer")
        if reasoning:
            turn.reasoning = Collapsible(Static(Text(reasoning), classes="reasoning-text", markup=False), title="Reasoning", collapsed=True)
        turn.tail.display = False
        turn.footer.update(Text(footer))
        turn.finished = True
        return turn

    def compose(self) -> ComposeResult:
        if self.reasoning is not None:
            yield self.reasoning
        yield self.answer
        yield self.tail
        yield self.footer

    async def add_reasoning(self, text: str) -> None:
        if self.reasoning is None:
            self.reasoning = Collapsible(Static("", classes="reasoning-text", markup=False), title="Reasoning", collapsed=False)
            await self.mount(self.reasoning, before=self.answer)
        self.reasoning_text += show_controls(text)
        self.reasoning.query_one(".reasoning-text", Static).update(Text(self.reasoning_text))

    async def add_answer(self, text: str) -> None:
        if not self.answer_text and self.reasoning is not None:
            self.reasoning.collapsed = True  # the answer has started: fold the reasoning away
        self.answer_text += show_controls(text)
        settled = settled_length(self.answer_text)
        if settled > self._settled:
            if self._stream is None:
                self._stream = Markdown.get_stream(self.answer)
            await self._stream.write(self.answer_text[self._settled : settled])
            self._settled = settled
        self.tail.update(tail_view(self.answer_text[self._settled :], self.app.current_theme.dark))

    async def finish(self, footer: str) -> None:
        """End the stream with one full render of the answer, and show the turn's figures."""
        if self._stream is not None:
            await self._stream.stop()
            self._stream = None
        self.tail.display = False
        await self.answer.update(self.answer_text)
        self.footer_text = footer
        self.footer.update(Text(footer))
        self.finished = True


def done_footer(done) -> str:
    """The line under a finished answer: how it ended and its figures (from the engine's ``Done``)."""
    s = done.stats
    footer = f"{done.finish_reason} · {s.completion_tokens} tokens · TTFT {s.ttft_s:.2f} s · {s.decode_tps:.1f} tok/s"
    if s.cached_tokens:
        footer += f" · {s.cached_tokens} prompt tokens from cache"
    return footer

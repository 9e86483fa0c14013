"""Re-run view: each question of a saved chat, the original answer beside the new one, and their difference."""

from __future__ import annotations

import difflib

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Label, Markdown, Static

from ...chat.rerun import original_turns, rerun
from ...engine.events import Done, TextDelta
from ...errors import UserError
from ..commands import ScreenActions
from ..widgets import AssistantTurn


def answer_diff(old: str, new: str) -> Text:
    """Word by word: removed words struck through in red, added words in green, and how alike the two are."""
    a, b = old.split(), new.split()
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    text = Text()
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            text.append(" ".join(a[i1:i2]) + " ", style="dim")
            continue
        if op in ("delete", "replace"):
            text.append(" ".join(a[i1:i2]) + " ", style="red strike")
        if op in ("insert", "replace"):
            text.append(" ".join(b[j1:j2]) + " ", style="green")
    text.append(f"\n{matcher.ratio():.0%} alike", style="bold")
    return text


class RerunEvent(Message):
    def __init__(self, index: int, event):
        super().__init__()
        self.index = index
        self.event = event


class RerunFinished(Message):
    def __init__(self, error: str | None = None):
        super().__init__()
        self.error = error


class RerunScreen(Screen[None]):
    """Runs :func:`chat.rerun.rerun` in a worker thread and shows the answers side by side as they stream."""

    COMMANDS = {ScreenActions}
    BINDINGS = [
        Binding("escape", "close", "Stop / close", id="rerun_close"),
    ]
    DEFAULT_CSS = """
    #rerun-list { height: 1fr; padding: 0 1; }
    .rerun-question { background: $surface; border-left: thick $secondary; padding: 0 1; margin-top: 1; }
    .rerun-pair { height: auto; }
    .rerun-side { width: 1fr; height: auto; padding: 0 1; }
    .rerun-heading { color: $text-muted; text-style: bold; }
    .rerun-diff { padding: 0 1; border-left: thick $accent; height: auto; }
    #rerun-status { height: 1; background: $panel; padding: 0 1; }
    """

    def __init__(self, session, log):
        super().__init__()
        self.session = session
        self.chat_log = log
        chat = log.read()
        self.title_text = chat.metadata.title or log.chat_id
        self.turns, _ = original_turns(chat)
        self.new_answers: list[AssistantTurn] = []
        self.running = True
        self.done = 0

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="rerun-list"):
            for i, turn in enumerate(self.turns):
                yield Static(Text(turn.question), classes="rerun-question")
                with Horizontal(classes="rerun-pair"):
                    with Vertical(classes="rerun-side"):
                        yield Label("original", classes="rerun-heading")
                        yield Markdown(turn.answer or "_(no answer)_")
                    with Vertical(classes="rerun-side"):
                        yield Label(f"now: {self.session.info.name}", classes="rerun-heading")
                        answer = AssistantTurn()
                        self.new_answers.append(answer)
                        yield answer
                yield Static("", classes="rerun-diff", id=f"diff-{i}")
        yield Label("", id="rerun-status")
        yield Footer()

    def on_mount(self) -> None:
        self._status()
        self._run()

    def _status(self, note: str = "") -> None:
        state = "running" if self.running else "finished"
        self.query_one("#rerun-status", Label).update(
            f"re-run · {self.title_text} · {self.done}/{len(self.turns)} answers · {state}"
            + (f" · {note}" if note else "") + " · saved as a new branch of the chat"
        )

    @work(thread=True, exclusive=True, group="rerun")
    def _run(self) -> None:
        try:
            for index, event in rerun(self.session, self.chat_log):
                self.post_message(RerunEvent(index, event))
                if not self.running:
                    break
        except UserError as exc:
            self.post_message(RerunFinished(str(exc)))
            return
        self.post_message(RerunFinished())

    async def on_rerun_event(self, message: RerunEvent) -> None:
        turn = self.new_answers[message.index]
        event = message.event
        if isinstance(event, TextDelta) and event.text:
            if event.channel == "final":
                await turn.add_answer(event.text)
            else:
                await turn.add_reasoning(event.text)
        elif isinstance(event, Done):
            await turn.finish(f"{event.finish_reason} · {event.stats.completion_tokens} tokens · {event.stats.decode_tps:.1f} tok/s")
            self.done += 1
            diff = self.query_one(f"#diff-{message.index}", Static)
            diff.update(answer_diff(self.turns[message.index].answer, turn.answer_text))
            turn.scroll_visible()
            self._status()

    def on_rerun_finished(self, message: RerunFinished) -> None:
        self.running = False
        if message.error:
            self.notify(message.error, severity="error")
        self._status(message.error or "")

    def action_close(self) -> None:
        if self.running:
            self.running = False
            self.session.cancel()
            self._status("stopping")
            return
        self.dismiss(None)

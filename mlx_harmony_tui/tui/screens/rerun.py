"""Re-run view: each question of a saved chat, the original answer beside the new one, and their difference.

The re-run runs beside the chat: Esc goes back to the chat while it goes on
(the engine decodes both), ctrl+g comes back to it, x stops it.
"""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Label, Markdown, Static

from ...chat.rerun import Rerun
from ...chat.terminal_text import show_controls
from ...engine.events import Done, TextDelta
from ...errors import UserError
from ..answer_diff import answer_diff
from ..commands import ScreenActions
from ..widgets import AssistantTurn


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
    """Runs a :class:`chat.rerun.Rerun` in a worker thread and shows the answers side by side as they stream."""

    COMMANDS = {ScreenActions}
    BINDINGS = [
        Binding("escape", "close", "Back to chat", id="rerun_close"),
        Binding("x", "stop", "Stop re-run", id="rerun_stop"),
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
        self.rerun = Rerun(session, log)
        self.title_text = show_controls(log.read().metadata.title or log.chat_id)
        self.turns = self.rerun.turns
        self.new_answers: list[AssistantTurn] = []
        self.running = True
        self.done = 0

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="rerun-list"):
            for i, turn in enumerate(self.turns):
                yield Static(Text(show_controls(turn.question)), classes="rerun-question")
                with Horizontal(classes="rerun-pair"):
                    with Vertical(classes="rerun-side"):
                        yield Label("original", classes="rerun-heading")
                        yield Markdown(show_controls(turn.answer) or "_(no answer)_")
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
            for index, event in self.rerun:
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
            diff.update(answer_diff(show_controls(self.turns[message.index].answer), turn.answer_text))
            turn.scroll_visible()
            self._status()

    def on_rerun_finished(self, message: RerunFinished) -> None:
        self.running = False
        if message.error:
            self.notify(message.error, severity="error")
        elif not self.is_current:
            self.notify(f"Re-run finished: {self.done}/{len(self.turns)} answers, saved as a new branch of "
                        f"{self.title_text} (ctrl+g shows them).")
        self._status(message.error or "")

    def action_stop(self) -> None:
        """Stop the re-run; the answers so far stay saved."""
        if self.running:
            self.running = False
            self.rerun.cancel()
            self._status("stopping")

    def action_close(self) -> None:
        """Back to the chat: a running re-run goes on (ctrl+g returns here); a finished one closes."""
        self.dismiss(None)

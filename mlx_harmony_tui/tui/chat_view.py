"""The chat view: the conversation, the message box, the sampling and tool panes, the status bar.

It draws the session's turns as they stream and turns keys into the chat
layer's actions (send, cancel, regenerate, edit, branches, export); the
session itself, and everything that loads or switches it, belongs to the app.
"""

from __future__ import annotations

from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widget import Widget

from ..chat.branches import branch_choices, message_versions, other_version
from ..chat.export import export_chat
from ..chat.session import TurnFailed
from ..config.sampling import SamplingParams
from ..config.settings import export_folder
from ..engine.events import Done, Notice, StatsUpdate, TextDelta, ToolCall, ToolResult
from ..errors import UserError
from .batching import TextBatcher
from .chat_compare import Comparing
from .chat_edit import Editing
from .clipboard import copy_text, last_code_block
from .messages import EngineEvent, SessionReady, TurnEnded, VersionsFound, WorkFailed
from .screens.pickers import BranchPicker
from .screens.value_entry import ValueEntry
from .widgets import AssistantTurn, ChatInput, Conversation, SamplingPanel, Slider, StatusBar, ToolCallsPane, UserTurn
from .widgets.assistant_turn import done_footer
from .widgets.compare_turn import CompareTurn

RUNNING_POLL_S = 0.5  # how often the status bar asks the engine how many generations run
NARROW = 100  # below this many columns the sidebar starts hidden (F4/F5 bring it back)
BUSY = "Esc first: an answer is still coming."
PLACEHOLDER = "Ask something… (Enter sends, ctrl+j starts a new line)"


class ChatView(Comparing, Editing, Widget):
    DEFAULT_CSS = "ChatView { height: 1fr; }"

    def __init__(self, id: str | None = None) -> None:
        super().__init__(id=id)
        self.busy = False  # an answer is being generated
        self._sidebar_auto = True
        self._pending_calls: list = []  # tool-call views waiting for their result, oldest first

    def compose(self) -> ComposeResult:
        with Horizontal(id="main"):
            with Vertical(id="chat-column"):
                yield Conversation(id="conversation")
                yield ChatInput(id="chat-input", soft_wrap=True, show_line_numbers=False, placeholder=PLACEHOLDER)
            with Vertical(id="sidebar"):
                yield SamplingPanel(SamplingParams().model_dump(), id="sampling")
                yield ToolCallsPane(id="tools")
        yield StatusBar(id="status")

    def on_mount(self) -> None:
        self.conversation.anchor()
        self.query_one(ChatInput).focus()
        self.status.state = "loading…"
        self.set_interval(RUNNING_POLL_S, self._show_running)
        self.app.start_session()  # the first frame is up; the model loads in the background

    def _show_running(self) -> None:
        session = self.session
        running = session.generator.running if session is not None else 0
        self.status.running = f"{running} generating" if running else ""

    @property
    def session(self):
        return self.app.session

    @property
    def status(self) -> StatusBar:
        return self.query_one(StatusBar)

    @property
    def conversation(self) -> Conversation:
        return self.query_one(Conversation)

    # --- the session as it changes ------------------------------------------------------------------

    async def show_session(self, message: SessionReady) -> None:
        """A session is ready: show its model, profile and sampling (and a chat it opened)."""
        session = self.session
        if message.history is not None:
            await self._show(message.history)
        info = session.info
        self.status.model = info.name
        self.status.device = info.device
        self.status.show_ranks(info.ranks, info.rank_memory_gb)
        self.status.profile = session.settings.profile or "—"
        panel = self.query_one(SamplingPanel)
        panel.set_values(session.sampling.model_dump())
        panel.show_effort(session.prompt(tools=False).harmony.reasoning_effort if info.is_gpt_oss else None)
        self.status.state = "ready"
        greeting = session.settings.greeting()
        if greeting and not session.history and not self.conversation.turns:
            turn = AssistantTurn()  # shown only: the model never saw it, so it is not part of the history
            await self.conversation.add(turn)
            await turn.add_answer(greeting)
            await turn.finish("greeting from the prompt config")

    async def _show(self, history: list[dict]) -> None:
        """Replace what the conversation shows with ``history`` (a chat opened, a branch switched)."""
        self._drop_choice()
        self._stop_editing()
        await self.conversation.clear()
        await self.query_one(ToolCallsPane).clear()
        await self.conversation.show_history(history)
        self._mark_versions()

    # --- sending -----------------------------------------------------------------------------------

    @on(ChatInput.Submitted)
    async def send_message(self, message: ChatInput.Submitted) -> None:
        if self.session is None:
            self.notify("The model is still loading.", severity="warning")
            return
        if self.busy:
            self.notify("An answer is still coming: Esc cancels it.", severity="warning")
            return
        self.query_one(ChatInput).text = ""
        if self._editing is not None:
            await self._send_edit(message.text)
        else:
            await self._ask(message.text)

    async def _ask(self, text: str) -> None:
        self._drop_choice()
        contender, self.compare_next = self.compare_next, None
        user_turn = UserTurn(text)
        turn = AssistantTurn() if contender is None else CompareTurn(self._label_a(), contender.label)
        await self.conversation.add(user_turn, turn)
        self.busy = True
        self.status.state = "generating" if contender is None else f"comparing with {contender.label}"
        self.status.ttft = self.status.speed = ""
        self.app.chat_idle.clear()
        if contender is None:
            self._generate(text, turn, user_turn)
        else:
            self._compare(text, contender, turn, user_turn)

    @work(thread=True, group="generate")
    def _generate(self, text: str, turn: AssistantTurn, user_turn: UserTurn) -> None:
        idle = self.app.chat_idle  # now: once the app is closing, self.app fails on this thread
        try:
            self._run_turn(text, turn, user_turn)
        finally:
            idle.set()  # the answer, cancelled or not, is saved: the app may close

    def _run_turn(self, text: str, turn: AssistantTurn, user_turn: UserTurn) -> None:
        shown = [turn]  # the answer being drawn; each tool step gets a new one
        batch = TextBatcher(lambda delta: self.post_message(EngineEvent(delta, shown[0])))
        try:
            for event in self.session.send(text):
                if user_turn.log_id is None:
                    user_turn.log_id = self.session.last_user_id  # read by the UI only after TurnEnded
                if isinstance(event, TextDelta):
                    batch.add(event)
                    continue
                batch.flush()
                self.post_message(EngineEvent(event, shown[0]))
                if isinstance(event, ToolResult):
                    shown[0] = self.app.call_from_thread(self._next_step_turn)  # the model goes on after reading the result
            batch.flush()
        except TurnFailed as exc:
            self.post_message(TurnEnded(user_turn, exc))
            return
        except UserError as exc:
            self.post_message(WorkFailed(str(exc)))
        except Exception as exc:  # a bug: show it, keep the app alive
            self.post_message(WorkFailed(f"internal error: {type(exc).__name__}: {exc}"))
        self.post_message(TurnEnded(user_turn))

    async def _next_step_turn(self) -> AssistantTurn:
        turn = AssistantTurn()
        await self.conversation.add(turn)
        return turn

    async def on_engine_event(self, message: EngineEvent) -> None:
        event, turn = message.event, message.turn
        if isinstance(event, TextDelta):
            await (turn.add_answer(event.text) if event.channel == "final" else turn.add_reasoning(event.text))
        elif isinstance(event, ToolCall):
            view = await self.query_one(ToolCallsPane).add_call(event.recipient, event.arguments, event.channel)
            if self.session.tools is None or not self.session.tools.active:
                view.set_result("not run", "Tools are off: start with --python, --browser, --apply-patch or --mcp, "
                                           "use a profile with tools, or add mcpServers to settings.json.")
            else:
                self._pending_calls.append(view)
                self.status.state = f"running {event.recipient}"
        elif isinstance(event, Notice):
            if event.severity == "warning":
                self.notify(event.text, severity="warning", timeout=15, markup=False)
            else:
                self.status.state = event.text
        elif isinstance(event, ToolResult):
            if self._pending_calls:
                self._pending_calls.pop(0).set_result(event.status, event.output, event.duration_s)
        elif isinstance(event, (StatsUpdate, Done)):
            self.status.show_stats(event.stats, self.session.settings.max_context_tokens or self.session.info.context_length)
        if isinstance(event, Done):
            await turn.finish(done_footer(event))
            if event.repairs:
                self.notify("The model's Harmony output was malformed and was recovered: " + "; ".join(event.repairs), severity="warning")

    async def on_turn_ended(self, message: TurnEnded) -> None:
        self.busy = False
        self.status.state = "ready"
        self._show_running()  # now, not at the next poll: the engine has let the answer go before its Done
        self._pending_calls.clear()
        box = self.query_one(ChatInput)
        box.focus()  # the answer is in: the next thing typed is the next question
        failure = message.failure
        if failure is not None:
            await self.conversation.remove_from(message.user_turn)  # nothing of the turn stays: not on screen, not in the log
            if failure.text and not box.text:
                box.text = failure.text
            self.notify(str(failure), severity="error", timeout=10)
            return
        self._mark_versions()

    # --- actions ---------------------------------------------------------------------------------

    def action_cancel(self) -> None:
        """Esc: stop the answer being written (both answers of a comparison), or leave an edit; back to the message box."""
        if self.busy and self.session is not None:
            self.session.cancel()
            self.cancel_comparison()
            self.status.state = "cancelling"
        elif self._stop_editing():
            self.notify("Not edited: the question stays as it was.")
        self.query_one(ChatInput).focus()

    def on_key(self, event) -> None:
        """A character typed while a slider has focus is meant for the message box: it goes there."""
        if isinstance(self.app.focused, Slider) and event.is_printable and event.character:
            event.stop()
            event.prevent_default()
            box = self.query_one(ChatInput)
            box.focus()
            box.insert(event.character)

    async def action_new_chat(self) -> None:
        if self.busy:
            self.notify(BUSY, severity="warning")
            return
        self._drop_choice()
        self._stop_editing()
        await self.conversation.clear()
        await self.query_one(ToolCallsPane).clear()
        self.query_one(ChatInput).focus()  # what had it (a comparison's Keep button, a message) may be gone
        self.status.clear_stats()  # the figures were the old chat's
        if self.session is None:
            self.app.start_session()
            return
        self._new_conversation()

    @work(thread=True, group="session")
    def _new_conversation(self) -> None:
        try:
            self.session.new_conversation()
        except UserError as exc:
            self.app.post_message(WorkFailed(str(exc)))
            return
        self.app.post_message(SessionReady(["new chat"]))

    async def _take_back_last_turn(self) -> str | None:
        """Remove the last exchange from the session and the screen; return the user's text."""
        if self.busy or self.session is None:
            return None
        text = self.session.take_back()
        if text is not None:
            users = list(self.query(UserTurn))
            if users:
                await self.conversation.remove_from(users[-1])
        return text

    async def action_regenerate(self) -> None:
        self._stop_editing()
        text = await self._take_back_last_turn()
        if text is not None:
            await self._ask(text)

    async def action_show_earlier(self) -> None:
        if await self.conversation.show_earlier():
            self._mark_versions()

    def on_conversation_earlier_shown(self) -> None:
        self._mark_versions()

    # --- panes, copy, export ------------------------------------------------------------------------

    def action_toggle_reasoning(self) -> None:
        sections = [t.reasoning for t in self.query(AssistantTurn) if t.reasoning is not None]
        collapse = not all(s.collapsed for s in sections)
        for section in sections:
            section.collapsed = collapse

    def on_resize(self, event) -> None:
        if self._sidebar_auto:  # narrow terminals give the conversation the whole width
            self.query_one("#sidebar").display = event.size.width >= NARROW

    def _toggle_pane(self, pane) -> None:
        sidebar = self.query_one("#sidebar")
        self._sidebar_auto = False
        if not sidebar.display:
            sidebar.display = True
            pane.display = True
        else:
            pane.display = not pane.display
        sidebar.display = any(child.display for child in sidebar.children)

    def action_toggle_sampling(self) -> None:
        self._toggle_pane(self.query_one(SamplingPanel))

    def action_toggle_tools(self) -> None:
        self._toggle_pane(self.query_one(ToolCallsPane))

    def _last_answer(self) -> str:
        answers = [t.answer_text for t in self.query(AssistantTurn) if t.answer_text]
        return answers[-1] if answers else ""

    def action_copy_answer(self) -> None:
        if self._last_answer():
            copy_text(self.app, self._last_answer())

    def action_copy_code(self) -> None:
        block = last_code_block(self._last_answer())
        if block is None:
            self.notify("The last answer has no code block.", severity="warning")
        else:
            copy_text(self.app, block)

    def action_export(self, fmt: str = "md") -> None:
        if self.session is None or self.session.log is None:
            return
        if not self.session.log.saved:
            self.notify("Nothing to export yet: this chat has no messages.", severity="warning")
            return
        try:
            path = export_chat(self.session.log, fmt, export_folder(self.app.app_settings), head=self.session.log.head)
        except UserError as exc:
            self.notify(f"not exported: {exc}", severity="error")
            return
        self.notify(f"Exported to {path}")

    @work(thread=True, exclusive=True, group="versions")
    def _mark_versions(self) -> None:
        """Show on each user turn how many versions of it the log holds (the log is read off the UI thread)."""
        log = self.session.log if self.session is not None else None
        if log is not None:
            try:
                self.post_message(VersionsFound(message_versions(log)))
            except UserError:
                return

    def on_versions_found(self, message: VersionsFound) -> None:
        self.conversation.show_versions(message.found)

    @on(UserTurn.VersionRequested)
    async def switch_version(self, message: UserTurn.VersionRequested) -> None:
        if self.busy or self.session is None or self.session.log is None or message.turn.log_id is None:
            return
        found = other_version(self.session.log, message.turn.log_id, message.step)
        if found is not None:
            await self.show_branch(*found)

    async def show_branch(self, leaf_id: str, focus: str | None = None) -> None:
        """Show the saved branch ending at ``leaf_id`` and continue from there."""
        self.session.show_branch(leaf_id)
        await self._show(list(self.session.history))
        self.conversation.focus_turn(focus)

    def action_pick_branch(self) -> None:
        if self.busy or self.session is None or self.session.log is None:
            return
        choices = branch_choices(self.session.log)
        if len(choices) < 2:
            self.notify("This chat has one branch.")
            return

        async def chosen(leaf_id: str | None) -> None:
            if leaf_id:
                await self.show_branch(leaf_id)

        self.app.push_screen(BranchPicker(choices), chosen)

    # --- sampling controls ------------------------------------------------------------------------------

    def _update_sampling(self, **changes: Any) -> None:
        if self.session is not None:
            try:
                self.session.update_sampling(**changes)
            except UserError as exc:
                self.notify(str(exc), severity="error")

    @on(Slider.Changed)
    def slider_changed(self, message: Slider.Changed) -> None:
        self._update_sampling(**{message.slider.spec.field: int(message.value) if message.slider.spec.integer else message.value})

    @on(Slider.EditRequested)
    def slider_edit(self, message: Slider.EditRequested) -> None:
        self.app.push_screen(ValueEntry(message.slider))

    @on(SamplingPanel.SeedChanged)
    def seed_changed(self, message: SamplingPanel.SeedChanged) -> None:
        self._update_sampling(seed=message.seed)

    @on(SamplingPanel.EffortChanged)
    def effort_changed(self, message: SamplingPanel.EffortChanged) -> None:
        if self.session is not None:
            self.session.reasoning_effort = message.effort
            self.notify(f"Reasoning effort {message.effort} from the next answer.")

"""``mlx-harmony``: the full-screen chat app.

The UI thread never waits on the model. A :class:`ChatSession` does the
work in worker threads (loading, generating, switching profile), and every
engine event comes back as a Textual message. Esc cancels through the
engine, which stops before the next token; sliders change the running
generation's sampling from the next token. Every completed or cancelled
message is saved through the chat log store.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.events import Click
from textual.message import Message
from textual.widgets import Footer, Static

from ..errors import UserError
from ..models.catalog import known_models
from .screen_commands import ListedCommands
from .screens import HelpScreen, ProfilePicker
from .widgets import AssistantTurn, ChatInput, SamplingPanel, Slider, StatusBar, ToolCallsPane, UserTurn

NARROW = 100  # below this many columns the sidebar starts hidden (F4/F5 bring it back)
FLUSH_S = 0.15  # streamed text reaches the screen in batches at most this far apart
KEEP_TURNS = 60  # older turns leave the screen (they stay in the log) so long chats stay fast
SHOW_ON_OPEN = 20  # messages shown when a saved chat opens (opening a 2,000-message chat stays well under 1 s)

# --- messages from worker threads -------------------------------------------------------------------


@dataclass
class StartOptions:
    model: str | None = None
    profile: str | None = None
    profiles_file: str | None = None
    prompt_config: str | None = None
    chat: str | None = None
    tools: Any = None  # tools.toolbox.ToolOptions from the flags; None: only a profile's tools


class EngineEvent(Message):
    def __init__(self, event: Any, turn: AssistantTurn):
        super().__init__()
        self.event = event
        self.turn = turn


class Loading(Message):
    def __init__(self, stage: str, fraction: float):
        super().__init__()
        self.stage = stage
        self.fraction = fraction


class SessionReady(Message):
    def __init__(self, note: str | None = None):
        super().__init__()
        self.note = note


class EarlierTurns(Static):
    """The note above the conversation about messages off screen; a click brings some back."""


class GenerationEnded(Message):
    """The worker has finished the whole turn (every tool step included)."""


class WorkFailed(Message):
    def __init__(self, text: str, turn: AssistantTurn | None = None):
        super().__init__()
        self.text = text
        self.turn = turn


# --- command palette -------------------------------------------------------------------------------


class HarmonyCommands(ListedCommands):
    """Profiles, themes, new chat, export, panes."""

    def _commands(self) -> list[tuple[str, Any, str]]:
        app: HarmonyApp = self.app  # type: ignore[assignment]
        profiles = app.profiles()
        commands = [(f"Profile: {name}", partial(app.switch_profile, name), "switch to this profile") for name in profiles]
        commands += [
            (f"Model: {label}", partial(app.switch_model, spec), "load this model, keep the conversation")
            for label, spec in known_models([p.model for p in profiles.values()])
        ]
        commands += [(f"Theme: {name}", partial(setattr, app, "theme", name), "use this theme") for name in sorted(app.available_themes)]
        commands += [
            ("New chat", app.action_new_chat, "start a new conversation"),
            ("Open log browser", app.action_open_logs, "every saved chat: search, open, replay, re-run, rename, delete"),
            ("Show earlier messages", app.action_show_earlier, "bring back messages that scrolled off the top"),
            ("Switch branch", app.action_pick_branch, "show another version of this chat (edits and regenerations)"),
            ("Replay this chat", partial(app.action_replay_current), "play this chat back as it happened"),
            ("Re-run this chat", partial(app.action_rerun_current), "ask every question again with the current model"),
            ("Export chat as Markdown", app.action_export, "write the chat to a .md file in the current folder"),
            ("Export chat as JSON", partial(app.action_export, "json"), "write the chat to a .json file in the current folder"),
            ("Toggle sampling pane", app.action_toggle_sampling, "show or hide the sliders"),
            ("Toggle tool calls pane", app.action_toggle_tools, "show or hide tool calls"),
            ("Toggle reasoning", app.action_toggle_reasoning, "expand or collapse every reasoning section"),
            ("Copy last answer", app.action_copy_answer, "to the clipboard"),
            ("Help", app.action_help, "every key binding"),
        ]
        return commands


# --- the app -----------------------------------------------------------------------------------------


class HarmonyApp(App):
    CSS_PATH = str(Path(__file__).with_name("app.tcss"))
    TITLE = "mlx-harmony"
    COMMANDS = App.COMMANDS | {HarmonyCommands}
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="cancel"),
        Binding("ctrl+n", "new_chat", "New chat", id="new_chat"),
        Binding("ctrl+r", "regenerate", "Regenerate", id="regenerate"),
        # priority: these keys would otherwise be taken by the focused input box (end of line, redo, kill line)
        Binding("ctrl+e", "edit_last", "Edit last", id="edit_last", priority=True),
        Binding("f2", "pick_profile", "Profiles", id="pick_profile"),
        Binding("ctrl+o", "open_logs", "Logs", id="open_logs"),
        Binding("ctrl+b", "pick_branch", "Branches", id="pick_branch", show=False),
        Binding("ctrl+l", "show_earlier", "Earlier messages", id="show_earlier", show=False),
        Binding("f3", "toggle_reasoning", "Reasoning", id="toggle_reasoning"),
        Binding("f4", "toggle_sampling", "Sampling", id="toggle_sampling"),
        Binding("f5", "toggle_tools", "Tools", id="toggle_tools"),
        Binding("ctrl+y", "copy_answer", "Copy answer", id="copy_answer", priority=True),
        Binding("ctrl+k", "copy_code", "Copy code", id="copy_code", show=False, priority=True),
        Binding("f1", "help", "Help", id="help"),
        Binding("ctrl+q", "quit", "Quit", id="quit"),
    ] + [Binding(f"alt+{i}", f"profile_number({i})", f"profile {i}", show=False, id=f"profile_{i}") for i in range(1, 10)]

    def __init__(self, options: StartOptions | None = None, settings=None):
        super().__init__()
        from ..config.settings import AppSettings

        self.options = options or StartOptions()
        self.app_settings = settings or AppSettings()
        self.session = None
        self.busy = False
        self._turn: AssistantTurn | None = None
        self._sidebar_auto = True
        self._hidden: list[dict] = []  # messages off the top of the screen, oldest first (see KEEP_TURNS)
        self._pending_calls: list = []  # tool-call views waiting for their result, oldest first

    # layout --------------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Horizontal(id="main"):
            with Vertical(id="chat-column"):
                yield VerticalScroll(id="conversation")
                yield ChatInput(id="chat-input", soft_wrap=True, show_line_numbers=False)
            with Vertical(id="sidebar"):
                from ..engine.sampling_params import SamplingParams

                yield SamplingPanel(SamplingParams().model_dump(), id="sampling")
                yield ToolCallsPane(id="tools")
        yield StatusBar(id="status")
        yield Footer()

    def on_mount(self) -> None:
        from .themes import load_themes

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for theme in load_themes():
                self.register_theme(theme)
        for warning in caught:
            self.notify(str(warning.message), severity="warning")
        if self.app_settings.theme in self.available_themes:
            self.theme = self.app_settings.theme
        if self.app_settings.keymap:
            self.set_keymap(self.app_settings.keymap)
        self.query_one("#conversation", VerticalScroll).anchor()
        self.query_one(ChatInput).focus()
        self.status.state = "loading…"
        self.start_session()

    @property
    def status(self) -> StatusBar:
        return self.query_one(StatusBar)

    # session in a worker thread --------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="session")
    def start_session(self) -> None:
        from ..chat.session import ChatSession
        from ..config.resolve import resolve_run_settings

        o = self.options
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                profile = o.profile or (self.app_settings.default_profile if not (o.model or o.prompt_config) else None)
                settings = resolve_run_settings(
                    model=o.model, prompt_config=o.prompt_config, profile=profile, profiles_file=o.profiles_file
                )
            for warning in caught:
                self.post_message(WorkFailed(str(warning.message)))
            session = ChatSession(settings, profiles_file=o.profiles_file, progress=self._progress, tools=self._toolbox())
            if o.chat:
                note = self._resume(session, o.chat)
            else:
                session.start_log()
                note = None
        except UserError as exc:
            self.post_message(WorkFailed(str(exc)))
            return
        self.session = session
        self.post_message(SessionReady(note))

    def _toolbox(self):
        """The session's tools: the flags' choice (approval from settings unless the flags say auto)."""
        from ..tools.toolbox import ToolBox, ToolOptions

        options = (self.options.tools or ToolOptions()).under_policy(self.app_settings.tool_approval)
        return ToolBox(options, approve=self._approve)

    def _approve(self, request) -> bool:
        """Called on the generation thread: show the approval screen and wait for the answer."""
        import threading

        from .approval import ToolApproval

        answered = threading.Event()
        answer: list[str] = []

        def done(choice: str | None) -> None:
            answer.append(choice or "decline")
            answered.set()

        self.call_from_thread(self.push_screen, ToolApproval(request), done)
        while not answered.wait(0.2):
            if not self.is_running:
                return False  # the app is closing: nobody will answer
        if answer[0] == "always" and self.session is not None and self.session.tools is not None:
            self.session.tools.allow_all()
        return answer[0] in ("run", "always")

    def _resume(self, session, ref: str, clear: bool = False) -> str:
        from ..logs.store import ChatStore

        log = ChatStore().open(ref)
        notes = session.resume(log, progress=self._progress)
        if clear:
            self.call_from_thread(self._clear_conversation)
        self.call_from_thread(self._show_history, list(session.history))
        self.call_from_thread(self._mark_versions)
        title = log.read().metadata.title or log.chat_id
        return "; ".join([f"resumed {title} ({len(session.history)} messages)", *notes])

    @property
    def hidden_turns(self) -> int:
        return len(self._hidden)

    async def _clear_conversation(self) -> None:
        await self.query_one("#conversation", VerticalScroll).remove_children()
        await self.query_one(ToolCallsPane).clear()
        self._hidden = []

    async def _show_history(self, history: list[dict]) -> None:
        conversation = self.query_one("#conversation", VerticalScroll)
        shown = [e for e in history if e["role"] in ("user", "assistant")]
        cut = max(len(shown) - SHOW_ON_OPEN, 0)
        await self._note_hidden(conversation, shown[:cut])
        await conversation.mount_all(self._turn_widgets(shown[cut:]))

    def _turn_widgets(self, entries: list[dict]) -> list:
        """Finished turn widgets for history ``entries`` (user and assistant messages)."""
        widgets = []
        for entry in entries:
            if entry["role"] == "user":
                widgets.append(UserTurn(entry["content"], entry.get("log_id")))
            else:
                widgets.append(AssistantTurn.done(entry["content"], entry.get("analysis") or "", entry.get("footer", "")))
        return widgets

    def _progress(self, stage: str, fraction: float) -> None:
        self.post_message(Loading(stage, fraction))

    def on_loading(self, message: Loading) -> None:
        self.status.state = f"loading {int(message.fraction * 100)}% · {message.stage}"

    async def on_session_ready(self, message: SessionReady) -> None:
        self._refresh_session_view()
        self.status.state = "ready"
        if message.note:
            self.notify(message.note)
        unused = self.session.tools.unused_note(self.session.info.name, self.session.info.is_gpt_oss) if self.session.tools else None
        if unused:
            self.notify(unused, severity="warning")
        greeting = self.session.settings.greeting()
        conversation = self.query_one("#conversation", VerticalScroll)
        if greeting and not self.session.history and not conversation.children:
            turn = AssistantTurn()  # shown only: the model never saw it, so it is not part of the history
            await conversation.mount(turn)
            await turn.add_answer(greeting)
            await turn.finish("greeting from the prompt config")

    def on_work_failed(self, message: WorkFailed) -> None:
        self.notify(message.text, severity="error", timeout=10)
        if self.session is None:
            self.status.state = "no model (fix the error, then ctrl+n or pick a profile)"
        else:
            self.status.state = "ready"
        self.busy = False

    def _refresh_session_view(self) -> None:
        session = self.session
        info = session.info
        self.status.model = info.name
        self.status.profile = session.settings.profile or "—"
        panel = self.query_one(SamplingPanel)
        panel.set_values(session.generator.sampling.model_dump())
        panel.show_effort(session.prompt()[1].reasoning_effort if info.is_gpt_oss else None)
        self.sub_title = f"{info.name}" + (f" · {session.settings.profile}" if session.settings.profile else "")

    # sending ------------------------------------------------------------------------------------------

    @on(ChatInput.Submitted)
    async def send_message(self, message: ChatInput.Submitted) -> None:
        if self.session is None:
            self.notify("The model is still loading.", severity="warning")
            return
        if self.busy:
            self.notify("An answer is still coming: Esc cancels it.", severity="warning")
            return
        self.query_one(ChatInput).text = ""
        await self._ask(message.text)

    async def _ask(self, text: str | None) -> None:
        conversation = self.query_one("#conversation", VerticalScroll)
        user_turn = None
        if text is not None:
            user_turn = UserTurn(text)
            await conversation.mount(user_turn)
        turn = AssistantTurn()
        await conversation.mount(turn)
        conversation.anchor()
        await self._prune_turns(conversation)
        self._turn = turn
        self.busy = True
        self.status.state = "generating"
        self.status.ttft = self.status.speed = ""
        self._generate(text, turn, user_turn)

    @work(thread=True, group="generate")
    def _generate(self, text: str | None, turn: AssistantTurn, user_turn: UserTurn | None = None) -> None:
        from ..engine.events import TextDelta, ToolResult

        # Text is handed to the UI in batches (at most every FLUSH_S), so rendering Markdown
        # does not take the CPU away from the model token by token.
        batch: list[TextDelta] = []
        last = time.perf_counter()

        def flush() -> None:
            nonlocal last
            if batch:
                first = batch[0]
                joined = TextDelta(first.request_id, "".join(d.text for d in batch), (), first.channel)
                self.post_message(EngineEvent(joined, turn))
                batch.clear()
            last = time.perf_counter()

        try:
            events = self.session.send(text) if text is not None else self.session.continue_turn()
            if user_turn is not None:
                # send() has saved the message: its log id lets the turn show its versions and be edited.
                # Only the UI reads it, after this turn's GenerationEnded message.
                user_turn.log_id = self.session.history[-1].get("log_id")
            for event in events:
                if isinstance(event, TextDelta):
                    if not event.text:
                        continue
                    if batch and batch[0].channel != event.channel:
                        flush()
                    batch.append(event)
                    if time.perf_counter() - last >= FLUSH_S:
                        flush()
                    continue
                flush()
                self.post_message(EngineEvent(event, turn))
                if isinstance(event, ToolResult):
                    turn = self.call_from_thread(self._next_step_turn)  # the model goes on after reading the result
            flush()
            self.post_message(GenerationEnded())
        except UserError as exc:
            flush()
            self.post_message(WorkFailed(str(exc), turn))
        except Exception as exc:  # a bug: show it, keep the app alive
            self.post_message(WorkFailed(f"internal error: {type(exc).__name__}: {exc}", turn))

    async def _next_step_turn(self) -> AssistantTurn:
        turn = AssistantTurn()
        await self.query_one("#conversation", VerticalScroll).mount(turn)
        self._turn = turn
        return turn

    async def on_engine_event(self, message: EngineEvent) -> None:
        from ..engine.events import Done, StatsUpdate, TextDelta, ToolCall, ToolResult

        event, turn = message.event, message.turn
        if isinstance(event, TextDelta):
            if not event.text:
                return
            if event.channel == "final":
                await turn.add_answer(event.text)
            else:
                await turn.add_reasoning(event.text)
        elif isinstance(event, ToolCall):
            view = await self.query_one(ToolCallsPane).add_call(event.recipient, event.arguments, event.channel)
            if self.session.tools is None or not self.session.tools.active:
                view.set_result("not run", "Tools are off: start with --python, --browser or --apply-patch, or use a profile with tools.")
            else:
                self._pending_calls.append(view)
                self.status.state = f"running {event.recipient}"
        elif isinstance(event, ToolResult):
            view = self._pending_calls.pop(0) if self._pending_calls else None
            if view is not None:
                view.set_result(event.status, event.output, event.duration_s)
        elif isinstance(event, StatsUpdate):
            self._show_stats(event.stats, live=True)
        elif isinstance(event, Done):
            self._show_stats(event.stats, live=False)
            s = event.stats
            footer = f"{event.finish_reason} · {s.completion_tokens} tokens · TTFT {s.ttft_s:.2f} s · {s.decode_tps:.1f} tok/s"
            if s.cached_tokens:
                footer += f" · {s.cached_tokens} prompt tokens from cache"
            await turn.finish(footer)
            if event.repairs:
                self.notify("The model's Harmony output was malformed and was recovered: " + "; ".join(event.repairs), severity="warning")

    def on_generation_ended(self, message: "GenerationEnded") -> None:
        self.busy = False
        self.status.state = "ready"
        self._pending_calls.clear()
        self._mark_versions()

    async def _prune_turns(self, conversation: VerticalScroll) -> None:
        """Keep the last KEEP_TURNS turns on screen; the earlier ones wait off screen (ctrl+l brings them back)."""
        turns = [w for w in conversation.children if isinstance(w, (UserTurn, AssistantTurn))]
        extra = len(turns) - KEEP_TURNS
        if extra > 0:
            records = [
                {"role": "user", "content": w.text, "log_id": w.log_id} if isinstance(w, UserTurn)
                else {"role": "assistant", "content": w.answer_text, "analysis": w.reasoning_text, "footer": w.footer_text}
                for w in turns[:extra]
            ]
            await conversation.remove_children(turns[:extra])
            await self._note_hidden(conversation, records)

    async def _note_hidden(self, conversation: VerticalScroll, records: list[dict]) -> None:
        """Add ``records`` (the oldest first) to the messages off screen, and say how many there are."""
        self._hidden += records
        notes = conversation.query("#earlier-turns")
        if not self._hidden:
            await notes.remove()
            return
        text = f"{self.hidden_turns} earlier messages are off screen: click here or press ctrl+l to show {SHOW_ON_OPEN} more."
        if notes:
            notes.first(Static).update(text)
        else:
            note = EarlierTurns(text, id="earlier-turns", classes="muted")
            await (conversation.mount(note, before=0) if conversation.children else conversation.mount(note))

    async def action_show_earlier(self) -> None:
        """Bring the newest SHOW_ON_OPEN of the messages off screen back above the others."""
        if not self._hidden:
            return
        conversation = self.query_one("#conversation", VerticalScroll)
        back, self._hidden = self._hidden[-SHOW_ON_OPEN:], self._hidden[:-SHOW_ON_OPEN]
        await conversation.mount_all(self._turn_widgets(back), after=conversation.query_one("#earlier-turns"))
        await self._note_hidden(conversation, [])
        self._mark_versions()

    @on(Click, "#earlier-turns")
    async def _earlier_clicked(self) -> None:
        await self.action_show_earlier()

    def _show_stats(self, stats, live: bool) -> None:
        status = self.status
        if stats.ttft_s:
            status.ttft = f"{stats.ttft_s:.2f} s"
        if stats.decode_tps:
            status.speed = f"{stats.decode_tps:.1f} tok/s"
        limit = self.session.settings.max_context_tokens or self.session.info.context_length
        used = stats.prompt_tokens + stats.completion_tokens
        status.context = f"{used}/{limit}" if limit else str(used)
        status.memory = f"{stats.peak_memory_gb:.2f} GB"

    # actions -------------------------------------------------------------------------------------------

    def action_cancel(self) -> None:
        if self.busy and self.session is not None:
            self.session.generator.cancel()
            self.status.state = "cancelling"

    async def action_new_chat(self) -> None:
        if self.busy:
            self.notify("Esc first: an answer is still coming.", severity="warning")
            return
        await self._clear_conversation()
        if self.session is None:
            self.start_session()
            return
        self._new_conversation()

    @work(thread=True, group="session")
    def _new_conversation(self) -> None:
        try:
            self.session.new_conversation()
        except UserError as exc:
            self.post_message(WorkFailed(str(exc)))
            return
        self.post_message(SessionReady("new chat"))

    async def _take_back_last_turn(self) -> str | None:
        """Remove the last exchange from the session and the screen; return the user's text."""
        if self.busy or self.session is None:
            return None
        text = self.session.take_back()
        if text is None:
            return None
        for widget in list(self.query(AssistantTurn))[-1:] + list(self.query(UserTurn))[-1:]:
            await widget.remove()
        return text

    async def action_regenerate(self) -> None:
        text = await self._take_back_last_turn()
        if text is not None:
            await self._ask(text)

    async def action_edit_last(self) -> None:
        text = await self._take_back_last_turn()
        if text is not None:
            box = self.query_one(ChatInput)
            box.text = text
            box.focus()

    def profiles(self) -> dict:
        """Every profile in the profiles files, the first file's first (name -> Profile)."""
        from ..config.profiles import load_profiles, profile_files

        found: dict = {}
        for path in profile_files(self.options.profiles_file):
            if path.is_file():
                try:
                    for name, profile in load_profiles(path).items():
                        found.setdefault(name, profile)
                except UserError:
                    continue
        return found

    def profile_names(self) -> list[str]:
        return list(self.profiles())

    def action_pick_profile(self) -> None:
        names = self.profile_names()
        if not names:
            self.notify("No profiles file found (see README: profiles).", severity="warning")
            return
        current = self.session.settings.profile if self.session else None
        self.push_screen(ProfilePicker(names, current), lambda name: name and self.switch_profile(name))

    def action_profile_number(self, number: int) -> None:
        names = self.profile_names()
        if number <= len(names):
            self.switch_profile(names[number - 1])
        else:
            self.notify(f"There is no profile {number}.", severity="warning")

    def switch_profile(self, name: str) -> None:
        if self.busy:
            self.notify("Esc first: an answer is still coming.", severity="warning")
            return
        if self.session is None:
            self.options.profile = name
            self.start_session()
            return
        self.status.state = f"switching to {name}"
        self._switch(name)

    def switch_model(self, model: str | None) -> None:
        if self.busy:
            self.notify("Esc first: an answer is still coming.", severity="warning")
            return
        if self.session is None:
            self.options.model, self.options.profile = model, None
            self.start_session()
            return
        self.status.state = "loading model"
        self._load_model(model)

    @work(thread=True, exclusive=True, group="session")
    def _load_model(self, model: str | None) -> None:
        try:
            self.session.switch_model(model, progress=self._progress)
        except UserError as exc:
            self.post_message(WorkFailed(str(exc)))
            return
        self.post_message(SessionReady(f"model {self.session.info.name} loaded"))

    @work(thread=True, exclusive=True, group="session")
    def _switch(self, name: str) -> None:
        try:
            reloaded = self.session.switch_profile(name, progress=self._progress)
        except UserError as exc:
            self.post_message(WorkFailed(str(exc)))
            return
        self.post_message(SessionReady(f"profile {name}" + (" (model loaded)" if reloaded else "")))

    def action_toggle_reasoning(self) -> None:
        sections = [t.reasoning for t in self.query(AssistantTurn) if t.reasoning is not None]
        if not sections:
            return
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

    def action_copy_answer(self) -> None:
        turns = [t for t in self.query(AssistantTurn) if t.answer_text]
        if turns:
            self.copy_text(turns[-1].answer_text)

    def action_copy_code(self) -> None:
        import re

        turns = [t for t in self.query(AssistantTurn) if t.answer_text]
        blocks = re.findall(r"```[^\n]*\n(.*?)```", turns[-1].answer_text, re.S) if turns else []
        if blocks:
            self.copy_text(blocks[-1])
        else:
            self.notify("The last answer has no code block.", severity="warning")

    def copy_text(self, text: str) -> None:
        """OSC 52 for terminals that support it, plus the system clipboard tool when there is one."""
        self.copy_to_clipboard(text)
        for tool in (["pbcopy"], ["wl-copy"], ["xclip", "-selection", "clipboard"], ["xsel", "--clipboard", "--input"]):
            if shutil.which(tool[0]):
                try:
                    subprocess.run(tool, input=text.encode(), timeout=5, check=False)
                except (OSError, subprocess.SubprocessError):
                    continue
                break
        self.notify(f"Copied {len(text)} characters.")

    def action_export(self, fmt: str = "md") -> None:
        from ..logs.export import to_json, to_markdown

        if self.session is None or self.session.log is None:
            return
        try:
            chat = self.session.log.read()
            path = Path.cwd() / f"chat-{chat.chat_id[:8]}.{fmt}"
            path.write_text(to_markdown(chat, self.session.log.head) if fmt == "md" else to_json(chat), encoding="utf-8")
        except (UserError, OSError) as exc:
            self.notify(f"not exported: {exc}", severity="error")
            return
        self.notify(f"Exported to {path}")

    # logs, replay, re-run and branches ---------------------------------------------------------------

    def action_open_logs(self) -> None:
        from .log_browser import LogBrowser

        self.push_screen(LogBrowser(), self._browser_choice)

    def _browser_choice(self, choice) -> None:
        if choice is None:
            return
        if choice.action == "replay":
            self._replay(choice.path)
        elif choice.action == "rerun":
            self._rerun(choice.path)
        elif self.busy or self.session is None:
            self.notify("Wait for the model (or Esc the answer) before opening a chat.", severity="warning")
        else:
            self.status.state = "opening chat"
            self._open_chat(str(choice.path))

    @work(thread=True, exclusive=True, group="session")
    def _open_chat(self, ref: str) -> None:
        try:
            note = self._resume(self.session, ref, clear=True)
        except UserError as exc:
            self.post_message(WorkFailed(str(exc)))
            return
        self.post_message(SessionReady(note))

    def _replay(self, path: Path) -> None:
        from ..logs.branches import path_to
        from ..logs.store import read_chat_file
        from .replay import ReplayScreen

        try:
            chat = read_chat_file(path)[0].active()
        except UserError as exc:
            self.notify(str(exc), severity="error")
            return
        head = self.session.log.head if self.session and self.session.log and self.session.log.path == path else None
        self.push_screen(ReplayScreen(chat.metadata.title or chat.chat_id, path_to(chat, head)))

    def _rerun(self, path: Path) -> None:
        from ..logs.store import ChatStore
        from .rerun import RerunScreen

        if self.busy or self.session is None:
            self.notify("Wait for the model (or Esc the answer) before a re-run.", severity="warning")
            return
        try:
            log = ChatStore().open(str(path))
        except UserError as exc:
            self.notify(str(exc), severity="error")
            return
        self.busy = True

        def finished(_result) -> None:
            self.busy = False

        self.push_screen(RerunScreen(self.session, log), finished)

    def action_replay_current(self) -> None:
        if self.session is not None and self.session.log is not None:
            self._replay(self.session.log.path)

    def action_rerun_current(self) -> None:
        if self.session is not None and self.session.log is not None:
            self._rerun(self.session.log.path)

    @work(thread=True, exclusive=True, group="versions")
    def _mark_versions(self) -> None:
        """Show on each user turn how many versions of it the log holds (the log is read off the UI thread)."""
        from ..logs.branches import versions

        log = self.session.log if self.session is not None else None
        if log is None:
            return
        try:
            found = versions(log.read())
        except UserError:
            return
        self.call_from_thread(self._show_versions, found)

    def _show_versions(self, found: dict[str, tuple[int, int]]) -> None:
        for turn in self.query(UserTurn):
            turn.show_versions(found.get(turn.log_id) if turn.log_id else None)

    @on(UserTurn.EditRequested)
    async def edit_turn(self, message: UserTurn.EditRequested) -> None:
        if self.busy or self.session is None or message.turn.log_id is None:
            return
        text = self.session.take_back_to(message.turn.log_id)
        if text is None:
            return
        conversation = self.query_one("#conversation", VerticalScroll)
        widgets = list(conversation.children)
        await conversation.remove_children(widgets[widgets.index(message.turn) :])
        box = self.query_one(ChatInput)
        box.text = text
        box.focus()
        self.notify("Edit and send: the new version becomes a branch; the old one stays in the log.")

    @on(UserTurn.VersionRequested)
    async def switch_version(self, message: UserTurn.VersionRequested) -> None:
        from ..logs.branches import latest_leaf_under, siblings

        if self.busy or self.session is None or self.session.log is None:
            return
        chat = self.session.log.read()
        current = next((m for m in chat.messages if m.id == message.turn.log_id), None)
        if current is None:
            return
        versions = siblings(chat, current)
        target = versions[(versions.index(current) + message.step) % len(versions)]
        await self.show_branch(latest_leaf_under(chat, target.id), focus=target.id)

    async def show_branch(self, leaf_id: str, focus: str | None = None) -> None:
        """Show the saved branch ending at ``leaf_id`` and continue from there."""
        self.session.show_branch(leaf_id)
        await self._clear_conversation()
        await self._show_history(list(self.session.history))
        self._mark_versions()
        for turn in self.query(UserTurn):
            if turn.log_id == focus:
                turn.focus()

    def action_pick_branch(self) -> None:
        from ..logs.branches import leaves, path_to
        from .screens import BranchPicker

        if self.busy or self.session is None or self.session.log is None:
            return
        chat = self.session.log.read()
        ends = leaves(chat)
        if len(ends) < 2:
            self.notify("This chat has one branch.")
            return
        rows = []
        for leaf in ends:
            branch = path_to(chat, leaf.id)
            users = [m.content for m in branch if m.role == "user"]
            label = f"{len(users)} questions · last: {' '.join((users[-1] if users else '').split())[:60]}"
            rows.append((leaf.id, label + ("  (shown)" if leaf.id == self.session.log.head else "")))

        async def chosen(leaf_id: str | None) -> None:
            if leaf_id:
                await self.show_branch(leaf_id)

        self.push_screen(BranchPicker(rows), chosen)

    def binding_rows(self) -> list[tuple[str, str, str]]:
        keymap = self.app_settings.keymap
        return [(keymap.get(b.id, b.key), b.description, b.id or "") for b in self.BINDINGS if isinstance(b, Binding)]

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.binding_rows()))

    def watch_theme(self, theme: str) -> None:
        if theme != self.app_settings.theme:
            self.app_settings.theme = theme
            self._save_settings()

    def _save_settings(self) -> None:
        from ..config.settings import save_settings

        try:
            save_settings(self.app_settings)
        except (UserError, OSError) as exc:
            self.notify(f"settings not saved: {exc}", severity="warning")

    # sampling controls ------------------------------------------------------------------------------

    @on(Slider.Changed)
    def slider_changed(self, message: Slider.Changed) -> None:
        if self.session is None:
            return
        value: Any = int(message.value) if message.slider.spec.integer else message.value
        try:
            self.session.update_sampling(**{message.slider.spec.field: value})
        except UserError as exc:
            self.notify(str(exc), severity="error")

    @on(SamplingPanel.SeedChanged)
    def seed_changed(self, message: SamplingPanel.SeedChanged) -> None:
        if self.session is not None:
            try:
                self.session.update_sampling(seed=message.seed)
            except UserError as exc:
                self.notify(str(exc), severity="error")

    @on(SamplingPanel.EffortChanged)
    def effort_changed(self, message: SamplingPanel.EffortChanged) -> None:
        if self.session is not None:
            self.session.reasoning_effort = message.effort
            self.notify(f"Reasoning effort {message.effort} from the next answer.")

    def on_unmount(self) -> None:
        if self.session is not None:
            self.session.generator.cancel()
            self.session.close()


def run_app(options: StartOptions) -> int:
    from ..config.settings import load_settings

    try:
        settings = load_settings()
    except UserError as exc:
        print(f"warning: {exc} (using default settings)", file=sys.stderr)
        settings = None
    # Hand the GIL back to the inference thread sooner while the UI renders (bench tui on 2 cores: decode ratio 0.99 with it, 0.77-1.05 without).
    sys.setswitchinterval(0.001)
    HarmonyApp(options, settings).run()
    return 0

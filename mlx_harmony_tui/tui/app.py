"""``mlx-harmony``: the full-screen chat app.

The UI thread never waits on the model. A :class:`~..chat.session.ChatSession`
does the work in worker threads (starting, loading, switching profile or
model, opening a saved chat), and everything comes back as typed messages
(:mod:`.messages`). The app owns the session and what changes it, the
themes, settings and global keys; the chat view (:mod:`.chat_view`) draws
the conversation and turns its keys into the chat layer's actions.
"""

from __future__ import annotations

import sys
import threading
import warnings
from pathlib import Path

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Footer

from ..chat.session import ChatSession
from ..chat.startup import (StartOptions, list_profiles, load_app_settings, open_log, profiles_sources, slow_blas_notice,
                             start_chat)
from ..chat.terminal_text import show_controls
from ..config.resolve import resolve_run_settings
from ..config.settings import AppSettings, export_folder, save_settings, settings_path
from ..errors import UserError
from ..logs.branches import path_to
from ..logs.store import read_chat_file
from ..paths import cache_dir, data_dir
from .chat_view import BUSY, ChatView
from .commands import HarmonyCommands
from .hang_up import SAVE_WAIT_S, HangUp, watch_hang_up
from .keys import read_alt_digits
from .messages import Loading, SessionReady, SlowBlas, WorkFailed
from .screens.approval import ToolApproval
from .screens.help import HelpScreen
from .screens.log_browser import LogBrowser
from .screens.pickers import ProfilePicker
from .screens.replay import ReplayScreen
from .screens.rerun import RerunScreen
from .themes import load_themes
from .widgets import Conversation, StatusBar

__all__ = ["HarmonyApp", "StartOptions", "run_app"]

RERUN = "rerun"  # the installed re-run screen's name


class HarmonyApp(App):
    CSS_PATH = str(Path(__file__).with_name("app.tcss"))  # absolute: subclasses live in other folders
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
        Binding("ctrl+t", "compare", "Compare", id="compare"),
        Binding("ctrl+g", "show_rerun", "Re-run view", id="show_rerun", show=False),
        Binding("ctrl+y", "copy_answer", "Copy answer", id="copy_answer", priority=True),
        Binding("ctrl+k", "copy_code", "Copy code", id="copy_code", show=False, priority=True),
        Binding("f1", "help", "Help", id="help"),
        Binding("ctrl+q", "quit", "Quit", id="quit"),
    ] + [  # priority: the message box would take alt+digit as the digit (see keys.py for how alt+digit arrives)
        Binding(f"alt+{i}", f"profile_number({i})", f"profile {i}", show=False, id=f"profile_{i}", priority=True) for i in range(1, 10)
    ]

    def __init__(self, options: StartOptions | None = None, settings: AppSettings | None = None, notes: list[str] | None = None):
        super().__init__()
        read_alt_digits()
        self.options = options or StartOptions()
        self.app_settings = settings or AppSettings()
        self.session: ChatSession | None = None
        self._startup_notes = list(notes or [])  # problems found before the screen existed (a damaged settings file)
        self.chat_idle = threading.Event()  # no answer is being generated (set by the chat view)
        self.chat_idle.set()
        self._hang_up: HangUp | None = None
        self._rerun_screen: RerunScreen | None = None

    def compose(self) -> ComposeResult:
        self._chat = ChatView(id="chat")
        yield self._chat
        yield Footer()

    @property
    def chat(self) -> ChatView:
        """The chat view (held, not queried: it is asked from other screens and while the app closes)."""
        return self._chat

    def notify(self, message: str, **kwargs) -> None:
        """Every toast, with control characters written out: a notice may quote a tool or an MCP server."""
        super().notify(show_controls(message), **kwargs)

    def on_mount(self) -> None:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for theme in load_themes():
                self.register_theme(theme)
        problems = list_profiles(self.options.profiles_file)[1]  # a damaged profiles file is said now, not at the first F2
        for note in [str(w.message) for w in caught] + self._startup_notes + problems:
            self.notify(note, severity="warning", timeout=20)
        if self.app_settings.theme in self.available_themes:
            self.theme = self.app_settings.theme
        if self.app_settings.keymap:
            self.set_keymap(self.app_settings.keymap)
        if not self.is_headless:
            self._hang_up = watch_hang_up(self)

    @property
    def busy(self) -> bool:
        """An answer (or a re-run) is being generated."""
        return self.chat.busy

    @property
    def status(self) -> StatusBar:
        return self.chat.status

    @property
    def conversation(self) -> Conversation:
        return self.chat.conversation

    @property
    def hidden_turns(self) -> int:
        return len(self.conversation.hidden)

    # --- sessions (worker threads) ----------------------------------------------------------------

    @work(thread=True, exclusive=True, group="session")
    def start_session(self) -> None:
        if not self.app_settings.slow_blas_noticed and (notice := slow_blas_notice()):
            self.post_message(SlowBlas(notice))  # said while the model loads, once per settings file
        try:
            session, notes = start_chat(self.options, self.app_settings, progress=self._progress, approve=self._approve)
        except UserError as exc:
            self.post_message(WorkFailed(str(exc)))
            return
        self.session = session
        if self.options.chat:
            self.post_message(SessionReady([self._resumed_note(), *notes], list(session.history)))
        else:
            self.post_message(SessionReady(notes))

    def _resumed_note(self) -> str:
        return f"resumed {self.session.title()} ({len(self.session.history)} messages)"

    def _progress(self, stage: str, fraction: float) -> None:
        self.post_message(Loading(stage, fraction))

    def _approve(self, request) -> bool:
        """Called on the generation thread: show the approval screen and wait for the answer."""
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
            self.session.tools.always_allow(request)
        return answer[0] in ("run", "always")

    def on_slow_blas(self, message: SlowBlas) -> None:
        self.notify(message.text, severity="warning", timeout=30, markup=False)  # '.[cpu]' is not markup
        self.app_settings.slow_blas_noticed = True
        try:
            save_settings(self.app_settings)
        except (UserError, OSError) as exc:
            self.notify(f"settings not saved: {exc}", severity="warning")

    def on_loading(self, message: Loading) -> None:
        self.status.state = f"loading {int(message.fraction * 100)}% · {message.stage}"

    async def on_session_ready(self, message: SessionReady) -> None:
        await self.chat.show_session(message)
        settings = self.session.settings
        self.sub_title = self.session.info.name + (f" · {settings.profile}" if settings.profile else "")
        for note in message.notes:
            self.notify(note)

    def on_work_failed(self, message: WorkFailed) -> None:
        self.notify(message.text, severity="error", timeout=10)
        self.status.state = "no model (fix the error, then ctrl+n or pick a profile)" if self.session is None else "ready"
        self.chat.busy = False

    # --- the chat view's keys: one binding list keeps the footer and help in order ------------------

    def action_cancel(self) -> None:
        self.chat.action_cancel()

    async def action_new_chat(self) -> None:
        await self.chat.action_new_chat()

    async def action_regenerate(self) -> None:
        await self.chat.action_regenerate()

    async def action_edit_last(self) -> None:
        await self.chat.action_edit_last()

    def action_pick_branch(self) -> None:
        self.chat.action_pick_branch()

    async def action_show_earlier(self) -> None:
        await self.chat.action_show_earlier()

    def action_toggle_reasoning(self) -> None:
        self.chat.action_toggle_reasoning()

    def action_toggle_sampling(self) -> None:
        self.chat.action_toggle_sampling()

    def action_toggle_tools(self) -> None:
        self.chat.action_toggle_tools()

    def action_copy_answer(self) -> None:
        self.chat.action_copy_answer()

    def action_compare(self) -> None:
        self.chat.action_compare()

    def action_copy_code(self) -> None:
        self.chat.action_copy_code()

    def action_export(self, fmt: str = "md") -> None:
        self.chat.action_export(fmt)

    # --- profiles and models ------------------------------------------------------------------------

    def profiles(self) -> dict:
        """Every profile in the profiles files, the first file's first (name -> Profile)."""
        return list_profiles(self.options.profiles_file)[0]

    def action_pick_profile(self) -> None:
        profiles, problems = list_profiles(self.options.profiles_file)
        for problem in problems:
            self.notify(problem, severity="warning", timeout=10)
        if not profiles:
            self.notify("No profiles file found (see README: profiles).", severity="warning")
            return
        current = self.session.settings.profile if self.session else None
        self.push_screen(ProfilePicker(list(profiles), current), lambda name: name and self.switch_profile(name))

    def action_profile_number(self, number: int) -> None:
        names = list(self.profiles())
        if number <= len(names):
            self.switch_profile(names[number - 1])
        else:
            self.notify(f"There is no profile {number}.", severity="warning")

    def switch_profile(self, name: str) -> None:
        if self.rerun_running:
            try:
                model = resolve_run_settings(profile=name, profiles_file=self.options.profiles_file).model
            except UserError as exc:
                self.notify(str(exc), severity="error")
                return
            if self._model_change_blocked(model):
                return
        if self.busy:
            self.notify(BUSY, severity="warning")
        elif self.session is None:
            self.options.profile = name
            self.start_session()
        else:
            self.status.state = f"switching to {name}"
            self._switch(name)

    def switch_model(self, model: str | None) -> None:
        if self._model_change_blocked(model):
            return
        if self.busy:
            self.notify(BUSY, severity="warning")
        elif self.session is None:
            self.options.model, self.options.profile = model, None
            self.start_session()
        else:
            self.status.state = "loading model"
            self._load_model(model)

    @work(thread=True, exclusive=True, group="session")
    def _load_model(self, model: str | None) -> None:
        try:
            self.session.switch_model(model, progress=self._progress)
        except UserError as exc:
            self.post_message(WorkFailed(str(exc)))
            return
        self.post_message(SessionReady([f"model {self.session.info.name} loaded"]))

    @work(thread=True, exclusive=True, group="session")
    def _switch(self, name: str) -> None:
        try:
            reloaded = self.session.switch_profile(name, progress=self._progress)
        except UserError as exc:
            self.post_message(WorkFailed(str(exc)))
            return
        self.post_message(SessionReady([f"profile {name}" + (" (model loaded)" if reloaded else "")]))

    # --- logs, replay and re-run ---------------------------------------------------------

    def action_open_logs(self) -> None:
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
            notes = self.session.resume(open_log(ref), progress=self._progress)
        except UserError as exc:
            self.post_message(WorkFailed(str(exc)))
            return
        self.post_message(SessionReady([self._resumed_note(), *notes], list(self.session.history)))

    def _replay(self, path: Path) -> None:
        try:
            chat = read_chat_file(path)[0].active()
        except UserError as exc:
            self.notify(str(exc), severity="error")
            return
        log = self.session.log if self.session is not None else None
        head = log.head if log is not None and log.path == path else None
        self.push_screen(ReplayScreen(chat.metadata.title or chat.chat_id, path_to(chat, head)))

    @property
    def rerun_running(self) -> bool:
        """A re-run is generating (beside the chat, which stays usable)."""
        return self._rerun_screen is not None and self._rerun_screen.running

    def _rerun(self, path: Path) -> None:
        if self.session is None:
            self.notify("Wait for the model before a re-run.", severity="warning")
            return
        if self.rerun_running:
            self.notify("A re-run is already running: here it is (x stops it).", severity="warning")
            self.action_show_rerun()
            return
        try:
            log = open_log(str(path))
        except UserError as exc:
            self.notify(str(exc), severity="error")
            return
        self._forget_rerun()
        self._rerun_screen = RerunScreen(self.session, log)
        self.install_screen(self._rerun_screen, name=RERUN)  # kept while hidden: the re-run goes on beside the chat
        self.push_screen(RERUN, self._rerun_hidden)

    def _rerun_hidden(self, _result) -> None:
        if not self.rerun_running:
            self._forget_rerun()

    def _forget_rerun(self) -> None:
        screen, self._rerun_screen = self._rerun_screen, None
        if screen is not None:
            self.uninstall_screen(screen)
            screen.remove()

    def action_show_rerun(self) -> None:
        """ctrl+g: back to the re-run (running or just finished)."""
        if self._rerun_screen is None:
            self.notify("No re-run: start one from the log browser (ctrl+o, then r) or the command palette.")
        elif self.screen is not self._rerun_screen:
            self.push_screen(RERUN, self._rerun_hidden)

    def _model_change_blocked(self, model: str | None) -> bool:
        """A re-run needs the loaded model until it ends: say so instead of loading ``model``."""
        if self.rerun_running and self.session is not None and model != self.session.generator.model_spec:
            self.notify("A re-run is running on this model: stop it (ctrl+g, then x) before loading another.", severity="warning")
            return True
        return False

    def _saved_log(self):
        """This chat's log once it has a file; otherwise None, and the user is told why nothing happens."""
        log = self.session.log if self.session is not None else None
        if log is not None and not log.saved:
            self.notify("This chat has no messages yet.", severity="warning")
            return None
        return log

    def action_replay_current(self) -> None:
        if log := self._saved_log():
            self._replay(log.path)

    def action_rerun_current(self) -> None:
        if log := self._saved_log():
            self._rerun(log.path)

    # --- help and settings ----------------------------------------------------------------------------

    def binding_rows(self) -> list[tuple[str, str, str]]:
        keymap = self.app_settings.keymap
        return [(keymap.get(b.id, b.key), b.description, b.id or "") for b in self.BINDINGS if isinstance(b, Binding)]

    def folders(self) -> list[tuple[str, str]]:
        """Where the app keeps things, as the help screen lists them."""
        return [
            ("settings", str(settings_path())),
            ("profiles", profiles_sources(self.options.profiles_file)),
            ("chat logs", str(data_dir() / "chats")),
            ("exports", str(export_folder(self.app_settings))),
            ("models (cache)", str(cache_dir())),
        ]

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.binding_rows(), self.folders()))

    def watch_theme(self, theme: str) -> None:
        if theme != self.app_settings.theme:
            self.app_settings.theme = theme
            try:
                save_settings(self.app_settings)
            except (UserError, OSError) as exc:
                self.notify(f"settings not saved: {exc}", severity="warning")

    def on_unmount(self) -> None:
        if self._hang_up is not None:
            self._hang_up.stop()
        if self._rerun_screen is not None:
            self._rerun_screen.action_stop()
        if self.session is not None:
            self.session.cancel()
            self.chat.cancel_comparison()
            self.chat_idle.wait(SAVE_WAIT_S)  # the cancelled answer is saved before the model goes
            self.session.close()

    def resume_hint(self) -> str | None:
        """The line to print on leaving: how to come back to this chat (None when nothing of it was saved)."""
        log = self.session.log if self.session is not None else None
        return f"resume with: mlx-harmony --chat {log.chat_id}" if log is not None and log.saved else None


def run_app(options: StartOptions) -> int:
    settings, notes = load_app_settings()
    # Hand the GIL back to the inference thread sooner while the UI renders (bench tui on 2 cores: decode ratio 0.99 with it, 0.77-1.05 without).
    sys.setswitchinterval(0.001)
    app = HarmonyApp(options, settings, notes)
    app.run()
    hint = app.resume_hint()
    if hint and not (app._hang_up and app._hang_up.received):
        print(hint)
    return 0

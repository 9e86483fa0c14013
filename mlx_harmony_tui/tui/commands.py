"""Command-palette providers: the app's commands, and a screen's own keys (so every action is both)."""

from __future__ import annotations

from abc import abstractmethod
from functools import partial

from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider

from ..models.catalog import known_models


class ListedCommands(Provider):
    """A palette provider over a plain list of (name, callback, help) from :meth:`_commands`."""

    @abstractmethod
    def _commands(self) -> list[tuple[str, object, str]]:
        """Every command this provider offers."""

    async def discover(self) -> Hits:
        for name, callback, help_text in self._commands():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, callback, help_text in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)


class ScreenActions(ListedCommands):
    """Lists the bindings of the screen the palette was opened on, by their description."""

    def _commands(self) -> list[tuple[str, object, str]]:
        screen = self.screen
        found = []
        for binding in screen.BINDINGS:
            if isinstance(binding, Binding) and binding.description:
                key = binding.key.split(",")[0]
                found.append((binding.description, partial(screen.run_action, binding.action), f"key {key}"))
        return found


class HarmonyCommands(ListedCommands):
    """The app's commands: profiles, models, themes, chats, panes, help."""

    def _commands(self) -> list[tuple[str, object, str]]:
        app = self.app
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
            ("Replay this chat", app.action_replay_current, "play this chat back as it happened"),
            ("Re-run this chat", app.action_rerun_current, "ask every question again with the current model, beside the chat"),
            ("Show the re-run", app.action_show_rerun, "back to the re-run running beside the chat (ctrl+g)"),
            ("Compare the next answer", app.action_compare, "answer the next question twice at once, with another profile "
             "or sampling; keep one (ctrl+t)"),
            ("Export chat as Markdown", app.action_export, "write the chat to a .md file in the export folder (see F1)"),
            ("Export chat as JSON", partial(app.action_export, "json"), "write the chat to a .json file in the export folder (see F1)"),
            ("Toggle sampling pane", app.action_toggle_sampling, "show or hide the sliders"),
            ("Toggle tool calls pane", app.action_toggle_tools, "show or hide tool calls"),
            ("Toggle reasoning", app.action_toggle_reasoning, "expand or collapse every reasoning section"),
            ("Copy last answer", app.action_copy_answer, "to the clipboard"),
            ("Help", app.action_help, "every key binding"),
        ]
        return commands

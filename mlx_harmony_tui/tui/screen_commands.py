"""Command-palette providers: a plain list of commands, and a screen's own keys (so every action is both)."""

from __future__ import annotations

from abc import abstractmethod
from functools import partial

from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider


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

"""What the browser tool needs from a source of pages: search and fetch."""

from __future__ import annotations

from typing import Protocol

from .page import Page


class BrowserError(Exception):
    """A search, page or browser call that cannot be served; the message says why.

    The tool hands the message to the model as a failed output, so it names
    the URL, path or argument at fault and what would work instead.
    """


def quoted(value: str, limit: int = 200) -> str:
    """``value`` in backticks for a message, cut to ``limit`` characters."""
    return f"`{value if len(value) <= limit else value[: limit - 3] + '...'}`"


class BrowserBackend(Protocol):
    """A source of pages. ``source`` names it in a line (``"web"``, ``"local documents"``)."""

    source: str

    def search(self, query: str, topn: int) -> Page:
        """A search results page of at most ``topn`` hits, best first; raises BrowserError."""
        ...

    def fetch(self, url: str, *, view_source: bool = False) -> Page:
        """The page at ``url`` (its raw source when ``view_source``); raises BrowserError."""
        ...

"""The GPT-OSS ``browser`` tool: ``search``, ``open`` and ``find`` over a backend.

One ``BrowserTool`` serves one conversation. Every page it shows (search
results, an opened page, a scrolled view, find results) is pushed on its
history and gets the next cursor, so the model can return to any of them with
``cursor``.
"""

from __future__ import annotations

import json

from pydantic import BaseModel, ConfigDict, ValidationError

from ..output import ToolOutput, truncate
from .backend import BrowserBackend, BrowserError, quoted
from .page import Page, find_in_page, focus_line, render_view, view_end

NAMESPACE = "browser"


class _Arguments(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _SearchArguments(_Arguments):
    query: str
    topn: int = 10
    source: str | None = None


class _OpenArguments(_Arguments):
    id: int | str = -1
    cursor: int = -1
    loc: int = -1
    num_lines: int = -1
    view_source: bool = False
    source: str | None = None


class _FindArguments(_Arguments):
    pattern: str
    cursor: int = -1


_ARGUMENTS: dict[str, type[_Arguments]] = {
    "search": _SearchArguments,
    "open": _OpenArguments,
    "find": _FindArguments,
}


class BrowserTool:
    """The browser of one conversation, over ``backend``.

    ``view_lines`` and ``view_chars`` bound the lines an ``open`` shows when
    the model gives no ``num_lines``; ``output_limit`` cuts any output longer
    than that many characters; ``max_results`` caps ``topn``.
    """

    name = NAMESPACE

    def __init__(
        self,
        backend: BrowserBackend,
        *,
        view_lines: int = 80,
        view_chars: int = 8000,
        output_limit: int = 16000,
        max_results: int = 20,
    ) -> None:
        self.backend = backend
        self.view_lines = view_lines
        self.view_chars = view_chars
        self.output_limit = output_limit
        self.max_results = max_results
        self._history: list[Page] = []
        self._fetched: dict[tuple[str, bool], Page] = {}

    @property
    def history(self) -> tuple[Page, ...]:
        """The pages shown so far; a page's index is its cursor."""
        return tuple(self._history)

    def run(self, recipient: str, arguments: str) -> ToolOutput:
        """Serve one call: ``recipient`` is ``browser.search``, ``browser.open`` or
        ``browser.find``; ``arguments`` is the call's JSON object (empty means ``{}``).

        Anything the model got wrong, and any page or search that cannot be
        served, comes back as ``ok=False`` with a message saying why.
        """
        try:
            function = _function(recipient)
            parsed = _parse(function, arguments)
            if isinstance(parsed, _SearchArguments):
                text = self._search(parsed)
            elif isinstance(parsed, _OpenArguments):
                text = self._open(parsed)
            else:
                text = self._find(parsed)
        except BrowserError as error:
            return ToolOutput(text=str(error), ok=False)
        shown, cut = truncate(text, self.output_limit)
        return ToolOutput(text=shown, truncated=cut)

    def _search(self, arguments: _SearchArguments) -> str:
        query = arguments.query.strip()
        if not query:
            raise BrowserError("browser.search: `query` is empty: say what to search for")
        page = self.backend.search(query, max(1, min(arguments.topn, self.max_results)))
        return self._show(page, 0, -1)

    def _open(self, arguments: _OpenArguments) -> str:
        target = arguments.id
        # Models sometimes quote a link number; no URL is only digits.
        if isinstance(target, str) and target.strip().isdigit():
            target = int(target.strip())
        line = None
        if isinstance(target, str):
            if not target.strip():
                raise BrowserError("browser.open: `id` is an empty string: give a link number or a URL")
            page = self.backend.fetch(target.strip(), view_source=arguments.view_source)
            self._fetched[(target.strip(), arguments.view_source)] = page
        else:
            base = self._page_at(arguments.cursor)
            if target >= 0:
                link = base.links.get(target)
                if link is None:
                    raise BrowserError(f"browser.open: {_no_link(target, base, self._cursor_of(arguments.cursor))}")
                if link.page is not None and not arguments.view_source:
                    page = link.page
                else:
                    page = self._fetch(link.url, arguments.view_source)
                line = None if arguments.view_source else link.line
            elif arguments.view_source:
                if base.kind != "document" or base.url.startswith("view-source:"):
                    raise BrowserError("browser.open: this page was made by the browser and has no source to view")
                page = self._fetch(base.url, True)
            else:
                page = base
        first = arguments.loc
        if first < 0:
            first = focus_line(line, self._end(page, 0, arguments.num_lines))
        return self._show(page, first, arguments.num_lines)

    def _find(self, arguments: _FindArguments) -> str:
        if not arguments.pattern.strip():
            raise BrowserError("browser.find: `pattern` is empty: give the text to look for")
        page = self._page_at(arguments.cursor)
        if page.kind != "document":
            raise BrowserError(
                f"browser.find: cursor {self._cursor_of(arguments.cursor)} shows {page.kind} results, not a page: "
                "open one of its links, then find in it"
            )
        return self._show(find_in_page(page, arguments.pattern), 0, -1)

    def _fetch(self, url: str, view_source: bool) -> Page:
        key = (url, view_source)
        if key not in self._fetched:
            self._fetched[key] = self.backend.fetch(url, view_source=view_source)
        return self._fetched[key]

    def _page_at(self, cursor: int) -> Page:
        if not self._history:
            raise BrowserError(
                "No page is open yet: call browser.search with a query or browser.open with a URL first"
            )
        return self._history[self._cursor_of(cursor)]

    def _cursor_of(self, cursor: int) -> int:
        if cursor == -1:
            return len(self._history) - 1
        if not 0 <= cursor < len(self._history):
            raise BrowserError(
                f"Cursor {cursor} is out of range: the pages shown so far have cursors 0 to {len(self._history) - 1}"
            )
        return cursor

    def _end(self, page: Page, first: int, num_lines: int) -> int:
        return view_end(page.lines, first, num_lines, self.view_lines, self.view_chars)

    def _show(self, page: Page, first: int, num_lines: int) -> str:
        last = len(page.lines) - 1
        if first > last:
            raise BrowserError(f"browser.open: `loc` {first} is past the end of the page: its last line is L{last}")
        self._history.append(page)
        return render_view(page, len(self._history) - 1, first, self._end(page, first, num_lines))


def _function(recipient: str) -> str:
    namespace, _, function = recipient.strip().partition(".")
    if namespace != NAMESPACE or function not in _ARGUMENTS:
        raise BrowserError(
            f"Unknown browser function {quoted(recipient.strip())}: use browser.search, browser.open or browser.find"
        )
    return function


def _parse(function: str, arguments: str) -> _Arguments:
    try:
        data = json.loads(arguments) if arguments.strip() else {}
    except json.JSONDecodeError as error:
        raise BrowserError(
            f"browser.{function}: the arguments are not valid JSON ({error.msg} at line {error.lineno} "
            f"column {error.colno}): send one JSON object"
        ) from error
    if not isinstance(data, dict):
        raise BrowserError(f"browser.{function}: the arguments must be a JSON object, not {type(data).__name__}")
    try:
        return _ARGUMENTS[function].model_validate(data)
    except ValidationError as error:
        problems: dict[str, list[str]] = {}
        for item in error.errors():
            field = str(item["loc"][0]) if item["loc"] else "arguments"
            message = "should be a link number or a URL" if field == "id" else item["msg"]
            problems.setdefault(field, [])
            if message not in problems[field]:
                problems[field].append(message)
        listed = "; ".join(f"`{field}`: {' or '.join(messages)}" for field, messages in problems.items())
        raise BrowserError(f"browser.{function}: {listed}") from error


def _no_link(link_id: int, page: Page, cursor: int) -> str:
    if not page.links:
        return f"the page at cursor {cursor} has no links, so there is no link {link_id}"
    return f"the page at cursor {cursor} has no link {link_id}: its links are numbered 0 to {max(page.links)}"

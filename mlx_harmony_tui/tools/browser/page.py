"""A page the browser holds, and the display GPT-OSS was trained to read.

A page is shown as::

    [2] Page title (https://example.org/page)
    **viewing lines [0 - 41] of 120**

    L0: first line of the page
    L1: a line with a link 【3†link text†other.org】 in it

The number in brackets is the page's cursor in this conversation; a link
marker's first number is the ``id`` that ``browser.open`` follows. The domain
part of a marker appears only when the link leaves the page's own site.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal
from urllib.parse import quote, unquote, urlsplit

LINE_WIDTH = 80
MARKER_RE = re.compile(r"【(\d+)†([^†】]*)(?:†[^】]*)?】")
# Lines that wrap are cut between these pieces; a link marker is never split.
_PIECE_RE = re.compile(r"\s+|【[^【】]*】|[^\s【】]+|[【】]")
_SPACES_RE = re.compile(r"\s+")
# Lines shown above a search hit or find match when the page opens on it.
_CONTEXT_ABOVE = 4


@dataclass(frozen=True)
class Link:
    """Where link ``id`` on a page leads.

    ``line`` is the line to show first when it is opened (a search hit, a find
    match); ``page`` is the already open page a find match points back into.
    """

    url: str
    line: int | None = None
    page: Page | None = None


@dataclass(eq=False)
class Page:
    """One page: its text with link markers, and what each marker number opens.

    ``kind`` tells documents from the listings the browser makes itself
    (search results, find results), which ``find`` does not search.
    """

    url: str
    title: str
    text: str
    links: dict[int, Link] = field(default_factory=dict)
    kind: Literal["document", "search", "find"] = "document"

    @cached_property
    def lines(self) -> list[str]:
        """The page's text as numbered display lines (wrapped at 80 columns)."""
        return wrap_lines(self.text)


def clean_newlines(text: str) -> str:
    """Unix newlines only."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def clean_text(text: str) -> str:
    """Make document text safe to hold link markers: its own brackets can no longer pose as one."""
    return clean_newlines(text).replace("【", "〖").replace("】", "〗").replace("\u200b", "")


def domain_of(url: str) -> str:
    """The host of an http(s) URL, or "" for file URLs and relative paths."""
    return urlsplit(url).hostname or ""


class LinkNumbers:
    """Numbers a page's links in the order they are met, one number per target URL."""

    def __init__(self, page_url: str) -> None:
        self._domain = domain_of(page_url)
        self._ids: dict[str, int] = {}
        self.links: dict[int, Link] = {}

    def marker(self, url: str, text: str, *, label: str | None = None, line: int | None = None) -> str:
        """The marker for a link to ``url`` showing ``text``; ``label`` replaces the domain part."""
        shown = _SPACES_RE.sub(" ", clean_text(text)).replace("†", "‡").strip() or url
        link_id = self._ids.setdefault(url, len(self._ids))
        self.links.setdefault(link_id, Link(url=url, line=line))
        if label is None:
            domain = domain_of(url)
            label = domain if domain != self._domain else ""
        label = label.replace("†", "‡").replace("】", "〗")
        return f"【{link_id}†{shown}†{label}】" if label else f"【{link_id}†{shown}】"


def strip_markers(text: str) -> str:
    """Replace each link marker by its text, as a reader sees it."""
    return MARKER_RE.sub(lambda m: m.group(2), text)


def wrap_lines(text: str, width: int = LINE_WIDTH) -> list[str]:
    """Split ``text`` into display lines of at most ``width`` columns, keeping indentation.

    Blank lines are kept, trailing ones dropped. A link marker is never cut (a
    long one gets a line of its own); a word longer than the width is cut hard.
    """
    rows: list[str] = []
    for line in clean_newlines(text).split("\n"):
        line = line.rstrip()
        if len(line) <= width:
            rows.append(line)
        else:
            rows.extend(_wrap_one(line, width))
    while len(rows) > 1 and not rows[-1]:
        rows.pop()
    return rows


def _wrap_one(line: str, width: int) -> list[str]:
    body = line.lstrip()
    indent = line[: len(line) - len(body)][: width // 2]
    rows: list[str] = []
    row = indent
    for piece in _PIECE_RE.findall(body):
        if piece.isspace():
            if row.strip():
                row += piece
            continue
        if row.strip() and len(row) + len(piece) > width:
            rows.append(row.rstrip())
            row = indent
        if not piece.startswith("【"):
            while len(row) + len(piece) > width:
                take = width - len(row)
                rows.append(row + piece[:take])
                row, piece = indent, piece[take:]
        row += piece
    rows.append(row.rstrip())
    return rows


def view_end(lines: list[str], first: int, num_lines: int, max_lines: int, max_chars: int) -> int:
    """One past the last line shown from ``first``: ``num_lines`` when given (> 0),
    else as many as fit in ``max_lines`` lines and ``max_chars`` characters (at least one)."""
    if num_lines > 0:
        return min(first + num_lines, len(lines))
    end, used = first, 0
    while end < len(lines) and end - first < max_lines:
        cost = len(lines[end]) + len(f"L{end}: \n")
        if end > first and used + cost > max_chars:
            break
        used += cost
        end += 1
    return end


def focus_line(line: int | None, first_screen_end: int) -> int:
    """Where a page opened on ``line`` starts: the top when the line is on the first screen,
    else a few lines above it."""
    if line is None or line < first_screen_end:
        return 0
    return max(0, line - _CONTEXT_ABOVE)


def render_view(page: Page, cursor: int, first: int, end: int) -> str:
    """The trained display of lines ``first`` to ``end - 1`` of ``page`` under ``cursor``."""
    lines = page.lines
    header = f"[{cursor}] {page.title}"
    if page.url:
        shown_url = unquote(page.url)
        header += f" ({shown_url if len(shown_url) <= 300 else shown_url[:297] + '...'})"
    scrollbar = f"**viewing lines [{first} - {end - 1}] of {len(lines) - 1}**"
    body = "\n".join(f"L{i}: {lines[i]}" for i in range(first, end))
    return f"{header}\n{scrollbar}\n\n{body}"


@dataclass(frozen=True)
class SearchResult:
    """One search hit: ``label`` names its source in the marker (a domain, a file path)."""

    title: str
    url: str
    snippet: str = ""
    label: str = ""
    line: int | None = None


def search_results_page(query: str, results: list[SearchResult]) -> Page:
    """A page listing ``results`` as links, numbered from 0 in rank order."""
    numbers = LinkNumbers("")
    rows = ["# Search Results", ""]
    seen: set[str] = set()
    for result in results:
        if result.url in seen:
            continue
        seen.add(result.url)
        marker = numbers.marker(result.url, result.title, label=result.label or domain_of(result.url), line=result.line)
        snippet = _SPACES_RE.sub(" ", clean_text(result.snippet)).strip()
        rows.append(f"* {marker} {snippet}".rstrip())
    if not seen:
        rows.append(f"No results for `{query}`.")
    return Page(url="", title=query, text="\n".join(rows), links=numbers.links, kind="search")


def find_in_page(page: Page, pattern: str, *, max_results: int = 50, shown_lines: int = 4) -> Page:
    """A page listing each line of ``page`` that contains ``pattern`` (ignoring case).

    Each match is a link back into ``page`` at that line, followed by the
    matching line and the ones after it, link markers shown as plain text.
    """
    needle = pattern.lower()
    plain = [strip_markers(line) for line in page.lines]
    numbers = LinkNumbers(page.url)
    chunks: list[str] = []
    index = 0
    while index < len(plain) and len(chunks) < max_results:
        if needle not in plain[index].lower():
            index += 1
            continue
        match_id = len(chunks)
        numbers.links[match_id] = Link(url=page.url, line=index, page=page)
        snippet = "\n".join(plain[index : index + shown_lines])
        chunks.append(f"# 【{match_id}†match at L{index}】\n{snippet}")
        index += shown_lines
    text = "\n\n".join(chunks) if chunks else f"No `find` results for pattern: `{pattern}`"
    return Page(
        url=f"{page.url}/find?pattern={quote(pattern)}" if page.url else "",
        title=f"Find results for text: `{pattern}` in `{page.title}`",
        text=text,
        links=numbers.links,
        kind="find",
    )

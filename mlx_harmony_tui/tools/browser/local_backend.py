"""An offline browser over a folder of documents (Markdown, plain text, HTML).

Search ranks the folder's documents with BM25; open takes a search result or
link number, a ``file://`` URL or a path relative to the folder, and never
serves a file outside it (``..``, absolute paths and symlinks included).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ...errors import UserError
from .backend import BrowserError, quoted
from .html_text import html_to_page
from .markdown_text import markdown_to_page
from .page import LinkNumbers, Page, SearchResult, clean_text, search_results_page, strip_markers
from .ranking import Bm25Index, words

DOCUMENT_SUFFIXES = (".md", ".markdown", ".txt", ".html", ".htm")
_SNIPPET_CHARS = 200


@dataclass(frozen=True)
class _Indexed:
    relative: str
    page: Page


class LocalDocsBackend:
    """Search and open the documents under ``folder``.

    The index is built on the first search and rebuilt when a document is
    added, removed or changed; files over ``max_file_bytes`` are left out of
    it and refused by open.
    """

    source = "local documents"

    def __init__(self, folder: str | os.PathLike[str], *, max_file_bytes: int = 2_000_000) -> None:
        root = Path(folder).expanduser()
        if not root.is_dir():
            raise UserError(f"browser documents folder {root}: does not exist or is not a folder")
        self.root = root.resolve()
        self.max_file_bytes = max_file_bytes
        self._signature: tuple[tuple[str, int, int], ...] | None = None
        self._documents: list[_Indexed] = []
        self._index = Bm25Index()

    def search(self, query: str, topn: int) -> Page:
        """The documents best matching ``query``, each with the passage that matches most."""
        self._refresh_index()
        terms = set(words(query))
        results = []
        for number, _score in self._index.rank(query)[:topn]:
            document = self._documents[number]
            line, snippet = _best_passage(document.page, terms)
            results.append(
                SearchResult(
                    title=document.page.title,
                    url=document.page.url,
                    snippet=snippet,
                    label=document.relative,
                    line=line,
                )
            )
        return search_results_page(query, results)

    def fetch(self, url: str, *, view_source: bool = False) -> Page:
        """The document (or folder listing) at a ``file://`` URL or a path inside the folder."""
        path = self._resolve(url)
        if path.is_dir():
            if view_source:
                raise BrowserError(f"{quoted(url)} is a folder: it has no source to view")
            return self._listing(path)
        return self._load(path, view_source=view_source)

    def _resolve(self, url: str) -> Path:
        parts = urlsplit(url.strip())
        if parts.scheme == "file":
            if parts.netloc not in ("", "localhost"):
                raise BrowserError(f"{quoted(url)} names another host: only local files can be opened")
            raw = unquote(parts.path)
        elif parts.scheme in ("http", "https"):
            raise BrowserError(
                f"{quoted(url)} is on the web, and this browser is offline: "
                f"it opens only the documents in {self.root}"
            )
        elif parts.scheme:
            raise BrowserError(f"{quoted(url)}: this browser opens file:// URLs and paths inside {self.root}")
        else:
            raw = parts.path
        path = Path(raw or ".")
        try:
            resolved = (path if path.is_absolute() else self.root / path).resolve()
            inside = resolved.is_relative_to(self.root)
            exists = inside and resolved.exists()
        except (OSError, ValueError, RuntimeError) as error:
            # NUL bytes, over-long names and symlink loops.
            reason = getattr(error, "strerror", None) or str(error)
            raise BrowserError(f"{quoted(url)} is not a path that can be opened: {reason}") from error
        if not inside:
            raise BrowserError(
                f"{quoted(url)} is outside the documents folder {self.root}: only documents inside it can be opened"
            )
        if not exists:
            raise BrowserError(f"{quoted(url)}: no such document in {self.root}")
        return resolved

    def _load(self, path: Path, *, view_source: bool) -> Page:
        relative = path.relative_to(self.root).as_posix()
        if path.suffix.lower() not in DOCUMENT_SUFFIXES or not path.is_file():
            raise BrowserError(f"`{relative}` is not a document this browser reads ({', '.join(DOCUMENT_SUFFIXES)})")
        try:
            size = path.stat().st_size
            if size > self.max_file_bytes:
                raise BrowserError(f"`{relative}` is {size} bytes, over the browser's limit of {self.max_file_bytes}")
            raw = path.read_bytes().decode("utf-8", errors="replace")
        except OSError as error:
            raise BrowserError(f"`{relative}` cannot be read: {error.strerror}") from error
        url = path.as_uri()
        if view_source:
            return Page(url=f"view-source:{url}", title=f"Source of {relative}", text=clean_text(raw))
        suffix = path.suffix.lower()
        if suffix in (".html", ".htm"):
            return html_to_page(raw, url, fallback_title=path.name)
        if suffix in (".md", ".markdown"):
            return markdown_to_page(raw, url, fallback_title=path.name)
        text = clean_text(raw)
        first = next((line.strip() for line in text.split("\n") if line.strip()), "")
        return Page(url=url, title=first if 0 < len(first) <= 80 else path.name, text=text)

    def _listing(self, folder: Path) -> Page:
        relative = folder.relative_to(self.root).as_posix()
        title = "Documents" if relative == "." else f"Documents in {relative}"
        numbers = LinkNumbers(folder.as_uri())
        rows = [f"# {title}", ""]
        for entry in sorted(folder.iterdir(), key=lambda p: (not p.is_dir(), p.name.lower())):
            if entry.name.startswith("."):
                continue
            if entry.is_dir():
                rows.append(f"* {numbers.marker(entry.as_uri(), entry.name + '/')}")
            elif entry.suffix.lower() in DOCUMENT_SUFFIXES:
                rows.append(f"* {numbers.marker(entry.as_uri(), entry.name)}")
        return Page(url=folder.as_uri(), title=title, text="\n".join(rows), links=numbers.links)

    def _paths(self) -> list[Path]:
        found = []
        for directory, subdirectories, files in os.walk(self.root):
            subdirectories[:] = sorted(d for d in subdirectories if not d.startswith("."))
            for name in sorted(files):
                if not name.startswith(".") and name.lower().endswith(DOCUMENT_SUFFIXES):
                    found.append(Path(directory) / name)
        return found

    def _refresh_index(self) -> None:
        entries = []
        for path in self._paths():
            try:
                stat = path.stat()
            except OSError:
                continue
            if path.is_file() and stat.st_size <= self.max_file_bytes:
                entries.append((path, stat))
        signature = tuple((str(path), stat.st_mtime_ns, stat.st_size) for path, stat in entries)
        if signature == self._signature:
            return
        self._signature = signature
        self._documents, self._index = [], Bm25Index()
        for path, _stat in entries:
            resolved = path.resolve()
            if not resolved.is_relative_to(self.root):
                continue
            try:
                page = self._load(resolved, view_source=False)
            except BrowserError:
                continue
            self._documents.append(_Indexed(path.relative_to(self.root).as_posix(), page))
            self._index.add(page.title, strip_markers(page.text))


def _best_passage(page: Page, terms: set[str]) -> tuple[int | None, str]:
    """The line of running text holding the most query words (None when none does) and a
    snippet of the paragraph from there."""
    plain = [strip_markers(line).strip() for line in page.lines]
    prose = [i for i, line in enumerate(plain) if line and not line.startswith(("#", "```", "~~~"))]
    best, best_hits = None, 0
    for number in prose:
        hits = len(terms & set(words(plain[number])))
        if hits > best_hits:
            best, best_hits = number, hits
    start = best if best is not None else (prose[0] if prose else len(plain))
    snippet = ""
    for line in plain[start:]:
        if not line or line.startswith(("#", "```", "~~~")):
            break
        snippet = f"{snippet} {line}".strip()
        if len(snippet) >= _SNIPPET_CHARS:
            snippet = snippet[: _SNIPPET_CHARS - 1].rsplit(" ", 1)[0] + "…"
            break
    return best, snippet

"""HTML to the browser's plain text: headings, paragraphs, lists, code and numbered links.

Scripts, styles and other invisible parts are dropped; each ``<a href>`` with
visible text becomes a link marker the model can open by number.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urldefrag, urljoin

from .page import LinkNumbers, Page, clean_text

_SKIPPED = {"script", "style", "noscript", "template", "svg", "math", "iframe", "object", "canvas", "select"}
_BLOCKS = {
    "p", "div", "section", "article", "header", "footer", "main", "nav", "aside", "blockquote", "form",
    "figure", "figcaption", "table", "thead", "tbody", "tfoot", "caption", "dl", "dt", "dd", "ul", "ol",
    "address", "details", "summary", "center", "hr", "fieldset", "body", "html",
}
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_VOID = {"br", "hr", "img", "meta", "link", "input", "area", "base", "col", "embed", "source", "track", "wbr"}
# Kinds of block that follow each other without a blank line between them.
_TIGHT = {"li", "tr", "dt", "dd"}
_NOT_FOLLOWED = ("javascript:", "mailto:", "tel:", "data:", "#")
_SPACES_RE = re.compile(r"[^\S\n]+")
# The stdlib parser raises on malformed SGML declarations; pages only need comments, CDATA and doctype.
_DECLARATION_RE = re.compile(r"<!(?!--|\[CDATA\[|doctype)", re.IGNORECASE)


def html_to_page(html: str, url: str, fallback_title: str) -> Page:
    """Convert an HTML document fetched from ``url`` into a page.

    The title is the ``<title>``, else the first heading, else
    ``fallback_title``. Relative links are resolved against ``url`` (or the
    document's ``<base href>``); fragments are dropped from link targets.
    """
    parser = _HtmlText(url)
    parser.feed(_DECLARATION_RE.sub("&lt;!", clean_text(html)))
    parser.close()
    return parser.page(fallback_title)


class _HtmlText(HTMLParser):
    def __init__(self, url: str) -> None:
        super().__init__(convert_charrefs=True)
        self._url = url
        self._base = url
        self._numbers = LinkNumbers(url)
        self._lines: list[str] = []
        self._last_kind = ""
        self._inline: list[str] = []
        self._kind = "p"
        self._prefix = ""
        self._skip = 0
        self._pre = 0
        self._lists: list[list] = []
        self._cells = 0
        self._link: tuple[str, int] | None = None
        self._title: list[str] | None = None
        self._title_text = ""
        self._first_heading = ""

    def page(self, fallback_title: str) -> Page:
        # Unclosed tags at the end of a document still give their text.
        if self._link is not None:
            self._close_link()
        if self._pre:
            self._flush_pre()
        self._flush()
        title = " ".join(self._title_text.split()) or self._first_heading or fallback_title
        return Page(url=self._url, title=title, text="\n".join(self._lines).strip("\n"), links=self._numbers.links)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._skip:
            if tag in _SKIPPED:
                self._skip += 1
            return
        if tag in _SKIPPED:
            self._skip = 1
            return
        attr = {name: value or "" for name, value in attrs}
        if tag == "title":
            self._title = []
        elif tag == "base" and attr.get("href"):
            self._base = urljoin(self._url, attr["href"])
        elif tag in _HEADINGS:
            self._flush()
            self._kind, self._prefix = "heading", "#" * _HEADINGS[tag] + " "
        elif tag == "li":
            self._flush()
            bullet = "* "
            if self._lists and self._lists[-1][0] == "ol":
                self._lists[-1][1] += 1
                bullet = f"{self._lists[-1][1]}. "
            self._kind, self._prefix = "li", "  " * max(len(self._lists) - 1, 0) + bullet
        elif tag in ("ul", "ol"):
            self._flush()
            self._lists.append([tag, 0])
        elif tag == "tr":
            self._flush()
            self._kind, self._cells = "tr", 0
        elif tag in ("td", "th"):
            if self._cells:
                self._inline.append(" | ")
            self._cells += 1
        elif tag == "pre":
            self._flush()
            self._pre += 1
        elif tag == "code" and not self._pre:
            self._inline.append("`")
        elif tag == "br":
            self._inline.append("\n")
        elif tag == "img":
            alt = " ".join(attr.get("alt", "").split())
            if alt:
                self._inline.append(alt if self._link else f"[Image: {alt}]")
        elif tag == "a" and self._link is None and "href" in attr:
            self._link = (attr["href"].strip(), len(self._inline))
        elif tag in _BLOCKS:
            self._flush()

    def handle_endtag(self, tag: str) -> None:
        if self._skip:
            if tag in _SKIPPED:
                self._skip -= 1
            return
        if tag in _VOID:
            return
        if tag == "title" and self._title is not None:
            self._title_text, self._title = "".join(self._title), None
        elif tag == "a" and self._link is not None:
            self._close_link()
        elif tag == "code" and not self._pre:
            self._inline.append("`")
        elif tag == "pre" and self._pre:
            self._pre -= 1
            if not self._pre:
                self._flush_pre()
        elif tag in ("ul", "ol"):
            self._flush()
            if self._lists:
                self._lists.pop()
            if not self._lists:
                self._last_kind = "list"
        elif tag in _HEADINGS or tag in _BLOCKS or tag in ("li", "tr"):
            self._flush()

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        if self._title is not None:
            self._title.append(data)
        elif self._pre:
            self._inline.append(data)
        else:
            self._inline.append(data.replace("\n", " "))

    def _close_link(self) -> None:
        href, start = self._link
        self._link = None
        text = " ".join("".join(self._inline[start:]).split())
        del self._inline[start:]
        if not text:
            return
        if not href or href.lower().startswith(_NOT_FOLLOWED):
            self._inline.append(text)
            return
        target = urldefrag(urljoin(self._base, href)).url
        self._inline.append(self._numbers.marker(target, text))

    def _flush(self) -> None:
        # A block inside a link (allowed in HTML5) must not split the link's text.
        if self._link is not None:
            self._inline.append(" ")
            return
        text = "".join(self._inline)
        self._inline = []
        kind, prefix = self._kind, self._prefix
        self._kind, self._prefix = "p", ""
        rows = [_SPACES_RE.sub(" ", row).strip() for row in text.split("\n")]
        rows = [row for row in rows if row]
        if not rows:
            return
        if kind == "heading" and not self._first_heading:
            self._first_heading = rows[0]
        indent = " " * len(prefix)
        self._emit([prefix + rows[0], *(indent + row for row in rows[1:])], kind)

    def _flush_pre(self) -> None:
        code = "".join(self._inline).strip("\n")
        self._inline = []
        self._kind, self._prefix = "p", ""
        if code.strip():
            self._emit(["```", *code.split("\n"), "```"], "pre")

    def _emit(self, rows: list[str], kind: str) -> None:
        if self._lines and not (kind in _TIGHT and self._last_kind == kind):
            self._lines.append("")
        self._lines.extend(rows)
        self._last_kind = kind

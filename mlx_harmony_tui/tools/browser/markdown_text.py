"""Markdown to the browser's text: the source as written, its links turned into numbered markers.

Inline links ``[text](target)``, reference links ``[text][label]`` and
autolinks ``<https://...>`` become markers; images become ``[Image: alt]``;
code spans and fenced code blocks are left exactly as written.
"""

from __future__ import annotations

import re
from urllib.parse import urldefrag, urljoin

from .page import LinkNumbers, Page, clean_text

_FENCE_RE = re.compile(r"^\s{0,3}(```|~~~)")
_DEFINITION_RE = re.compile(r"^\s{0,3}\[([^\]]+)\]:\s*<?([^\s>]+)>?(?:\s+.*)?$")
_HEADING_RE = re.compile(r"^\s{0,3}(#{1,6})\s+(.+?)\s*#*\s*$")
_INLINE_RE = re.compile(
    r"(?P<code>`+[^`]*`+)"
    r"|!\[(?P<alt>[^\]]*)\]\([^)]*\)"
    r"|\[(?P<text>[^\]]+)\]\(\s*<?(?P<target>[^)\s>]+)>?(?:\s+[\"'(][^)]*)?\)"
    r"|\[(?P<reftext>[^\]]+)\]\[(?P<ref>[^\]]*)\]"
    r"|<(?P<auto>https?://[^>\s]+)>"
)
_NOT_FOLLOWED = ("javascript:", "mailto:", "tel:", "data:", "#")


def markdown_to_page(markdown: str, url: str, fallback_title: str) -> Page:
    """Convert a Markdown document at ``url`` into a page.

    The title is the first ``# heading`` (else the first heading of any
    level, else ``fallback_title``); link targets are resolved against ``url``.
    """
    lines = clean_text(markdown).split("\n")
    definitions = _definitions(lines)
    numbers = LinkNumbers(url)

    def link(text: str, target: str) -> str:
        if target.lower().startswith(_NOT_FOLLOWED):
            return text
        return numbers.marker(urldefrag(urljoin(url, target)).url, text)

    def replace(match: re.Match) -> str:
        if match["code"] is not None:
            return match["code"]
        if match["alt"] is not None:
            return f"[Image: {match['alt']}]" if match["alt"].strip() else ""
        if match["text"] is not None:
            return link(match["text"], match["target"])
        if match["reftext"] is not None:
            target = definitions.get((match["ref"] or match["reftext"]).strip().lower())
            return link(match["reftext"], target) if target else match[0]
        return link(match["auto"], match["auto"])

    out: list[str] = []
    headings: list[tuple[int, str]] = []
    in_fence = False
    for line in lines:
        if _FENCE_RE.match(line):
            in_fence = not in_fence
            out.append(line)
        elif in_fence:
            out.append(line)
        elif not _DEFINITION_RE.match(line):
            heading = _HEADING_RE.match(line)
            if heading:
                headings.append((len(heading[1]), heading[2]))
            out.append(_INLINE_RE.sub(replace, line))
    title = next((text for level, text in headings if level == 1), headings[0][1] if headings else fallback_title)
    return Page(url=url, title=title, text="\n".join(out).strip("\n"), links=numbers.links)


def _definitions(lines: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    in_fence = False
    for line in lines:
        if _FENCE_RE.match(line):
            in_fence = not in_fence
        elif not in_fence and (match := _DEFINITION_RE.match(line)):
            found.setdefault(match[1].strip().lower(), match[2])
    return found

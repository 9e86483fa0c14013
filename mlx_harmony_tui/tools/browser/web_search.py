"""The browser's web search: a URL template with ``{query}``, or a SearXNG instance's JSON API.

A template endpoint may answer JSON (a list of ``{title, url, snippet}``, or an
object holding one under ``results``) or an HTML page whose links become the
results. SearXNG answers ``/search?q=...&format=json`` with ``results`` holding
``{title, url, content}``, once its settings allow the ``json`` format.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import quote_plus, urlsplit, urlunsplit

from ...errors import UserError
from .backend import BrowserError, quoted
from .html_text import html_to_page
from .page import MARKER_RE, SearchResult, domain_of, strip_markers

_SNIPPET_CHARS = 200


@dataclass(frozen=True)
class SearchEndpoint:
    """Where searches go: ``template`` with ``{query}`` (and optionally ``{topn}``) filled in.

    ``name`` says what it is in messages; ``refused_hint`` explains an HTTP 403
    (SearXNG answers that when its JSON format is turned off).
    """

    template: str
    name: str
    refused_hint: str = ""

    @classmethod
    def from_template(cls, template: str, flag: str = "browser search URL") -> SearchEndpoint:
        """A search URL template the user gave; UserError naming ``flag`` when it cannot work."""
        if "{query}" not in template:
            raise UserError(f"{flag} {template!r}: has no {{query}} placeholder")
        _check_http(template, flag)
        return cls(template, f"the search endpoint {quoted(template)}")

    @classmethod
    def searxng(cls, url: str, flag: str = "SearXNG URL") -> SearchEndpoint:
        """The JSON API of the SearXNG instance at ``url`` (its address, with or without ``/search``)."""
        _check_http(url, flag)
        parts = urlsplit(url.strip())
        path = parts.path.rstrip("/")
        if not path.endswith("/search"):
            path += "/search"
        query = "&".join(q for q in (parts.query, "q={query}&format=json") if q)
        template = urlunsplit((parts.scheme, parts.netloc, path, query, ""))
        hint = ("; SearXNG answers 403 when its JSON API is off: add `json` under `search: formats:` "
                "in its settings.yml and restart it")
        return cls(template, f"SearXNG at {quoted(url)}", hint)

    def url_for(self, query: str, topn: int) -> str:
        return self.template.replace("{query}", quote_plus(query)).replace("{topn}", str(topn))

    @property
    def origin(self) -> tuple[str, str, int]:
        """(scheme, host, port) of the endpoint: the user chose it, so it may be a local address."""
        return origin_of(self.template.replace("{query}", "").replace("{topn}", ""))


def origin_of(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or (443 if scheme == "https" else 80)


def _check_http(url: str, flag: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise UserError(f"{flag} {url!r}: must start with http:// or https://")
    if not parts.hostname:
        raise UserError(f"{flag} {url!r}: has no host name")


def results_from_json(body: str, where: str) -> list[SearchResult]:
    """The hits of a JSON answer; ``snippet`` or SearXNG's ``content`` is the snippet."""
    shape = "a JSON list of {title, url, snippet} objects (or an object with such a list under `results`)"
    try:
        data = json.loads(body)
    except json.JSONDecodeError as error:
        raise BrowserError(f"{where} did not answer HTML or JSON: expected {shape}") from error
    if isinstance(data, dict):
        data = data.get("results")
    if not isinstance(data, list):
        raise BrowserError(f"{where} answered JSON of another shape: expected {shape}")
    results = []
    for item in data:
        if not isinstance(item, dict) or not isinstance(item.get("url"), str):
            continue
        target = item["url"]
        if urlsplit(target).scheme not in ("http", "https"):
            continue
        title = item.get("title") if isinstance(item.get("title"), str) else ""
        snippet = next((item[k] for k in ("snippet", "content") if isinstance(item.get(k), str)), "")
        results.append(SearchResult(title=title or target, url=target, snippet=snippet[:_SNIPPET_CHARS * 2]))
    return results


def results_from_html(body: str, url: str) -> list[SearchResult]:
    """Each link to another http(s) page becomes a result; links back to the search itself
    (more pages, other queries) do not."""
    page = html_to_page(body, url, fallback_title="")
    search_path = urlsplit(url).path
    results: list[SearchResult] = []
    seen: set[int] = set()
    for line in page.text.split("\n"):
        for match in MARKER_RE.finditer(line):
            link_id = int(match[1])
            target = page.links[link_id].url
            if link_id in seen or urlsplit(target).scheme not in ("http", "https"):
                continue
            if urlsplit(target).path == search_path and domain_of(target) == domain_of(url):
                continue
            seen.add(link_id)
            snippet = strip_markers(line[match.end():]).strip(" -–—|:")[:_SNIPPET_CHARS]
            results.append(SearchResult(title=match[2], url=target, snippet=snippet))
    return results

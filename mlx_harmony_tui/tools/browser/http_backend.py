"""A browser backend on the web: pages over http(s), search through a configurable endpoint.

The search endpoint is a URL template with ``{query}`` (and optionally
``{topn}``); it may answer JSON (a list of ``{title, url, snippet}``, or an
object holding one under ``results``) or an HTML page whose links become the
results.
"""

from __future__ import annotations

import json
from urllib.parse import quote_plus, urlsplit

import httpx

from ...errors import UserError
from .backend import BrowserError, quoted
from .html_text import html_to_page
from .page import MARKER_RE, Page, SearchResult, clean_text, domain_of, search_results_page, strip_markers

_HTML_TYPES = {"text/html", "application/xhtml+xml"}
_TEXT_TYPES = {"application/json", "application/xml", "application/javascript", "application/x-javascript"}
_SNIPPET_CHARS = 200


class HttpBackend:
    """Open http(s) pages, and search when ``search_url_template`` is set.

    A request taking longer than ``timeout_s`` seconds, a status other than
    200, a body that is not text, or one over ``max_bytes`` (after
    decompression) is a BrowserError naming the URL.
    """

    source = "web"

    def __init__(
        self,
        search_url_template: str | None = None,
        *,
        timeout_s: float = 15.0,
        max_bytes: int = 5_000_000,
        user_agent: str = "mlx-harmony-browser/1.0",
    ) -> None:
        if search_url_template is not None:
            if "{query}" not in search_url_template:
                raise UserError(f"browser search URL {search_url_template!r}: has no {{query}} placeholder")
            if urlsplit(search_url_template).scheme not in ("http", "https"):
                raise UserError(f"browser search URL {search_url_template!r}: must start with http:// or https://")
        self.search_url_template = search_url_template
        self.timeout_s = timeout_s
        self.max_bytes = max_bytes
        self.user_agent = user_agent

    def search(self, query: str, topn: int) -> Page:
        """Results from the search endpoint, at most ``topn``, in the order it gave them."""
        if self.search_url_template is None:
            raise BrowserError(
                "Web search is not set up (no search URL is configured): open pages by their URL instead"
            )
        url = self.search_url_template.replace("{query}", quote_plus(query)).replace("{topn}", str(topn))
        final_url, media_type, body = self._get(url)
        if media_type in _HTML_TYPES:
            results = _results_from_html(body, final_url)
        else:
            results = _results_from_json(body, url)
        return search_results_page(query, results[:topn])

    def fetch(self, url: str, *, view_source: bool = False) -> Page:
        """The page at ``url``: HTML as text with numbered links, other text as it is."""
        final_url, media_type, body = self._get(url)
        if view_source:
            return Page(url=f"view-source:{final_url}", title=f"Source of {final_url}", text=clean_text(body))
        if media_type in _HTML_TYPES:
            return html_to_page(body, final_url, fallback_title=domain_of(final_url) or final_url)
        name = urlsplit(final_url).path.rstrip("/").rpartition("/")[2]
        return Page(url=final_url, title=name or domain_of(final_url), text=clean_text(body))

    def _get(self, url: str) -> tuple[str, str, str]:
        """(final URL after redirects, media type, decoded body) of a GET."""
        shown = quoted(url)
        try:
            parts = urlsplit(url)
            if parts.scheme.lower() not in ("http", "https"):
                raise BrowserError(f"{shown}: only http:// and https:// URLs can be opened")
            if not parts.hostname:
                raise BrowserError(f"{shown} has no host name")
            with httpx.Client(
                timeout=self.timeout_s,
                follow_redirects=True,
                max_redirects=5,
                headers={"User-Agent": self.user_agent},
            ) as client:
                with client.stream("GET", url) as response:
                    return self._read(shown, response)
        except httpx.TimeoutException as error:
            raise BrowserError(f"{shown} did not answer within {self.timeout_s:g} s") from error
        except httpx.TooManyRedirects as error:
            raise BrowserError(f"{shown} redirects too many times") from error
        except (httpx.InvalidURL, httpx.UnsupportedProtocol, ValueError) as error:
            raise BrowserError(f"{shown} is not a URL that can be opened: {error}") from error
        except httpx.ConnectError as error:
            raise BrowserError(f"could not connect to {shown}: {error}") from error
        except httpx.HTTPError as error:
            raise BrowserError(f"fetching {shown} failed: {error}") from error

    def _read(self, shown: str, response: httpx.Response) -> tuple[str, str, str]:
        if response.status_code != 200:
            raise BrowserError(f"{shown} answered HTTP {response.status_code} {response.reason_phrase}".rstrip())
        media_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type and not _is_text(media_type):
            raise BrowserError(f"{shown} is {media_type}, not a text page the browser can show")
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise BrowserError(f"{shown} is {declared} bytes, over the browser's limit of {self.max_bytes}")
        body = bytearray()
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > self.max_bytes:
                raise BrowserError(f"{shown} is larger than the browser's limit of {self.max_bytes} bytes")
        if not media_type and b"\x00" in body[:4096]:
            raise BrowserError(f"{shown} is binary data, not a text page the browser can show")
        try:
            text = body.decode(response.charset_encoding or "utf-8", errors="replace")
        except LookupError:
            text = body.decode("utf-8", errors="replace")
        return str(response.url), media_type, text


def _is_text(media_type: str) -> bool:
    return (
        media_type.startswith("text/")
        or media_type in _HTML_TYPES
        or media_type in _TEXT_TYPES
        or media_type.endswith(("+xml", "+json"))
    )


def _results_from_json(body: str, url: str) -> list[SearchResult]:
    shape = "a JSON list of {title, url, snippet} objects (or an object with such a list under `results`)"
    try:
        data = json.loads(body)
    except json.JSONDecodeError as error:
        raise BrowserError(f"the search endpoint {quoted(url)} did not answer HTML or JSON: expected {shape}") from error
    if isinstance(data, dict):
        data = data.get("results")
    if not isinstance(data, list):
        raise BrowserError(f"the search endpoint {quoted(url)} answered JSON of another shape: expected {shape}")
    results = []
    for item in data:
        if not isinstance(item, dict) or not isinstance(item.get("url"), str):
            continue
        target = item["url"]
        if urlsplit(target).scheme not in ("http", "https"):
            continue
        title = item.get("title") if isinstance(item.get("title"), str) else ""
        snippet = item.get("snippet") if isinstance(item.get("snippet"), str) else ""
        results.append(SearchResult(title=title or target, url=target, snippet=snippet[:_SNIPPET_CHARS * 2]))
    return results


def _results_from_html(body: str, url: str) -> list[SearchResult]:
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

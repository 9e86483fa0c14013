"""A browser backend on the web: pages over http(s), search through a URL template or SearXNG.

Every connection goes to an address checked first (``address.py``): names are
resolved once, refused when any address is not on the public internet (unless
private addresses are allowed), and the request goes to that very address with
the name kept in the Host header and TLS's SNI. Redirects are followed here,
each hop checked the same way. The search endpoint's own scheme, host and port
are trusted: the user chose it, and it is often a SearXNG on this machine.
"""

from __future__ import annotations

import ssl
import time
from urllib.parse import urljoin, urlsplit

import httpx

from ...errors import UserError
from .address import Resolver, public_addresses, resolve
from .backend import BrowserError, quoted
from .html_text import html_to_page
from .page import Page, clean_text, domain_of, search_results_page
from .web_search import SearchEndpoint, origin_of, results_from_html, results_from_json

_HTML_TYPES = {"text/html", "application/xhtml+xml"}
_TEXT_TYPES = {"application/json", "application/xml", "application/javascript", "application/x-javascript"}
_REDIRECTS = {301, 302, 303, 307, 308}


class HttpBackend:
    """Open http(s) pages, and search when a search URL template or a SearXNG URL is set.

    A page taking longer than ``timeout_s`` seconds in all (redirects
    included), a status other than 200, a body that is not text, one over
    ``max_bytes`` (after decompression), more than ``max_redirects`` redirects,
    or an address that is not public (unless ``allow_private``) is a
    BrowserError naming the URL and the reason. ``resolver`` looks names up
    (``socket.getaddrinfo`` by default); ``verify`` is httpx's TLS check.
    """

    source = "web"

    def __init__(
        self,
        search_url_template: str | None = None,
        *,
        searxng_url: str | None = None,
        allow_private: bool = False,
        resolver: Resolver = resolve,
        timeout_s: float = 15.0,
        max_bytes: int = 5_000_000,
        max_redirects: int = 5,
        user_agent: str = "mlx-harmony-browser/1.0",
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        if search_url_template is not None and searxng_url is not None:
            raise UserError("browser search: give a search URL or a SearXNG URL, not both")
        self.endpoint: SearchEndpoint | None = None
        if search_url_template is not None:
            self.endpoint = SearchEndpoint.from_template(search_url_template)
        elif searxng_url is not None:
            self.endpoint = SearchEndpoint.searxng(searxng_url)
        self.allow_private = allow_private
        self.resolver = resolver
        self.timeout_s = timeout_s
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        self.user_agent = user_agent
        self.verify = verify

    def search(self, query: str, topn: int) -> Page:
        """Results from the search endpoint, at most ``topn``, in the order it gave them."""
        if self.endpoint is None:
            raise BrowserError(
                "Web search is not set up (no search URL or SearXNG URL is configured): open pages by their URL instead"
            )
        url = self.endpoint.url_for(query, topn)
        final_url, media_type, body = self._get(url, trusted=self.endpoint.origin, hint=self.endpoint.refused_hint)
        if media_type in _HTML_TYPES:
            results = results_from_html(body, final_url)
        else:
            results = results_from_json(body, f"{self.endpoint.name} ({quoted(url)})")
        return search_results_page(query, results[:topn])

    def fetch(self, url: str, *, view_source: bool = False) -> Page:
        """The page at ``url``: HTML as text with numbered links, other text as it is."""
        trusted = self.endpoint.origin if self.endpoint else None
        final_url, media_type, body = self._get(url, trusted=trusted)
        if view_source:
            return Page(url=f"view-source:{final_url}", title=f"Source of {final_url}", text=clean_text(body))
        if media_type in _HTML_TYPES:
            return html_to_page(body, final_url, fallback_title=domain_of(final_url) or final_url)
        name = urlsplit(final_url).path.rstrip("/").rpartition("/")[2]
        return Page(url=final_url, title=name or domain_of(final_url), text=clean_text(body))

    def _get(self, url: str, trusted: tuple[str, str, int] | None, hint: str = "") -> tuple[str, str, str]:
        """(final URL after redirects, media type, decoded body) of a GET, every hop checked."""
        shown = quoted(url)
        deadline = time.monotonic() + self.timeout_s
        current = url
        for _hop in range(self.max_redirects + 1):
            where = f"{shown}:" if current == url else f"{shown} redirects to {quoted(current)}:"
            try:
                target = _parse(current, where)
                host = target.raw_host.decode("ascii")
                port = target.port or (443 if target.scheme == "https" else 80)
                allowed = self.allow_private or origin_of(current) == trusted
                try:
                    addresses = public_addresses(host, port, self.resolver, allowed)
                except BrowserError as error:
                    raise BrowserError(f"{where} {error}") from None
                location, result = self._get_one(target, host, addresses, deadline, shown, hint)
            except httpx.TimeoutException as error:
                raise BrowserError(f"{shown} did not answer within {self.timeout_s:g} s") from error
            except (httpx.InvalidURL, httpx.UnsupportedProtocol, ValueError) as error:
                raise BrowserError(f"{shown} is not a URL that can be opened: {error}") from error
            except httpx.HTTPError as error:
                raise BrowserError(f"fetching {shown} failed: {error}") from error
            if location is None:
                assert result is not None
                return current, *result
            current = urljoin(current, location)
        raise BrowserError(f"{shown} redirects too many times (more than {self.max_redirects})")

    def _get_one(self, target: httpx.URL, host: str, addresses: list[str], deadline: float, shown: str,
                 hint: str) -> tuple[str | None, tuple[str, str] | None]:
        """GET ``target`` from the first of ``addresses`` that accepts a connection:
        (the redirect's Location, None) or (None, (media type, body))."""
        headers = {"Host": target.netloc.decode("ascii"), "User-Agent": self.user_agent}
        extensions = {"sni_hostname": host} if target.scheme == "https" and host not in addresses else {}
        failure: httpx.ConnectError | None = None
        for address in addresses:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise httpx.ReadTimeout("out of time")
            with httpx.Client(timeout=remaining, trust_env=False, verify=self.verify) as client:
                request = client.build_request("GET", target.copy_with(host=address), headers=headers,
                                               extensions=extensions)
                try:
                    response = client.send(request, stream=True)
                except httpx.ConnectError as error:
                    failure = error
                    continue
                try:
                    if response.status_code in _REDIRECTS and response.headers.get("location"):
                        return response.headers["location"], None
                    return None, self._read(shown, response, deadline, hint)
                finally:
                    response.close()
        raise BrowserError(f"could not connect to {shown}: {failure}")

    def _read(self, shown: str, response: httpx.Response, deadline: float, hint: str) -> tuple[str, str]:
        if response.status_code != 200:
            status = f"{shown} answered HTTP {response.status_code} {response.reason_phrase}".rstrip()
            raise BrowserError(status + (hint if response.status_code == 403 else ""))
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
            if time.monotonic() > deadline:  # a server that trickles its page out
                raise BrowserError(f"{shown} did not answer within {self.timeout_s:g} s")
        if not media_type and b"\x00" in body[:4096]:
            raise BrowserError(f"{shown} is binary data, not a text page the browser can show")
        try:
            text = body.decode(response.charset_encoding or "utf-8", errors="replace")
        except LookupError:
            text = body.decode("utf-8", errors="replace")
        return media_type, text


def _parse(url: str, where: str) -> httpx.URL:
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        raise BrowserError(f"{where} only http:// and https:// URLs can be opened")
    if not parts.hostname:
        raise BrowserError(f"{where} has no host name")
    return httpx.URL(url)


def _is_text(media_type: str) -> bool:
    return (
        media_type.startswith("text/")
        or media_type in _HTML_TYPES
        or media_type in _TEXT_TYPES
        or media_type.endswith(("+xml", "+json"))
    )

"""The browser tool as the model uses it: over a folder of local documents and over a real
HTTP server on 127.0.0.1, with the page display GPT-OSS was trained to read."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from mlx_harmony_tui.errors import UserError
from mlx_harmony_tui.tools.browser import BrowserTool, HttpBackend, LocalDocsBackend

NEEDLE_LINE = 150

DOCS = {
    "guide/ranking.md": """# Ranking with BM25

BM25 ranks documents by how often the query words appear, weighted by how rare
they are across the folder. See [the tokenizer notes](../tokenizer.txt) and the
[setup page][setup] before you start, or [the upstream paper](https://example.org/bm25).

```
[not a link](nowhere.md)
```

[setup]: ../setup.html
""",
    "tokenizer.txt": "Tokenizer notes\n\nThe tokenizer splits text into words on non-word characters.\n",
    "setup.html": """<!doctype html><html><head><title>Setup</title>
<style>body { color: red }</style><script>document.write("hidden script text")</script></head>
<body><h1>Setting up</h1><p>Install with pip, then read about
<a href="guide/ranking.md#intro">ranking</a>.</p>
<ul><li>First step</li><li>Second step</li></ul></body></html>
""",
    "cooking.txt": "Soup recipes\n\n"
    + "Onions, carrots and a little salt make a broth for a cold evening. " * 20
    + "\nSomebody once wrote bm25 on the fridge.\n",
    "long.md": "# A long document\n"
    + "".join(
        "This line mentions a needle.\n" if n == NEEDLE_LINE else f"Filler line number {n}.\n"
        for n in range(1, 300)
    ),
}


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    for name, text in DOCS.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder


@pytest.fixture
def browser(docs: Path) -> BrowserTool:
    return BrowserTool(LocalDocsBackend(docs))


def call(tool: BrowserTool, function: str, **arguments) -> str:
    output = tool.run(f"browser.{function}", json.dumps(arguments))
    assert output.ok, output.text
    return output.text


def fail(tool: BrowserTool, function: str, arguments: str) -> str:
    output = tool.run(f"browser.{function}", arguments)
    assert not output.ok, output.text
    return output.text


def link_id(text: str, link_text: str) -> int:
    match = re.search(rf"【(\d+)†{re.escape(link_text)}(?:†[^】]*)?】", text)
    assert match, f"no link {link_text!r} in:\n{text}"
    return int(match[1])


def shown_lines(text: str) -> list[int]:
    return [int(n) for n in re.findall(r"^L(\d+): ", text, flags=re.MULTILINE)]


# --- local documents ---------------------------------------------------------------------


def test_search_ranks_the_document_about_the_query_first(browser: BrowserTool):
    text = call(browser, "search", query="bm25 ranking")
    assert text.startswith("[0] bm25 ranking\n")
    assert "【0†Ranking with BM25†guide/ranking.md】 BM25 ranks documents" in text
    assert text.index("guide/ranking.md") < text.index("cooking.txt")
    assert "long.md" not in text


def test_open_a_result_by_number_then_follow_its_links(browser: BrowserTool, docs: Path):
    call(browser, "search", query="bm25 ranking")
    page = call(browser, "open", id=0)
    assert page.startswith(f"[1] Ranking with BM25 ({(docs / 'guide/ranking.md').as_uri()})\n")
    assert "L0: # Ranking with BM25" in page
    assert "[not a link](nowhere.md)" in page  # code blocks are left as written
    assert "【2†the upstream paper†example.org】" in page

    setup = call(browser, "open", id=link_id(page, "setup page"))
    assert setup.startswith("[2] Setup (")
    assert "L0: # Setting up" in setup and "* Second step" in setup
    assert "hidden script text" not in setup and "color: red" not in setup

    back = call(browser, "open", id=link_id(setup, "ranking"))
    assert back.startswith("[3] Ranking with BM25 (")

    notes = call(browser, "open", cursor=1, id=link_id(page, "the tokenizer notes"))
    assert notes.startswith("[4] Tokenizer notes (") and "splits text into words" in notes


def test_open_by_relative_path_and_file_url(browser: BrowserTool, docs: Path):
    assert call(browser, "open", id="tokenizer.txt").startswith("[0] Tokenizer notes (")
    assert call(browser, "open", id=(docs / "setup.html").as_uri()).startswith("[1] Setup (")
    listing = call(browser, "open", id="guide")
    assert "【0†ranking.md】" in listing
    assert call(browser, "open", id=0).startswith("[3] Ranking with BM25 (")


def test_scroll_with_loc_and_num_lines(browser: BrowserTool):
    first = call(browser, "open", id="long.md")
    assert "**viewing lines [0 - 79] of 299**" in first
    assert shown_lines(first) == list(range(80))

    window = call(browser, "open", loc=100, num_lines=5)
    assert window.startswith("[1] A long document (")
    assert "**viewing lines [100 - 104] of 299**" in window
    assert shown_lines(window) == [100, 101, 102, 103, 104]
    assert "L100: Filler line number 100." in window

    assert "past the end of the page" in fail(browser, "open", '{"loc": 300}')


def test_find_lists_matches_and_opens_one_in_place(browser: BrowserTool):
    call(browser, "open", id="long.md")
    found = call(browser, "find", pattern="NEEDLE")
    assert found.startswith("[1] Find results for text: `NEEDLE` in `A long document`")
    assert f"# 【0†match at L{NEEDLE_LINE}】" in found
    assert "This line mentions a needle." in found

    match = call(browser, "open", id=0)
    assert match.startswith("[2] A long document (")
    assert shown_lines(match)[0] == NEEDLE_LINE - 4
    assert f"L{NEEDLE_LINE}: This line mentions a needle." in match

    none = call(browser, "find", pattern="no such words anywhere", cursor=0)
    assert "No `find` results for pattern: `no such words anywhere`" in none


def test_a_search_hit_deep_in_a_document_opens_near_it(browser: BrowserTool):
    call(browser, "search", query="needle")
    opened = call(browser, "open", id=0)
    assert shown_lines(opened)[0] == NEEDLE_LINE - 4


def test_cursor_goes_back_to_an_earlier_page(browser: BrowserTool):
    results = call(browser, "search", query="bm25 ranking")
    call(browser, "open", id=0)
    call(browser, "open", id="long.md")

    second_path = re.search(r"【1†[^†]+†([^】]+)】", results)[1]
    second = call(browser, "open", cursor=0, id=1)
    assert second.startswith("[3] ") and second.split("\n")[0].endswith(f"/{second_path})")

    again = call(browser, "open", cursor=1)
    assert again.startswith("[4] Ranking with BM25 (")
    assert "the tokenizer notes" in call(browser, "find", pattern="tokenizer", cursor=1)
    assert len(browser.history) == 6


BAD_CALLS = [
    ("search", "{not json", "not valid JSON"),
    ("search", "[1, 2]", "must be a JSON object"),
    ("search", "{}", "`query`: Field required"),
    ("search", '{"query": "x", "color": "red"}', "`color`: Extra inputs are not permitted"),
    ("search", '{"query": "   "}', "`query` is empty"),
    ("open", '{"id": 3.5}', "`id`: should be a link number or a URL"),
    ("open", '{"id": 7}', "has no link 7: its links are numbered 0 to"),
    ("open", '{"cursor": 9}', "Cursor 9 is out of range: the pages shown so far have cursors 0 to 0"),
    ("open", '{"loc": "top"}', "`loc`: Input should be a valid integer"),
    ("find", '{"pattern": "bm25"}', "cursor 0 shows search results, not a page"),
    ("find", '{"pattern": ""}', "`pattern` is empty"),
]


@pytest.mark.parametrize(("function", "arguments", "message"), BAD_CALLS)
def test_bad_calls_come_back_as_clear_failures(browser: BrowserTool, function: str, arguments: str, message: str):
    call(browser, "search", query="bm25 ranking")
    assert message in fail(browser, function, arguments)
    assert len(browser.history) == 1


def test_calls_before_any_page_and_to_unknown_functions(browser: BrowserTool):
    assert "No page is open yet" in fail(browser, "open", "{}")
    assert "No page is open yet" in fail(browser, "find", '{"pattern": "x"}')
    output = browser.run("browser.click", "{}")
    assert not output.ok and "Unknown browser function `browser.click`" in output.text
    assert not browser.run("python", "{}").ok


@pytest.mark.attack
@pytest.mark.parametrize("target", ["../secret.md", "guide/../../secret.md", "SECRET_ABS", "SECRET_URL", "leak.md"])
def test_documents_outside_the_folder_cannot_be_opened(docs: Path, target: str):
    secret = docs.parent / "secret.md"
    secret.write_text("# Secret\n\nthe password is hunter2\n")
    (docs / "leak.md").symlink_to(secret)
    target = {"SECRET_ABS": str(secret), "SECRET_URL": secret.as_uri()}.get(target, target)
    tool = BrowserTool(LocalDocsBackend(docs))
    text = fail(tool, "open", json.dumps({"id": target}))
    assert "outside the documents folder" in text and "hunter2" not in text
    assert "No results for `password`" in call(tool, "search", query="password")


@pytest.mark.attack
def test_the_offline_backend_does_not_reach_the_web(browser: BrowserTool):
    assert "this browser is offline" in fail(browser, "open", '{"id": "http://127.0.0.1:9/"}')


def test_the_index_follows_changes_to_the_folder(browser: BrowserTool, docs: Path):
    assert "No results for `zeppelin`" in call(browser, "search", query="zeppelin")
    (docs / "airships.md").write_text("# Airships\n\nA zeppelin is a rigid airship.\n")
    assert "【0†Airships†airships.md】 A zeppelin is a rigid airship." in call(browser, "search", query="zeppelin")


def test_a_missing_documents_folder_is_a_user_error(tmp_path: Path):
    with pytest.raises(UserError, match="does not exist"):
        LocalDocsBackend(tmp_path / "nowhere")


def test_long_output_is_cut_to_the_limit(docs: Path):
    tool = BrowserTool(LocalDocsBackend(docs), output_limit=500)
    output = tool.run("browser.open", '{"id": "long.md", "num_lines": 200}')
    assert output.ok and output.truncated
    assert output.text.endswith("more characters not shown]")


def test_the_display_has_the_trained_shape(browser: BrowserTool, docs: Path):
    (docs / "links.html").write_text(
        "<html><head><title>Many links</title></head><body><p>"
        + " ".join(f'word <a href="page{n}.html">link number {n}</a>' for n in range(12))
        + ' and <a href="https://www.example.com/far">a far page</a>.</p></body></html>'
    )
    text = call(browser, "open", id="links.html")
    lines = text.split("\n")
    assert re.fullmatch(r"\[0\] Many links \(file:///.+/links\.html\)", lines[0])
    assert re.fullmatch(r"\*\*viewing lines \[0 - (\d+)\] of \1\*\*", lines[1])
    assert lines[2] == ""
    assert shown_lines(text) == list(range(len(lines) - 3))
    assert all(re.match(r"L\d+: ", line) for line in lines[3:])
    markers = re.findall(r"【[^】]*】", text)
    assert len(markers) == 13  # none is cut by line wrapping
    assert all(re.fullmatch(r"【\d+†[^†】]+(†[^†】]+)?】", marker) for marker in markers)
    assert "【0†link number 0】" in text and "【12†a far page†www.example.com】" in text
    assert all(len(line) <= len("L10: ") + 80 for line in lines[3:])


# --- the web, through a real HTTP server on 127.0.0.1 --------------------------------------

PAGES = {
    "/index.html": """<html><head><title>Test site</title><script>var secret = 1;</script></head>
<body><h1>Welcome</h1><p>Read <a href="/about.html">about us</a> or visit
<a href="https://example.org/elsewhere">another site</a>.</p>
<ol><li>one</li><li>two</li></ol><pre>code  stays   spaced</pre></body></html>""",
    "/about.html": """<html><head><title>About</title></head><body>
<p>We make <b>small tools</b>. Back <a href="index.html">home</a>.</p></body></html>""",
}


class _Site(BaseHTTPRequestHandler):
    def do_GET(self):
        parts = urlsplit(self.path)
        query = parse_qs(parts.query).get("q", [""])[0]
        if parts.path in PAGES:
            self._send(200, "text/html; charset=utf-8", PAGES[parts.path].encode())
        elif parts.path == "/notes.txt":
            self._send(200, "text/plain", b"plain notes\nsecond line\n")
        elif parts.path == "/old":
            self.send_response(302)
            self.send_header("Location", "/about.html")
            self.end_headers()
        elif parts.path == "/search.json":
            results = [
                {"title": "About the site", "url": self._url("/about.html"), "snippet": f"you asked for {query}"},
                {"title": "Home", "url": self._url("/index.html"), "snippet": "the front page"},
            ]
            self._send(200, "application/json", json.dumps(results).encode())
        elif parts.path == "/search-odd.json":
            self._send(200, "application/json", b'{"hits": 3}')
        elif parts.path == "/search.html":
            body = (
                f"<html><body><h1>Results for {query}</h1><ul>"
                f'<li><a href="{self._url("/about.html")}">About page</a> - all about us</li>'
                f'<li><a href="{self._url("/index.html")}">Home page</a> - start here</li>'
                f'</ul><a href="/search.html?q={query}&page=2">Next results</a></body></html>'
            )
            self._send(200, "text/html", body.encode())
        elif parts.path == "/slow":
            time.sleep(3)
            self._send(200, "text/plain", b"too late")
        elif parts.path == "/image.png":
            self._send(200, "image/png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
        elif parts.path == "/big.txt":
            self._send(200, "text/plain", b"x" * 50_000)
        elif parts.path == "/big-stream.txt":
            # No Content-Length: the body runs until the connection closes.
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self._write(b"y" * 50_000)
        else:
            self._send(404, "text/html", b"<h1>Not found</h1>")

    def _url(self, path: str) -> str:
        return f"http://{self.headers['Host']}{path}"

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
        except OSError:
            return
        self._write(body)

    def _write(self, body: bytes) -> None:
        try:
            self.wfile.write(body)
        except OSError:  # the client gave up (the timeout test)
            pass

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def site():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def web(site: str) -> BrowserTool:
    return BrowserTool(HttpBackend(f"{site}/search.json?q={{query}}", timeout_s=0.5, max_bytes=10_000))


def test_open_a_web_page_and_follow_a_link(web: BrowserTool, site: str):
    page = call(web, "open", id=f"{site}/index.html")
    assert page.startswith(f"[0] Test site ({site}/index.html)\n**viewing lines [0 - ")
    assert "L0: # Welcome" in page
    assert "【0†about us】" in page  # same site: no domain part
    assert "【1†another site†example.org】" in page
    assert "1. one" in page and "code  stays   spaced" in page
    assert "secret" not in page

    about = call(web, "open", id=0)
    assert about.startswith(f"[1] About ({site}/about.html)")
    assert "We make small tools. Back 【0†home】." in about


def test_redirects_are_followed_and_plain_text_is_shown_as_is(web: BrowserTool, site: str):
    assert call(web, "open", id=f"{site}/old").startswith(f"[0] About ({site}/about.html)")
    notes = call(web, "open", id=f"{site}/notes.txt")
    assert "L0: plain notes\nL1: second line" in notes


def test_view_source_shows_the_raw_html(web: BrowserTool, site: str):
    source = call(web, "open", id=f"{site}/about.html", view_source=True)
    assert source.startswith(f"[0] Source of {site}/about.html (view-source:{site}/about.html)")
    assert "<b>small tools</b>" in source


def test_search_through_a_json_endpoint(web: BrowserTool, site: str):
    results = call(web, "search", query="tools & more")
    assert results.startswith("[0] tools & more\n")
    assert "【0†About the site†127.0.0.1】 you asked for tools & more" in results
    assert "【1†Home†127.0.0.1】 the front page" in results
    assert call(web, "open", id=0).startswith(f"[1] About ({site}/about.html)")
    just_one = call(web, "search", query="tools", topn=1)
    assert "【0†About the site" in just_one and "【1†" not in just_one


def test_search_through_an_html_results_page(site: str):
    tool = BrowserTool(HttpBackend(f"{site}/search.html?q={{query}}", timeout_s=2))
    results = call(tool, "search", query="about")
    assert "【0†About page†127.0.0.1】 all about us" in results
    assert "【1†Home page†127.0.0.1】 start here" in results
    assert "Next results" not in results
    assert call(tool, "open", id=1).startswith(f"[1] Test site ({site}/index.html)")


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/missing", "answered HTTP 404 Not Found"),
        ("/slow", "did not answer within 0.5 s"),
        ("/image.png", "is image/png, not a text page"),
        ("/big.txt", "is 50000 bytes, over the browser's limit of 10000"),
        ("/big-stream.txt", "is larger than the browser's limit of 10000 bytes"),
    ],
)
def test_pages_that_cannot_be_shown_fail_clearly(web: BrowserTool, site: str, path: str, message: str):
    text = fail(web, "open", json.dumps({"id": site + path}))
    assert message in text and site + path in text
    assert web.history == ()


def test_network_errors_fail_clearly():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    web = BrowserTool(HttpBackend(allow_private=True, timeout_s=2))  # a closed port on this machine
    assert "could not connect to" in fail(web, "open", json.dumps({"id": f"http://127.0.0.1:{port}/"}))


@pytest.mark.attack
@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://127.0.0.1/x", "gopher://127.0.0.1/"])
def test_the_web_backend_opens_only_http(web: BrowserTool, url: str):
    text = fail(web, "open", json.dumps({"id": url}))
    assert "only http:// and https:// URLs can be opened" in text and "root:" not in text


def test_search_endpoint_problems_fail_clearly(site: str):
    assert "Web search is not set up" in fail(BrowserTool(HttpBackend()), "search", '{"query": "x"}')
    odd = BrowserTool(HttpBackend(f"{site}/search-odd.json?q={{query}}"))
    assert "answered JSON of another shape" in fail(odd, "search", '{"query": "x"}')
    with pytest.raises(UserError, match="no \\{query\\} placeholder"):
        HttpBackend(f"{site}/search.json")
    with pytest.raises(UserError, match="must start with http"):
        HttpBackend("ftp://127.0.0.1/search?q={query}")

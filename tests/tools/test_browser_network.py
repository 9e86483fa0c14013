"""The web browser's network safety and keyless search, against real servers on 127.0.0.1.

Nothing here may send a packet anywhere but loopback: private, link-local and
public addresses are reached only through a replaced name resolution, and are
refused before any connection; the ``loopback_only`` guard fails a test that
tries to connect anywhere else.
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import json
import re
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from mlx_harmony_tui.cli.common import add_tool_flags, tool_options
from mlx_harmony_tui.errors import UserError
from mlx_harmony_tui.tools.browser import BrowserTool, HttpBackend
from mlx_harmony_tui.tools.browser.address import refusal
from mlx_harmony_tui.tools.toolbox import ToolBox

NOT_PUBLIC = "the browser opens only public internet addresses unless the app is started with --browser-allow-private"


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any connection this test's process makes to an address that is not loopback."""
    connect = socket.socket.connect

    def guarded(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            assert ipaddress.ip_address(address[0].split("%")[0]).is_loopback, f"a connection to {address} was tried"
        return connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, handler):
        super().__init__(("127.0.0.1", 0), handler)
        self.requests: list[tuple[str, str]] = []  # (path, Host header) of every request it got
        self.json_api = True  # a SearXNG whose settings allow format=json
        self.redirect_to = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self):
        self.server.requests.append((self.path, self.headers["Host"]))
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        if parts.path == "/search":  # SearXNG's JSON API, as documented at docs.searxng.org/dev/search_api
            if query.get("format") != ["json"] or not self.server.json_api:
                return self._send(403, "text/html", b"<h1>403 Forbidden</h1>")
            q = query.get("q", [""])[0]
            results = [
                {"url": f"http://{self.headers['Host']}/pages/hello.html", "title": "Hello page",
                 "content": f"a page about {q}", "engine": "duckduckgo", "score": 2.0},
                {"url": f"http://{self.headers['Host']}/pages/notes.txt", "title": "Notes",
                 "content": "plain notes", "engine": "wikipedia", "score": 1.0},
            ]
            body = {"query": q, "number_of_results": 2, "results": results, "answers": [], "corrections": [],
                    "infoboxes": [], "suggestions": [], "unresponsive_engines": []}
            return self._send(200, "application/json", json.dumps(body).encode())
        if parts.path == "/pages/hello.html":
            return self._send(200, "text/html", b"<html><head><title>Hello</title></head><body><p>Hello there.</p></body></html>")
        if parts.path == "/pages/notes.txt":
            return self._send(200, "text/plain", b"plain notes\n")
        if parts.path == "/secret":
            return self._send(200, "text/plain", b"INTERNAL-SECRET\n")
        if parts.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", query["to"][0])
            self.send_header("Content-Length", "0")
            return self.end_headers()
        if parts.path == "/loop":
            self.send_response(301)
            self.send_header("Location", "/loop")
            self.send_header("Content-Length", "0")
            return self.end_headers()
        if parts.path == "/trickle":  # each byte in time, the whole page far too late
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            try:
                for _ in range(40):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(0.1)
            except OSError:
                pass
            return None
        return self._send(404, "text/plain", b"not found")

    def _send(self, status: int, kind: str, body: bytes) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass

    def log_message(self, *args) -> None:
        pass


def _serve(server: _Server):
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server


@pytest.fixture(scope="module")
def servers():
    """Two real servers: ``search`` (the user's SearXNG) and ``internal`` (a service nobody should reach)."""
    both = {name: _serve(_Server(_Handler)) for name in ("search", "internal")}
    yield both
    for server in both.values():
        server.shutdown()
        server.server_close()


@pytest.fixture
def search(servers) -> _Server:
    servers["search"].requests.clear()
    servers["search"].json_api = True
    return servers["search"]


@pytest.fixture
def internal(servers) -> _Server:
    servers["internal"].requests.clear()
    return servers["internal"]


def resolver(table: dict[str, list[str]], calls: list[str] | None = None):
    """A name resolution that answers from ``table`` only (and notes each name asked)."""
    def look_up(host: str, port: int) -> list[str]:
        if calls is not None:
            calls.append(host)
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return table[host]
    return look_up


def run(tool: BrowserTool, function: str, **arguments):
    return tool.run(f"browser.{function}", json.dumps(arguments))


# -- keyless search: SearXNG's JSON API ------------------------------------------------------


def test_search_through_searxng_and_open_a_result(search: _Server):
    tool = BrowserTool(HttpBackend(searxng_url=search.url + "/", timeout_s=5))
    results = run(tool, "search", query="tiny tools")
    assert results.ok, results.text
    assert "【0†Hello page†127.0.0.1】 a page about tiny tools" in results.text
    assert "【1†Notes†127.0.0.1】 plain notes" in results.text
    path = search.requests[0][0]
    assert path.startswith("/search?") and parse_qs(urlsplit(path).query) == {"q": ["tiny tools"], "format": ["json"]}
    page = run(tool, "open", id=0)  # a result on the user's own SearXNG host: it chose that host
    assert page.ok and "Hello there." in page.text


def test_searxng_with_its_json_api_off_says_how_to_turn_it_on(search: _Server):
    search.json_api = False
    text = run(BrowserTool(HttpBackend(searxng_url=search.url)), "search", query="x").text
    assert "answered HTTP 403 Forbidden" in text
    assert "add `json` under `search: formats:` in its settings.yml" in text


def test_the_toolbox_searches_searxng_from_the_flags(search: _Server, tmp_path: Path):


    parser = argparse.ArgumentParser()
    add_tool_flags(parser)
    options = tool_options(parser.parse_args(["--browser", "--searxng-url", search.url]))
    assert options.browser and options.searxng_url == search.url and not options.browser_allow_private
    output, status, _ = ToolBox(options, python_root=tmp_path).run("browser.search", '{"query": "flags"}')
    assert status == "done" and "a page about flags" in output.text
    with pytest.raises(SystemExit):
        parser.parse_args(["--searxng-url", search.url, "--search-url", search.url + "/?q={query}"])
    with pytest.raises(UserError, match="--searxng-url 'http://': has no host name"):
        tool_options(parser.parse_args(["--browser", "--searxng-url", "http://"]))


# -- addresses that are not on the public internet are refused ---------------------------------


@pytest.mark.attack
@pytest.mark.parametrize(
    ("host", "why"),
    [
        ("127.0.0.1", "127.0.0.1 is a loopback address (this machine)"),
        ("[::1]", "::1 is a loopback address (this machine)"),
        # the machine's real name resolution (/etc/hosts); some list ::1 first
        ("localhost", r"localhost resolves to (127\.0\.0\.1|::1), a loopback address \(this machine\)"),
        ("[::ffff:127.0.0.1]", "a loopback address (this machine), inside an IPv6 address"),
        ("0.0.0.0", "the unspecified address (this machine)"),
        ("2130706433", r"2130706433 resolves to 127\.0\.0\.1, a loopback address"),  # 127.0.0.1 as one number
    ],
)
def test_this_machine_is_refused(internal: _Server, host: str, why: str):
    port = internal.server_address[1]
    output = run(BrowserTool(HttpBackend()), "open", id=f"http://{host}:{port}/secret")
    assert not output.ok and "refused: " in output.text and NOT_PUBLIC in output.text
    assert why in output.text or re.search(why, output.text)
    assert "INTERNAL-SECRET" not in output.text and internal.requests == []


@pytest.mark.attack
def test_a_name_resolving_to_this_machine_is_refused(internal: _Server):
    calls: list[str] = []
    backend = HttpBackend(resolver=resolver({"intranet.test": ["127.0.0.1"]}, calls))
    output = run(BrowserTool(backend), "open", id=f"http://intranet.test:{internal.server_address[1]}/secret")
    assert not output.ok and "intranet.test resolves to 127.0.0.1, a loopback address" in output.text
    assert calls == ["intranet.test"] and internal.requests == []


@pytest.mark.attack
@pytest.mark.parametrize(
    ("to", "why"),
    [
        ("INTERNAL", "a loopback address (this machine)"),  # the test's other server, another port
        ("http://10.0.0.1/admin", "10.0.0.1 is a private address (a local network)"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
        ("http://metadata.test/computeMetadata/v1/", "metadata.test resolves to 169.254.169.254, a link-local address"),
        ("http://[fe80::1]/", "fe80::1 is a link-local address"),
        ("http://[::ffff:10.1.2.3]/", "a private address (a local network), inside an IPv6 address"),
    ],
)
def test_a_redirect_to_a_private_address_is_refused(search: _Server, internal: _Server, to: str, why: str):
    """A page on the trusted search host redirects the browser inward; the hop is checked and refused."""
    to = to.replace("INTERNAL", internal.url + "/secret")
    backend = HttpBackend(searxng_url=search.url, resolver=resolver({"metadata.test": ["169.254.169.254"]}))
    start = f"{search.url}/redirect?to={to}"
    output = run(BrowserTool(backend), "open", id=start)
    assert not output.ok
    assert output.text.startswith(f"`{start}` redirects to `{to}`: refused: ") and why in output.text
    assert [path for path, _ in search.requests] == [urlsplit(start).path + "?" + urlsplit(start).query]
    assert internal.requests == [] and "INTERNAL-SECRET" not in output.text


@pytest.mark.attack
def test_a_name_with_a_public_and_a_private_address_is_refused():
    backend = HttpBackend(resolver=resolver({"mixed.test": ["93.184.216.34", "10.0.0.1"]}))
    output = run(BrowserTool(backend), "open", id="http://mixed.test/")
    assert not output.ok and "mixed.test resolves to 10.0.0.1, a private address" in output.text


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("10.0.0.1", "private"), ("172.16.5.4", "private"), ("192.168.1.1", "private"), ("fc00::1", "private"),
        ("169.254.169.254", "link-local"), ("fe80::1", "link-local"), ("127.0.0.2", "loopback"),
        ("224.0.0.1", "multicast"), ("ff02::1", "multicast"), ("0.0.0.0", "unspecified"), ("::", "unspecified"),
        ("240.0.0.1", "reserved"), ("255.255.255.255", "reserved"), ("100.64.0.1", "shared"),
        ("::ffff:169.254.169.254", "link-local"), ("2002:a00:1::1", "private"),  # 6to4 around 10.0.0.1
        ("64:ff9b::7f00:1", "loopback"),  # NAT64 around 127.0.0.1
    ],
)
def test_the_address_check_names_what_each_address_is(address: str, why: str):
    reason = refusal(ipaddress.ip_address(address))
    assert reason is not None and why in reason


@pytest.mark.parametrize("address", ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_the_address_check_lets_public_addresses_through(address: str):
    assert refusal(ipaddress.ip_address(address)) is None  # checked only: nothing is sent to them


# -- what is allowed goes to the address that was checked ---------------------------------------


def test_allow_private_connects_to_the_checked_address_with_the_name_kept(internal: _Server):
    """The name is looked up once; a second answer (a DNS rebinding) is never asked for or used."""
    answers = iter([["127.0.0.1"], ["10.0.0.1"]])
    calls: list[str] = []

    def rebinding(host: str, port: int) -> list[str]:
        calls.append(host)
        return next(answers)

    port = internal.server_address[1]
    tool = BrowserTool(HttpBackend(allow_private=True, resolver=rebinding))
    output = run(tool, "open", id=f"http://docs.test:{port}/secret")
    assert output.ok and "INTERNAL-SECRET" in output.text
    assert output.text.startswith(f"[0] secret (http://docs.test:{port}/secret)")
    assert calls == ["docs.test"] and internal.requests == [("/secret", f"docs.test:{port}")]


def test_redirect_loops_and_slow_pages_are_cut_off(search: _Server):
    tool = BrowserTool(HttpBackend(searxng_url=search.url, timeout_s=1))
    assert "redirects too many times (more than 5)" in run(tool, "open", id=search.url + "/loop").text
    trickle = run(tool, "open", id=search.url + "/trickle")  # a byte every 0.1 s never trips a read timeout
    assert not trickle.ok and "did not answer within 1 s" in trickle.text


def _certificate(tmp_path: Path) -> tuple[Path, Path, ssl.SSLContext]:
    """A certificate for ``secure.test`` signed by a fresh CA; the context trusts only that CA."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).sign(ca_key, hashes.SHA256()))
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "secure.test")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(2).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("secure.test")]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    trust = ssl.create_default_context(cadata=ca.public_bytes(serialization.Encoding.PEM).decode())
    return cert_file, key_file, trust


def test_https_checks_the_certificate_against_the_name_not_the_address(tmp_path: Path):
    cert_file, key_file, trust = _certificate(tmp_path)
    names_seen: list[str | None] = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    context.sni_callback = lambda sock, name, ctx: names_seen.append(name)
    server = _Server(_Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    _serve(server)
    try:
        port = server.server_address[1]
        names = resolver({"secure.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]})
        tool = BrowserTool(HttpBackend(allow_private=True, resolver=names, verify=trust, timeout_s=5))
        page = run(tool, "open", id=f"https://secure.test:{port}/pages/notes.txt")
        assert page.ok and "plain notes" in page.text
        assert names_seen[0] == "secure.test" and server.requests == [("/pages/notes.txt", f"secure.test:{port}")]
        wrong = run(tool, "open", id=f"https://other.test:{port}/pages/notes.txt")
        assert not wrong.ok and "certificate" in wrong.text.lower() and len(server.requests) == 1
    finally:
        server.shutdown()
        server.server_close()

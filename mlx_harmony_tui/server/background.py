"""Listening sockets, and serving an app from a thread of this process (the benchmark and tests do)."""

from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager
from typing import Iterator

from ..errors import UserError


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``; UserError naming the flags when that is impossible."""
    if not 0 <= port <= 65535:
        raise UserError(f"--port: {port} is not a port number (0-65535)")
    try:
        family, kind, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        # asyncio turns Nagle off only on IPPROTO_TCP sockets; with it on, a chunk can wait 40 ms for an ACK.
        sock = socket.socket(family, kind, socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as exc:
        raise UserError(f"--host: cannot use {host!r}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise UserError(f"--port: cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


@contextmanager
def serving(app, host: str = "127.0.0.1", log_level: str = "warning") -> Iterator[str]:
    """Run ``app`` with uvicorn on a free port of ``host`` until the block ends; yields its base URL."""
    import uvicorn

    sock = listen(host, 0)
    server = uvicorn.Server(uvicorn.Config(app, log_level=log_level, timeout_graceful_shutdown=5))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="mlx-harmony-server", daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the server stopped while starting")
            time.sleep(0.02)
        yield f"http://{host}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(60)
        sock.close()

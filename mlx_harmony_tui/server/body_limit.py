"""The request-body limit: a body over ``--max-request-mb`` gets 413 before any of it is parsed.

Without it a client could send a body of any size, and the server would
parse it, then tokenize all of it. The limit is checked as bytes arrive: a
declared ``Content-Length`` over it is refused at once, a chunked body as
soon as it passes it. The rest of a refused body is read and dropped (up to
:data:`DRAIN_FACTOR` times the limit), so a client still sending reads the
413 instead of a reset connection; one that asked ``Expect: 100-continue``
is answered before it sends anything.
"""

from __future__ import annotations

from typing import Any

from .error_shapes import error_response
from .openai_format import APIError

DEFAULT_MAX_REQUEST_MB = 8.0  # GPT-OSS's whole context (131,072 tokens) is about 0.5 MB of text
MB = 1024 * 1024
DRAIN_FACTOR = 8  # a refused body is read (and dropped) up to this many times the limit, then the connection closes


def too_large(max_bytes: int) -> APIError:
    return APIError(413, f"The request body is larger than this server takes ({max_bytes / MB:g} MB, --max-request-mb).",
                    code="request_too_large")


class RequestBodyLimit:
    """ASGI middleware: a request body over ``max_bytes`` is answered 413 in its API's error shape; the app never sees it."""

    def __init__(self, app: Any, max_bytes: int):
        if max_bytes < 1:
            raise ValueError("max_bytes must be at least 1")
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            if headers.get(b"expect", b"").lower() != b"100-continue":
                await self._drain(receive, 0)
            await self._refuse(scope, receive, send)
            return
        parts: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client left while sending: the app sees it leave
                pending = [message]
                break
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                if message.get("more_body", False):
                    await self._drain(receive, size)
                await self._refuse(scope, receive, send)
                return
            parts.append(message.get("body", b""))
            if not message.get("more_body", False):
                pending = [{"type": "http.request", "body": b"".join(parts), "more_body": False}]
                break

        async def replay() -> dict:
            return pending.pop() if pending else await receive()

        await self.app(scope, replay, send)

    async def _drain(self, receive: Any, read: int) -> None:
        """Read and drop the rest of the body, up to DRAIN_FACTOR times the limit in all."""
        while read <= self.max_bytes * DRAIN_FACTOR:
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                return
            read += len(message.get("body", b""))

    async def _refuse(self, scope: dict, receive: Any, send: Any) -> None:
        await error_response(too_large(self.max_bytes), scope["path"])(scope, receive, send)

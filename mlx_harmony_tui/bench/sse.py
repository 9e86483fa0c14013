"""The chunks of one streamed answer, as the benches read them from a server."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Iterator

if TYPE_CHECKING:
    import httpx


def stream_chunks(client: "httpx.Client", body: dict, path: str = "/v1/chat/completions") -> Iterator[dict]:
    """POST ``body`` to ``path`` and yield each server-sent JSON chunk (or named event's data) as it arrives."""
    with client.stream("POST", path, json=body) as response:
        if response.status_code != 200:
            raise RuntimeError(f"the server answered {response.status_code}: {response.read().decode()[:400]}")
        for line in response.iter_lines():
            if line.startswith("data: {"):
                yield json.loads(line[6:])

"""The chunks of one streamed chat completion, as the benches read them from a server."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Iterator

if TYPE_CHECKING:
    import httpx


def stream_chunks(client: "httpx.Client", body: dict) -> Iterator[dict]:
    """POST ``body`` to ``/v1/chat/completions`` and yield each server-sent JSON chunk as it arrives."""
    with client.stream("POST", "/v1/chat/completions", json=body) as response:
        if response.status_code != 200:
            raise RuntimeError(f"the server answered {response.status_code}: {response.read().decode()[:400]}")
        for line in response.iter_lines():
            if line.startswith("data: {"):
                yield json.loads(line[6:])

"""Stored responses, for ``GET /v1/responses/{id}`` and ``previous_response_id``.

One JSON file per response in a folder of the data directory, holding the
response and the whole conversation it ended (its input items, those of the
responses before it, and its output), so a follow-up needs only its id.
Files are written atomically and durably (a temporary file synced to disk, a
rename, the folder synced: see ``config.files.atomic_path``); the folder
is kept within a count and a byte budget by dropping the oldest responses.
"""

from __future__ import annotations

import json
import os
import re
import threading
from pathlib import Path

from ...config.files import write_bytes_atomic
from ...paths import data_dir

MAX_RESPONSES = 500
MAX_BYTES = 256 * 1024 * 1024
_ID = re.compile(r"^resp_[A-Za-z0-9]{1,64}$")


def default_folder() -> Path:
    return data_dir() / "server-responses"


class ResponseStore:
    """Responses kept in ``folder``: at most ``max_count`` of them and ``max_bytes`` in all, the oldest dropped first."""

    def __init__(self, folder: Path | None = None, max_count: int = MAX_RESPONSES, max_bytes: int = MAX_BYTES):
        self.folder = folder if folder is not None else default_folder()
        self.max_count, self.max_bytes = max_count, max_bytes
        self._lock = threading.Lock()

    def _path(self, response_id: str) -> Path | None:
        return self.folder / f"{response_id}.json" if _ID.match(response_id) else None

    def save(self, response: dict, conversation: list[dict]) -> None:
        """Keep ``response`` and the ``conversation`` items it ended, then drop the oldest beyond the bounds."""
        path = self._path(response["id"])
        assert path is not None, "response ids are made by this server"
        data = json.dumps({"response": response, "conversation": conversation}, ensure_ascii=False).encode()
        with self._lock:
            write_bytes_atomic(path, data)
            self._trim()

    def _trim(self) -> None:
        files = []
        for entry in os.scandir(self.folder):
            if entry.name.startswith("resp_") and entry.name.endswith(".json"):
                stat = entry.stat()
                files.append((stat.st_mtime_ns, entry.name, stat.st_size))
        files.sort()
        total = sum(size for _, _, size in files)
        while files and (len(files) > self.max_count or total > self.max_bytes):
            _, name, size = files.pop(0)
            (self.folder / name).unlink(missing_ok=True)
            total -= size

    def delete(self, response_id: str) -> bool:
        """Forget ``response_id``; False if it was not kept."""
        path = self._path(response_id)
        if path is None:
            return False
        with self._lock:
            try:
                path.unlink()
            except FileNotFoundError:
                return False
        return True

    def load(self, response_id: str) -> dict | None:
        """The stored ``{"response", "conversation"}`` for ``response_id``, or None if it is not kept (or unreadable)."""
        path = self._path(response_id)
        if path is None:
            return None
        try:
            stored = json.loads(path.read_bytes())
        except (OSError, ValueError):
            return None
        return stored if isinstance(stored, dict) and "response" in stored and "conversation" in stored else None

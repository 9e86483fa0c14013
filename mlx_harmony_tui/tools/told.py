"""What the user has already been told about their tools, across runs: a line said once per setup, not every run.

An MCP server that fails to start on every run, or the note that the model
cannot call the MCP servers settings.json turns on for every run, is worth
one line, not one per command. Each line is kept under a key (``mcp NAME``)
with a fingerprint of the setup it was about (the server's configuration); it
is said again once the setup changes, or after :meth:`ToldOnce.forget` (the
server started fine in between). Kept in ``told.json`` in the data folder; a
damaged or unwritable file only means a line is said again.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ..config.files import write_json_atomic
from ..paths import data_dir


def fingerprint(value: object) -> str:
    """A short digest of a setup (any JSON-able value), to tell whether it changed."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


class ToldOnce:
    """Keys the user was told about, each with the fingerprint of the setup it was about."""

    def __init__(self, path: Path | None = None):
        self.path = path or data_dir() / "told.json"

    def _read(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return {k: v for k, v in data.items() if isinstance(v, str)} if isinstance(data, dict) else {}

    def _write(self, told: dict[str, str]) -> None:
        try:
            write_json_atomic(self.path, told)
        except OSError:
            pass  # a read-only data folder: the line is said again next time, nothing worse

    def first_time(self, key: str, setup: object) -> bool:
        """Whether ``key`` is news for ``setup`` (then it counts as told from now on)."""
        told = self._read()
        digest = fingerprint(setup)
        if told.get(key) == digest:
            return False
        told[key] = digest
        self._write(told)
        return True

    def forget(self, key: str) -> None:
        """``key`` is no longer so (the server started): the next time it happens it is news again."""
        told = self._read()
        if told.pop(key, None) is not None:
            self._write(told)

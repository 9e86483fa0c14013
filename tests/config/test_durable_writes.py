"""Kept data survives a crash and a power loss: chat logs, stored responses and prompt-cache files.

Each is written for real twice (version 1, then version 2 over it) and read back. Durability is checked two ways:
the new file is synced to disk before the rename and the folder after it (the order a power loss needs, read from
the real calls to ``os.fsync``), and a real process killed with SIGKILL between writing the new file and renaming it
leaves the old file whole.
"""

from __future__ import annotations

import os
import select
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
KINDS = ["chat log", "stored response", "prompt cache file"]
FIRST = list(range(100, 112))
SECOND = FIRST + list(range(300, 308))


class ChatLogFile:
    def __init__(self, folder: Path, model_dir: str | None = None):
        from mlx_harmony_tui.logs.store import ChatStore

        self.store = ChatStore(folder / "chats")

    def path(self) -> Path:
        (path,) = [p for p in self.store.root.glob("*.json") if not p.name.startswith(".")]
        return path

    def write(self, version: int) -> None:
        from mlx_harmony_tui.logs.schema import Message

        log = self.store.create() if version == 1 else self.store.open(self.path().name)
        log.append(Message(role="user", content=f"message {version}"))

    def read(self) -> list[str]:
        from mlx_harmony_tui.logs.store import read_chat_file

        return [m.content for m in read_chat_file(self.path())[0].active().messages]

    def expected(self, version: int) -> list[str]:
        return [f"message {v}" for v in range(1, version + 1)]


class StoredResponse:
    def __init__(self, folder: Path, model_dir: str | None = None):
        from mlx_harmony_tui.server.openai_responses.store import ResponseStore

        self.store = ResponseStore(folder / "responses")

    def path(self) -> Path:
        return self.store.folder / "resp_durable.json"

    def write(self, version: int) -> None:
        self.store.save({"id": "resp_durable", "status": "completed"}, [{"role": "user", "content": f"version {version}"}])

    def read(self) -> list[dict]:
        return self.store.load("resp_durable")["conversation"]

    def expected(self, version: int) -> list[dict]:
        return [{"role": "user", "content": f"version {version}"}]


class PromptCacheFile:
    def __init__(self, folder: Path, model_dir: str | None = None):
        from mlx_harmony_tui.engine import lm
        from mlx_harmony_tui.engine.disk_cache import DiskCaches

        self.loaded = lm.load(Path(model_dir))
        self.caches = DiskCaches(folder / "prompt-cache", self.loaded, 1 << 30)

    def path(self) -> Path:
        return self.caches.path_for("chat-1")

    def write(self, version: int) -> None:
        import mlx.core as mx

        from mlx_harmony_tui.engine import lm
        from mlx_harmony_tui.engine.prompt_cache import TokenCache

        tokens = FIRST if version == 1 else SECOND
        cache = TokenCache.empty(self.loaded)
        lm.prefill(self.loaded, mx.array(tokens), cache.layers)
        cache.tokens = list(tokens)
        self.caches.save("chat-1", cache)
        self.caches.wait()  # the file goes to disk on a writer thread

    def read(self) -> list[int]:
        import json

        from mlx_harmony_tui.engine import lm

        return json.loads(lm.load_cache(str(self.path()))[1]["tokens"])

    def expected(self, version: int) -> list[int]:
        return FIRST if version == 1 else SECOND


def kept(kind: str, folder: Path, model_dir: str | None):
    return {"chat log": ChatLogFile, "stored response": StoredResponse, "prompt cache file": PromptCacheFile}[kind](folder, model_dir)


@pytest.fixture
def model_dir(kind, request) -> str | None:
    return str(request.getfixturevalue("default_model_dir")) if kind == "prompt cache file" else None


@pytest.mark.parametrize("kind", KINDS)
def test_the_new_file_is_synced_before_its_rename_and_the_folder_after(kind, model_dir, tmp_path, monkeypatch):
    data = kept(kind, tmp_path, model_dir)
    data.write(1)
    target = data.path()
    synced = []  # (a folder?, its inode, the inode the target's name pointed at then)
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        info = os.fstat(fd)
        named = os.stat(target).st_ino if target.exists() else None
        synced.append((stat.S_ISDIR(info.st_mode), info.st_ino, named))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    data.write(2)
    monkeypatch.undo()

    assert data.read() == data.expected(2)  # the real file, read back
    new, folder = os.stat(target).st_ino, os.stat(target.parent).st_ino
    file_syncs = [i for i, (is_folder, inode, _) in enumerate(synced) if not is_folder and inode == new]
    folder_syncs = [i for i, (is_folder, inode, _) in enumerate(synced) if is_folder and inode == folder]
    assert file_syncs, f"{kind}: the new file was never synced to disk"
    assert synced[file_syncs[0]][2] != new, f"{kind}: the new file was synced only after the rename"
    assert folder_syncs and folder_syncs[-1] > file_syncs[0], f"{kind}: the folder was not synced after the file"
    assert synced[folder_syncs[-1]][2] == new, f"{kind}: the folder was synced before the rename"


CRASH = """
import os, sys, time
from pathlib import Path
from tests.config.test_durable_writes import kept

data = kept(sys.argv[1], Path(sys.argv[2]), sys.argv[3] or None)

def stop_before_rename(source, target):
    print(source, flush=True)  # the new file is written; the parent kills us here
    time.sleep(600)

os.replace = stop_before_rename
data.write(2)
"""


@pytest.mark.parametrize("kind", KINDS)
def test_a_kill_between_writing_and_renaming_keeps_the_old_file(kind, model_dir, tmp_path):
    data = kept(kind, tmp_path, model_dir)
    data.write(1)
    before = data.path().read_bytes()
    child = subprocess.Popen([sys.executable, "-c", CRASH, kind, str(tmp_path), model_dir or ""], cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        while not select.select([child.stdout], [], [], 1)[0]:
            assert child.poll() is None, child.stderr.read()[-2000:]
            assert time.monotonic() < deadline, "the writer never reached its rename"
        written = Path(child.stdout.readline().strip())
        assert written.parent == data.path().parent and written.stat().st_size > 0  # the new version is on disk, unnamed
        child.send_signal(signal.SIGKILL)
        assert child.wait(30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert data.path().read_bytes() == before
    assert data.read() == data.expected(1)

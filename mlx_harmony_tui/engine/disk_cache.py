"""Prompt caches that outlive the process: a reopened chat or a restarted server goes on warm.

Two kinds of file, each one safetensors file in the model's folder:

- a conversation's: after each answer of a conversation that has a key (a
  saved chat's id, the server's conversation key), what of its cache a later
  prompt can reuse exactly: up to the newest snapshot for models with
  sliding-window layers (GPT-OSS, where the prompt ended) with the earlier
  snapshots of those layers (message ends, where a new conversation that
  opens alike starts), else whole;
- an opening's: a prefix two conversations were seen to share (a system prompt
  and its tools), written once, named by its tokens.

Each file records the model's identity, the token ids it holds, with their
hash, and where its snapshots were taken. A new prompt is matched against
every file's tokens (read from the files' headers once, then kept in memory)
and the file it shares the longest usable prefix with is read. It is used only when everything matches: the same
model, a well-formed file whose token hash checks out, layers of the model's
own kinds. Anything else is ignored (wrong output is worse than slow output)
and the next answer writes a good one. Files are written atomically and
durably (``config.files.atomic_path``). The folder is kept under a byte
budget, least recently used files first.

A file is written on the engine's thread (into the page cache: 0.1-0.2 s for
180 MB on a 2-core CPU) and synced to disk and renamed into place by a thread
of its own, so a request that arrives meanwhile does not wait for the disk.
With the whole write on the engine's thread, four new conversations sharing a
4k-token system prompt (default model, 2-core CPU) took 0.9-1.6 s to their
first token against 0.7-1.25 s without files.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import tempfile
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from ..config.files import atomic_path
from . import lm
from .prompt_cache import Snapshot, TokenCache
from .token_tree import common_length

FORMAT = "mlx-harmony prompt cache 2"
STALE_TEMPORARY_S = 3600  # a file being written this long ago was left by a process that died
MAX_HEADER = 64 * 1024**2  # a safetensors header larger than this is not one of ours


def model_identity(path: Path, config: dict) -> str:
    """What makes two loaded models the same: the folder, its config, and its weight files' names and sizes."""
    digest = hashlib.sha256()
    digest.update(str(Path(path).resolve()).encode())
    digest.update(json.dumps(config, sort_keys=True, default=str).encode())
    for weights in sorted(Path(path).glob("*.safetensors")):
        digest.update(f"{weights.name}:{weights.stat().st_size}".encode())
    return digest.hexdigest()


def _tokens_hash(tokens: list[int]) -> str:
    return hashlib.sha256(json.dumps(tokens).encode()).hexdigest()


def _header(path: Path) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
    """The token ids a cache file says it holds and the lengths it can be reused at, read from its header alone
    (None: not a readable file of ours)."""
    try:
        with path.open("rb") as file:
            (size,) = struct.unpack("<Q", file.read(8))
            if size > MAX_HEADER:
                return None
            header = json.loads(file.read(size))
        metadata = header.get("__metadata__") or {}
        # mlx-lm stores our metadata beside its own, under a numbered prefix ("0.tokens" in 0.32)
        prefix = next((key[: -len("format")] for key, value in metadata.items() if key.endswith("format") and value == FORMAT), None)
        if prefix is None:
            return None
        tokens, snapshots = json.loads(metadata[prefix + "tokens"]), json.loads(metadata[prefix + "snapshots"])
        if not all(isinstance(t, int) for t in tokens + snapshots) or not tokens:
            return None
        return tuple(tokens), tuple(sorted(o for o in snapshots if 0 < o < len(tokens))) + (len(tokens),)
    except (OSError, ValueError, KeyError, TypeError, struct.error):
        return None


class DiskCaches:
    """One model's prompt cache files in ``folder``, within ``budget_bytes``."""

    def __init__(self, folder: Path, loaded: lm.LoadedModel, budget_bytes: int):
        self.identity = model_identity(loaded.path, loaded.config)
        self.folder = Path(folder) / self.identity[:16]
        self.budget_bytes = budget_bytes
        self._loaded = loaded
        self._windowed = TokenCache.empty(loaded).windowed
        self._index: dict[Path, tuple[tuple[int, ...], tuple[int, ...]]] | None = None  # file -> (tokens, points)
        self._lock = threading.Lock()  # the index and the folder, shared with the writer
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="mlx-harmony-cache-writer")
        self._writes: list[Future] = []

    @property
    def pending(self) -> int:
        """Files handed to the writer and not yet on disk."""
        self._writes = [w for w in self._writes if not w.done()]
        return len(self._writes)

    def wait(self) -> None:
        """Until every file handed to the writer is on disk (or failed to be)."""
        for write in self._writes:
            try:
                write.result()
            except OSError:
                pass  # a full or read-only disk: the cache stays in memory
        self._writes = []

    def close(self) -> None:
        self.wait()
        self._writer.shutdown(wait=True)

    def path_for(self, key: str) -> Path:
        return self.folder / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.safetensors"

    def opening_path(self, tokens: list[int]) -> Path:
        return self.folder / f"opening-{_tokens_hash(tokens)[:32]}.safetensors"

    def save(self, key: str, cache: TokenCache) -> None:
        """Write what ``cache`` holds that a later prompt of its conversation can reuse (nothing when it holds too
        little)."""
        self._write(self.path_for(key), *cache.reusable_state())

    def save_opening(self, cache: TokenCache, length: int) -> None:
        """Write ``cache``'s first ``length`` tokens (a point where it can be cut exactly), once."""
        tokens = cache.tokens[:length]
        path = self.opening_path(tokens)
        with self._lock:
            if path in self._files():
                return
        layers, snapshots = cache.opening_state(length)
        self._write(path, layers, tokens, snapshots)

    def find(self, prompt: list[int], better_than: int = 0) -> TokenCache | None:
        """The file sharing the longest usable prefix with ``prompt`` (more than ``better_than`` tokens), read as a
        cache, if it is this model's and intact. Damaged and foreign files are passed over."""
        wanted = prompt[:-1]
        ranked = []
        with self._lock:
            files = list(self._files().items())
        for path, (tokens, points) in files:
            shared = common_length(tokens, wanted)
            usable = max((p for p in points if p <= shared), default=0) if self._windowed else min(shared, len(tokens))
            if usable > better_than:
                ranked.append((usable, path))
        for _, path in sorted(ranked, reverse=True):
            cache = self._read(path)
            if cache is not None:
                return cache
            with self._lock:
                self._files().pop(path, None)  # not usable: looked at no more until it is written again
        return None

    def _read(self, path: Path) -> TokenCache | None:
        try:
            stored, metadata = lm.load_cache(str(path))
            tokens, offsets = json.loads(metadata["tokens"]), json.loads(metadata["snapshots"])
            like = lm.new_cache(self._loaded)
            layers, extra = stored[: len(like)], stored[len(like) :]
            window = [like[i] for i in self._windowed]
            good = (
                metadata.get("format") == FORMAT
                and metadata.get("identity") == self.identity
                and isinstance(tokens, list) and tokens
                and metadata.get("tokens_sha256") == _tokens_hash(tokens)
                and lm.same_cache_kinds(layers, like)
                and all(lm.cache_offset(layer) == len(tokens) for layer in layers)
                and isinstance(offsets, list) and len(extra) == len(offsets) * len(window)
                and all(lm.same_cache_kinds(extra[k * len(window) : (k + 1) * len(window)], window)
                        and all(lm.cache_offset(layer) == offset for layer in extra[k * len(window) : (k + 1) * len(window)])
                        and 0 < offset < len(tokens) for k, offset in enumerate(offsets))
            )
        except Exception:  # a damaged or foreign file: ignored, and replaced by the next answer
            return None
        if not good:
            return None
        os.utime(path)  # recently used
        snapshots = []
        for k, offset in enumerate(offsets):
            saved = extra[k * len(window) : (k + 1) * len(window)]
            states = {i: lm.layer_state(layer) for i, layer in zip(self._windowed, saved)}
            snapshots.append(Snapshot(offset, states, lm.cache_nbytes(saved)))
        cache = TokenCache(layers, tokens, sorted(snapshots, key=lambda s: s.offset))
        cache.take_snapshot()
        return cache

    def _files(self) -> dict[Path, tuple[tuple[int, ...], tuple[int, ...]]]:
        if self._index is None:
            self._index = {}
            for path in sorted(self.folder.glob("*.safetensors")) if self.folder.is_dir() else []:
                if path.name.startswith("."):
                    continue  # being written, or left by a process that died while writing it
                found = _header(path)
                if found:
                    self._index[path] = found
        return self._index

    def _write(self, target: Path, layers: list, tokens: list[int], snapshots: list[Snapshot]) -> None:
        if len(tokens) < 2 or self.budget_bytes <= 0:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        offsets = [s.offset for s in snapshots]
        metadata = {"format": FORMAT, "identity": self.identity, "tokens": json.dumps(tokens), "tokens_sha256": _tokens_hash(tokens),
                    "snapshots": json.dumps(offsets)}
        # Each snapshot's window layers follow the model's layers in the file, as layers of their own.
        extra = [lm.layer_from_state(layers[i], s.states[i]) for s in snapshots for i in self._windowed]
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".safetensors", dir=self.folder)
        os.close(fd)
        temporary = Path(name)
        try:
            lm.save_cache(name, layers + extra, metadata)  # mlx adds .safetensors to a name without it
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        entry = (tuple(tokens), tuple(offsets) + (len(tokens),))
        self._writes.append(self._writer.submit(self._store, temporary, target, entry))

    def _store(self, temporary: Path, target: Path, entry: tuple[tuple[int, ...], tuple[int, ...]]) -> None:
        """On the writer's thread: ``temporary`` synced to disk and renamed to ``target`` (see
        ``config.files.atomic_path``), then the index and the budget."""
        with atomic_path(target, suffix=".safetensors") as placed:
            os.replace(temporary, placed)  # the same folder: atomic_path syncs it, renames it over target, syncs the folder
        with self._lock:
            self._files()[target] = entry
            self._enforce_budget()

    def _enforce_budget(self) -> None:
        sizes = {}
        for path in self.folder.parent.glob("*/*.safetensors"):
            try:
                stat = path.stat()
            except OSError:
                continue  # gone meanwhile (another process's budget)
            if not path.name.startswith("."):
                sizes[path] = stat
            elif time.time() - stat.st_mtime > STALE_TEMPORARY_S:  # left by a process that died while writing it
                path.unlink(missing_ok=True)
        files = sorted(sizes, key=lambda p: sizes[p].st_mtime)
        total = sum(sizes[p].st_size for p in files)
        for path in files[:-1]:  # the newest one stays whatever its size
            if total <= self.budget_bytes:
                return
            total -= sizes[path].st_size
            path.unlink(missing_ok=True)
            self._files().pop(path, None)

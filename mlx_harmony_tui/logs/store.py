"""The chat store: one schema v2 file per conversation in ``<data dir>/chats/``.

Every save rereads the file under a per-file lock, adds the new message,
and replaces the file atomically (temp file, fsync, rename, fsync of the
folder). So a process killed at any instant leaves each file whole with
every completed message, and two app instances writing the same chat both
keep their turns. A file that cannot be read as a chat log is reported as
damaged and never written to.

Listing reads a small index (``.index.json``) refreshed by each file's
modification time and size, so it does not reparse unchanged logs.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator

from ..config.files import write_json_atomic
from ..errors import UserError
from ..paths import data_dir
from .branches import branch_count, path_to, shown_leaf
from .check import check, repair
from .migrate import MigrationError, migrate
from .schema import Chat, ChatFile, ChatMetadata, Message, new_id

INDEX_FILE = ".index.json"
INDEX_VERSION = 2
TRASH = "trash"  # deleted logs go to <data dir>/trash, never straight to nothing


class DamagedLog(UserError):
    """A chat file that cannot be read as a chat log; it is left exactly as it is."""


def read_chat_file(path: Path) -> tuple[ChatFile, list[str], bool]:
    """The file as v2, the changes migration made in memory, and whether it is v1 on disk."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{path}: chat log not found") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read the chat log: {exc.strerror or exc}") from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise DamagedLog(f"{path}: damaged: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise DamagedLog(f"{path}: damaged: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    except RecursionError:
        raise DamagedLog(f"{path}: damaged: nested too deeply") from None
    try:
        chat_file, report = migrate(data)
    except MigrationError as exc:
        raise DamagedLog(f"{path}: damaged: {exc}") from None
    return chat_file, report, isinstance(data, dict) and "schema_version" not in data


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold the lock of chat file ``path`` until the block ends.

    The lock is a ``.NAME.lock`` file beside the log, removed again before it is
    released, so none pile up. That is safe for several writers: one that waited
    on a lock file which has since been removed finds the name gone (or naming
    another file) once it gets the lock, and starts over on the current one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = lock_path(path)
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                named, held = os.stat(lock), os.fstat(fd)
                current = (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino)
            except FileNotFoundError:
                current = False
        except BaseException:
            os.close(fd)
            raise
        if current:
            break
        os.close(fd)  # closing releases the lock on the stale file
    try:
        yield
    finally:
        try:
            lock.unlink(missing_ok=True)
        finally:
            os.close(fd)


def lock_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.lock")


def save_chat_file(path: Path, chat_file: ChatFile) -> None:
    write_json_atomic(path, chat_file.record())


@dataclass
class LogSummary:
    """One line of the log list."""

    file: str
    chat_id: str | None
    title: str | None
    first_user_line: str | None
    model: str | None
    created: str | None
    updated: str | None
    turns: int
    size: int
    damaged: str | None = None
    branches: int = 1


def summarize(path: Path, size: int) -> LogSummary:
    try:
        chat_file, _, _ = read_chat_file(path)
    except UserError as exc:
        return LogSummary(path.name, None, None, None, None, None, None, 0, size, damaged=str(exc))
    chat = chat_file.active()
    meta = chat.metadata
    branch = path_to(chat, None)
    first = next((m.content.strip().splitlines()[0] for m in branch if m.role == "user" and m.content.strip()), None)
    return LogSummary(
        file=path.name,
        chat_id=chat.chat_id,
        title=meta.title,
        first_user_line=first[:120] if first else None,
        model=meta.last_model_path or meta.model_path,
        created=meta.created_at.iso,
        updated=meta.updated_at.iso,
        turns=sum(1 for m in branch if m.role == "user"),
        size=size,
        branches=branch_count(chat),
    )


class ChatStore:
    """The folder of chat logs."""

    def __init__(self, root: Path | None = None):
        self.root = root or data_dir() / "chats"

    def path_for(self, chat_id: str) -> Path:
        return self.root / f"{chat_id}.json"

    def create(self, metadata: ChatMetadata | None = None) -> "ChatLog":
        """A new, empty chat, saved at once."""
        log = self.new(metadata)
        with locked(log.path):
            save_chat_file(log.path, log.unsaved_file())
        return ChatLog(log.path, log.chat_id)

    def new(self, metadata: ChatMetadata | None = None) -> "ChatLog":
        """A new chat whose file is written with its first message (an empty chat leaves no file)."""
        chat_id = new_id()
        return ChatLog(self.path_for(chat_id), chat_id, Chat(chat_id=chat_id, metadata=metadata or ChatMetadata()))

    def find(self, ref: str) -> Path:
        """A log by path, file name, chat id or unique id prefix."""
        candidate = Path(ref).expanduser()
        if candidate.is_file():
            return candidate
        for name in (ref, f"{ref}.json"):
            if (self.root / name).is_file():
                return self.root / name
        matches = [s for s in self.list() if s.chat_id and s.chat_id.startswith(ref)]
        if len(matches) == 1:
            return self.root / matches[0].file
        if matches:
            raise UserError(f"{ref}: more than one log starts with this id")
        raise UserError(f"{ref}: no such chat log in {self.root}")

    def trash(self, path: Path) -> Path:
        """Move log ``path`` (and its v1 backup) to the trash folder; return where it went."""
        trash = self.root.parent / TRASH
        trash.mkdir(parents=True, exist_ok=True)
        target = trash / path.name
        n = 1
        while target.exists():
            n += 1
            target = trash / f"{path.stem}.{n}{path.suffix}"
        with locked(path):
            os.replace(path, target)
        backup = path.with_name(path.name + ".v1.bak")
        if backup.exists():
            os.replace(backup, trash / backup.name)
        return target

    def search(self, query: str, files: list[str] | None = None) -> dict[str, str]:
        """Logs whose messages or title contain ``query`` (any case): file name -> a snippet around the first hit."""
        needle = query.strip().lower()
        hits: dict[str, str] = {}
        if not needle:
            return hits
        names = files if files is not None else [p.name for p in self.root.glob("*.json") if not p.name.startswith(".")]
        for name in names:
            try:
                raw = (self.root / name).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            if needle not in raw.lower() and not any(ord(c) > 127 or c in '"\\' for c in needle):
                continue  # the raw text holds every message as written, so a miss here is a miss
            snippet = _search_chat_text(raw, needle)
            if snippet is not None:
                hits[name] = snippet
        return hits

    def open(self, ref: str) -> "ChatLog":
        path = self.find(ref)
        chat_file, _, _ = read_chat_file(path)
        return ChatLog(path, chat_file.active().chat_id)

    def list(self) -> list[LogSummary]:
        """Every log, newest first, from the index where files are unchanged."""
        index_path = self.root / INDEX_FILE
        old = self._read_index(index_path)
        entries: dict[str, dict] = {}
        summaries = []
        changed = False
        try:
            scanned = [e for e in os.scandir(self.root) if e.name.endswith(".json") and not e.name.startswith(".")]
        except FileNotFoundError:
            return []
        for entry in scanned:
            stat = entry.stat()
            key = [stat.st_mtime_ns, stat.st_size]
            cached = old.get(entry.name)
            if cached and cached.get("key") == key:
                summary = LogSummary(**cached["summary"])
            else:
                summary = summarize(Path(entry.path), stat.st_size)
                changed = True
            entries[entry.name] = {"key": key, "summary": asdict(summary)}
            summaries.append(summary)
        if changed or set(entries) != set(old):
            try:
                write_json_atomic(index_path, {"version": INDEX_VERSION, "entries": entries})
            except OSError:
                pass  # the index is only a cache
        summaries.sort(key=lambda s: s.updated or "", reverse=True)
        return summaries

    @staticmethod
    def _read_index(path: Path) -> dict[str, Any]:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict) or data.get("version") != INDEX_VERSION or not isinstance(data.get("entries"), dict):
            return {}
        return data["entries"]


def check_log(path: Path) -> list[str]:
    """Every problem in log ``path``, one line each (a damaged file gives its one reason)."""
    try:
        chat_file, _, _ = read_chat_file(path)
    except UserError as exc:
        return [str(exc)]
    return [str(problem) for problem in check(chat_file)]


def repair_log(path: Path) -> list[str]:
    """Fix what can be fixed safely in log ``path`` (under its lock); return what was fixed."""
    with locked(path):
        chat_file, _, _ = read_chat_file(path)
        fixed = repair(chat_file)
        if fixed:
            save_chat_file(path, chat_file)
    return [str(problem) for problem in fixed]


def _search_chat_text(raw: str, needle: str) -> str | None:
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    chats = data.get("chats") if isinstance(data, dict) else None
    if not isinstance(chats, dict):
        chats = {"": data} if isinstance(data, dict) else {}  # a v1 file: one chat at the top
    for chat in chats.values():
        if not isinstance(chat, dict):
            continue
        meta = chat.get("metadata") if isinstance(chat.get("metadata"), dict) else {}
        texts = [meta.get("title")] + [
            m.get(key) for m in chat.get("messages") or [] if isinstance(m, dict) for key in ("content", "analysis")
        ]
        for text in texts:
            if isinstance(text, str):
                at = text.lower().find(needle)
                if at >= 0:
                    start = max(at - 40, 0)
                    return ("…" if start else "") + " ".join(text[start : at + len(needle) + 60].split())
    return None


class ChatLog:
    """One chat in one file. Each append is a locked read-modify-atomic-write.

    A chat made with :meth:`ChatStore.new` has no file until its first
    message is saved, so a chat nobody wrote in leaves nothing behind.
    """

    def __init__(self, path: Path, chat_id: str, unsaved: Chat | None = None):
        self.path = path
        self.chat_id = chat_id
        self._unsaved = unsaved  # the chat while it has no file yet
        self.head: str | None = None  # the message this handle's next message answers
        self.head = shown_leaf(self.read())

    def handle(self) -> "ChatLog":
        """Another handle on this chat with its own head (starting at this one's), for a second writer: its
        messages go where it points, and both may write at once (each append is locked)."""
        other = ChatLog(self.path, self.chat_id, None if self.saved else self._unsaved)
        other.head = self.head
        return other

    @property
    def saved(self) -> bool:
        """The chat has a file (it has had a message saved, or was opened from one)."""
        return self._unsaved is None or self.path.exists()

    def unsaved_file(self) -> ChatFile:
        chat = self._unsaved.model_copy(deep=True)
        return ChatFile(chat_order=[self.chat_id], active_chat_id=self.chat_id, chats={self.chat_id: chat})

    def _load(self) -> tuple[ChatFile, Chat, bool]:
        """The file (a fresh one for a chat not written yet), this chat in it, and whether it is v1 on disk."""
        if self._unsaved is not None and not self.path.exists():
            chat_file, was_v1 = self.unsaved_file(), False
        else:
            chat_file, _, was_v1 = read_chat_file(self.path)
        chat = chat_file.chats.get(self.chat_id)
        if chat is None:
            raise UserError(f"{self.path}: chat {self.chat_id} is no longer in this file")
        return chat_file, chat, was_v1

    def _save(self, chat_file: ChatFile) -> None:
        save_chat_file(self.path, chat_file)
        self._unsaved = None

    def rename(self, title: str) -> None:
        """Give the chat a new title (saved at once)."""
        title = " ".join(title.split())[:200]
        if not title:
            raise UserError("title: must not be empty")
        with locked(self.path):
            chat_file, chat, _ = self._load()
            chat.metadata.title = title
            self._save(chat_file)

    def show_branch(self, leaf_id: str) -> None:
        """Continue from the branch that ends at ``leaf_id``, and remember it for the next time the chat opens."""
        self.head = leaf_id
        if not self.saved:
            return
        with locked(self.path):
            chat_file, chat, _ = self._load()
            chat.metadata.shown_branch = leaf_id
            self._save(chat_file)

    def read(self) -> Chat:
        return self._load()[1]

    def append(
        self,
        message: Message,
        hyperparameters: dict[str, Any] | None = None,
        model_path: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Message:
        """Save ``message`` after this handle's last one (or its own ``parent_id``); return it as saved."""
        with locked(self.path):
            chat_file, chat, was_v1 = self._load()
            if message.parent_id is None and "parent_id" not in message.model_fields_set:
                message.parent_id = self.head
            meta = chat.metadata
            if hyperparameters is not None and hyperparameters != meta.last_hyperparameters:
                message.hyperparameters = dict(hyperparameters)
                meta.last_hyperparameters = dict(hyperparameters)
                if not meta.hyperparameters:
                    meta.hyperparameters = dict(hyperparameters)
            if model_path:
                meta.model_path = meta.model_path or model_path
                meta.last_model_path = model_path
            for key, value in (metadata or {}).items():
                setattr(meta, key, value)
            if meta.title is None and message.role == "user" and message.content.strip():
                meta.title = message.content.strip().splitlines()[0][:80]
            if meta.shown_branch is not None:
                meta.shown_branch = message.id  # the shown branch goes on with this message
            chat.messages.append(message)
            if message.timestamp.unix > meta.updated_at.unix:
                meta.updated_at = message.timestamp.model_copy()
            repair(chat_file)
            if was_v1:
                backup = self.path.with_name(self.path.name + ".v1.bak")
                if not backup.exists():
                    shutil.copy2(self.path, backup)
            self._save(chat_file)
        self.head = message.id
        return message

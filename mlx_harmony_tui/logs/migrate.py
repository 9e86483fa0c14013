"""Bring any chat file the seed tool or this app wrote to schema v2, saying what changed.

v1 files are flat: ``{"metadata": {..., "model": ...}, "messages": [...]}``
with string timestamps. v2 files from the seed tool may lack message ids or
parent links and have ``unix`` times shifted by the local UTC offset. Every
message gets an id, a parent link (the message before it) and a UTC
timestamp; nothing else is dropped.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from typing import Any

from pydantic import ValidationError

from .schema import SCHEMA_VERSION, ChatFile, normalize_timestamp, now_timestamp

ROLES = ("system", "developer", "user", "assistant", "tool")


class MigrationError(ValueError):
    """The file is JSON but cannot be read as a chat log; the message says where."""


def stable_id(seed: str, part: object) -> str:
    """An id derived from the file's content, so reading the same file twice gives the same ids."""
    return hashlib.sha256(f"{seed}:{part}".encode()).hexdigest()[:32]


def _messages(raw: Any, where: str, notes: Counter, seed: str) -> list[dict]:
    if not isinstance(raw, list):
        raise MigrationError(f"{where}: expected a list of messages")
    messages = []
    previous: str | None = None
    for i, item in enumerate(raw):
        at = f"{where}[{i}]"
        if not isinstance(item, dict):
            raise MigrationError(f"{at}: expected a message object")
        message = dict(item)
        if message.get("role") not in ROLES:
            raise MigrationError(f"{at}.role: {message.get('role')!r} is not one of {', '.join(ROLES)}")
        content = message.get("content")
        if content is None:
            message["content"] = ""
        elif not isinstance(content, str):
            raise MigrationError(f"{at}.content: expected text")
        if not message.get("id"):
            message["id"] = stable_id(seed, f"{where}[{i}]")
            notes["messages given an id"] += 1
        if "parent_id" not in message:
            message["parent_id"] = previous
            notes["messages linked to the one before"] += 1
        if "timestamp" in message:
            stamp, note = normalize_timestamp(message["timestamp"])
            if stamp is None:
                raise MigrationError(f"{at}.timestamp: {note}")
            if note:
                notes[f"timestamps: {note}"] += 1
            message["timestamp"] = stamp.model_dump()
        else:
            message["timestamp"] = (messages[-1]["timestamp"] if messages else now_timestamp().model_dump())
            notes["timestamps added (none was recorded; the previous message's time is used)"] += 1
        previous = message["id"]
        messages.append(message)
    return messages


def _metadata(raw: Any, where: str, messages: list[dict], report: list[str]) -> dict:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise MigrationError(f"{where}: expected an object")
    metadata = dict(raw)
    if metadata.get("model") and not metadata.get("model_path"):
        metadata["model_path"] = metadata.pop("model")
        report.append(f"{where}.model renamed to model_path")
    if isinstance(metadata.get("prompt_config"), str) and not metadata.get("prompt_config_path"):
        metadata["prompt_config_path"] = metadata.pop("prompt_config")
        report.append(f"{where}.prompt_config (a path) renamed to prompt_config_path")
    if metadata.get("model_path") and not metadata.get("last_model_path"):
        metadata["last_model_path"] = metadata["model_path"]
        report.append(f"{where}.last_model_path added")
    for key in ("created_at", "updated_at"):
        if key in metadata:
            stamp, note = normalize_timestamp(metadata[key])
            if stamp is None:
                raise MigrationError(f"{where}.{key}: {note}")
            if note:
                report.append(f"{where}.{key}: {note}")
            metadata[key] = stamp.model_dump()
        else:
            stamps = [m["timestamp"] for m in messages]
            chosen = (stamps[0] if key == "created_at" else stamps[-1]) if stamps else now_timestamp().model_dump()
            metadata[key] = chosen
            report.append(f"{where}.{key} added")
    if not metadata.get("title"):
        first = next((m["content"] for m in messages if m["role"] == "user" and m["content"].strip()), None)
        if first:
            metadata["title"] = first.strip().splitlines()[0][:80]
            report.append(f"{where}.title taken from the first user message")
    if "last_hyperparameters" not in metadata:
        found = next((m["hyperparameters"] for m in reversed(messages) if m.get("hyperparameters")), None)
        metadata["last_hyperparameters"] = found or metadata.get("hyperparameters") or {}
        report.append(f"{where}.last_hyperparameters added")
    return metadata


def migrate(data: Any) -> tuple[ChatFile, list[str]]:
    """``data`` (parsed JSON) as a v2 :class:`ChatFile`, and the list of changes made."""
    if not isinstance(data, dict):
        raise MigrationError("(top level): expected a JSON object")
    report: list[str] = []
    notes: Counter = Counter()
    seed = hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()
    version = data.get("schema_version")
    if version is None:
        if "messages" not in data:
            raise MigrationError("(top level): neither a v2 container (schema_version) nor a v1 log (messages)")
        messages = _messages(data["messages"], "messages", notes, seed)
        metadata = _metadata(data.get("metadata"), "metadata", messages, report)
        chat_id = metadata.get("chat_id") or stable_id(seed, "chat")
        extra = {k: v for k, v in data.items() if k not in ("messages", "metadata")}
        container = {
            **extra,
            "schema_version": SCHEMA_VERSION,
            "chat_order": [chat_id],
            "active_chat_id": chat_id,
            "chats": {chat_id: {"chat_id": chat_id, "metadata": metadata, "messages": messages}},
        }
        report.insert(0, "schema v1 -> v2 container")
    elif version == SCHEMA_VERSION:
        chats = data.get("chats")
        if not isinstance(chats, dict):
            raise MigrationError("chats: expected an object of chat id -> chat")
        container = dict(data)
        container["chats"] = {}
        for chat_id, chat in chats.items():
            where = f"chats.{chat_id}"
            if not isinstance(chat, dict):
                raise MigrationError(f"{where}: expected a chat object")
            messages = _messages(chat.get("messages", []), f"{where}.messages", notes, seed)
            metadata = _metadata(chat.get("metadata"), f"{where}.metadata", messages, report)
            if chat.get("chat_id") != chat_id:
                report.append(f"{where}.chat_id set to its key")
            container["chats"][chat_id] = {**chat, "chat_id": chat_id, "metadata": metadata, "messages": messages}
        order = data.get("chat_order")
        if not isinstance(order, list) or any(not isinstance(c, str) for c in order):
            container["chat_order"] = list(chats)
            report.append("chat_order rebuilt from chats")
    else:
        raise MigrationError(f"schema_version: {version!r} is not supported (this app reads 1 and 2)")
    report += [f"{count} {what}" for what, count in notes.items()]
    try:
        return ChatFile.model_validate(container), report
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise MigrationError(f"{field}: {first['msg']}") from None

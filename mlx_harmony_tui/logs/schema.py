"""The chat log format: the seed tool's schema v2 container, defined with pydantic.

One file holds ``{"schema_version": 2, "chat_order": [...], "active_chat_id":
..., "chats": {id: {"chat_id", "metadata", "messages"}}}``. Messages link to
their parent, so a chat can branch. Every model allows extra keys, so what
other writers added survives a load and save.

Timestamps are ``{"unix": seconds since the epoch, "iso": "...Z"}``, both UTC.
(The seed tool computed ``unix`` from a naive UTC time, which shifted it by the
machine's UTC offset; :func:`normalize_timestamp` recomputes it from ``iso``.)

This module imports neither MLX nor the engine, so log tools start fast.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 2


class Timestamp(BaseModel):
    model_config = ConfigDict(extra="allow")

    unix: float
    iso: str


def now_timestamp() -> Timestamp:
    return timestamp_from(datetime.now(timezone.utc))


def timestamp_from(moment: datetime) -> Timestamp:
    utc = moment.astimezone(timezone.utc)
    return Timestamp(unix=utc.timestamp(), iso=utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))


def parse_iso(text: str) -> datetime | None:
    """An ISO-8601 time; one without a zone is taken as UTC (what the seed tool wrote)."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def normalize_timestamp(value: Any) -> tuple[Timestamp | None, str | None]:
    """A canonical timestamp for ``value`` and a note on what was changed (None when nothing was)."""
    if isinstance(value, str):
        moment = parse_iso(value)
        if moment is None:
            return None, f"unreadable timestamp {value!r}"
        return timestamp_from(moment), "string timestamp converted"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return timestamp_from(datetime.fromtimestamp(value, timezone.utc)), "number timestamp converted"
    if isinstance(value, dict):
        iso = value.get("iso")
        moment = parse_iso(iso) if isinstance(iso, str) else None
        if moment is not None:
            fixed = timestamp_from(moment)
            unix = value.get("unix")
            if isinstance(unix, (int, float)) and abs(unix - fixed.unix) < 1e-3:
                return Timestamp.model_validate(value), None
            extra = {k: v for k, v in value.items() if k not in ("unix", "iso")}
            return Timestamp(unix=fixed.unix, iso=iso, **extra), "unix time recomputed from iso"
        unix = value.get("unix")
        if isinstance(unix, (int, float)) and not isinstance(unix, bool):
            return timestamp_from(datetime.fromtimestamp(unix, timezone.utc)), "iso time rebuilt from unix"
    return None, f"unreadable timestamp {value!r}"


def new_id() -> str:
    return uuid.uuid4().hex


class ToolCallRecord(BaseModel):
    model_config = ConfigDict(extra="allow")

    recipient: str
    arguments: str
    channel: str = "commentary"
    content_type: str | None = None


class Message(BaseModel):
    """One message. Assistant messages also carry how they were generated."""

    model_config = ConfigDict(extra="allow")

    id: str = Field(default_factory=new_id)
    parent_id: str | None = None
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str = ""
    timestamp: Timestamp = Field(default_factory=now_timestamp)
    # assistant
    analysis: str | None = None
    tool_calls: list[ToolCallRecord] | None = None
    finish_reason: str | None = None
    cancelled: bool | None = None
    prompt_tokens: int | None = None
    cached_tokens: int | None = None
    completion_tokens: int | None = None
    stats: dict[str, float] | None = None  # ttft_s, prefill_tps, decode_tps, peak_memory_gb
    hyperparameters: dict[str, Any] | None = None  # only when they differ from the previous saved set
    chunks: list[tuple[float, str, str]] | None = None  # (seconds since the request, text, channel) for replay
    # tool results
    name: str | None = None

    def record(self) -> dict:
        """The message as stored: its own fields that are None are left out, other writers' keys kept."""
        return _without_unset(self.model_dump(), Message)


def _without_unset(data: dict, model: type[BaseModel]) -> dict:
    return {k: v for k, v in data.items() if not (v is None and k in model.model_fields and k != "parent_id")}


class ChatMetadata(BaseModel):
    model_config = ConfigDict(extra="allow")

    title: str | None = None
    model_path: str | None = None
    last_model_path: str | None = None
    profile: str | None = None
    prompt_config_path: str | None = None
    prompt_config: dict[str, Any] | None = None
    tools: list[str] = Field(default_factory=list)
    hyperparameters: dict[str, Any] = Field(default_factory=dict)
    last_hyperparameters: dict[str, Any] = Field(default_factory=dict)
    shown_branch: str | None = None  # the last message of the branch shown when the chat was left (None: the newest)
    created_at: Timestamp = Field(default_factory=now_timestamp)
    updated_at: Timestamp = Field(default_factory=now_timestamp)


class Chat(BaseModel):
    model_config = ConfigDict(extra="allow")

    chat_id: str
    metadata: ChatMetadata = Field(default_factory=ChatMetadata)
    messages: list[Message] = Field(default_factory=list)


class ChatFile(BaseModel):
    """The whole file: usually one chat, but the container allows several."""

    model_config = ConfigDict(extra="allow")

    schema_version: Literal[2] = SCHEMA_VERSION
    chat_order: list[str] = Field(default_factory=list)
    active_chat_id: str | None = None
    chats: dict[str, Chat] = Field(default_factory=dict)

    def record(self) -> dict:
        data = self.model_dump()
        for chat in data["chats"].values():
            chat["messages"] = [_without_unset(m, Message) for m in chat["messages"]]
        if data["active_chat_id"] is None:
            del data["active_chat_id"]
        return data

    def active(self) -> Chat:
        if self.active_chat_id in self.chats:
            return self.chats[self.active_chat_id]
        return self.chats[self.chat_order[0] if self.chat_order else next(iter(self.chats))]

"""Exporting a chat: the shown branch as Markdown a person can read, or the whole chat as v2 JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from ..errors import UserError
from ..logs.export import to_json, to_markdown
from ..logs.store import ChatLog

Format = Literal["md", "json"]


def export_chat(log: ChatLog, fmt: Format, folder: Path, head: str | None = None) -> Path:
    """Write the chat of ``log`` into ``folder`` (made if missing); return the file written, by its full path.

    Markdown holds the branch that ends at ``head`` (default: the newest); JSON holds every branch.
    The folder a front end passes is :func:`..config.settings.export_folder` of the user's settings.
    """
    chat = log.read()
    path = folder.expanduser().absolute() / f"chat-{chat.chat_id[:8]}.{fmt}"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(to_markdown(chat, head) if fmt == "md" else to_json(chat), encoding="utf-8")
    except OSError as exc:
        raise UserError(f"{path}: not written: {exc.strerror or exc}") from None
    return path

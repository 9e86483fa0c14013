"""App settings: theme, key map overrides, default profile, tool approval, MCP servers, cache budget, export folder.

Stored as ``settings.json`` in the user config folder
(``platformdirs.user_config_path("mlx-harmony")``, or ``MLX_HARMONY_CONFIG_DIR``)
and written atomically, so a crash mid-save leaves the old file intact. A
damaged file is reported with its name and field and never overwritten.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..errors import UserError
from ..paths import config_dir, export_dir
from .files import key_text, read_json, unknown_keys, validation_message, write_json_atomic
from .mcp import McpServer, enabled_servers

SETTINGS_FILE = "settings.json"
_KEY = re.compile(r"^[a-z0-9_+\-]+$")


class AppSettings(BaseModel):
    """What the user set for the app itself (as opposed to a model or prompt)."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False, populate_by_name=True)

    theme: str = Field("harmony-dark", min_length=1)
    keymap: dict[str, str] = Field(default_factory=dict)  # action -> key, e.g. {"cancel": "ctrl+c"}
    default_profile: str | None = None
    tool_approval: Literal["ask", "auto", "deny"] = "ask"
    cache_budget_mb: int | None = Field(None, ge=0)  # prompt caches kept in memory (None: a share of the machine's)
    disk_cache_mb: int = Field(2048, ge=0)  # prompt caches kept on disk for reopened chats and a restarted server
    export_dir: str | None = None  # where exported chats go (default: paths.export_dir(), in Documents)
    slow_blas_noticed: bool = False  # the app said once that MLX runs on its slow bundled BLAS, and how to fix it
    mcp_servers: dict[str, McpServer] = Field(default_factory=dict, alias="mcpServers")  # see config.mcp
    mcp_start_timeout_s: float = Field(30.0, gt=0)  # an MCP server must start and list its tools within this
    mcp_call_timeout_s: float = Field(120.0, gt=0)  # and answer each call within this

    @field_validator("mcp_servers")
    @classmethod
    def _servers(cls, value: dict[str, McpServer]) -> dict[str, McpServer]:
        return enabled_servers(value)

    @field_validator("keymap")
    @classmethod
    def _keys(cls, value: dict[str, str]) -> dict[str, str]:
        for action, key in value.items():
            if not _KEY.match(key):
                raise ValueError(f"{action}: {key!r} is not a key name like 'ctrl+p' or 'f2'")
        return value


def settings_path() -> Path:
    return config_dir() / SETTINGS_FILE


def load_settings(path: Path | None = None) -> AppSettings:
    """The saved settings, or the defaults when there is no file yet."""
    path = path or settings_path()
    if not path.exists():
        return AppSettings()
    data = read_json(path, "settings file")
    if not isinstance(data, dict):
        raise UserError(f"{path}: the settings file must be a JSON object")
    unknown = unknown_keys(data, AppSettings)
    if unknown:
        warnings.warn(f"{path}: unknown keys ignored: {', '.join(map(key_text, unknown))}", UserWarning, stacklevel=2)
    try:
        return AppSettings.model_validate(data)
    except ValidationError as exc:
        raise UserError(validation_message(path, exc)) from None


def export_folder(settings: AppSettings) -> Path:
    """The folder exported chats are written to: the settings' ``export_dir``, else mlx-harmony in Documents."""
    return Path(settings.export_dir).expanduser() if settings.export_dir else export_dir()


def save_settings(settings: AppSettings, path: Path | None = None) -> Path:
    """Write ``settings`` atomically; keys other programs added to the file are kept."""
    path = path or settings_path()
    data: dict = {}
    if path.exists():
        try:
            existing = read_json(path, "settings file")
        except UserError:
            existing = None
        if not isinstance(existing, dict):
            raise UserError(f"{path}: the settings file is damaged; fix or move it before saving settings")
        data = existing
    data.update(settings.model_dump(exclude={"mcp_servers"}))  # the app never edits mcpServers: the file's stay as written
    write_json_atomic(path, data)
    return path

"""MCP servers the user configured: ``"mcpServers"`` in settings.json and profiles, and ``--mcp NAME=COMMAND``.

The format other MCP clients use: ``{"name": {"command": "...", "args": [...],
"env": {...}}}`` starts a local server and talks to it over stdio;
``{"name": {"url": "http://..."}}`` connects to one over streamable HTTP
(``"headers"`` adds HTTP headers). ``"alwaysAllow"`` (true, or a list of the
server's tool names) runs those calls without asking; ``"disabled": true``
leaves the server out. Keys other clients add are ignored.

A whole ``mcpServers`` block is checked when its file is read, before any
server starts: besides each entry's shape, a local server's ``command`` must be
a program that exists (a whole command line there, ``"npx -y pkg"``, is the
usual slip: its arguments go in ``args``) and its ``cwd`` a folder. Every
problem is named in one message, so one fix-and-retry is enough.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..errors import UserError

SERVER_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")


class McpServer(BaseModel):
    """One MCP server: a command to start (stdio) or a URL to connect to (streamable HTTP)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)

    command: str | None = None
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None
    url: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    transport: str | None = Field(None, alias="type")
    always_allow: bool | list[str] = Field(False, alias="alwaysAllow")
    disabled: bool = False

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @model_validator(mode="after")
    def _one_way_in(self) -> "McpServer":
        if (self.command is None) == (self.url is None):
            raise ValueError("give either command (a local server) or url (a streamable HTTP server)")
        if self.transport in ("sse",):
            raise ValueError("type: the old SSE transport is not supported; use the server's streamable HTTP URL")
        if self.command is not None and not self.command.strip():
            raise ValueError("command: is empty")
        if self.transport == "stdio" and self.command is None:
            raise ValueError('type: "stdio" needs command (a local server), not url')
        if self.transport in ("http", "streamable-http", "streamableHttp") and self.url is None:
            raise ValueError(f"type: {self.transport!r} needs url (a streamable HTTP server), not command")
        return self

    def allows(self, tool: str) -> bool:
        """Whether the user said calls of ``tool`` (the server's own name for it) run without asking."""
        return self.always_allow is True or (isinstance(self.always_allow, list) and tool in self.always_allow)

    def describe(self) -> str:
        """The server in a few words: its command line or its URL."""
        return self.url or " ".join([self.command or "", *self.args]).strip()


def name_problem(name: object) -> str | None:
    """Why ``name`` cannot name an MCP server (None when it can)."""
    if isinstance(name, str) and SERVER_NAME.match(name) and "__" not in name:
        return None
    return (f"MCP server name {name!r} must start with a letter and hold only letters, digits, _ or - "
            "(and no __, which joins it to its tools' names)")


def start_problem(server: McpServer) -> str | None:
    """Why a local server cannot start as configured, seen without starting it (None when it can, or for a URL)."""
    if server.command is None:
        return None
    folder = Path(server.cwd).expanduser() if server.cwd else None
    if folder is not None and not folder.is_dir():
        return f"cwd: {server.cwd!r} is not a folder"
    command = server.command
    # A path names one file; "npx -y @scope/pkg" holds a slash but is a command line, not a path.
    path_like = command.startswith(("/", ".", "~")) or (os.sep in command and not any(c.isspace() for c in command))
    if path_like:
        path = (folder or Path.cwd()) / Path(command).expanduser()
        found = path.is_file() and os.access(path, os.X_OK)
    else:
        found = shutil.which(command, path=server.env.get("PATH")) is not None
    if found:
        return None
    where = "not an executable file" if path_like else "not found on PATH"
    hint = "; its arguments go in args" if len(command.split()) > 1 else ""
    return f"command: {command!r} is not a program that can be started ({where}){hint}"


def enabled_servers(value: dict[str, McpServer]) -> dict[str, McpServer]:
    """``mcpServers`` checked as a whole (for a pydantic validator): names that work and enabled servers that can
    start; ValueError naming every problem. The disabled servers are left out, unchecked."""
    for name in value:
        problem = name_problem(name)
        if problem:
            raise ValueError(problem)
    enabled = {name: server for name, server in value.items() if not server.disabled}
    problems = [f"{name}.{problem}" for name, server in enabled.items() if (problem := start_problem(server))]
    if problems:
        raise ValueError("; ".join(problems))
    return enabled


def parse_mcp_flag(text: str) -> tuple[str, McpServer]:
    """``NAME=COMMAND ARGS...`` (a local server) or ``NAME=URL`` (streamable HTTP), from ``--mcp``."""
    name, sep, rest = text.partition("=")
    if not sep or not rest.strip():
        raise UserError(f"--mcp: expected NAME=COMMAND or NAME=URL (got {text!r})")
    if problem := name_problem(name.strip()):
        raise UserError(f"--mcp: {problem}")
    rest = rest.strip()
    if re.match(r"^https?://", rest):
        return name.strip(), McpServer(url=rest)
    try:
        words = shlex.split(rest)
    except ValueError as exc:
        raise UserError(f"--mcp {name}: cannot split the command line: {exc}") from None
    if not words:
        raise UserError(f"--mcp {name.strip()}: the command is empty")
    server = McpServer(command=words[0], args=words[1:])
    if problem := start_problem(server):
        raise UserError(f"--mcp {name.strip()}: {problem}")
    return name.strip(), server

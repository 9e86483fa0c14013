"""Every tool by the name a model calls it, with its JSON schema: the built-ins and MCP servers' tools.

GPT-OSS calls ``python`` and ``browser.search``/``open``/``find`` as its
built-in namespaces and every function as ``functions.NAME``; models that call
tools through their chat template get the same tools as plain functions
(``browser_search`` and so on: many templates and parsers take only letters,
digits, ``_`` and ``-`` in a name). An MCP server's tool is ``SERVER__TOOL``,
its name reduced to those characters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from ..harmony.render import FunctionTool, function_name
from .apply_patch import DESCRIPTION as PATCH_DESCRIPTION
from .apply_patch import PARAMETERS as PATCH_PARAMETERS

Kind = Literal["python", "browser", "apply_patch", "mcp"]
_NOT_NAME = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True)
class ToolSpec:
    """One tool: ``name`` as GPT-OSS calls it, ``function`` as other models do, and what it takes."""

    name: str
    function: str
    description: str
    parameters: dict
    kind: Kind
    server: str | None = None  # MCP: the server it belongs to
    tool: str | None = None  # MCP: the server's own name for it

    def as_function_tool(self) -> FunctionTool:
        """For GPT-OSS's ``functions`` namespace."""
        return FunctionTool(self.function, self.description, self.parameters)

    def as_template_tool(self) -> dict:
        """For a chat template's ``tools`` (the OpenAI function shape)."""
        return {"type": "function", "function": {"name": self.function, "description": self.description, "parameters": self.parameters}}

    def as_dict(self) -> dict:
        """What ``tools list --json`` prints."""
        found = {"name": self.name, "description": self.description, "parameters": self.parameters}
        if self.function != self.name:
            found["function_name"] = self.function
        if self.server:
            found["server"] = self.server
        return found


def _object(properties: dict, required: list[str]) -> dict:
    return {"type": "object", "properties": properties, "required": required}


PYTHON = ToolSpec(
    "python", "python",
    "Run Python code in a sandbox and read what it prints (the session keeps its variables between calls; "
    "no network). GPT-OSS sends the code itself; other models send {\"code\": ...}.",
    _object({"code": {"type": "string", "description": "the Python code to run"}}, ["code"]), "python",
)
BROWSER = (
    ToolSpec("browser.search", "browser_search", "Search for pages and show the results, each with a number to open.",
             _object({"query": {"type": "string"}, "topn": {"type": "integer", "description": "how many results (default 10)"},
                      "source": {"type": "string"}}, ["query"]), "browser"),
    ToolSpec("browser.open", "browser_open",
             "Open a result by its number, a link on the current page by its number, or a URL; "
             "or scroll: cursor picks an earlier page, loc the first line, num_lines how many.",
             _object({"id": {"type": ["integer", "string"], "description": "result or link number, or a URL"},
                      "cursor": {"type": "integer"}, "loc": {"type": "integer"}, "num_lines": {"type": "integer"},
                      "view_source": {"type": "boolean"}, "source": {"type": "string"}}, []), "browser"),
    ToolSpec("browser.find", "browser_find", "Find text on the current page (or the page at cursor).",
             _object({"pattern": {"type": "string"}, "cursor": {"type": "integer"}}, ["pattern"]), "browser"),
)
APPLY_PATCH = ToolSpec("apply_patch", "apply_patch", PATCH_DESCRIPTION, PATCH_PARAMETERS, "apply_patch")


def builtin_specs(enabled: tuple[str, ...]) -> list[ToolSpec]:
    """The built-in tools that are on, in a fixed order."""
    specs: list[ToolSpec] = []
    if "python" in enabled:
        specs.append(PYTHON)
    if "browser" in enabled:
        specs += BROWSER
    if "apply_patch" in enabled:
        specs.append(APPLY_PATCH)
    return specs


def mcp_spec(server: str, tool: str, description: str, parameters: dict, taken: set[str]) -> ToolSpec:
    """The spec of an MCP tool, named ``SERVER__TOOL`` (a number added when two tools reduce to one name)."""
    base = f"{server}__{_NOT_NAME.sub('_', tool) or 'tool'}"
    name, n = base, 2
    while name in taken:
        name, n = f"{base}_{n}", n + 1
    taken.add(name)
    schema = parameters if isinstance(parameters, dict) and parameters.get("type") == "object" else {"type": "object", "properties": {}}
    return ToolSpec(name, name, description or f"{tool} (from the MCP server {server})", schema, "mcp", server, tool)


def find_spec(specs: list[ToolSpec], called: str) -> ToolSpec | None:
    """The tool a model's call names: ``functions.X``, ``browser.open``, ``browser_open`` or ``X``."""
    bare = function_name(called)
    for spec in specs:
        if bare in (spec.name, spec.function):
            return spec
    return None

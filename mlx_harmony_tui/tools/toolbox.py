"""The tools of one conversation: which are on, how the model is told about them, and running its calls.

For GPT-OSS, python and browser are declared as the system message's
built-in tool namespaces, apply_patch and MCP servers' tools as functions
(``functions.apply_patch``, ``functions.SERVER__TOOL``), the way GPT-OSS was
trained; models that call tools through their chat template get all of them
as the template's ``tools`` (see :mod:`.catalog`). python, apply_patch and
MCP tools may change things, so they run only after the user approves each
call (unless the policy is ``auto``, or the user said "always" for the tool
or its MCP server); the browser only reads and runs without asking. MCP
servers start with the first prompt that declares their tools
(:mod:`.mcp_servers`) and stop with the tool box; with a :class:`~.told.ToldOnce`,
a server that fails to start is reported once per configuration, not on every run.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Literal

from ..paths import data_dir
from .apply_patch import ApplyPatchTool, PatchError
from .browser import BrowserTool, HttpBackend, LocalDocsBackend
from .catalog import ToolSpec, builtin_specs, find_spec, mcp_spec
from .mcp_servers import McpConnections
from .output import ToolOutput
from .python_sandbox import PythonSandbox
from .told import ToldOnce


@dataclass(frozen=True)
class ToolOptions:
    """What the user turned on (flags, profile, settings)."""

    python: bool = False
    browser: bool = False
    apply_patch: bool = False
    workspace: Path = field(default_factory=Path.cwd)  # apply_patch edits only inside it
    browser_docs: Path | None = None  # browse this folder of documents offline; None browses the web
    search_url: str | None = None  # the web search endpoint, a URL with {query}
    searxng_url: str | None = None  # or a SearXNG instance, searched through its JSON API
    browser_allow_private: bool = False  # let the browser open loopback, private and link-local addresses
    approval: Literal["ask", "auto", "deny"] = "ask"
    max_steps: int = 8  # tool calls the model may make in one turn before it must answer
    python_timeout_s: float = 30.0
    mcp_servers: dict = field(default_factory=dict)  # name -> config.mcp.McpServer (--mcp and the settings' mcpServers)
    mcp_start_timeout_s: float = 30.0  # to start a server and list its tools
    mcp_call_timeout_s: float = 120.0  # for each call

    @property
    def enabled(self) -> tuple[str, ...]:
        return tuple(name for name in ("python", "browser", "apply_patch") if getattr(self, name))

    def under_policy(self, policy: str) -> "ToolOptions":
        """These options with the settings' approval policy, unless the user already chose auto."""
        return self if self.approval == "auto" else replace(self, approval=policy)


@dataclass(frozen=True)
class ApprovalRequest:
    """A call waiting for the user: ``preview`` is the code to run or the diff the patch would make."""

    tool: str
    recipient: str
    preview: str
    server: str | None = None  # an MCP server's tool: "always" then means this server's tools

    def what(self) -> str:
        """What the model wants to do, in words."""
        if self.server is not None:
            return f"call {self.tool} on the MCP server {self.server!r}"
        return "run this Python code in the sandbox" if self.tool == "python" else "apply this patch in the workspace"

    def always(self) -> str:
        """What answering "always" allows."""
        return f"Always allow {self.server}'s tools this session" if self.server is not None else "Allow all tool calls this session"


Approver = Callable[[ApprovalRequest], bool]


def tool_name(recipient: str) -> str:
    """``python``, ``browser`` or ``apply_patch`` for a call's recipient (others as given)."""
    if recipient.startswith("functions."):
        return recipient.split(".", 1)[1]
    return recipient.split(".", 1)[0]


def _python_code(arguments: str) -> str:
    """The code of a python call: GPT-OSS sends it as is, other models as ``{"code": ...}``."""
    try:
        value = json.loads(arguments)
    except ValueError:
        return arguments
    return value["code"] if isinstance(value, dict) and isinstance(value.get("code"), str) else arguments


def _json_object(arguments: str) -> dict | None:
    try:
        value = json.loads(arguments or "{}")
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class ToolBox:
    """Runs one conversation's tool calls; the python session and browser history belong to it, MCP servers to the box."""

    def __init__(self, options: ToolOptions, python_root: Path | None = None, approve: Approver | None = None,
                 told: ToldOnce | None = None):
        self.told = told  # None: every failure is said (mlx-harmony tools), else once per server configuration
        self.base_options = options  # what the user turned on; a profile's tools are added to these
        self.options = options
        self.python_root = python_root or data_dir() / "python"  # one working folder per conversation below it
        self.approve = approve
        self.conversation_key = "default"
        self._python = None
        self._browser = None
        self._mcp: McpConnections | None = None
        self._allowed_servers: set[str] = set()  # the user said "always" for these servers' tools
        self._notices: list[str] = []

    # --- which tools are on ----------------------------------------------------------------------

    @property
    def mcp_servers(self) -> dict:
        return dict(self.options.mcp_servers)

    def specs(self) -> list[ToolSpec]:
        """Every tool that is on, MCP servers' included (servers not started yet start now, see :meth:`pending_servers`)."""
        specs = builtin_specs(self.options.enabled)
        servers = self.mcp_servers
        if not servers:
            return specs
        if self._mcp is None:
            self._mcp = McpConnections(self.options.mcp_start_timeout_s, self.options.mcp_call_timeout_s, data_dir() / "mcp-logs")
        starting = self.pending_servers()
        failed = self._mcp.start(servers)
        for name in starting:
            if name not in failed and self.told is not None:
                self.told.forget(f"mcp {name}")
        news = [problem for name, problem in failed.items()
                if self.told is None or self.told.first_time(f"mcp {name}", servers[name].model_dump())]
        for problem in news:
            again = " (said once for this configuration; mlx-harmony tools list shows it again)" if self.told else ""
            self._notices.append(f"{problem}; the chat goes on without its tools{again}")
        for problem in self._mcp.take_dropped():
            self._notices.append(f"{problem}; the chat goes on without its tools")
        self._notices += self._mcp.take_stray_output()
        taken = {s.function for s in specs}
        for name in servers:
            specs += [mcp_spec(name, t.name, t.description, t.parameters, taken) for t in self._mcp.tools(name)]
        return specs

    def pending_servers(self) -> list[str]:
        """MCP servers that the next :meth:`specs` will start (and may wait for)."""
        started = self._mcp.started if self._mcp is not None else set()
        return [name for name in self.mcp_servers if name not in started]

    def take_notices(self) -> list[str]:
        """Lines for the user since the last call (an MCP server that failed to start)."""
        notices, self._notices = self._notices, []
        return notices

    def declare(self, harmony):
        """``harmony`` (HarmonySettings) with the enabled tools declared."""
        builtin = tuple(t for t in ("browser", "python") if getattr(self.options, t))
        functions = tuple(harmony.function_tools)
        functions += tuple(s.as_function_tool() for s in self.specs() if s.kind in ("apply_patch", "mcp"))
        return replace(harmony, builtin_tools=builtin, function_tools=functions)

    def template_tools(self) -> list[dict]:
        """Every tool that is on, as a chat template's ``tools``."""
        return [s.as_template_tool() for s in self.specs()]

    def allow_all(self) -> None:
        """Run every call without asking from now on (the user answered "always")."""
        self.base_options = replace(self.base_options, approval="auto")
        self.options = replace(self.options, approval="auto")

    def always_allow(self, request: ApprovalRequest) -> None:
        """The user answered "always" to ``request``: its MCP server's tools, or every call, run without asking."""
        if request.server is not None:
            self._allowed_servers.add(request.server)
        else:
            self.allow_all()

    def use_profile_tools(self, names, servers: dict | None = None) -> None:
        """Turn on the tools and MCP servers a profile lists, on top of the ones the user turned on."""
        mcp = {**self.base_options.mcp_servers, **(servers or {})}
        self.options = replace(self.base_options, mcp_servers=mcp, **{name: True for name in names})

    @property
    def active(self) -> bool:
        return bool(self.options.enabled or self.options.mcp_servers)

    def _on_text(self) -> str:
        return ", ".join([*self.options.enabled, *(f"MCP {n}" for n in self.options.mcp_servers)])

    def unused_note(self, model_name: str, can_call_tools: bool) -> str | None:
        """A line for the user when tools are on but the model cannot call them."""
        if self.active and not can_call_tools:
            return (f"{model_name} cannot call tools (it is not GPT-OSS and its chat template declares no tool calls); "
                    f"it answers without the tools that are on ({self._on_text()})")
        return None

    def start_conversation(self, key: str) -> None:
        """Calls from now on belong to conversation ``key``: a fresh python session (in its own folder) and browser."""
        if key != self.conversation_key:
            self._close_conversation_tools()
            self.conversation_key = key

    # --- running calls ---------------------------------------------------------------------------

    def run(self, recipient: str, arguments: str) -> tuple[ToolOutput, str, float]:
        """Run one call: (output for the model, status done/error/declined, seconds it took)."""
        spec = find_spec(self.specs(), recipient) if self.active else None
        if spec is None:
            on = self._on_text() or "none"
            return ToolOutput(f"The tool {recipient!r} is not available here (tools on: {on}).", ok=False), "error", 0.0
        if self._needs_approval(spec):
            request = ApprovalRequest(spec.kind if spec.kind != "mcp" else spec.name, recipient, self._preview(spec, arguments), spec.server)
            if self.options.approval == "deny" or self.approve is None or not self.approve(request):
                return ToolOutput("The user declined to run this call. Do not retry it; answer without it or ask the user.", ok=False), "declined", 0.0
        start = time.perf_counter()
        output = self._dispatch(spec, arguments)
        return output, "done" if output.ok else "error", time.perf_counter() - start

    def _needs_approval(self, spec: ToolSpec) -> bool:
        if self.options.approval == "auto" or spec.kind == "browser":
            return False
        if spec.kind == "mcp":
            config = self.options.mcp_servers.get(spec.server)
            return not (spec.server in self._allowed_servers or (config is not None and config.allows(spec.tool)))
        return True

    def _dispatch(self, spec: ToolSpec, arguments: str) -> ToolOutput:
        if spec.kind == "python":
            return self._python_box().run(_python_code(arguments))
        if spec.kind == "browser":
            return self._browser_tool().run(spec.name, arguments)
        if spec.kind == "apply_patch":
            return ApplyPatchTool(self.options.workspace).run(arguments)
        values = _json_object(arguments)
        if values is None:
            return ToolOutput(f"{spec.name}: the arguments must be a JSON object (got {arguments[:200]!r})", ok=False)
        return self._mcp.call(spec.server, spec.tool, values)

    def _preview(self, spec: ToolSpec, arguments: str) -> str:
        if spec.kind == "apply_patch":
            try:
                return ApplyPatchTool(self.options.workspace).preview(arguments)
            except PatchError as exc:
                return f"(this patch will fail: {exc})\n\n{arguments}"
        if spec.kind == "python":
            return _python_code(arguments)
        values = _json_object(arguments)
        return json.dumps(values, indent=2, ensure_ascii=False) if values is not None else arguments

    def _python_box(self):
        if self._python is None:
            self._python = PythonSandbox(self.python_root / self.conversation_key, timeout_s=self.options.python_timeout_s)
        return self._python

    def _browser_tool(self):
        if self._browser is None:
            if self.options.browser_docs is not None:
                backend = LocalDocsBackend(self.options.browser_docs)
            else:
                backend = HttpBackend(self.options.search_url, searxng_url=self.options.searxng_url,
                                      allow_private=self.options.browser_allow_private)
            self._browser = BrowserTool(backend)
        return self._browser

    def _close_conversation_tools(self) -> None:
        if self._python is not None:
            self._python.close()
        self._python = None
        self._browser = None

    def close(self) -> None:
        """Stop everything: the python session and every MCP server."""
        self._close_conversation_tools()
        if self._mcp is not None:
            self._mcp.close()
        self._mcp = None

"""The tools of one conversation: which are on, how GPT-OSS is told about them, and running its calls.

python and browser are declared as the system message's built-in tool
namespaces, apply_patch as ``functions.apply_patch`` with its instructions,
the way GPT-OSS was trained. python and apply_patch change things, so they
run only after the user approves each call (unless the policy is ``auto``);
the browser only reads and runs without asking.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Literal

from ..harmony.render import FunctionTool
from ..paths import data_dir
from .apply_patch import DESCRIPTION, PARAMETERS, ApplyPatchTool, PatchError
from .browser import BrowserTool, HttpBackend, LocalDocsBackend
from .output import ToolOutput
from .python_sandbox import PythonSandbox

NEEDS_APPROVAL = ("python", "apply_patch")


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


Approver = Callable[[ApprovalRequest], bool]


def tool_name(recipient: str) -> str:
    """``python``, ``browser`` or ``apply_patch`` for a call's recipient (others as given)."""
    if recipient.startswith("functions."):
        return recipient.split(".", 1)[1]
    return recipient.split(".", 1)[0]


class ToolBox:
    """Runs one conversation's tool calls; the python session and browser history belong to it."""

    def __init__(self, options: ToolOptions, python_root: Path | None = None, approve: Approver | None = None):
        self.base_options = options  # what the user turned on; a profile's tools are added to these
        self.options = options
        self.python_root = python_root or data_dir() / "python"  # one working folder per conversation below it
        self.approve = approve
        self.conversation_key = "default"
        self._python = None
        self._browser = None

    def declare(self, harmony):
        """``harmony`` (HarmonySettings) with the enabled tools declared."""
        builtin = tuple(t for t in ("browser", "python") if getattr(self.options, t))
        functions = tuple(harmony.function_tools)
        if self.options.apply_patch:
            functions += (FunctionTool("apply_patch", DESCRIPTION, PARAMETERS),)
        return replace(harmony, builtin_tools=builtin, function_tools=functions)

    def allow_all(self) -> None:
        """Run every call without asking from now on (the user answered "always")."""
        self.base_options = replace(self.base_options, approval="auto")
        self.options = replace(self.options, approval="auto")

    def use_profile_tools(self, names) -> None:
        """Turn on the tools a profile lists, on top of the ones the user turned on."""
        self.options = replace(self.base_options, **{name: True for name in names})

    @property
    def active(self) -> bool:
        return bool(self.options.enabled)

    def unused_note(self, model_name: str, is_gpt_oss: bool) -> str | None:
        """A line for the user when tools are on but the model cannot call them (only GPT-OSS models can)."""
        if self.active and not is_gpt_oss:
            return f"tools ({', '.join(self.options.enabled)}) work with GPT-OSS models; {model_name} answers without them"
        return None

    def start_conversation(self, key: str) -> None:
        """Calls from now on belong to conversation ``key``: a fresh python session (in its own folder) and browser."""
        if key != self.conversation_key:
            self.close()
            self.conversation_key = key

    def run(self, recipient: str, arguments: str) -> tuple[ToolOutput, str, float]:
        """Run one call: (output for the model, status done/error/declined, seconds it took)."""
        name = tool_name(recipient)
        if name not in self.options.enabled:
            on = ", ".join(self.options.enabled) or "none"
            return ToolOutput(f"The tool {recipient!r} is not available here (tools on: {on}).", ok=False), "error", 0.0
        if name in NEEDS_APPROVAL and self.options.approval != "auto":
            request = ApprovalRequest(name, recipient, self._preview(name, arguments))
            if self.options.approval == "deny" or self.approve is None or not self.approve(request):
                return ToolOutput("The user declined to run this call. Do not retry it; answer without it or ask the user.", ok=False), "declined", 0.0
        start = time.perf_counter()
        if name == "python":
            output = self._python_box().run(arguments)
        elif name == "browser":
            output = self._browser_tool().run(recipient, arguments)
        else:
            output = ApplyPatchTool(self.options.workspace).run(arguments)
        return output, "done" if output.ok else "error", time.perf_counter() - start

    def _preview(self, name: str, arguments: str) -> str:
        if name == "apply_patch":
            try:
                return ApplyPatchTool(self.options.workspace).preview(arguments)
            except PatchError as exc:
                return f"(this patch will fail: {exc})\n\n{arguments}"
        return arguments

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

    def close(self) -> None:
        if self._python is not None:
            self._python.close()
        self._python = None
        self._browser = None

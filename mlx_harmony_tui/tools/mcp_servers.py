"""MCP servers' tools, for the app's ordinary threads: start servers, list their tools, call them.

The official SDK's client sessions are asyncio; the app's tool calls come
from a generation thread. One event-loop thread (started with the first
server) owns every session: each server runs in a task of its own that
connects, lists the tools, then serves calls from its queue until it is
stopped, so the connection is opened and closed by the same task, as anyio
requires. Callers wait on futures with the timeout the user set: a server
that does not start in time is stopped (its process ended) and reported, a
call that does not come back in time is an error result, and nothing ever
waits forever. A server that failed stays out for the rest of the session.
A local server's standard error goes to ``NAME.log`` in the data folder,
never over the app, and so do the lines it writes to standard output that are
not MCP messages (the SDK would print a traceback for each): the user is told
once how many there were and where they are.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import json
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config.mcp import McpServer
from ..version import __version__
from .output import ToolOutput, truncate

OUTPUT_LIMIT = 16000
PAGE_CAP = 50  # tools/list pages read from one server
STOP_GRACE_S = 5.0


@dataclass(frozen=True)
class McpTool:
    """One tool a server offers, as it lists it."""

    server: str
    name: str
    description: str
    parameters: dict


@dataclass
class _Server:
    config: McpServer
    ready: concurrent.futures.Future = field(default_factory=concurrent.futures.Future)
    queue: asyncio.Queue | None = None
    scope: Any = None  # the task's anyio CancelScope, to stop it from outside
    done: concurrent.futures.Future = field(default_factory=concurrent.futures.Future)
    problem: str | None = None
    stopping: bool = False


class McpServerError(Exception):
    """A server could not start, list its tools or answer; the message says which and why."""


STRAY_MARK = "[stdout, not an MCP message] "


class _StrayOutput:
    """The lines a local server wrote to standard output that are not MCP messages: kept in its log, counted."""

    def __init__(self, log):
        self.log = log
        self.count = 0
        self.told = False

    def keep(self, line: str) -> None:
        self.count += 1
        self.log.write(f"{STRAY_MARK}{line}\n")
        self.log.flush()


# The server whose stdout is being read: set in its own task, so the SDK's reader task (started inside it) sees it.
_STRAY: contextvars.ContextVar[_StrayOutput | None] = contextvars.ContextVar("mcp_stray_output", default=None)


def _stray_line(error: BaseException) -> str:
    """The text of the stdout line the SDK could not parse, from its parse error."""
    errors = getattr(error, "errors", None)
    found = errors()[0].get("input") if callable(errors) and errors() else None
    if isinstance(found, str):
        return found
    return json.dumps(found, ensure_ascii=False, default=str) if found is not None else str(error)


class _StrayOutputFilter(logging.Filter):
    """Takes the SDK's "Failed to parse JSONRPC message" records of our servers' stdout readers off its logger
    (each would print a traceback over the terminal) and keeps the line in the server's log instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        stray = _STRAY.get()
        error = record.exc_info[1] if record.exc_info else None
        if stray is None or not isinstance(error, ValueError):
            return True
        stray.keep(_stray_line(error))
        return False


_STRAY_FILTER = _StrayOutputFilter()


def _leaf(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _reason(exc: BaseException) -> str:
    leaf = _leaf(exc)
    if isinstance(leaf, FileNotFoundError):
        return f"command not found ({leaf.filename or leaf})"
    text = str(leaf).strip() or type(leaf).__name__
    return text.splitlines()[0][:300]


def result_text(result: Any) -> str:
    """A CallToolResult's content as the text the model reads."""
    parts = []
    for block in result.content or []:
        kind = getattr(block, "type", "")
        if kind == "text":
            parts.append(block.text)
        elif kind in ("image", "audio"):
            parts.append(f"[{kind}: {block.mime_type}, {len(block.data) * 3 // 4} bytes, not shown]")
        elif kind == "resource":
            inner = block.resource
            parts.append(getattr(inner, "text", None) or f"[resource {inner.uri}: binary, not shown]")
        elif kind == "resource_link":
            parts.append(f"[resource {block.uri}]")
    if not parts and result.structured_content is not None:
        parts.append(json.dumps(result.structured_content, ensure_ascii=False))
    return "\n".join(parts)


class McpConnections:
    """The MCP servers of one app session. Every public method is called from ordinary threads."""

    def __init__(self, start_timeout_s: float, call_timeout_s: float, log_dir: Path):
        self.start_timeout_s = start_timeout_s  # to start and list the tools
        self.call_timeout_s = call_timeout_s  # for each call
        self.log_dir = log_dir
        self._servers: dict[str, _Server] = {}
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._logs: list = []
        self._dropped: list[str] = []  # running servers that stopped since take_dropped
        self._stray: dict[str, _StrayOutput] = {}
        logging.getLogger("mcp.client.stdio").addFilter(_STRAY_FILTER)  # added once, however many connections

    # --- the event-loop thread ------------------------------------------------------------------

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            loop = asyncio.new_event_loop()
            self._thread = threading.Thread(target=loop.run_forever, name="mcp-servers", daemon=True)
            self._thread.start()
            self._loop = loop
        return self._loop

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    async def _open(self, stack, name: str, config: McpServer):
        from mcp import Client
        from mcp.client.stdio import StdioServerParameters
        from mcp.client.streamable_http import streamable_http_client
        from mcp.shared._httpx_utils import create_mcp_http_client
        from mcp_types import Implementation

        info = Implementation(name="mlx-harmony", version=__version__)
        if config.url is not None:
            http = await stack.enter_async_context(create_mcp_http_client(headers=dict(config.headers) or None))
            target: Any = streamable_http_client(config.url, http_client=http)
        else:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            errlog = open(self.log_path(name), "a", encoding="utf-8")  # noqa: SIM115  (closed with the connections)
            self._logs.append(errlog)
            self._stray[name] = _StrayOutput(errlog)
            _STRAY.set(self._stray[name])
            params = StdioServerParameters(command=config.command, args=list(config.args), env=dict(config.env) or None,
                                           cwd=config.cwd)
            from mcp.client.stdio import stdio_client

            target = stdio_client(params, errlog=errlog)
        return await stack.enter_async_context(Client(target, read_timeout_seconds=max(self.start_timeout_s, self.call_timeout_s),
                                                     client_info=info))

    async def _list(self, name: str, client) -> list[McpTool]:
        tools: list[McpTool] = []
        cursor = None
        for _ in range(PAGE_CAP):
            page = await client.list_tools(cursor=cursor)
            tools += [McpTool(name, t.name, t.description or "", dict(t.input_schema or {"type": "object"})) for t in page.tools]
            cursor = page.next_cursor
            if cursor is None:
                break
        return tools

    async def _serve(self, name: str, state: _Server) -> None:
        """The server's own task: connect, list, then run calls until stopped (or cancelled from outside)."""
        from contextlib import AsyncExitStack

        import anyio
        from mcp_types import CONNECTION_CLOSED

        state.queue = asyncio.Queue()
        try:
            if state.stopping:
                raise McpServerError(state.problem or f"MCP server {name!r} was stopped")
            with anyio.CancelScope() as scope:
                state.scope = scope
                async with AsyncExitStack() as stack:
                    client = await self._open(stack, name, state.config)
                    state.ready.set_result(await self._list(name, client))
                    while (job := await state.queue.get()) is not None:
                        tool, arguments, future = job
                        try:
                            with anyio.fail_after(self.call_timeout_s):
                                future.set_result(await client.call_tool(tool, arguments))
                        except TimeoutError:
                            future.set_exception(McpServerError(f"MCP server {name!r} did not answer {tool} within {self.call_timeout_s:g} s"))
                        except Exception as exc:  # the call failed; the server may still serve others
                            if getattr(_leaf(exc), "code", None) == CONNECTION_CLOSED:  # ...unless it has gone
                                state.problem = self._problem(name, state.config, exc)
                                self._dropped.append(state.problem)
                                future.set_exception(McpServerError(state.problem))
                                raise
                            future.set_exception(McpServerError(f"MCP server {name!r} failed on {tool}: {_reason(exc)}"))
            if not state.ready.done():
                state.ready.set_exception(McpServerError(f"MCP server {name!r} was stopped while starting"))
        except BaseException as exc:  # a failed start or a dropped connection: the server is out for this session
            if state.problem is None:
                state.problem = self._problem(name, state.config, exc)
                if state.ready.done():
                    self._dropped.append(state.problem)
            if not state.ready.done():
                state.ready.set_exception(McpServerError(state.problem))
            if not isinstance(exc, Exception):
                raise
        finally:
            while state.queue is not None and not state.queue.empty():
                job = state.queue.get_nowait()
                if job is not None:
                    job[2].set_exception(McpServerError(state.problem or f"MCP server {name!r} has stopped"))
            if not state.done.done():
                state.done.set_result(None)

    def _problem(self, name: str, config: McpServer, exc: BaseException) -> str:
        where = f"MCP server {name!r} ({config.describe()})"
        text = f"{where} failed: {_reason(exc)}"
        if config.command is not None:
            try:
                lines = [line for line in self.log_path(name).read_text(encoding="utf-8", errors="replace").splitlines()
                         if line.strip() and not line.startswith(STRAY_MARK)]  # its own words, from its stderr
            except OSError:
                lines = []
            if lines:
                text += f"; its last words: {lines[-1].strip()[:200]} (log: {self.log_path(name)})"
        return text

    # --- what callers use ------------------------------------------------------------------------

    def start(self, servers: dict[str, McpServer]) -> dict[str, str]:
        """Start the servers not started yet, all at once; wait for each to list its tools or fail.

        Returns one line per server that failed now (a failure is reported
        once; the server then stays out).
        """
        new = {}
        with self._lock:
            for name, config in servers.items():
                if name not in self._servers:
                    self._servers[name] = new[name] = _Server(config)
        if not new:
            return {}
        loop = self._ensure_loop()
        for name, state in new.items():
            asyncio.run_coroutine_threadsafe(self._serve(name, state), loop)
        concurrent.futures.wait([s.ready for s in new.values()], timeout=self.start_timeout_s)
        problems = {}
        for name, state in new.items():
            if not state.ready.done():
                state.problem = f"MCP server {name!r} ({state.config.describe()}) did not start within {self.start_timeout_s:g} s; it was stopped"
                self._stop(state)
                problems[name] = state.problem
            elif state.ready.exception() is not None:
                problems[name] = str(state.ready.exception())
        return problems

    def take_dropped(self) -> list[str]:
        """One line per server that stopped while running since the last call (its tools are gone)."""
        dropped, self._dropped = self._dropped, []
        return dropped

    def take_stray_output(self) -> list[str]:
        """One warning per server that has written lines to standard output that are not MCP messages (once each)."""
        warnings = []
        for name, stray in self._stray.items():
            if stray.count and not stray.told:
                stray.told = True
                warnings.append(f"MCP server {name!r} wrote {stray.count} line(s) to standard output that are not MCP "
                                f"messages (a server must write only MCP messages there); they are kept in {self.log_path(name)}")
        return warnings

    @property
    def started(self) -> set[str]:
        """Servers started (or tried) so far."""
        return set(self._servers)

    def tools(self, name: str) -> list[McpTool]:
        """The tools of a started server ([] when it failed or is not started)."""
        state = self._servers.get(name)
        if state is None or not state.ready.done() or state.ready.exception() is not None or state.problem:
            return []
        return list(state.ready.result())

    def call(self, server: str, tool: str, arguments: dict) -> ToolOutput:
        """Run one call; the server's answer, or an ``ok=False`` output saying why there is none."""
        state = self._servers.get(server)
        if state is None or not self.tools(server):
            problem = state.problem if state is not None else None
            return ToolOutput(problem or f"MCP server {server!r} is not running", ok=False)
        future: concurrent.futures.Future = concurrent.futures.Future()
        assert self._loop is not None and state.queue is not None
        self._loop.call_soon_threadsafe(state.queue.put_nowait, (tool, arguments, future))
        try:
            result = future.result(timeout=self.call_timeout_s + STOP_GRACE_S)
        except McpServerError as exc:
            return ToolOutput(str(exc), ok=False)
        except concurrent.futures.TimeoutError:
            return ToolOutput(f"MCP server {server!r} did not answer {tool} within {self.call_timeout_s:g} s", ok=False)
        text, cut = truncate(result_text(result), OUTPUT_LIMIT)
        return ToolOutput(text, ok=not result.is_error, truncated=cut)

    def _stop(self, state: _Server) -> None:
        """Cancel the server's task (from any thread): its connection closes, its process ends."""

        def stop() -> None:
            state.stopping = True
            if state.scope is not None:
                state.scope.cancel()

        if self._loop is not None:
            self._loop.call_soon_threadsafe(stop)

    def close(self) -> None:
        """Stop every server (local ones' processes end) and the event-loop thread."""
        loop = self._loop
        if loop is None:
            return
        states = list(self._servers.values())
        for state in states:
            if state.queue is not None and state.ready.done() and state.ready.exception() is None:
                loop.call_soon_threadsafe(state.queue.put_nowait, None)  # a clean goodbye
            else:
                self._stop(state)
        concurrent.futures.wait([s.done for s in states], timeout=STOP_GRACE_S)
        for state in states:
            if not state.done.done():
                self._stop(state)
        concurrent.futures.wait([s.done for s in states], timeout=STOP_GRACE_S)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(STOP_GRACE_S)
        self._loop = self._thread = None
        self._servers.clear()
        for handle in self._logs:
            handle.close()
        self._logs.clear()

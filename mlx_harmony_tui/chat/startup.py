"""Start-up, the same for every front end: settings, the default profile, tools and their approval, resume.

A front end turns its flags into :class:`StartOptions` and calls
:func:`start_chat`; what it gets back is a ready :class:`~.session.ChatSession`
(model loaded, chat log started or resumed) and the notes to show the user.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from ..config.profiles import Profile, all_profiles, profiles_files
from ..config.resolve import RunSettings, resolve_run_settings
from ..config.response_schema import ResponseSchema
from ..config.settings import AppSettings, load_settings
from ..errors import UserError
from ..logs.store import ChatLog, ChatStore
from ..paths import cache_dir, config_dir
from ..runtime import backend_name, blas_info
from ..tools.told import ToldOnce
from ..tools.toolbox import Approver, ToolBox, ToolOptions
from .session import ChatSession

Progress = Callable[[str, float], None]
MB = 1024**2


@dataclass
class StartOptions:
    """What the user asked for when starting (every front end's flags)."""

    model: str | None = None
    profile: str | None = None
    profiles_file: str | None = None
    prompt_config: str | None = None
    chat: str | None = None  # resume this saved chat (id, unique start of one, or path)
    tools: ToolOptions | None = None  # from the tool flags; None: only a profile's tools
    sampling: dict[str, Any] = field(default_factory=dict)  # sampling flags, already range-checked by the front end
    max_context_tokens: int | None = None
    system: str | None = None  # extra system text for every turn
    interactive: bool = True  # a chat: the settings' default profile applies, and a profiles file may be for switching later
    response_schema: ResponseSchema | None = None  # every answer follows it (--json-schema); wins over a profile's


def load_app_settings() -> tuple[AppSettings, list[str]]:
    """The saved app settings and one line per problem with them (a damaged file gives the defaults)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            settings = load_settings()
        except UserError as exc:
            return AppSettings(), [f"{exc} (using default settings)"]
    return settings, [str(w.message) for w in caught]


def run_settings(options: StartOptions, app: AppSettings) -> RunSettings:
    """The run's settings: profile (or the default one) or prompt config, then the flags on top."""
    if options.max_context_tokens is not None and options.max_context_tokens < 1:
        raise UserError("--max-context-tokens: must be at least 1")
    profile = options.profile
    if profile is None and options.interactive and not (options.model or options.prompt_config):
        profile = app.default_profile
    later = options.interactive and not profile  # the profiles file is only for switching later
    if options.profiles_file and later:
        for found in profiles_files(options.profiles_file):  # check it now, not mid-chat
            if found.problem:
                raise UserError(found.problem)
    settings = resolve_run_settings(
        model=options.model, prompt_config=options.prompt_config, profile=profile,
        profiles_file=None if later else options.profiles_file,
    )
    return replace(settings, sampling=settings.sampling.with_changes(**options.sampling),
                   max_context_tokens=options.max_context_tokens or settings.max_context_tokens,
                   response_schema=options.response_schema or settings.response_schema)


def cache_budget(app: AppSettings) -> int | None:
    """Bytes of prompt caches kept in memory (None: the engine's default, a share of the machine's memory)."""
    return None if app.cache_budget_mb is None else app.cache_budget_mb * MB


def disk_cache(app: AppSettings) -> tuple[Path, int]:
    """Where prompt caches are kept on disk (for reopened chats and a restarted server), and the byte budget."""
    return cache_dir() / "prompt-caches", app.disk_cache_mb * MB


def tool_options(options: ToolOptions | None, app: AppSettings) -> ToolOptions:
    """The flags' tools with the settings' approval policy (unless the flags said auto) and MCP servers (a --mcp
    server of the same name wins)."""
    options = (options or ToolOptions()).under_policy(app.tool_approval)
    return replace(options, mcp_servers={**app.mcp_servers, **options.mcp_servers}, 
                   mcp_start_timeout_s=app.mcp_start_timeout_s, mcp_call_timeout_s=app.mcp_call_timeout_s)


def make_toolbox(options: ToolOptions | None, app: AppSettings, approve: Approver | None = None,
                 every_failure: bool = False) -> ToolBox:
    """The conversation's tools: the flags' choice and the settings' MCP servers, asking as the settings say unless
    the flags said auto. An MCP server that fails to start is said once per configuration (``every_failure``: each
    time, for ``mlx-harmony tools``, where the user asks about the tools)."""
    return ToolBox(tool_options(options, app), approve=approve, told=None if every_failure else ToldOnce())


def unused_tools_note(tools: ToolBox, model_name: str, can_call_tools: bool, app: AppSettings) -> str | None:
    """The line saying the model cannot call the tools that are on (None when it can, or none are on).

    Tools this run asked for (flags, the profile) are named every run; settings.json's MCP servers alone, which
    are on for every model, only once per model and servers' configuration.
    """
    note = tools.unused_note(model_name, can_call_tools)
    if note is None or tools.told is None:
        return note
    servers = tools.options.mcp_servers
    standing = {name: server.model_dump() for name, server in servers.items() if app.mcp_servers.get(name) == server}
    if tools.options.enabled or len(standing) < len(servers):
        return note
    return note if tools.told.first_time(f"unused {model_name}", standing) else None


def list_profiles(explicit: str | None) -> tuple[dict[str, Profile], list[str]]:
    """Every readable profile (name -> Profile) and a line per profiles file that cannot be read."""
    try:
        files = profiles_files(explicit)
    except UserError as exc:
        return {}, [str(exc)]
    return all_profiles(explicit), [f.problem for f in files if f.problem]


def profiles_sources(explicit: str | None) -> str:
    """Where the profiles the app offers come from, in a line: the profiles files that exist, in the order they are
    read (the first to name a profile wins), or where the user's own file goes when there is none."""
    def shown(path: Path) -> str:  # below the current folder: as the user would type it
        here = Path.cwd()
        return str(path.relative_to(here)) if path.is_absolute() and path.is_relative_to(here) else str(path)

    try:
        found = [shown(f.path) for f in profiles_files(explicit)]
    except UserError:  # the named file is missing
        return f"{Path(explicit).expanduser()} (not found)" if explicit else ""
    return ", then ".join(found) if found else f"{config_dir() / 'profiles.json'} (none yet)"


def slow_blas_notice() -> str | None:
    """What to tell the user when MLX does its CPU matrix maths with its slow bundled BLAS (None when it does not)."""
    blas = blas_info()
    if blas.fast or backend_name() != "cpu":
        return None
    why = f" ({blas.note})" if blas.note else ""
    return (f"Slow CPU maths: MLX runs with {blas.name}{why}. Prompts take about 10x longer than they need to. "
            "Fix: pip install mkl (the cpu extra brings it: pip install -e '.[cpu]'), or sudo apt-get install "
            "libopenblas0-pthread (Debian, Ubuntu) or sudo dnf install openblas (Fedora), then start again; "
            "unset MLX_HARMONY_BLAS if you set it. mlx-harmony doctor says which BLAS runs. (Shown once.)")


def open_log(ref: str) -> ChatLog:
    """The saved chat ``ref`` names (UserError naming it when there is none)."""
    return ChatStore().open(ref)


def start_chat(
    options: StartOptions,
    app: AppSettings,
    progress: Progress | None = None,
    approve: Approver | None = None,
) -> tuple[ChatSession, list[str]]:
    """Load the model, start or resume the chat log; return the session and notes for the user.

    A resumed chat gets its profile or model, prompt config and sampling
    back; the sampling flags of this start then win over what it had.
    """
    settings = run_settings(options, app)
    log = open_log(options.chat) if options.chat else None  # a wrong id fails before the model loads
    tools = make_toolbox(options.tools, app, approve)
    session = ChatSession(settings, profiles_file=options.profiles_file, progress=progress, system=options.system,
                          tools=tools, cache_budget_bytes=cache_budget(app), disk_cache=disk_cache(app))
    notes: list[str] = []
    try:
        if log is not None:
            notes += session.resume(log, progress)
            if options.sampling:
                session.update_sampling(**options.sampling)
            if options.max_context_tokens:
                session.set_max_context_tokens(options.max_context_tokens)
        else:
            session.start_log()
        unused = unused_tools_note(tools, session.info.name, session.info.tool_calling, app)
        if unused:
            notes.append(unused)
    except BaseException:
        session.close()
        raise
    return session, notes

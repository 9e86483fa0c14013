"""``mlx-harmony tools list`` and ``tools call``: the tools a chat would have, and one call run as the model would.

Both take the chat's tool flags, profile and settings (``mcpServers`` included),
so users can test a setup before a model ever calls it. ``call`` goes through
the same tool box as a chat: the same sandbox, workspace and approval policy
(asked on the terminal; ``--auto-approve-tools`` runs without asking).
"""

from __future__ import annotations

import argparse
import json
import sys

from ..chat.startup import StartOptions, load_app_settings, make_toolbox, run_settings
from ..chat.terminal_text import strip_controls
from ..errors import UserError
from ..harmony.render import function_name
from .common import add_tool_flags, ask_on_terminal, tool_options


def add_tools_parser(sub) -> None:
    tools = sub.add_parser("tools", help="list the tools a chat would have, or run one call as the model would")
    commands = tools.add_subparsers(dest="tools_command", required=True)
    listing = commands.add_parser("list", help="every tool that is on: built-ins and MCP servers' tools, with their schemas")
    listing.add_argument("--json", action="store_true", help="print a JSON list of {name, description, parameters}")
    call = commands.add_parser("call", help="run one tool call as the model would and print its result")
    call.add_argument("name", help="the tool's name as the model calls it, e.g. browser.open, apply_patch, files__read")
    call.add_argument("arguments", nargs="?", default="{}", help="the call's arguments as JSON (python: the code itself, or {\"code\": ...})")
    for parser in (listing, call):
        parser.add_argument("--profile", default=argparse.SUPPRESS, help="add this profile's tools and MCP servers")
        parser.add_argument("--profiles-file", default=argparse.SUPPRESS, help="the profiles JSON file to read --profile from")
        add_tool_flags(parser, keep_earlier=True)


def _toolbox(args: argparse.Namespace):
    app, problems = load_app_settings()
    for problem in problems:
        print(f"warning: {problem}", file=sys.stderr)
    options = StartOptions(profile=args.profile, profiles_file=args.profiles_file, tools=tool_options(args))
    settings = run_settings(options, app)
    toolbox = make_toolbox(options.tools, app, approve=ask_on_terminal, every_failure=True)
    toolbox.use_profile_tools(settings.tools, settings.mcp_servers)
    return toolbox


def _notices(toolbox) -> None:
    for notice in toolbox.take_notices():
        print(strip_controls(f"warning: {notice}"), file=sys.stderr)


def _parameters_line(schema: dict) -> str:
    properties = schema.get("properties") or {}
    required = set(schema.get("required") or [])
    parts = []
    for name, body in properties.items():
        kind = body.get("type", "any") if isinstance(body, dict) else "any"
        kind = "|".join(kind) if isinstance(kind, list) else kind
        parts.append(f"{name} ({kind}{', required' if name in required else ''})")
    return ", ".join(parts) or "none"


def _list(args: argparse.Namespace, toolbox) -> int:
    specs = toolbox.specs()
    _notices(toolbox)
    if args.json:
        print(strip_controls(json.dumps([s.as_dict() for s in specs], indent=2, ensure_ascii=False)))
        return 0
    if not specs:
        print("No tools are on. Turn them on with --python, --browser, --apply-patch or --mcp NAME=COMMAND, "
              "a profile's tools, or mcpServers in settings.json.")
        return 0
    for spec in specs:
        where = f"  [MCP server {spec.server}: {spec.tool}]" if spec.server else ""
        other = f"  (other models call it {spec.function})" if spec.function != spec.name else ""
        print(strip_controls(f"{spec.name}{where}{other}"))
        first = (spec.description.strip().splitlines() or [""])[0]
        print(strip_controls(f"    {first}"))
        print(strip_controls(f"    parameters: {_parameters_line(spec.parameters)}"))
    return 0


def _call(args: argparse.Namespace, toolbox) -> int:
    if function_name(args.name) != "python":  # checked before any MCP server starts
        try:
            value = json.loads(args.arguments)
        except ValueError as exc:
            raise UserError(f"ARGUMENTS: not valid JSON ({exc})") from None
        if not isinstance(value, dict):
            raise UserError("ARGUMENTS: must be a JSON object, e.g. '{\"query\": \"mlx\"}'")
    toolbox.specs()  # starts MCP servers, so a failure is said before the call
    _notices(toolbox)
    output, status, seconds = toolbox.run(args.name, args.arguments)
    print(strip_controls(output.text))
    print(strip_controls(f"[{args.name}: {status} in {seconds:.2f} s]"), file=sys.stderr)
    return 0 if status == "done" else 1


def run_tools(args: argparse.Namespace) -> int:
    toolbox = _toolbox(args)
    try:
        return _list(args, toolbox) if args.tools_command == "list" else _call(args, toolbox)
    finally:
        toolbox.close()

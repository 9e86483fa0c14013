"""``mlx-harmony logs ...`` and ``mlx-harmony-migrate-chat``: chat logs from the command line.

None of these import MLX, so they start in a fraction of a second.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from dataclasses import asdict
from pathlib import Path

from ..chat.terminal_text import strip_controls
from ..config.files import write_json_atomic
from ..errors import UserError
from ..logs.check import repair
from ..logs.export import to_json, to_markdown
from ..logs.store import ChatStore, check_log, locked, read_chat_file
from ..models.catalog import model_label
from .common import run_main


def add_logs_parser(sub) -> None:
    logs = sub.add_parser("logs", help="list, check and export saved chats")
    logs_sub = logs.add_subparsers(dest="logs_command", required=True)
    listing = logs_sub.add_parser("list", help="every saved chat, newest first")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    checking = logs_sub.add_parser("check", help="report problems in chat logs (default: all); exit 1 if any")
    checking.add_argument("files", nargs="*", help="chat log files (default: every log in the data folder)")
    export = logs_sub.add_parser("export", help="print one chat as Markdown or JSON")
    export.add_argument("ref", help="chat id (or a unique start of it), file name or path")
    export.add_argument("--format", choices=("md", "json"), default="md")


def run_logs(args: argparse.Namespace) -> int:
    store = ChatStore()
    if args.logs_command == "list":
        return _list(store, args.json)
    if args.logs_command == "check":
        return _check(store, args.files)
    return _export(store, args.ref, args.format)


def _list(store, as_json: bool) -> int:
    summaries = store.list()
    if as_json:
        for summary in summaries:
            print(strip_controls(json.dumps(asdict(summary), ensure_ascii=False)))
        return 0
    if not summaries:
        print(f"no saved chats in {store.root}")
        return 0
    for s in summaries:
        if s.damaged:
            print(strip_controls(f"{s.file}  DAMAGED  {s.damaged}"))
            continue
        when = (s.updated or "")[:16].replace("T", " ")
        title = s.title or s.first_user_line or "(empty)"
        turns = f"{s.turns:>3} turn" + ("" if s.turns == 1 else "s")
        print(strip_controls(f"{(s.chat_id or '')[:8]}  {when}  {turns:<9}  {model_label(s.model)[:28]:<28}  {title[:60]}"))
    return 0


def _check(store, files: list[str]) -> int:
    paths = [Path(f) for f in files] if files else sorted(p for p in store.root.glob("*.json") if not p.name.startswith("."))
    problems = 0
    for path in paths:
        for problem in check_log(path):
            print(strip_controls(problem if problem.startswith(str(path)) else f"{path}: {problem}"))
            problems += 1
    print(f"{len(paths)} file(s) checked, {problems} problem(s)", file=sys.stderr)
    return 1 if problems else 0


def _export(store, ref: str, fmt: str) -> int:
    chat_file, _, _ = read_chat_file(store.find(ref))
    chat = chat_file.active()
    sys.stdout.write(strip_controls(to_markdown(chat) if fmt == "md" else to_json(chat)))
    return 0


def migrate_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mlx-harmony-migrate-chat", description="Rewrite a chat log in schema v2.")
    parser.add_argument("file", help="the chat log to migrate")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--in-place", action="store_true", help="replace FILE, keeping the original as FILE.v1.bak")
    where.add_argument("--output", help="write the v2 log here instead")
    return parser


def _migrate(args: argparse.Namespace) -> int:
    source = Path(args.file).expanduser()
    target = source if args.in_place else Path(args.output).expanduser()
    if not args.in_place and target.exists():
        raise UserError(f"--output: {target} already exists; choose a new file")
    with locked(source):
        chat_file, report, _ = read_chat_file(source)
        report += [f"repaired {problem}" for problem in repair(chat_file)]
        if args.in_place:
            backup = source.with_name(source.name + ".v1.bak")
            if backup.exists():
                raise UserError(f"{backup}: a backup is already there; move it away first")
            shutil.copy2(source, backup)
        write_json_atomic(target, chat_file.record())
    for line in report or ["nothing to change: already schema v2"]:
        print(f"changed: {line}")
    print(f"wrote {target}" + (f" (original kept as {source.name}.v1.bak)" if args.in_place else ""))
    return 0


def migrate_main(argv: list[str] | None = None) -> int:
    args = migrate_parser().parse_args(argv)
    return run_main(lambda: _migrate(args))


if __name__ == "__main__":
    sys.exit(migrate_main())

"""The backslash (or slash) commands of ``mlx-harmony-chat``.

A line is a command only when its first word, after ``\\`` or ``/``, names
one; commands that take no arguments must stand alone. Anything else,
``/etc/hosts?`` or ``\\notacommand`` included, is sent to the model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Protocol

from pydantic import ValidationError

from ..config.files import error_reason
from ..config.profiles import profiles_files
from ..config.sampling import SamplingParams
from ..errors import UserError
from .common import parse_logit_bias


class LineChat(Protocol):
    """What the commands need of the line chat (:class:`.chat.LineChat`)."""

    session: Any
    output: Any

    def switch_profile(self, name: str) -> str: ...


@dataclass(frozen=True)
class Command:
    names: tuple[str, ...]
    usage: str
    help: str
    run: Callable[["LineChat", str], bool]  # False ends the chat
    takes_args: bool = False


def parse_command(text: str) -> tuple[Command, str] | None:
    """The command ``text`` invokes and its argument text, or None when ``text`` is a message."""
    if "\n" in text or text[:1] not in ("\\", "/"):
        return None
    name, _, rest = text[1:].strip().partition(" ")
    command = _BY_NAME.get(name.lower())
    if command is None or (rest.strip() and not command.takes_args):
        return None
    return command, rest.strip()


# --- settings -----------------------------------------------------------------------------------

RUN_SETTINGS = ("max_context_tokens",)


def settable_names() -> list[str]:
    return list(SamplingParams.model_fields) + list(RUN_SETTINGS)


_PAIR = re.compile(r"(?:^|\s)([A-Za-z][\w-]*)\s*=")


def split_assignments(text: str) -> list[tuple[str, str]]:
    """``"a=1 b = 2"`` as ``[("a", "1"), ("b", "2")]``; ``"a 1"`` also works for one setting."""
    matches = list(_PAIR.finditer(text))
    if not matches:
        words = text.split()
        if len(words) == 2:
            return [(words[0], words[1])]
        raise UserError(r"\set: expected name=value, e.g. \set temperature=0.7 top_p=0.95")
    if text[: matches[0].start()].strip():
        raise UserError(rf"\set: cannot read {text[: matches[0].start()].strip()!r}; expected name=value")
    pairs = []
    for i, match in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        pairs.append((match.group(1), text[match.end() : end].strip()))
    return pairs


def _setting_value(name: str, text: str) -> Any:
    """A value as typed, converted where pydantic would not understand the user's words."""
    lowered = text.lower()
    if name == "logit_bias":
        if lowered in ("none", "{}"):
            return {}
        try:
            return parse_logit_bias(text)
        except UserError as exc:
            raise UserError(str(exc).replace("--logit-bias", "logit_bias", 1)) from None
    if name in ("seed", "max_context_tokens") and lowered in ("none", "off", "random", "-1"):
        return None
    return text


def apply_settings(chat: "LineChat", text: str) -> list[str]:
    """Apply ``\\set`` arguments all or nothing; return ``name = value`` lines for what changed."""
    session = chat.session
    names = settable_names()
    pairs: dict[str, Any] = {}
    for raw, value in split_assignments(text):
        name = raw.lower().replace("-", "_")
        if name not in names:
            raise UserError(f"unknown setting {raw!r}; settable: {', '.join(names)}")
        if not value:
            raise UserError(f"{name}: no value given")
        pairs[name] = _setting_value(name, value)
    changes = {name: value for name, value in pairs.items() if name not in RUN_SETTINGS}
    context = _context_limit(pairs.get("max_context_tokens", session.settings.max_context_tokens))
    try:
        params = session.sampling.with_changes(**changes)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "sampling"
        raise UserError(f"{field}: {error_reason(first)} (got {_text_of(first.get('input'))})") from None
    if changes:
        session.update_sampling(**{name: getattr(params, name) for name in changes})
    session.set_max_context_tokens(context)
    return [f"{name} = {_shown(session, name)}" for name in pairs]


def _context_limit(value: Any) -> int | None:
    if value is None:
        return None
    try:
        limit = int(value)
    except ValueError:
        raise UserError(f"max_context_tokens: must be a whole number (got {value})") from None
    if limit < 1:
        raise UserError(f"max_context_tokens: must be >= 1 (got {limit})")
    return limit


def _text_of(value: Any) -> str:
    return value if isinstance(value, str) else repr(value)


def _shown(session, name: str) -> str:
    if name == "max_context_tokens":
        limit = session.settings.max_context_tokens
        own = session.info.context_length
        return str(limit) if limit is not None else f"none (the model's own: {own or 'unknown'})"
    value = getattr(session.sampling, name)
    if name == "seed" and value is None:
        return "none (random)"
    if name == "logit_bias" and not value:
        return "none"
    return str(value)


# --- the commands -------------------------------------------------------------------------------


def _help(chat: "LineChat", _args: str) -> bool:
    width = max(len(c.usage) for c in COMMANDS)
    lines = ["Commands (\\ or / before the name):"]
    lines += [f"  {c.usage.ljust(width)}  {c.help}" for c in COMMANDS]
    lines += [
        "",
        "Anything else is sent to the model, a line starting with / or \\ too when it names no command.",
        "Multi-line messages: end a line with \\ to go on to the next, or put the message between",
        'lines of triple quotes ("""), which may also open and close on the text\'s own lines.',
        "Ctrl-C while an answer streams stops that answer (it is kept, marked cancelled);",
        "Ctrl-C or Ctrl-D at the prompt leaves.",
    ]
    chat.output.say("\n".join(lines))
    return True


def _list(chat: "LineChat", _args: str) -> bool:
    session = chat.session
    info = session.info
    settings = session.settings
    rows = [
        ("model", f"{info.name} ({info.path})" + (" · GPT-OSS, Harmony format" if info.is_gpt_oss else "")),
        ("profile", settings.profile or "none"),
        ("prompt config", settings.prompt_config_path or "none"),
        ("chat log", str(session.log.path) if session.log else "not saved"),
        ("markdown", "on" if chat.output.markdown else "off"),
    ]
    width = max(len(name) for name, _ in rows)
    lines = [f"{name.ljust(width)}  {value}" for name, value in rows]
    lines.append("settings (\\set name=value):")
    lines += [f"  {name} = {_shown(session, name)}" for name in settable_names()]
    chat.output.say("\n".join(lines))
    return True


def _set(chat: "LineChat", args: str) -> bool:
    if not args:
        raise UserError(r"\set: expected name=value, e.g. \set temperature=0.7 (\list shows every setting)")
    chat.output.say("\n".join(apply_settings(chat, args)))
    return True


def _models(chat: "LineChat", _args: str) -> bool:
    session = chat.session
    info = session.info
    lines = [f"model: {info.name} · {info.path} · {info.source}" + (" · GPT-OSS" if info.is_gpt_oss else "")]
    found = profiles_files(session.profiles_file)
    if not found:
        lines.append("no profiles file found (see README: profiles)")
    for file in found:
        lines.append(f"profiles in {file.path}:")
        if file.problem:
            lines.append(f"  cannot be read: {file.problem}")
            continue
        for name, profile in file.profiles.items():
            mark = "*" if name == session.settings.profile else " "
            lines.append(f" {mark} {name}  (model: {profile.model or 'the default model'})")
    chat.output.say("\n".join(lines))
    return True


def _profile(chat: "LineChat", args: str) -> bool:
    if not args:
        raise UserError(r"\profile: give a profile name (\models lists them)")
    try:
        chat.output.say(chat.switch_profile(args))
    except UserError as exc:
        raise UserError(str(exc).replace("--profile:", "\\profile:", 1)) from None
    return True


def _save(chat: "LineChat", _args: str) -> bool:
    log = chat.session.log
    if log is None:
        chat.output.say("this chat is not being saved")
    else:
        chat.output.say(f"saved as it goes: {log.path} (resume with --chat {log.chat_id[:8]})")
    return True


def _quit(_chat: "LineChat", _args: str) -> bool:
    return False


COMMANDS = [
    Command(("help", "?"), "\\help", "this help", _help),
    Command(("list", "show"), "\\list, \\show", "the model, profile, chat log and every setting", _list),
    Command(("set",), "\\set name=value ...", "change settings from the next answer on (sampling, max_context_tokens)", _set, True),
    Command(("models",), "\\models", "the loaded model and the profiles available", _models),
    Command(("profile",), "\\profile NAME", "switch profile (model, prompt config, sampling); the conversation stays", _profile, True),
    Command(("save",), "\\save", "where this chat's log is (it is saved after every message)", _save),
    Command(("quit", "exit"), "\\quit, \\exit", "leave (so do Ctrl-D and Ctrl-C at the prompt)", _quit),
]
_BY_NAME = {name: command for command in COMMANDS for name in command.names}

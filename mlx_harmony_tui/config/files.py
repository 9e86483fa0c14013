"""Reading and writing the user's JSON files, with errors that name the file and field; writing any kept file atomically.

The seed tool's own example files have trailing commas, so reading accepts
them (and ``//`` or ``/* */`` comments) outside strings; line and column
numbers in error messages still point into the file as written.
"""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from pydantic import BaseModel, ValidationError

from ..errors import UserError


def relaxed_json_text(text: str) -> str:
    """``text`` with comments and trailing commas blanked out (newlines kept), ready for ``json.loads``."""
    out = list(text)
    i, n = 0, len(text)
    in_string = False
    pending_comma = -1  # index of a comma that may turn out to be trailing
    while i < n:
        ch = text[i]
        if in_string:
            if ch == "\\":
                i += 2
                continue
            if ch == '"':
                in_string = False
            i += 1
            continue
        if ch == '"':
            in_string = True
            pending_comma = -1
        elif ch == "/" and text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
            out[i:end] = " " * (end - i)
            i = end
            continue
        elif ch == "/" and text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
            out[i:end] = ["\n" if c == "\n" else " " for c in text[i:end]]
            i = end
            continue
        elif ch == ",":
            pending_comma = i
        elif ch in "}]":
            if pending_comma >= 0:
                out[pending_comma] = " "
            pending_comma = -1
        elif not ch.isspace():
            pending_comma = -1
        i += 1
    return "".join(out)


def read_json(path: Path, what: str) -> Any:
    if not path.is_file():
        raise UserError(f"{path}: {what} not found")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{path}: {what} is not UTF-8 text") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read the {what}: {exc.strerror or exc}") from None
    try:
        return json.loads(relaxed_json_text(text))
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: {what} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    except RecursionError:
        raise UserError(f"{path}: {what} is nested too deeply") from None


@contextmanager
def atomic_path(path: Path, suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary file beside ``path`` for the block to write; when the block ends, the file is synced to disk,
    renamed over ``path`` and the folder synced, so ``path`` is the old file or the whole new one after a crash or a
    power loss. A block that raises leaves ``path`` as it was and no temporary file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    temporary = Path(name)
    try:
        yield temporary
        _sync_file(temporary)  # the data is on disk before the name points at it
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _sync_folder(path.parent)  # and so is the rename


def _sync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # some platforms cannot open folders; the rename is still atomic
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through :func:`atomic_path`."""
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as indented JSON to ``path`` through :func:`atomic_path`."""
    write_bytes_atomic(path, (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))


_REASONS = {
    "less_than_equal": "must be <= {le}",
    "less_than": "must be < {lt}",
    "greater_than_equal": "must be >= {ge}",
    "greater_than": "must be > {gt}",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "finite_number": "must be a finite number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "string_type": "must be text",
    "dict_type": "must be an object",
    "list_type": "must be a list",
    "literal_error": "must be one of {expected}",
    "extra_forbidden": "unknown key",
    "missing": "is required",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
}


def error_reason(error: dict) -> str:
    """A short reason for one pydantic error, e.g. ``must be <= 2``."""
    template = _REASONS.get(error["type"])
    if template is None:
        message = error["msg"]
        return message.removeprefix("Value error, ")
    ctx = {k: (f"{v:g}" if isinstance(v, float) else v) for k, v in (error.get("ctx") or {}).items()}
    return template.format(**ctx)


def key_text(key: object) -> str:
    """A key as it should appear in a message: plain names as they are, anything odd quoted."""
    text = str(key)
    if text and text.isprintable() and not any(c.isspace() or c in '."' for c in text):
        return text
    return json.dumps(text)


def validation_message(path: Path, exc: ValidationError, prefix: str = "") -> str:
    first = exc.errors()[0]
    field = ".".join(key_text(p) for p in first["loc"])
    where = f"{prefix}{field}" if field else prefix.rstrip(".") or "(top level)"
    got = "" if first["type"] in ("missing", "extra_forbidden") else f" (got {_short(first.get('input'))})"
    return f"{path}: {where}: {error_reason(first)}{got}"


def _short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def unknown_keys(data: dict, model: type[BaseModel]) -> list[str]:
    known = set(model.model_fields) | {f.alias for f in model.model_fields.values() if f.alias}
    return sorted(k for k in data if k not in known)

"""Reading the user's JSON files with errors that name the file and field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from ..errors import UserError


def read_json(path: Path, what: str) -> Any:
    if not path.is_file():
        raise UserError(f"{path}: {what} not found")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise UserError(f"{path}: {what} is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: {what} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None


def validation_message(path: Path, exc: ValidationError, prefix: str = "") -> str:
    first = exc.errors()[0]
    field = ".".join(str(p) for p in first["loc"])
    where = f"{prefix}{field}" if field else prefix.rstrip(".") or "(top level)"
    return f"{path}: {where}: {first['msg']} (got {first.get('input')!r})"


def unknown_keys(data: dict, model: type[BaseModel]) -> list[str]:
    return sorted(k for k in data if k not in model.model_fields)

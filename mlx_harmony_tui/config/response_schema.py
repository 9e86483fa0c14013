"""What shape an answer must take: a JSON schema every front end can ask for, checked before anything runs.

A :class:`ResponseSchema` is one JSON schema (or "any JSON object", OpenAI's
``json_object``) compiled by llguidance, the constrained-decoding library the
engine enforces it with (chosen by measurement, see README "Structured
output"). :class:`OutputConstraint` is what a generation request carries: the
answer's schema and the argument schemas of the functions declared
``strict``. :func:`response_schema_from_openai` reads OpenAI's
``response_format`` (chat completions) or ``text.format`` (Responses API)
shapes; :func:`load_schema_file` reads a schema file (``--json-schema``).
A schema the library cannot enforce is a :class:`UserError` naming the field
and the construct, before any model work starts.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UserError

# Compact JSON (no whitespace between tokens): small models otherwise scatter blank lines through their answers.
# A schema may ask for more with llguidance's own key, e.g. "x-guidance": {"whitespace_flexible": true}.
COMPILE_OPTIONS = {"whitespace_flexible": False}
ANY_OBJECT = {"type": "object"}
_NAME = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")


@functools.lru_cache(maxsize=64)
def _compiled(schema_text: str) -> tuple[str, str]:
    """(llguidance grammar, error or ""), for a schema in canonical JSON text."""
    import llguidance  # a compiled library, imported only when a schema is used

    try:
        grammar = llguidance.LLMatcher.grammar_from_json_schema(schema_text, defaults=COMPILE_OPTIONS)
    except ValueError as exc:
        return "", str(exc)
    failed, messages = llguidance.LLMatcher.validate_grammar_with_warnings(grammar, None)
    return grammar, (messages[0] if failed and messages else "")


def _one_line(message: str) -> str:
    lines = [line.strip() for line in message.splitlines() if line.strip() and set(line.strip()) != {"^"}]
    return " ".join(lines)


@dataclass(frozen=True)
class ResponseSchema:
    """The answer (or a function's arguments) must be JSON matching ``schema``; None means any JSON object.

    ``name`` and ``description`` are shown to the model with the schema (the
    Harmony developer message's "Response Formats", or the system text).
    """

    name: str = "response"
    schema: dict | None = None
    description: str = ""
    strict: bool = True
    where: str = field(default="response_format", compare=False)  # the field to name in errors

    def __post_init__(self) -> None:
        self.grammar()  # a schema that cannot be enforced fails here, where the user gave it

    @property
    def schema_text(self) -> str:
        return json.dumps(self.schema if self.schema is not None else ANY_OBJECT, separators=(",", ":"))  # key order matters

    def grammar(self) -> str:
        """The llguidance grammar enforcing this schema (UserError naming the construct it cannot enforce)."""
        grammar, error = _compiled(self.schema_text)
        if error:
            raise UserError(f"{self.where}: the schema cannot be enforced: {_one_line(error)}", self.where)
        return grammar

    def prompt_text(self) -> str:
        """The schema as the model reads it: one line of JSON."""
        return json.dumps(self.schema if self.schema is not None else ANY_OBJECT, separators=(",", ":"))


@dataclass(frozen=True)
class OutputConstraint:
    """What one generation must produce: ``answer`` for the answer text (GPT-OSS: its final channel), and
    ``tool_arguments`` (recipient like ``functions.NAME`` -> schema) for strict function calls."""

    answer: ResponseSchema | None = None
    tool_arguments: tuple[tuple[str, ResponseSchema], ...] = ()

    def __bool__(self) -> bool:
        return self.answer is not None or bool(self.tool_arguments)

    def for_recipient(self, recipient: str | None) -> ResponseSchema | None:
        return dict(self.tool_arguments).get(recipient) if recipient else None


def _schema_object(value: Any, where: str) -> dict:
    if isinstance(value, bool) or not isinstance(value, dict):
        raise UserError(f"{where}: must be a JSON schema object", where)
    return value


def response_schema_from_openai(response_format: Any, where: str = "response_format") -> ResponseSchema | None:
    """An OpenAI ``response_format`` (or Responses ``text.format``) as a ResponseSchema; None for plain text.

    Takes ``{"type": "text"}``, ``{"type": "json_object"}``, and
    ``{"type": "json_schema", "json_schema": {"name", "schema", "description", "strict"}}`` or the
    Responses API's flat ``{"type": "json_schema", "name", "schema", ...}``. UserError naming the field.
    """
    if response_format is None:
        return None
    if not isinstance(response_format, dict):
        raise UserError(f"{where}: must be an object like {{\"type\": \"json_schema\", ...}}", where)
    kind = response_format.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        return ResponseSchema(name="json_object", where=where)
    if kind != "json_schema":
        raise UserError(f"{where}.type: {kind!r} is not one of text, json_object, json_schema", f"{where}.type")
    nested = "json_schema" in response_format
    body = response_format["json_schema"] if nested else response_format
    at = f"{where}.json_schema" if nested else where
    if not isinstance(body, dict):
        raise UserError(f"{at}: must be an object with name and schema", at)
    name = body.get("name", "response")
    if not isinstance(name, str) or not _NAME.match(name):
        raise UserError(f"{at}.name: must be 1-64 letters, digits, _ or -", f"{at}.name")
    description = body.get("description") or ""
    if not isinstance(description, str):
        raise UserError(f"{at}.description: must be text", f"{at}.description")
    strict = body.get("strict")
    if strict is not None and not isinstance(strict, bool):
        raise UserError(f"{at}.strict: must be true or false", f"{at}.strict")
    if "schema" not in body:
        raise UserError(f"{at}.schema: is required", f"{at}.schema")
    schema = _schema_object(body["schema"], f"{at}.schema")
    return ResponseSchema(name=name, schema=schema, description=description, strict=bool(strict), where=f"{at}.schema")


def schema_from_value(value: Any, where: str) -> ResponseSchema:
    """A schema given directly (a profile's ``response_schema``, a function's ``parameters``)."""
    return ResponseSchema(schema=_schema_object(value, where), where=where)


def load_schema_file(path: str | Path, where: str = "--json-schema") -> ResponseSchema:
    """A JSON schema file as a ResponseSchema; one-line UserError naming the file otherwise."""
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{where}: {path}: no such file", where) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{where}: {path}: cannot be read: {exc}", where) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"{where}: {path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})", where) from None
    if isinstance(data, bool) or not isinstance(data, dict):
        raise UserError(f"{where}: {path}: must hold a JSON schema object", where)
    return ResponseSchema(name=path.stem if _NAME.match(path.stem) else "response", schema=data, where=f"{where}: {path}")

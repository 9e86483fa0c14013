"""Request text must be valid Unicode: a lone UTF-16 surrogate is refused where the body is parsed.

JSON may carry ``"\\ud800"``, which Python reads into a string that no
tokenizer can encode (and no UTF-8 response can echo). Every request body
is checked once, before its fields are validated: the first such string
becomes a 400 naming its field (``messages[0].content``) and the surrogate.
"""

from __future__ import annotations

from typing import Any

from pydantic_core import PydanticCustomError

LONE_SURROGATE = "lone_surrogate"  # the pydantic error type, turned into a 400 by openai_format.validation_error


def _bad(text: str) -> int | None:
    """Where the first lone surrogate of ``text`` is, or None."""
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return exc.start
    return None


def _printable(key: str) -> str:
    return key.encode("utf-8", "backslashreplace").decode("utf-8")


def lone_surrogate(data: Any) -> tuple[str, str] | None:
    """The first string (or object key) in parsed JSON ``data`` holding a lone surrogate: its field and the surrogate.

    The walk is iterative (a deeply nested body cannot exhaust the stack);
    a field's name is built only for the string found.
    """
    stack: list[tuple[Any, Any]] = [(None, data)]  # (where, value); where is (parent's where, key or index)
    while stack:
        where, value = stack.pop()
        if isinstance(value, str):
            at = _bad(value)
            if at is not None:
                return _field(where), value[at]
        elif isinstance(value, dict):
            for key, item in reversed(list(value.items())):
                if isinstance(key, str) and _bad(key) is not None:
                    return _field((where, _printable(key))), key[_bad(key)]
                stack.append(((where, key), item))
        elif isinstance(value, list):
            stack.extend(((where, i), value[i]) for i in reversed(range(len(value))))
    return None


def _field(where: Any) -> str:
    """``(((None, "messages"), 0), "content")`` as ``messages[0].content``."""
    parts = []
    while where is not None:
        where, part = where
        parts.append(part)
    text = ""
    for part in reversed(parts):
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def reject_lone_surrogates(data: Any) -> Any:
    """A pydantic ``mode="before"`` model validator: ``data`` unchanged, or an error naming the field and its surrogate."""
    found = lone_surrogate(data)
    if found is not None:
        field, surrogate = found
        raise PydanticCustomError(LONE_SURROGATE, "{field}: contains a lone UTF-16 surrogate ({code}); text must be valid "
                                  "Unicode (a surrogate must be half of a pair)", {"field": field, "code": f"U+{ord(surrogate):04X}"})
    return data

"""OpenAI's response_format shapes (chat completions and Responses' text.format) read into a ResponseSchema, and
profiles' response_schema checked when the file is read."""

from __future__ import annotations

import json

import pytest

from mlx_harmony_tui.config.profiles import load_profiles
from mlx_harmony_tui.config.response_schema import OutputConstraint, ResponseSchema, response_schema_from_openai
from mlx_harmony_tui.errors import UserError

SCHEMA = {"type": "object", "properties": {"b": {"type": "integer"}, "a": {"type": "string"}}, "required": ["b", "a"]}


def test_chat_and_responses_shapes_give_the_same_schema():
    chat = response_schema_from_openai({"type": "json_schema", "json_schema": {"name": "pair", "schema": SCHEMA, "strict": True}})
    flat = response_schema_from_openai({"type": "json_schema", "name": "pair", "schema": SCHEMA, "strict": True}, "text.format")
    assert chat == flat == ResponseSchema("pair", SCHEMA, strict=True)
    assert flat.where == "text.format.schema" and chat.where == "response_format.json_schema.schema"
    assert chat.prompt_text() == json.dumps(SCHEMA, separators=(",", ":"))  # key order kept: it is the order the JSON follows
    assert response_schema_from_openai({"type": "text"}) is None and response_schema_from_openai(None) is None
    anything = response_schema_from_openai({"type": "json_object"})
    assert anything.schema is None and anything.grammar()


def test_output_constraint_is_empty_without_schemas():
    assert not OutputConstraint()
    tool = ResponseSchema(schema=SCHEMA)
    constraint = OutputConstraint(tool_arguments=(("functions.f", tool),))
    assert constraint and constraint.for_recipient("functions.f") is tool and constraint.for_recipient("functions.g") is None


@pytest.mark.parametrize(
    ("value", "where", "words"),
    [
        ({"type": "json_schema", "json_schema": {"name": "a b", "schema": SCHEMA}}, "response_format.json_schema.name", "letters"),
        ({"type": "json_schema", "json_schema": {"schema": True}}, "response_format.json_schema.schema", "schema object"),
        ({"type": "json_schema", "json_schema": {"schema": SCHEMA, "strict": "yes"}}, "response_format.json_schema.strict", "true"),
        ({"type": "json_schema", "json_schema": {"schema": {"type": "strin"}}}, "response_format.json_schema.schema", "Invalid type: strin"),
        ({"type": "json_schema", "json_schema": {"schema": {"$ref": "https://example.com/s.json"}}},
         "response_format.json_schema.schema", "https://example.com/s.json"),
        ({"type": "yaml"}, "response_format.type", "'yaml'"),
    ],
)
def test_mistakes_name_the_field(value, where, words):
    with pytest.raises(UserError) as caught:
        response_schema_from_openai(value)
    assert caught.value.field == where and str(caught.value).startswith(where + ": ") and words in str(caught.value)


def test_profiles_check_their_response_schema_on_load(tmp_path):
    (tmp_path / "pair.json").write_text(json.dumps(SCHEMA), encoding="utf-8")
    good = tmp_path / "profiles.json"
    good.write_text(json.dumps({"inline": {"response_schema": SCHEMA}, "file": {"response_schema": "pair.json"}}), encoding="utf-8")
    profiles = load_profiles(good)
    assert profiles["inline"].answer_schema().schema == SCHEMA
    assert profiles["file"].answer_schema().schema == SCHEMA and profiles["file"].answer_schema().name == "pair"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"p": {"response_schema": "missing.json"}}), encoding="utf-8")
    with pytest.raises(UserError, match=r"bad\.json: p\.response_schema: .*missing\.json: no such file"):
        load_profiles(bad)

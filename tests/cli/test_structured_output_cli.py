"""Structured output from the command lines: ``mlx-harmony-generate --json-schema`` and a profile's ``response_schema``
in the line chat, run for real; bad schemas and files stop with one line naming them, before the model loads."""

from __future__ import annotations

import json

import jsonschema
import pytest

from tests.cli.test_chat_cli import chat, chat_logs, saved_chat
from tests.cli.test_generate_cli import assert_one_error_line, generate, write_json
from tests.support.schemas import MOVIE, SENTIMENT


def test_generate_json_schema_answers_with_valid_json(default_model_dir, tmp_path):
    schema = write_json(tmp_path / "sentiment.json", SENTIMENT)
    result = generate("--json-schema", str(schema), "--temperature", "0", "--max-tokens", "60", "--stats",
                      "-p", "How does this review feel: 'I loved every minute of this film!'")
    assert result.returncode == 0, result.stderr
    jsonschema.validate(json.loads(result.stdout), SENTIMENT)
    assert "[stop]" in result.stderr


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ('{"type": "array", "uniqueItems": true}', ['bad.json: the schema cannot be enforced: Unimplemented keys: ["uniqueItems"]']),
        ('{"type": "object",\n  "properties": }', ["bad.json: not valid JSON (line 2, column"]),
        ("[1, 2]", ["bad.json: must hold a JSON schema object"]),
        (None, ["bad.json: no such file"]),
    ],
)
def test_generate_bad_schema_file_is_one_line_naming_it(tmp_path, content, words):
    path = tmp_path / "bad.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    line = assert_one_error_line(generate("--json-schema", str(path), "-p", "hi"))
    assert line.startswith("error: --json-schema: ") and str(path) in line
    for text in words:
        assert text in line, line


def test_line_chat_answers_follow_the_profile_response_schema(default_model_dir, tmp_path):
    write_json(tmp_path / "schemas" / "movie.json", MOVIE)
    profiles = write_json(tmp_path / "profiles.json", {"movies": {"response_schema": "schemas/movie.json",
                                                                  "sampling": {"temperature": 0, "max_tokens": 80}}})
    result = chat(tmp_path, "--profile", "movies", "--profiles-file", str(profiles),
                  stdin="Tell me about the movie Titanic.\nNow tell me about The Godfather.\n")
    assert result.returncode == 0, result.stderr
    answers = [line for line in result.stdout.splitlines() if line.startswith("{")]
    assert len(answers) == 2, result.stdout
    for answer in answers:
        jsonschema.validate(json.loads(answer), MOVIE)
    saved = [m for m in saved_chat(tmp_path)["messages"] if m["role"] == "assistant"]
    assert [json.loads(m["content"]) for m in saved] == [json.loads(a) for a in answers]


def test_a_profile_with_a_schema_that_cannot_be_enforced_is_one_line(tmp_path):
    profiles = write_json(tmp_path / "profiles.json", {"strict": {"response_schema": {"type": "object", "if": {"required": ["a"]}}}})
    result = chat(tmp_path, "--profile", "strict", "--profiles-file", str(profiles), stdin="hello\n", timeout=120)
    line = assert_one_error_line(result)
    assert f"{profiles}: strict.response_schema: the schema cannot be enforced: Unimplemented keys" in line, line
    assert chat_logs(tmp_path) == []

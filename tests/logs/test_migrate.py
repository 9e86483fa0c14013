"""v1 and seed-tool v2 logs load and migrate with nothing lost; consistency checks find what is wrong."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from mlx_harmony_tui.logs.check import check, repair
from mlx_harmony_tui.logs.schema import Message
from mlx_harmony_tui.logs.store import ChatLog, DamagedLog, read_chat_file

PARAMS = {"temperature": 0.8, "top_p": 0.9, "max_tokens": 1024}
V1 = {
    "metadata": {"model": "~/models/gpt-oss-20b", "prompt_config": "configs/prompt-config.example.json",
                 "hyperparameters": PARAMS, "max_context_tokens": 4096, "custom_note": "from the seed"},
    "messages": [
        {"role": "user", "content": "Grüße 👋 — ¿qué tal? 你好", "timestamp": "2026-01-12T10:00:00Z"},
        {"role": "assistant", "content": "Bien, ¡gracias! 🎉", "analysis": "Répondre poliment.",
         "timestamp": "2026-01-12T10:00:05.250000Z", "hyperparameters": PARAMS},
        {"role": "user", "content": "Search the web for owls", "timestamp": "2026-01-12T10:01:00"},
        {"role": "assistant", "content": "", "tool_calls": [{"recipient": "browser.search", "arguments": "{\"query\": \"owls\"}"}],
         "timestamp": "2026-01-12T10:01:02Z"},
        {"role": "tool", "name": "browser.search", "recipient": "assistant", "content": "【0†Owls—Wikipédia】",
         "timestamp": "2026-01-12T10:01:03Z"},
        {"role": "assistant", "content": "Owls are nocturnal.", "timestamp": "2026-01-12T10:01:09Z"},
    ],
}


def write(path: Path, data) -> Path:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


def utc(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).replace(tzinfo=timezone.utc).timestamp()


def test_v1_loads_transparently_with_nothing_lost(tmp_path):
    chat_file, report, was_v1 = read_chat_file(write(tmp_path / "old.json", V1))
    assert was_v1 and report[0] == "schema v1 -> v2 container"
    chat = chat_file.active()
    assert [(m.role, m.content) for m in chat.messages] == [(m["role"], m["content"]) for m in V1["messages"]]
    assert chat.messages[1].analysis == "Répondre poliment." and chat.messages[4].name == "browser.search"
    assert chat.messages[4].model_extra["recipient"] == "assistant"
    assert chat.messages[3].tool_calls[0].recipient == "browser.search"
    assert [m.parent_id for m in chat.messages] == [None] + [m.id for m in chat.messages[:-1]]
    assert len({m.id for m in chat.messages}) == 6
    assert chat.messages[0].timestamp.unix == utc("2026-01-12T10:00:00")
    assert chat.messages[2].timestamp.unix == utc("2026-01-12T10:01:00")  # no zone: taken as UTC
    meta = chat.metadata
    assert meta.model_path == "~/models/gpt-oss-20b" and meta.prompt_config_path == "configs/prompt-config.example.json"
    assert meta.model_extra["custom_note"] == "from the seed" and meta.model_extra["max_context_tokens"] == 4096
    assert meta.last_hyperparameters == PARAMS and meta.created_at.unix == chat.messages[0].timestamp.unix
    assert meta.updated_at.unix == chat.messages[-1].timestamp.unix
    assert check(chat_file) == []


def run_migrate(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mlx_harmony_tui.cli.logs", *args], capture_output=True, text=True,
                          env=os.environ.copy(), cwd=cwd, timeout=60)


def test_migrate_in_place_keeps_a_backup_and_prints_the_changes(tmp_path):
    path = write(tmp_path / "chat.json", V1)
    original = path.read_bytes()
    done = run_migrate(str(path), "--in-place", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "chat.json.v1.bak").read_bytes() == original
    lines = done.stdout.splitlines()
    assert "changed: schema v1 -> v2 container" in lines and "changed: metadata.model renamed to model_path" in lines
    assert "changed: 6 messages given an id" in lines and "changed: 6 timestamps: string timestamp converted" in lines
    migrated = json.loads(path.read_text(encoding="utf-8"))
    assert migrated["schema_version"] == 2
    (chat,) = migrated["chats"].values()
    assert [m["content"] for m in chat["messages"]] == [m["content"] for m in V1["messages"]]
    again = run_migrate(str(path), "--in-place", cwd=tmp_path)  # a second backup would overwrite the first: refused
    assert again.returncode == 2 and "a backup is already there" in again.stderr


def test_migrate_to_a_new_file_leaves_the_old_one(tmp_path):
    path = write(tmp_path / "chat.json", V1)
    original = path.read_bytes()
    done = run_migrate(str(path), "--output", str(tmp_path / "new.json"), cwd=tmp_path)
    assert done.returncode == 0 and path.read_bytes() == original
    assert read_chat_file(tmp_path / "new.json")[0].active().messages[0].content == V1["messages"][0]["content"]
    exists = run_migrate(str(path), "--output", str(tmp_path / "new.json"), cwd=tmp_path)
    assert exists.returncode == 2 and "already exists" in exists.stderr
    neither = run_migrate(str(path), cwd=tmp_path)
    assert neither.returncode == 2 and "--in-place" in neither.stderr


def test_appending_to_a_v1_file_keeps_the_original_first(tmp_path):
    path = write(tmp_path / "chat.json", V1)
    original = path.read_bytes()
    log = ChatLog(path, read_chat_file(path)[0].active().chat_id)
    log.append(Message(role="user", content="new turn"))
    assert (tmp_path / "chat.json.v1.bak").read_bytes() == original
    messages = read_chat_file(path)[0].active().messages
    assert len(messages) == 7 and messages[-1].parent_id == messages[-2].id


def test_seed_v2_unix_times_shifted_by_the_local_offset_are_recomputed(tmp_path):
    iso = "2026-01-12T10:00:00.000000Z"
    shifted = utc(iso) + 5 * 3600  # what utcnow().timestamp() gave at UTC-5
    data = {"schema_version": 2, "chat_order": ["c1"], "active_chat_id": "c1", "chats": {"c1": {"chat_id": "c1", "metadata": {
        "model_path": "m", "created_at": {"unix": shifted, "iso": iso}, "updated_at": {"unix": shifted, "iso": iso}},
        "messages": [{"id": "a", "parent_id": None, "role": "user", "content": "hi", "timestamp": {"unix": shifted, "iso": iso}}]}}}
    chat_file, report, was_v1 = read_chat_file(write(tmp_path / "seed.json", data))
    assert not was_v1
    assert chat_file.active().messages[0].timestamp.unix == utc(iso)
    assert "1 timestamps: unix time recomputed from iso" in report


def test_check_reports_every_kind_of_problem_and_repairs_only_the_safe_ones(tmp_path):
    msg = lambda i, parent, t, **kw: {"id": i, "parent_id": parent, "role": "user", "content": i,  # noqa: E731
                                      "timestamp": {"unix": t, "iso": datetime.fromtimestamp(t, timezone.utc).isoformat().replace("+00:00", "Z")}, **kw}
    data = {"schema_version": 2, "chat_order": ["c1", "ghost"], "active_chat_id": "nope", "chats": {
        "c1": {"chat_id": "c1", "metadata": {"updated_at": {"unix": 100.0, "iso": "1970-01-01T00:01:40Z"}, "last_hyperparameters": {"temperature": 1}},
               "messages": [msg("a", None, 200.0), msg("b", "a", 201.0), msg("b", "a", 202.0), msg("c", "zzz", 203.0, hyperparameters={"temperature": 0.5})]},
        "c2": {"chat_id": "c2", "metadata": {}, "messages": []}}}
    path = write(tmp_path / "bad.json", data)
    before = path.read_bytes()
    chat_file, _, _ = read_chat_file(path)
    found = [str(p) for p in check(chat_file)]
    expected = [
        "chat_order: names 'ghost', which is not in chats",
        "chat_order: leaves out chat 'c2'",
        "active_chat_id: 'nope' is not a chat in this file",
        "chats.c1.messages[2].id: duplicate id 'b' (not repaired automatically)",
        "chats.c1.messages[3].parent_id: 'zzz' is not an earlier message (not repaired automatically)",
        "chats.c1.metadata.updated_at: is older than the last message",
        "chats.c1.metadata.last_hyperparameters: differs from the last message's",
    ]
    assert found == expected
    done = subprocess.run([sys.executable, "-m", "mlx_harmony_tui.cli.main", "logs", "check", str(path)],
                          capture_output=True, text=True, env=os.environ.copy(), timeout=60)
    assert done.returncode == 1 and done.stdout.splitlines() == [f"{path}: {line}" for line in expected]
    assert path.read_bytes() == before  # checking never writes
    fixed = repair(chat_file)
    assert len(fixed) == 5
    assert [str(p) for p in check(chat_file)] == expected[3:5]
    assert chat_file.chat_order == ["c1", "c2"] and chat_file.active_chat_id == "c2"


@pytest.mark.parametrize("data, reason", [
    ({"schema_version": 3, "chats": {}}, "schema_version: 3 is not supported"),
    ({"hello": "world"}, "neither a v2 container"),
    ({"messages": [{"role": "user", "content": "x", "timestamp": "yesterday"}]}, "messages[0].timestamp: unreadable timestamp 'yesterday'"),
    ([1, 2], "(top level): expected a JSON object"),
])
def test_unreadable_logs_are_damaged_not_guessed(tmp_path, data, reason):
    path = write(tmp_path / "x.json", data)
    before = path.read_bytes()
    with pytest.raises(DamagedLog) as info:
        read_chat_file(path)
    assert str(info.value).startswith(f"{path}: damaged: ") and reason in str(info.value)
    assert path.read_bytes() == before

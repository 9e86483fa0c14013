"""The chat store on real files: format, durability, two writers, damaged files, listing, export."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from datetime import datetime, timezone
from pathlib import Path

import pytest

from mlx_harmony_tui.logs.export import to_json, to_markdown
from mlx_harmony_tui.logs.schema import ChatMetadata, Message
from mlx_harmony_tui.logs.store import ChatLog, ChatStore, DamagedLog, read_chat_file

ROOT = Path(__file__).resolve().parents[2]


def test_messages_are_saved_in_the_v2_container_with_correct_utc_times(tmp_path):
    store = ChatStore(tmp_path / "chats")
    log = store.create(ChatMetadata(profile="default"))
    user = log.append(Message(role="user", content="Hello there\nsecond line"), model_path="/models/a")
    params = {"temperature": 0.7, "top_p": 1.0}
    first = log.append(Message(role="assistant", content="Hi!", analysis="greet", finish_reason="stop", completion_tokens=2), hyperparameters=params)
    log.append(Message(role="user", content="Again"))
    second = log.append(Message(role="assistant", content="Hi again."), hyperparameters=params, model_path="/models/b")
    data = json.loads(log.path.read_text())
    assert data["schema_version"] == 2 and data["chat_order"] == [log.chat_id] and data["active_chat_id"] == log.chat_id
    chat = data["chats"][log.chat_id]
    messages = chat["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]
    assert [m["parent_id"] for m in messages] == [None, user.id, first.id, messages[2]["id"]]
    assert messages[1]["hyperparameters"] == params and "hyperparameters" not in messages[3]  # unchanged: not repeated
    assert messages[1]["analysis"] == "greet" and "analysis" not in messages[0]
    now = datetime.now(timezone.utc).timestamp()
    for m in messages:
        iso = datetime.fromisoformat(m["timestamp"]["iso"].replace("Z", "+00:00"))
        assert abs(iso.timestamp() - m["timestamp"]["unix"]) < 1e-3 and abs(now - m["timestamp"]["unix"]) < 60
    meta = chat["metadata"]
    assert meta["title"] == "Hello there" and meta["profile"] == "default"
    assert meta["model_path"] == "/models/a" and meta["last_model_path"] == "/models/b"
    assert meta["hyperparameters"] == params == meta["last_hyperparameters"]
    assert meta["updated_at"]["unix"] >= second.timestamp.unix


def test_other_writers_keys_survive(tmp_path):
    store = ChatStore(tmp_path)
    log = store.create()
    log.append(Message(role="user", content="x"))
    data = json.loads(log.path.read_text())
    data["their_top"] = {"a": 1}
    chat = data["chats"][log.chat_id]
    chat["their_chat"] = None
    chat["metadata"]["their_meta"] = [1, 2]
    chat["messages"][0]["their_message"] = "kept"
    log.path.write_text(json.dumps(data))
    log.append(Message(role="assistant", content="y"))
    after = json.loads(log.path.read_text())
    chat = after["chats"][log.chat_id]
    assert after["their_top"] == {"a": 1} and chat["their_chat"] is None and chat["metadata"]["their_meta"] == [1, 2]
    assert chat["messages"][0]["their_message"] == "kept"


@pytest.mark.parametrize("content", [b'{"schema_version": 2, "chats": ', b"\xff\xfe not text", b'{"schema_version": 2, "chats": {"c": {"messages": [{"role": "robot"}]}}}'])
def test_damaged_file_is_reported_and_left_byte_for_byte(tmp_path, content):
    store = ChatStore(tmp_path)
    log = store.create()
    log.path.write_bytes(content)
    with pytest.raises(DamagedLog, match=rf"^{tmp_path}.*: damaged: "):
        log.append(Message(role="user", content="lost?"))
    assert log.path.read_bytes() == content
    (summary,) = store.list()
    assert summary.damaged and summary.damaged.startswith(str(log.path))
    env = {**os.environ, "MLX_HARMONY_DATA_DIR": str(tmp_path.parent / "unused")}
    done = subprocess.run([sys.executable, "-m", "mlx_harmony_tui.cli.main", "logs", "check", str(log.path)],
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 1 and done.stdout.startswith(f"{log.path}: damaged: ") and "Traceback" not in done.stderr
    assert log.path.read_bytes() == content


WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from mlx_harmony_tui.logs.schema import Message
    from mlx_harmony_tui.logs.store import ChatLog, read_chat_file
    path, label, count = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    log = ChatLog(path, read_chat_file(path)[0].active().chat_id)
    for i in range(count):
        saved = log.append(Message(role="user" if i % 2 == 0 else "assistant", content=f"{label} {i} " + "é" * 50))
        print(saved.id, flush=True)
    """
)


@pytest.fixture
def writer(tmp_path):
    """A new log, and a function that starts a process appending ``count`` messages labelled ``label`` to it."""
    log = ChatStore(tmp_path).create()
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def start(label: str, count: int) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, str(script), str(log.path), label, str(count)], stdout=subprocess.PIPE, text=True, env=env)

    return log, start


def test_sigkill_at_random_moments_never_loses_a_completed_turn(writer):
    import random
    import time

    log, start = writer
    rng = random.Random(1234)
    completed: list[str] = []
    for kill in range(50):
        proc = start(f"k{kill}", 100000)
        time.sleep(rng.uniform(0.15, 0.6))  # the first ~0.15 s is interpreter start-up
        proc.kill()
        out, _ = proc.communicate()
        completed += out.split()
        chat_file, _, _ = read_chat_file(log.path)  # valid JSON and a valid log after every kill
        saved = {m.id for m in chat_file.active().messages}
        missing = [i for i in completed if i not in saved]
        assert not missing, f"kill {kill}: {len(missing)} completed messages lost"
    assert len(completed) > 50  # the kills really landed mid-run
    assert json.loads(log.path.read_text())["schema_version"] == 2


def test_two_writers_on_one_file_keep_every_turn(writer):
    log, start = writer
    procs = [start(label, 60) for label in ("A", "B")]
    ids = []
    for proc in procs:
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0
        ids += out.split()
    messages = read_chat_file(log.path)[0].active().messages
    assert sorted(m.id for m in messages) == sorted(ids) and len(ids) == 120
    for label in ("A", "B"):  # each writer's turns form their own chain
        own = [m for m in messages if m.content.startswith(label + " ")]
        assert [m.content.split()[1] for m in own] == [str(i) for i in range(60)]
        assert all(b.parent_id == a.id for a, b in zip(own, own[1:]))


def test_listing_uses_the_index_and_notices_changes(tmp_path):
    store = ChatStore(tmp_path)
    logs = []
    for i in range(3):
        log = store.create(ChatMetadata(model_path=f"/m/model{i}"))
        log.append(Message(role="user", content=f"question {i}"))
        logs.append(log)
    first = {s.chat_id: s for s in store.list()}
    assert {s.first_user_line for s in first.values()} == {"question 0", "question 1", "question 2"}
    assert (tmp_path / ".index.json").is_file()
    logs[1].append(Message(role="assistant", content="answer"))
    logs[1].append(Message(role="user", content="follow-up"))
    second = {s.chat_id: s for s in store.list()}
    assert second[logs[1].chat_id].turns == 2 and second[logs[0].chat_id].turns == 1
    assert store.list()[0].chat_id == logs[1].chat_id  # newest first


def test_export_markdown_and_json(tmp_path):
    store = ChatStore(tmp_path)
    log = store.create(ChatMetadata(model_path="/m/smol"))
    log.append(Message(role="user", content="What is 6*7?"))
    log.append(Message(role="assistant", content="", analysis="Use python.",
                       tool_calls=[{"recipient": "python", "arguments": "print(6*7)", "channel": "analysis"}]))
    log.append(Message(role="tool", name="python", content="42"))
    log.append(Message(role="assistant", content="It is **42**.", cancelled=True))
    chat = read_chat_file(log.path)[0].active()
    md = to_markdown(chat)
    assert md.startswith("# What is 6*7?\n") and "## Tool (python)\n\n42" in md and "It is **42**." in md
    assert "<details><summary>Reasoning</summary>\n\nUse python." in md and "```\nprint(6*7)\n```" in md and "_(cancelled)_" in md
    exported = json.loads(to_json(chat))
    assert exported["chats"][chat.chat_id]["messages"][3]["cancelled"] is True


def test_logs_cli_list_export_and_bench(tmp_path):
    env = {**os.environ, "MLX_HARMONY_DATA_DIR": str(tmp_path)}
    store = ChatStore(tmp_path / "chats")
    log = store.create(ChatMetadata(model_path="/m/smol"))
    log.append(Message(role="user", content="Tell me about owls"))

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "mlx_harmony_tui.cli.main", *args], capture_output=True, text=True, env=env, timeout=120)

    from mlx_harmony_tui.models.default_model import NAME

    stored = store.create(ChatMetadata(model_path=f"/cache/models/{NAME}/float32"))  # the embedded model, in its stored form
    for i in range(2):
        stored.append(Message(role="user", content=f"question {i}"))

    listed = cli("logs", "list", "--json")
    assert listed.returncode == 0 and "Tell me about owls" in [json.loads(line)["title"] for line in listed.stdout.splitlines()]
    lines = {line.split()[0]: line for line in cli("logs", "list").stdout.splitlines()}
    owls, embedded = lines[log.chat_id[:8]], lines[stored.chat_id[:8]]
    assert "Tell me about owls" in owls and "  1 turn " in owls and " smol " in owls
    assert "  2 turns " in embedded and NAME in embedded and "float32" not in embedded  # the model's name, not its storage folder
    exported = cli("logs", "export", log.chat_id[:10], "--format", "md")
    assert exported.returncode == 0 and exported.stdout.startswith("# Tell me about owls")
    missing = cli("logs", "export", "nope")
    assert missing.returncode == 2 and missing.stderr.startswith("error: nope: no such chat log")
    assert cli("logs", "check").returncode == 0
    bench = cli("bench", "logs", "--logs", "40", "--messages", "300", "--json")
    result = json.loads(bench.stdout)
    assert result["logs"] == 40 and result["long_log_messages"] == 300
    assert all(result[k] > 0 for k in ("list_cold_s", "list_indexed_s", "open_long_log_s", "append_to_long_log_s"))


def test_chat_log_handle_continues_after_the_last_message(tmp_path):
    store = ChatStore(tmp_path)
    log = store.create()
    last = log.append(Message(role="user", content="a"))
    reopened = store.open(log.chat_id)
    answer = reopened.append(Message(role="assistant", content="b"))
    assert answer.parent_id == last.id
    assert isinstance(reopened, ChatLog) and reopened.path == log.path


def test_versions_number_each_edit_of_a_message_once():
    from mlx_harmony_tui.logs.branches import versions
    from mlx_harmony_tui.logs.schema import Chat, Message

    first = Message(role="user", content="q")
    answer = Message(role="assistant", content="a", parent_id=first.id)
    edited = Message(role="user", content="q, edited")  # a second version of the first question
    follow = Message(role="user", content="next", parent_id=answer.id)
    chat = Chat(chat_id="c", messages=[first, answer, edited, follow])
    assert versions(chat) == {first.id: (1, 2), edited.id: (2, 2)}


def test_a_new_chat_has_no_file_until_its_first_message(tmp_path):
    store = ChatStore(tmp_path)
    log = store.new(ChatMetadata(profile="default"))
    assert not log.saved and not log.path.exists() and log.read().messages == [] and store.list() == []
    log.append(Message(role="user", content="hello"))
    assert log.saved and read_chat_file(log.path)[0].active().metadata.profile == "default"


def test_lock_files_do_not_pile_up_beside_the_logs(writer):
    log, start = writer
    procs = [start(label, 20) for label in ("A", "B")]
    for proc in procs:
        proc.communicate(timeout=120)
        assert proc.returncode == 0
    log.rename("Renamed")
    ChatStore(log.path.parent).trash(log.path)
    hidden = sorted(p.name for p in log.path.parent.rglob(".*") if p.name != ".index.json")
    assert hidden == [], hidden  # every save removed its lock file when it was done


def test_the_branch_shown_is_remembered_and_followed(tmp_path):
    store = ChatStore(tmp_path)
    log = store.create()
    first = log.append(Message(role="user", content="v1"))
    log.append(Message(role="assistant", content="a1"))
    log.append(Message(role="user", content="v2", parent_id=None))
    newest = log.append(Message(role="assistant", content="a2"))
    assert ChatLog(log.path, log.chat_id).head == newest.id  # nothing chosen: the newest branch
    first_answer = read_chat_file(log.path)[0].active().messages[1]
    log.show_branch(first_answer.id)
    assert ChatLog(log.path, log.chat_id).head == first_answer.id  # reopened where the user left it
    follow = log.append(Message(role="user", content="more on v1"))
    assert follow.parent_id == first_answer.id and ChatLog(log.path, log.chat_id).head == follow.id
    assert first.id in {m.id for m in read_chat_file(log.path)[0].active().messages}

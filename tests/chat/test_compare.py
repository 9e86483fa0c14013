"""Compare on the real default model: one question answered twice at once, both saved as versions, either kept."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import replace

import pytest

from mlx_harmony_tui.chat.branches import message_versions
from mlx_harmony_tui.chat.compare import Comparison, profile_contender, sampling_contender
from mlx_harmony_tui.chat.session import ChatSession
from mlx_harmony_tui.config.resolve import resolve_run_settings
from mlx_harmony_tui.engine.events import Done, TextDelta
from mlx_harmony_tui.errors import UserError
from mlx_harmony_tui.logs.branches import path_to
from mlx_harmony_tui.logs.store import ChatStore


@pytest.fixture
def session(default_model_dir, tmp_path):
    settings = resolve_run_settings()
    settings = replace(settings, sampling=settings.sampling.with_changes(temperature=0.0, max_tokens=16))
    chat = ChatSession(settings)
    chat.start_log(ChatStore(tmp_path / "chats"))
    yield chat
    chat.close()


def run_both(comparison: Comparison, text: str) -> dict[str, dict]:
    """Each side on its own thread, as the app runs them; per side: its events and when the first and last came."""
    seen: dict[str, dict] = {}

    def side(name, events) -> None:
        record = seen.setdefault(name, {"events": []})
        for event in events:
            record.setdefault("first", time.perf_counter())
            record["events"].append(event)
        record["last"] = time.perf_counter()

    threads = [threading.Thread(target=side, args=(name, events)) for name, events in zip("ab", comparison.sides(text))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return seen


def answer(record: dict) -> str:
    return "".join(e.text for e in record["events"] if isinstance(e, TextDelta) and e.channel == "final")


def test_both_answers_stream_at_once_and_are_saved_as_versions_of_the_question(session):
    list(session.send("Name a colour."))
    before = [m["log_id"] for m in session.history]
    comparison = Comparison(session, sampling_contender(session, "hot", temperature=1.5, seed=11))
    seen = run_both(comparison, "Name an animal.")

    dones = {name: [e for e in record["events"] if isinstance(e, Done)] for name, record in seen.items()}
    assert [len(dones["a"]), len(dones["b"])] == [1, 1]
    assert seen["a"]["first"] < seen["b"]["last"] and seen["b"]["first"] < seen["a"]["last"]  # streamed at the same time

    chat = session.log.read()
    leaf_a, leaf_b = comparison.leaf("a"), comparison.leaf("b")
    path_a, path_b = path_to(chat, leaf_a), path_to(chat, leaf_b)
    assert [m.id for m in path_a[:2]] == before == [m.id for m in path_b[:2]]  # both go on from the same point
    assert [(m.role, m.content) for m in path_a[2:]] == [("user", "Name an animal."), ("assistant", answer(seen["a"]))]
    assert [(m.role, m.content) for m in path_b[2:]] == [("user", "Name an animal."), ("assistant", answer(seen["b"]))]
    assert path_b[-1].hyperparameters["temperature"] == 1.5 and path_b[-1].hyperparameters["seed"] == 11
    assert sorted(message_versions(session.log).values()) == [(1, 2), (2, 2)]  # shown like an edit or a regeneration
    assert session.history[-1]["content"] == answer(seen["a"])  # until B is kept, the session goes on from A
    assert session.generator.sampling.temperature == 0.0  # side B's session left the generator's sampling as it was


def test_keeping_b_continues_the_chat_from_b_with_its_cache(session):
    comparison = Comparison(session, sampling_contender(session, "hot", temperature=1.5, seed=3))
    seen = run_both(comparison, "Name a river.")
    comparison.keep("b")
    leaf_b = comparison.leaf("b")
    assert session.log.head == leaf_b and session.history[-1]["content"] == answer(seen["b"])
    assert json.loads(session.log.path.read_text())["chats"][session.log.chat_id]["metadata"]["shown_branch"] == leaf_b

    done = [e for e in session.send("Why?") if isinstance(e, Done)][0]
    b_done = [e for e in seen["b"]["events"] if isinstance(e, Done)][0]
    assert done.stats.cached_tokens >= b_done.stats.prompt_tokens  # B's cache: its whole prompt and most of its answer
    saved = {m.id: m for m in session.log.read().messages}
    assert saved[session.last_user_id].parent_id == leaf_b


def test_keeping_a_makes_the_chat_open_on_a(session):
    comparison = Comparison(session, sampling_contender(session, "seeded", temperature=0.8, seed=5))
    run_both(comparison, "Name a city.")
    comparison.keep("a")
    assert session.log.head == comparison.leaf("a")
    reopened = ChatStore(session.log.path.parent).open(session.log.chat_id)
    assert reopened.head == comparison.leaf("a")


def test_a_profile_of_another_model_is_refused_by_name(session, tmp_path, tiny_gpt_oss_dir):
    profiles = tmp_path / "profiles.json"
    profiles.write_text(json.dumps({"oss": {"model": str(tiny_gpt_oss_dir)}}), encoding="utf-8")
    session.profiles_file = str(profiles)
    with pytest.raises(UserError) as caught:
        profile_contender(session, "oss")
    assert caught.value.field == "profile" and "profile oss runs" in str(caught.value)
    with pytest.raises(UserError, match="sampling: "):
        sampling_contender(session, "bad", temperature=-1)

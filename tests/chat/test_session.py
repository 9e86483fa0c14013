"""ChatSession on real models: profile switching, and fitting a long chat into max_context_tokens."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlx_harmony_tui.chat.session import ChatSession
from mlx_harmony_tui.config.resolve import resolve_run_settings
from mlx_harmony_tui.engine.context import fit_context, without_turns
from mlx_harmony_tui.engine.events import Done
from mlx_harmony_tui.engine.prompt import prompt_tokens
from mlx_harmony_tui.errors import UserError


def write_json(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.fixture
def profiles(tmp_path, tiny_gpt_oss_dir) -> Path:
    write_json(tmp_path / "terse.json", {"system_model_identity": "You are terse.", "temperature": 0, "max_tokens": 6})
    write_json(tmp_path / "chatty.json", {"system_model_identity": "You are chatty, {user}.", "placeholders": {"user": "Kim"}, "max_tokens": 9})
    return write_json(tmp_path / "profiles.json", {
        "terse": {"prompt_config": "terse.json"},
        "chatty": {"prompt_config": "chatty.json", "sampling": {"temperature": 0.0}},
        "oss": {"model": str(tiny_gpt_oss_dir), "prompt_config": "terse.json"},
    })


def finish(events) -> Done:
    done = [e for e in events if isinstance(e, Done)]
    assert len(done) == 1
    return done[0]


def test_switching_profiles_keeps_the_conversation_and_reloads_only_for_a_new_model(default_model_dir, profiles):
    session = ChatSession(resolve_run_settings(profile="terse", profiles_file=str(profiles)), profiles_file=str(profiles))
    try:
        first = finish(session.send("Name a fruit."))
        assert first.stats.completion_tokens <= 6
        loaded_before = session.generator.info
        assert session.switch_profile("chatty") is False  # same (default) model: no reload
        assert session.generator.info is loaded_before
        assert session.generator.sampling.max_tokens == 9 and session.settings.profile == "chatty"
        assert session.prompt()[0][0] == {"role": "system", "content": "You are chatty, Kim."}
        second = finish(session.send("And a vegetable?"))
        assert second.stats.cached_tokens > 0  # the chat template's fixed opening is still reused
        assert [m["role"] for m in session.history] == ["user", "assistant", "user", "assistant"]

        assert session.switch_profile("oss") is True  # another model: loaded
        assert session.info.is_gpt_oss
        third = finish(session.send("One more?", max_tokens=4))
        assert third.finish_reason in ("stop", "length", "tool_calls")
        assert [m["role"] for m in session.history][:4] == ["user", "assistant", "user", "assistant"]
        assert session.history[4] == {"role": "user", "content": "One more?"}
        assert "token_ids" in session.history[5]
    finally:
        session.close()


def test_long_chat_drops_oldest_turns_but_keeps_examples_and_the_cache(default_model_dir, tmp_path):
    config = write_json(tmp_path / "pc.json", {
        "system_model_identity": "You answer briefly.",
        "example_dialogues": [[{"role": "user", "content": "Example question"}, {"role": "assistant", "content": "Example answer"}]],
        "max_context_tokens": 400, "max_tokens": 8, "temperature": 0,
    })
    settings = resolve_run_settings(prompt_config=str(config))
    session = ChatSession(settings)
    try:
        seen = []
        for turn in range(8):
            done = finish(session.send(f"Turn {turn}: " + "tell me more about lighthouses and storms " * 6))
            seen.append(done.stats)
            assert done.stats.prompt_tokens + 8 <= 400
        dropped = [s.dropped_turns for s in seen]
        assert dropped[0] == 0 and dropped[-1] > 0 and dropped == sorted(dropped)
        # After a drop the prompt's start stays put, so a turn that drops nothing new reuses the cache again.
        holding = [i for i in range(1, len(seen)) if dropped[i] == dropped[i - 1] > 0]
        assert holding
        assert all(seen[i].cached_tokens > 0.5 * seen[i].prompt_tokens for i in holding)
        messages, _, keep = session.prompt()
        shown = without_turns(messages, keep, dropped[-1])
        rendered = session.generator.call(lambda loaded: loaded.tokenizer.decode(prompt_tokens(loaded, shown)))
        assert "Example question" in rendered and "You answer briefly." in rendered
        assert "Turn 0:" not in rendered and "Turn 7:" in rendered
    finally:
        session.close()


# fit_context with a stand-in for the tokenizer (one token per word), beside the real runs above.
def words(messages):
    return [0] * sum(len(m["content"].split()) for m in messages)


def chat(turns: int) -> list[dict]:
    messages = [{"role": "system", "content": "sys"}, {"role": "user", "content": "ex q"}, {"role": "assistant", "content": "ex a"}]
    for i in range(turns):
        messages += [{"role": "user", "content": f"q{i} " + "w " * 9}, {"role": "assistant", "content": f"a{i} " + "w " * 9}]
    return messages + [{"role": "user", "content": "now"}]


def test_fit_context_drops_to_three_quarters_then_holds():
    messages = chat(10)  # 5 fixed words + 200 + 1
    prompt, dropped = fit_context(messages, words, limit=150, reserve=10, keep=3)
    assert len(prompt) == 86 and dropped == 6  # 206 words; the fewest 20-word turns to get under 3/4 of 140
    grown = chat(11)
    prompt, again = fit_context(grown, words, limit=150, reserve=10, keep=3, already_dropped=dropped)
    assert again == dropped and len(prompt) == 106  # still fits in 140: the same turns stay dropped


def test_fit_context_keeps_system_messages_and_fails_clearly():
    messages = chat(2)
    messages.insert(5, {"role": "system", "content": "mid-chat instruction"})
    kept = without_turns(messages, keep=3, count=2)
    assert {"role": "system", "content": "mid-chat instruction"} in kept and kept[-1]["content"] == "now"
    assert not any(m["content"].startswith(("q0", "q1")) for m in kept)
    with pytest.raises(UserError, match=r"^max_context_tokens: the prompt needs \d+ tokens even without earlier turns"):
        fit_context([{"role": "user", "content": "w " * 50}], words, limit=40, reserve=10)


def test_session_saves_each_completed_message_and_cancelled_answers(default_model_dir, profiles, tmp_path):
    from mlx_harmony_tui.logs.store import ChatStore, read_chat_file

    session = ChatSession(resolve_run_settings(profile="terse", profiles_file=str(profiles)), profiles_file=str(profiles))
    try:
        log = session.start_log(ChatStore(tmp_path / "chats"))
        finish(session.send("Name a fruit."))
        saved = read_chat_file(log.path)[0].active()
        user, answer = saved.messages
        assert user.content == "Name a fruit." and answer.parent_id == user.id
        assert answer.content == session.history[1]["content"] and answer.finish_reason in ("stop", "length")
        assert answer.completion_tokens == session.last_done.stats.completion_tokens and answer.stats["decode_tps"] >= 0
        assert answer.hyperparameters["max_tokens"] == 6 and "".join(c[1] for c in answer.chunks) == answer.content
        assert saved.metadata.profile == "terse" and saved.metadata.prompt_config["system_model_identity"] == "You are terse."

        session.switch_profile("chatty")
        events = []
        for event in session.send("Tell me a long story about the sea.", max_tokens=200):
            events.append(event)
            if sum(1 for e in events if getattr(e, "text", "")) == 3:
                session.generator.cancel()
        assert finish(events).finish_reason == "cancelled"
        saved = read_chat_file(log.path)[0].active()
        assert [m.role for m in saved.messages] == ["user", "assistant", "user", "assistant"]
        assert saved.messages[-1].cancelled is True and saved.messages[-1].finish_reason == "cancelled"
        assert saved.metadata.profile == "chatty" and saved.metadata.last_hyperparameters["max_tokens"] == 200  # as sent
    finally:
        session.close()

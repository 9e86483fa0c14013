"""The chat layer's start-up and its handling of turns the engine refuses, on the real default model."""

from __future__ import annotations

import json

import pytest

from mlx_harmony_tui.chat.export import export_chat
from mlx_harmony_tui.chat.session import ChatSession, TurnFailed
from mlx_harmony_tui.chat.startup import StartOptions, list_profiles, load_app_settings, run_settings, start_chat
from mlx_harmony_tui.config.resolve import resolve_run_settings
from mlx_harmony_tui.config.settings import AppSettings
from mlx_harmony_tui.engine.events import Done
from mlx_harmony_tui.engine.token_tree import common_length
from mlx_harmony_tui.errors import UserError
from mlx_harmony_tui.logs.store import ChatStore, read_chat_file

LONG = "Tell me everything about lighthouses, storms and the keepers who lived in them. " * 12


def finish(events) -> Done:
    done = [e for e in events if isinstance(e, Done)]
    assert len(done) == 1
    return done[0]


def saved_roles(log) -> list[str]:
    return [m.role for m in read_chat_file(log.path)[0].active().messages]


def test_a_refused_turn_leaves_nothing_in_the_history_or_the_log(default_model_dir, tmp_path):
    session = ChatSession(resolve_run_settings())
    try:
        log = session.start_log(ChatStore(tmp_path / "chats"))
        session.update_sampling(temperature=0.0, max_tokens=4)
        finish(session.send("Hi."))
        before, head = list(session.history), log.head
        session.set_max_context_tokens(60)
        with pytest.raises(TurnFailed) as failed:
            list(session.send(LONG))
        assert failed.value.text == LONG  # given back for editing
        assert str(failed.value).startswith("max_context_tokens: the prompt needs ")
        assert session.history == before and log.head == head
        assert saved_roles(log) == ["user", "assistant"]

        session.set_max_context_tokens(None)
        finish(session.send("Bye."))
        messages = read_chat_file(log.path)[0].active().messages
        assert [m.role for m in messages] == ["user", "assistant", "user", "assistant"]
        assert messages[2].parent_id == messages[1].id  # the next turn continues the conversation as it was
    finally:
        session.close()


def test_start_chat_applies_settings_profile_and_flags(default_model_dir, tmp_path):
    profiles = tmp_path / "profiles.json"
    profiles.write_text(json.dumps({"brief": {"sampling": {"temperature": 0.2, "max_tokens": 5, "presence_penalty": 0.4}}}))
    options = StartOptions(profiles_file=str(profiles), sampling={"max_tokens": 7})
    session, notes = start_chat(options, AppSettings(default_profile="brief", tool_approval="deny"))
    try:
        assert session.settings.profile == "brief" and notes == []
        s = session.sampling
        assert (s.temperature, s.max_tokens, s.presence_penalty) == (0.2, 7, 0.4)  # the flag wins over the profile
        assert session.tools.options.approval == "deny"  # the settings' policy
        assert session.log is not None and not session.log.path.exists()  # written with the first message
    finally:
        session.close()
    # A non-interactive run (generate) takes no default profile, and a profiles file needs --profile there.
    assert run_settings(StartOptions(interactive=False), AppSettings(default_profile="brief")).profile is None
    with pytest.raises(UserError, match="--profiles-file"):
        run_settings(StartOptions(profiles_file=str(profiles), interactive=False), AppSettings())


def test_cache_budget_from_settings_bounds_what_other_conversations_keep(default_model_dir):
    def returning_turn(budget_mb: int) -> tuple[int, int]:
        """The returning turn's cached tokens, and how many of its prompt's tokens the other conversation's share."""
        session, _ = start_chat(StartOptions(sampling={"temperature": 0.0, "max_tokens": 4}),
                                AppSettings(cache_budget_mb=budget_mb, disk_cache_mb=0))  # memory only: the disk would serve it
        try:
            finish(session.send("Name a fruit."))
            first = session.generator.use_conversation(None)  # another conversation meanwhile
            other = finish(session.generator.stream(messages=[{"role": "user", "content": "Name a colour."}]))
            session.generator.use_conversation(first)
            back = finish(session.send("And a vegetable?"))
            return back.stats.cached_tokens, common_length(back.prompt_ids, other.prompt_ids)
        finally:
            session.close()

    cached, shared = returning_turn(0)
    assert cached == shared  # no room beyond the newest cache: only what it shares with the other conversation
    cached, shared = returning_turn(512)
    assert cached > shared + 10  # its own first turn was kept
def test_damaged_settings_and_profiles_are_reported_not_fatal(tmp_path, monkeypatch):
    config = tmp_path / "config"
    config.mkdir()
    (config / "settings.json").write_text('{"theme": "harmony-dark",', encoding="utf-8")
    monkeypatch.setenv("MLX_HARMONY_CONFIG_DIR", str(config))
    settings, problems = load_app_settings()
    assert settings == AppSettings() and len(problems) == 1
    assert str(config / "settings.json") in problems[0] and problems[0].endswith("(using default settings)")
    assert (config / "settings.json").read_text(encoding="utf-8") == '{"theme": "harmony-dark",'  # left as it was

    broken = tmp_path / "profiles.json"
    broken.write_text("{not json", encoding="utf-8")
    profiles, problems = list_profiles(str(broken))
    assert profiles == {} and len(problems) == 1 and str(broken) in problems[0]


def test_export_writes_the_shown_branch_or_the_whole_chat(default_model_dir, tmp_path):
    session = ChatSession(resolve_run_settings())
    try:
        log = session.start_log(ChatStore(tmp_path / "chats"))
        session.update_sampling(temperature=0.0, max_tokens=4)
        finish(session.send("First question."))
        session.take_back()
        finish(session.send("Second question."))  # a branch beside the first
        markdown = export_chat(log, "md", folder=tmp_path, head=log.head)
        asked = [part.split("\n\n")[1] for part in markdown.read_text(encoding="utf-8").split("## User")[1:]]
        assert asked == ["Second question."]  # the shown branch only (the title still names the chat's first message)
        whole = json.loads(export_chat(log, "json", folder=tmp_path).read_text(encoding="utf-8"))
        contents = [m["content"] for chat in whole["chats"].values() for m in chat["messages"]]
        assert "First question." in contents and "Second question." in contents
        blocked = tmp_path / "a-file"
        blocked.write_text("not a folder")
        with pytest.raises(UserError, match="not written"):
            export_chat(log, "md", folder=blocked)
    finally:
        session.close()

"""The log browser, replay, re-run and branches, driven by the Pilot on real files and the real default model."""

from __future__ import annotations

import json

from mlx_harmony_tui.config.settings import AppSettings
from mlx_harmony_tui.logs.branches import leaves
from mlx_harmony_tui.logs.schema import ChatMetadata, Message
from mlx_harmony_tui.logs.store import ChatStore, read_chat_file
from mlx_harmony_tui.tui.app import HarmonyApp, StartOptions
from mlx_harmony_tui.tui.screens.log_browser import LogBrowser
from mlx_harmony_tui.tui.screens.replay import ReplayScreen
from mlx_harmony_tui.tui.screens.rerun import RerunScreen, answer_diff
from mlx_harmony_tui.tui.widgets import AssistantTurn, ChatInput, UserTurn

from .test_app import SIZE, ready, run_async, send, wait_for


def make_chat(store: ChatStore, title: str, pairs: list[tuple[str, str]], model: str = "/models/alpha", **meta):
    log = store.create(ChatMetadata(model_path=model, last_model_path=model, **meta))
    for question, answer in pairs:
        log.append(Message(role="user", content=question))
        log.append(Message(role="assistant", content=answer, chunks=[[0.1, answer[: len(answer) // 2], "final"], [0.3, answer[len(answer) // 2 :], "final"]]),
                   hyperparameters={"temperature": 0.3, "top_p": 0.9, "max_tokens": 12})
    log.rename(title)
    return log


def fill_store(root) -> ChatStore:
    store = ChatStore(root)
    make_chat(store, "Gardening tips", [("How do I grow tomatoes?", "Full sun and steady watering.")])
    make_chat(store, "Zebra facts", [("Tell me about zebras.", "Zebras are striped horses of Africa.")], model="/models/beta")
    make_chat(store, "Astronomy", [("What is a quasar?", "A very bright galactic nucleus; the word xylophonic never mattered.")])
    (root / "broken.json").write_text('{"schema_version": 2, "chats": {', encoding="utf-8")
    return store


async def open_browser(pilot, app) -> LogBrowser:
    await pilot.press("ctrl+o")
    await wait_for(pilot, lambda: isinstance(app.screen, LogBrowser) and app.screen.listed_s is not None)
    return app.screen


async def type_filter(pilot, browser: LogBrowser, text: str) -> None:
    box = browser.query_one("#browser-filter")
    box.value = text
    await wait_for(pilot, lambda: browser.hits_query == text or browser.search_s is not None and browser.hits_query == text, 10)


@run_async
async def test_browser_lists_filters_searches_previews_and_marks_damaged(default_model_dir, tmp_path, monkeypatch):
    store = fill_store(ChatStore().root)
    monkeypatch.chdir(tmp_path)
    app = HarmonyApp(StartOptions(), AppSettings(export_dir=str(tmp_path / "exports")))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        browser = await open_browser(pilot, app)
        titles = {s.title for s in browser.rows}
        assert {"Gardening tips", "Zebra facts", "Astronomy"} <= titles
        damaged = [s for s in browser.rows if s.damaged]
        assert len(damaged) == 1 and "not valid JSON" in damaged[0].damaged

        browser.query_one("#browser-filter").value = "zebra"  # matches a title at once
        await wait_for(pilot, lambda: [s.title for s in browser.rows] == ["Zebra facts"])

        await type_filter(pilot, browser, "xylophonic")  # only in one answer of one log
        assert list(browser.hits) and [s.title for s in browser.rows] == ["Astronomy"]
        await wait_for(pilot, lambda: "found:" in str(browser.query_one("#preview-text").render()))
        assert "xylophonic" in str(browser.query_one("#preview-text").render())

        await type_filter(pilot, browser, "")
        from mlx_harmony_tui.tui.commands import ScreenActions

        entries = {name: callback for name, callback, _ in ScreenActions(browser)._commands()}
        assert {"Open", "Replay", "Re-run", "Rename", "Delete", "Export .md", "Export .json", "Check"} <= set(entries)
        await entries["Sort model"]()  # a palette entry runs the same action as its key
        assert browser.sort_key == "model"
        await pilot.press("f10")  # sort by title, A to Z
        named = [s.title for s in browser.rows if s.title]
        assert named == sorted(named, key=str.lower)

        broken_row = [s.file for s in browser.rows].index("broken.json")
        browser.query_one("DataTable").move_cursor(row=broken_row)
        await pilot.press("f7")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "Report")
        assert "not valid JSON" in str(app.screen.body)
        await pilot.press("escape")
        assert (store.root / "broken.json").read_text() == '{"schema_version": 2, "chats": {'  # untouched

        browser.query_one("DataTable").move_cursor(row=[s.title for s in browser.rows].index("Gardening tips"))
        await pilot.press("f2")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "TextPrompt")
        app.screen.query_one("Input").value = "Tomatoes"
        await pilot.press("enter")
        await wait_for(pilot, lambda: "Tomatoes" in [s.title for s in browser.rows])

        browser.query_one("DataTable").move_cursor(row=[s.title for s in browser.rows].index("Zebra facts"))
        zebra_file = browser.current.file
        await pilot.press("f3")  # export as Markdown into the export folder of the settings
        exported = list((tmp_path / "exports").glob("chat-*.md"))
        assert len(exported) == 1 and "Zebras are striped" in exported[0].read_text()
        await wait_for(pilot, lambda: f"Exported to {exported[0]}" in [n.message for n in app._notifications], 10)
        await pilot.press("f8")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "Confirm")
        await pilot.press("y")
        await wait_for(pilot, lambda: "Zebra facts" not in [s.title for s in browser.rows])
        assert not (store.root / zebra_file).exists() and (store.root.parent / "trash" / zebra_file).is_file()

        browser.query_one("DataTable").move_cursor(row=[s.title for s in browser.rows].index("Astronomy"))
        await pilot.press("enter")  # open and continue
        await wait_for(pilot, lambda: app.screen is not browser and app.session.history and app.status.state == "ready")
        assert [m["content"] for m in app.session.history][0] == "What is a quasar?"
        assert [w.text for w in app.query(UserTurn)] == ["What is a quasar?"]
        assert app.session.generator.sampling.temperature == 0.3 and app.session.generator.sampling.top_p == 0.9
        notes = [n.message for n in app._notifications]
        assert any("/models/alpha is missing" in n for n in notes)  # the log's model is gone: said, not hidden


@run_async
async def test_replay_plays_at_the_recorded_pace_pauses_steps_and_speeds_up(default_model_dir):
    store = ChatStore()
    log = store.create()
    log.append(Message(role="user", content="Count to three."))
    log.append(Message(role="assistant", content="one two three", analysis="Simple.",
                       chunks=[[0.2, "Simple.", "analysis"], [0.6, "one ", "final"], [1.4, "two ", "final"], [2.2, "three", "final"]]))
    log.append(Message(role="user", content="And back?"))
    log.append(Message(role="assistant", content="three two one " * 20))  # no timings: a steady pace
    app = HarmonyApp(StartOptions(), AppSettings())
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        app._replay(log.path)
        await wait_for(pilot, lambda: isinstance(app.screen, ReplayScreen))
        replay = app.screen
        await wait_for(pilot, lambda: replay.query(AssistantTurn) and replay.query(AssistantTurn).first().answer_text == "one ", 10)
        turn = replay.query(AssistantTurn).first()
        assert turn.reasoning_text == "Simple." and replay.position == 1  # mid-turn: part of the answer is out
        await pilot.press("space")
        shown = turn.answer_text
        await pilot.pause(1.0)
        assert replay.paused and turn.answer_text == shown  # paused: nothing moves
        await pilot.press("n")  # step: the rest of this answer at once, then hold
        await wait_for(pilot, lambda: replay.position == 2)
        assert turn.answer_text == "one two three" and replay.paused
        await pilot.pause(0.5)
        assert replay.position == 2
        await pilot.press("0")
        assert replay.speed == 10.0
        await pilot.press("space")
        await wait_for(pilot, lambda: replay.finished, 30)
        turns = list(replay.query(AssistantTurn))
        assert [t.answer_text for t in turns] == ["one two three", "three two one " * 20]
        assert [u.text for u in replay.query(UserTurn)] == ["Count to three.", "And back?"]
        await pilot.press("escape")
        assert not isinstance(app.screen, ReplayScreen)


@run_async
async def test_rerun_shows_both_answers_and_saves_a_new_branch(default_model_dir):
    store = ChatStore()
    log = make_chat(store, "Capitals", [("What is the capital of France? Answer in one sentence.", "It is Lyon."),
                                        ("And of Italy?", "Rome.")])
    before = read_chat_file(log.path)[0].active()
    app = HarmonyApp(StartOptions(), AppSettings())
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        app.session.update_sampling(temperature=0.0, max_tokens=12)
        live_conversation = app.session.generator.conversation_id
        app._rerun(log.path)
        await wait_for(pilot, lambda: isinstance(app.screen, RerunScreen))
        rerun = app.screen
        await wait_for(pilot, lambda: not rerun.running, 300)
        assert rerun.done == 2
        new = [t.answer_text for t in rerun.new_answers]
        assert "Paris" in new[0] and all(new)
        diff = _rendered(rerun.query_one("#diff-0").content)[0]
        assert "Lyon" in diff and "alike" in diff
        await pilot.press("escape")
        assert not app.busy and app.session.generator.conversation_id == live_conversation
    after = read_chat_file(log.path)[0].active()
    assert [m.model_dump() for m in after.messages[: len(before.messages)]] == [m.model_dump() for m in before.messages]
    branch_ends = leaves(after)
    assert len(branch_ends) == 2
    new_branch = after.messages[len(before.messages):]
    assert [m.role for m in new_branch] == ["user", "assistant", "user", "assistant"]
    assert new_branch[0].parent_id == before.messages[0].parent_id  # beside the original, from the same root


def _rendered(renderable) -> tuple[str, dict[str, str]]:
    """The diff as a person reads it (text, rows as drawn) and each word's style."""
    from rich.console import Console

    console = Console(width=80, record=True)
    segments = list(console.render(renderable))
    styles = {seg.text.strip(): " ".join(sorted(str(seg.style).split())) for seg in segments if seg.text.strip()}
    console.print(renderable)
    return console.export_text(), styles


def test_answer_diff_marks_removed_and_added_words():
    text, styles = _rendered(answer_diff("the capital is Lyon", "the capital is Paris"))
    assert styles["Lyon"] == "red strike" and styles["Paris"] == "green" and "75% alike" in text


def test_answer_diff_keeps_code_blocks_as_blocks():
    old = "Use this:\n\n```python\ndef area(r):\n    return 3 * r * r\n```\n\nIt is rough."
    new = "Use this:\n\n```python\ndef area(r):\n    return 3.14 * r * r\n```\n\nIt is close."
    text, styles = _rendered(answer_diff(old, new))
    rows = [row.rstrip() for row in text.splitlines()]
    assert "```" not in text and "Use this:" in rows  # the prose is a paragraph of its own, the fences are gone
    assert "    def area(r):" in rows  # the code keeps its lines and indentation, set off as a block
    assert "  -     return 3 * r * r" in rows and "  +     return 3.14 * r * r" in rows  # changed lines, one per row
    assert styles["-     return 3 * r * r"] == "red strike" and styles["+     return 3.14 * r * r"] == "green"
    assert styles["rough."] == "red strike" and styles["close."] == "green"


@run_async
async def test_editing_an_earlier_message_makes_a_branch_and_versions_switch(default_model_dir):
    app = HarmonyApp(StartOptions(), AppSettings())
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        app.session.update_sampling(temperature=0.0, max_tokens=4)
        for text in ("First question.", "Second question."):
            await send(pilot, app, text)
            await wait_for(pilot, lambda: not app.busy and len(app.session.history) >= 2)
        await wait_for(pilot, lambda: len(app.session.history) == 4)
        first = app.query(UserTurn).first()
        first.focus()
        await pilot.press("e")
        assert app.query_one(ChatInput).text == "First question." and len(app.session.history) == 4  # taken back once sent
        await send(pilot, app, "First question, edited.")
        await wait_for(pilot, lambda: not app.busy and len(app.session.history) == 2)
        await wait_for(pilot, lambda: app.query(UserTurn).first().versions == (2, 2))
        chat = app.session.log.read()
        assert len(leaves(chat)) == 2

        turn = app.query(UserTurn).first()
        turn.focus()
        await pilot.press("left")  # back to the first version, with everything that followed it
        await wait_for(pilot, lambda: [w.text for w in app.query(UserTurn)] == ["First question.", "Second question."])
        assert [m["content"] for m in app.session.history if m["role"] == "user"] == ["First question.", "Second question."]
        await wait_for(pilot, lambda: app.query(UserTurn).first().versions == (1, 2))
        await send(pilot, app, "Third question.")  # continues the branch that is shown
        await wait_for(pilot, lambda: not app.busy and len(app.session.history) == 6)
        saved = app.session.log.read()
        third = [m for m in saved.messages if m.content == "Third question."][0]
        second_answer = [m for m in saved.messages if m.id == third.parent_id][0]
        assert second_answer.role == "assistant"
        assert [m for m in saved.messages if m.id == second_answer.parent_id][0].content == "Second question."
        md = json.dumps([m.content for m in saved.messages])
        assert "First question, edited." in md  # the other branch is still saved

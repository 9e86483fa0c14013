"""The first hour (issue 28) through Textual's Pilot: a comparison nobody chose from, ctrl+e, focus, slider bursts.

The tests that answer use the real default model; answers are kept short.
"""

from __future__ import annotations

import json
from pathlib import Path

from textual import events

from mlx_harmony_tui.config.settings import AppSettings
from mlx_harmony_tui.logs.store import read_chat_file
from mlx_harmony_tui.tui.app import HarmonyApp, StartOptions
from mlx_harmony_tui.tui.screens.log_browser import LogBrowser
from mlx_harmony_tui.tui.screens.pickers import ComparePicker
from mlx_harmony_tui.tui.screens.replay import ReplayScreen
from mlx_harmony_tui.tui.widgets import AssistantTurn, ChatInput, Slider, UserTurn
from mlx_harmony_tui.tui.widgets.compare_turn import CompareTurn
from tests.tui.test_app import SIZE, last_turn, ready, run_async, send, wait_for
from tests.tui.test_snapshots import StillApp
from tests.tui.test_together import no_end


async def compare_next(pilot, app, label: str) -> None:
    """ctrl+t, and the contender whose label holds ``label``."""
    await pilot.press("ctrl+t")
    await wait_for(pilot, lambda: isinstance(app.screen, ComparePicker) and bool(app.screen.query("OptionList")))
    picker = app.screen
    picker.query_one("OptionList").highlighted = next(i for i, text in enumerate(picker.labels) if label in text)
    await pilot.press("enter")
    await wait_for(pilot, lambda: app.chat.compare_next is not None and not isinstance(app.screen, ComparePicker))


async def compared(pilot, app, question: str) -> CompareTurn:
    """Ask ``question`` with a comparison armed; the comparison once both answers are in."""
    await send(pilot, app, question)
    await wait_for(pilot, lambda: bool(app.query(CompareTurn)) and not app.busy)
    return list(app.query(CompareTurn))[-1]


def typed(pilot, text: str):
    """Type ``text`` key by key."""
    return pilot.press(*text)


# --- item 1: ctrl+n after a comparison nobody chose from ------------------------------------------------


@run_async
async def test_a_new_chat_after_an_undecided_comparison_answers_the_next_question(default_model_dir):
    app = HarmonyApp(StartOptions(), AppSettings())
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        app.session.update_sampling(temperature=0.0, max_tokens=8)
        await compare_next(pilot, app, "temperature 0.5")
        view = await compared(pilot, app, "Name a colour.")
        assert view.query_one(".compare-keep").has_class("offered")
        first_log = app.session.log

        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: app.session.log is not first_log and not app.query(CompareTurn))
        await send(pilot, app, "Name a fruit.")
        await wait_for(pilot, lambda: not app.busy and bool(app.query(AssistantTurn)))
        assert app.is_running and [t.text for t in app.query(UserTurn)] == ["Name a fruit."]
        assert last_turn(app).answer_text and app.session.history[-1]["role"] == "assistant"
        saved = read_chat_file(first_log.path)[0].active()
        assert saved.metadata.shown_branch == first_log.head  # the old chat stays on A

        app.query_one(UserTurn).focus()  # what has the focus goes with the chat
        await pilot.pause()
        await pilot.press("ctrl+n")
        box = app.query_one(ChatInput)
        await wait_for(pilot, lambda: not app.query(UserTurn) and box.has_focus, 10)  # the new chat's message box


# --- item 2 and focus: a finished answer or comparison gives the message box the focus ---------------------


@run_async
async def test_focus_returns_to_the_box_when_an_answer_or_a_comparison_ends_and_typing_asks_the_next_question(default_model_dir):
    app = HarmonyApp(StartOptions(), AppSettings())
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        app.session.update_sampling(temperature=0.0, max_tokens=400, logit_bias=no_end(app))
        box = app.query_one(ChatInput)
        await send(pilot, app, "Count to a hundred.")
        await wait_for(pilot, lambda: len(last_turn(app).answer_text) > 5)
        slider = app.query_one("#slider-max_tokens", Slider)
        slider.focus()  # the user moves a slider while the answer streams: max tokens down to the lowest
        await pilot.press("home")
        await wait_for(pilot, lambda: not app.busy)
        assert last_turn(app).footer_text.startswith("length")  # the answer ended there
        await wait_for(pilot, lambda: box.has_focus, 10)

        app.session.update_sampling(max_tokens=8)
        await compare_next(pilot, app, "temperature 0.5")
        view = await compared(pilot, app, "Name a river.")
        await wait_for(pilot, lambda: view.query_one(".compare-keep").has_class("offered"), 10)
        assert box.has_focus  # the choice is offered; the focus stays where the next question is typed
        a_answer = view.answers["a"].answer_text

        await typed(pilot, "Why?")
        await pilot.press("enter")  # a new question without a choice: asked, and the chat goes on from A
        await wait_for(pilot, lambda: not app.busy and list(app.query(UserTurn))[-1].text == "Why?")
        assert view.kept == "a" and not view.query_one(".compare-keep").has_class("offered")
        saved = {m.id: m for m in app.session.log.read().messages}
        assert saved[saved[app.session.last_user_id].parent_id].content == a_answer
        assert box.has_focus


# --- item 3: ctrl+e (and e on a question) can be left with Esc; only a sent edit is a new version ----------


@run_async
async def test_an_edit_changes_nothing_until_it_is_sent_and_esc_gives_the_draft_back(default_model_dir):
    app = HarmonyApp(StartOptions(), AppSettings())
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        app.session.update_sampling(temperature=0.0, max_tokens=8)
        await send(pilot, app, "Name a bird.")
        await wait_for(pilot, lambda: not app.busy)
        await send(pilot, app, "Name a fish.")
        await wait_for(pilot, lambda: not app.busy)
        history, saved = list(app.session.history), len(app.session.log.read().messages)
        box = app.query_one(ChatInput)
        box.text = "a draft"

        await pilot.press("ctrl+e")
        assert box.text == "Name a fish." and box.has_focus
        last_question = list(app.query(UserTurn))[-1]
        assert last_question.has_class("-editing") and "Esc" in app.chat.status.state
        await typed(pilot, " Or two")  # the cursor is at the end of the question
        assert box.text == "Name a fish. Or two"
        assert app.session.history == history and len(app.query(UserTurn)) == 2  # nothing taken back yet

        await pilot.press("escape")
        assert box.text == "a draft" and not last_question.has_class("-editing") and app.chat.status.state == "ready"
        assert app.session.history == history and [t.text for t in app.query(UserTurn)] == ["Name a bird.", "Name a fish."]
        await pilot.press("ctrl+r")  # nothing of the edit lingers: ctrl+r regenerates the question as it was
        await wait_for(pilot, lambda: not app.busy and len(app.session.log.read().messages) == saved + 2)
        assert [m["content"] for m in app.session.history if m["role"] == "user"] == ["Name a bird.", "Name a fish."]

        box.text = ""
        first = list(app.query(UserTurn))[0]
        first.focus()
        await pilot.press("e")  # e on an earlier question: the same, from there
        assert box.text == "Name a bird." and first.has_class("-editing")
        await pilot.press("escape")
        assert box.text == "" and len(app.query(UserTurn)) == 2 and len(app.session.log.read().messages) == saved + 2

        first.focus()
        await pilot.press("e")
        box.text = "Name a cat."
        await pilot.press("enter")  # sent: now it is a new version, and what followed the old one goes with it
        await wait_for(pilot, lambda: not app.busy and len(app.session.log.read().messages) == saved + 4)
        assert [t.text for t in app.query(UserTurn)] == ["Name a cat."]
        await wait_for(pilot, lambda: app.query_one(UserTurn).versions == (2, 2), 10)


# --- item 4: a comparison nobody chose from is A everywhere ---------------------------------------------------


@run_async
async def test_an_undecided_comparison_is_a_in_the_preview_the_export_a_reopened_chat_and_a_replay(default_model_dir, tmp_path):
    profiles = tmp_path / "profiles.json"
    profiles.write_text(json.dumps({"long": {"prompt_config": "long.json"}}), encoding="utf-8")
    long_config = {"temperature": 0.0, "max_tokens": 48}
    (tmp_path / "long.json").write_text(json.dumps(long_config), encoding="utf-8")
    app = HarmonyApp(StartOptions(profiles_file=str(profiles)), AppSettings())
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        app.session.update_sampling(temperature=0.0, max_tokens=16)
        long_config["logit_bias"] = no_end(app)  # B writes on after A has stopped (the end tokens are the model's)
        (tmp_path / "long.json").write_text(json.dumps(long_config), encoding="utf-8")
        await compare_next(pilot, app, "profile long")
        view = await compared(pilot, app, "Tell me about the sea.")
        a, b = view.answers["a"].answer_text, view.answers["b"].answer_text
        assert b.startswith(a.rstrip()) and len(b) > len(a)  # B said more: its answer was saved last
        path, chat_id = app.session.log.path, app.session.log.chat_id

        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: isinstance(app.screen, LogBrowser) and a.strip()[-20:] in preview(app), 30)
        assert b.strip()[-20:] not in preview(app)
        await pilot.press("f3")
        await wait_for(pilot, lambda: any("Exported to" in n.message for n in app._notifications), 10)
        note = next(n.message for n in app._notifications if "Exported to" in n.message)
        markdown = Path(note.split("Exported to ", 1)[1].strip()).read_text(encoding="utf-8")
        assert markdown.rstrip().endswith(a.strip()) and b.strip()[-20:] not in markdown

        await pilot.press("enter")  # open it again, as resuming does
        await wait_for(pilot, lambda: not isinstance(app.screen, LogBrowser) and not app.query(CompareTurn)
                       and app.chat.status.state == "ready")
        assert app.session.history[-1]["content"] == a and last_turn(app).answer_text == a
        assert app.session.sampling.max_tokens == 16 and app.query_one("#slider-max_tokens", Slider).value == 16  # A's, not B's 48

        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: app.session.log.chat_id != chat_id)
        app._replay(path)  # as F5 in the log browser does, from another chat
        await wait_for(pilot, lambda: isinstance(app.screen, ReplayScreen) and bool(app.screen.query("#replay-conversation")))
        replay = app.screen
        await pilot.press("i")
        await wait_for(pilot, lambda: replay.finished, 30)
        assert list(replay.query(AssistantTurn))[-1].answer_text == a


def preview(app) -> str:
    return str(app.screen.query_one("#preview-text").render())


# --- item 5: ↑/↓ pressed quickly or held move the slider selection once per press ---------------------------------


@run_async
async def test_a_burst_of_up_or_down_keys_moves_through_the_sliders_one_per_press():
    app = StillApp(StartOptions(), AppSettings())
    async with app.run_test(size=SIZE) as pilot:
        sliders = list(app.query(Slider))
        sliders[0].focus()
        await pilot.pause()

        def burst(key: str, times: int) -> None:  # as a held key arrives: all queued before the first is handled
            for _ in range(times):
                app.post_message(events.Key(key, None))

        burst("down", 9)
        await wait_for(pilot, lambda: app.focused is sliders[9], 10)
        assert sliders[9].spec.field == "max_tokens"
        burst("up", 3)
        await wait_for(pilot, lambda: app.focused is sliders[6], 10)
        before = sliders[6].value
        burst("right", 2)
        await wait_for(pilot, lambda: sliders[6].value > before, 10)
        await pilot.pause()
        assert sliders[6].value == before + 2 * sliders[6].spec.step
        burst("down", 20)  # past the last slider: it stays on the last one
        await wait_for(pilot, lambda: app.focused is sliders[-1], 10)

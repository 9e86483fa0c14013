"""Several generations at once in the app, on the real default model: compare (two answers to one question,
keep one), a re-run beside the chat, and the status bar counting what runs."""

from __future__ import annotations

from mlx_harmony_tui.chat.branches import message_versions
from mlx_harmony_tui.config.settings import AppSettings
from mlx_harmony_tui.logs.schema import Message
from mlx_harmony_tui.logs.store import ChatStore
from mlx_harmony_tui.tui.app import HarmonyApp, StartOptions
from mlx_harmony_tui.tui.screens.pickers import ComparePicker
from mlx_harmony_tui.tui.screens.rerun import RerunScreen
from mlx_harmony_tui.tui.widgets import AssistantTurn, ChatInput, StatusBar, UserTurn
from mlx_harmony_tui.tui.widgets.compare_turn import CompareTurn
from tests.tui.test_app import SIZE, last_turn, ready, run_async, send, wait_for


def no_end(app) -> dict[int, float]:
    """A logit bias that keeps answers going to max_tokens (so two of them surely overlap)."""
    return {int(i): -100.0 for i in app.session.generator.tokenizer.eos_token_ids}


@run_async
async def test_compare_answers_twice_at_once_and_keeping_b_goes_on_from_b(default_model_dir):
    app = HarmonyApp(StartOptions(), AppSettings())
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        app.session.update_sampling(temperature=0.0, max_tokens=40, logit_bias=no_end(app))
        await send(pilot, app, "Name a colour.")
        await wait_for(pilot, lambda: not app.busy)

        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: isinstance(app.screen, ComparePicker))
        picker = app.screen
        wanted = next(i for i, label in enumerate(picker.labels) if "temperature 0.5" in label)
        options = picker.query_one("OptionList")
        options.highlighted = wanted
        await pilot.press("enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, ComparePicker))
        assert app.chat.compare_next.label == "same prompt, temperature 0.5"
        assert "compare with" in app.query_one(StatusBar).state

        counts = set()  # every value the status bar's count takes (the pilot's key press may return only when both are done)
        app.watch(app.query_one(StatusBar), "running", lambda value: counts.add(value))
        await send(pilot, app, "Name an animal.")
        await wait_for(pilot, lambda: "2 generating" in counts or bool(app.query(CompareTurn)) and not app.busy)
        await wait_for(pilot, lambda: not app.busy)
        assert "2 generating" in counts  # both answers were decoding at once, and the status bar said so
        view = app.query_one(CompareTurn)
        a, b = view.answers["a"].answer_text, view.answers["b"].answer_text
        assert a and b
        await wait_for(pilot, lambda: view.query_one(".compare-keep").has_class("offered"), 10)  # the choice is offered
        assert app.focused is app.query_one(ChatInput)  # and the next question can be typed at once

        await pilot.click("#keep-b")
        await wait_for(pilot, lambda: view.kept == "b" and not app.query(CompareTurn))
        assert last_turn(app).answer_text.strip() == b.strip()  # the chat now shows B as its answer
        assert app.session.history[-1]["content"] == b
        versions = message_versions(app.session.log)
        question = list(app.query(UserTurn))[-1]
        saved = {m.id: m for m in app.session.log.read().messages}
        assert question.log_id == saved[app.session.log.head].parent_id  # the question as B was asked it
        assert versions[question.log_id][1] == 2  # A stays in the log as the question's other version

        app.session.update_sampling(max_tokens=8)
        await send(pilot, app, "Why that one?")
        await wait_for(pilot, lambda: not app.busy)
        saved = {m.id: m for m in app.session.log.read().messages}
        assert saved[saved[app.session.last_user_id].parent_id].content == b  # the next question went on from B


@run_async
async def test_a_rerun_runs_beside_the_chat_which_answers_meanwhile(default_model_dir):
    store = ChatStore()
    log = store.create()
    for question in ("Count from one to twenty in words.", "Now count back down to one."):
        log.append(Message(role="user", content=question))
        log.append(Message(role="assistant", content="(old answer)"))
    app = HarmonyApp(StartOptions(), AppSettings())
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        app.session.update_sampling(temperature=0.0, max_tokens=60, logit_bias=no_end(app))
        app._rerun(log.path)
        await wait_for(pilot, lambda: isinstance(app.screen, RerunScreen))
        rerun = app.screen
        await pilot.press("escape")  # back to the chat; the re-run goes on
        assert not isinstance(app.screen, RerunScreen) and rerun.running and not app.busy

        counts = set()
        await send(pilot, app, "Name a fruit.")
        await wait_for(pilot, lambda: app.busy)  # the key press has reached the app
        while app.busy:
            counts.add(app.query_one(StatusBar).running)
            await pilot.pause(0.05)
        assert last_turn(app).answer_text and isinstance(last_turn(app), AssistantTurn)
        assert "2 generating" in counts and rerun.running  # the chat answered while the re-run ran

        await pilot.press("ctrl+g")
        assert app.screen is rerun
        await wait_for(pilot, lambda: not rerun.running, 300)
        assert rerun.done == 2 and all(t.answer_text for t in rerun.new_answers)
        await pilot.press("escape")
        assert app._rerun_screen is None  # a finished re-run closes for good
        await wait_for(pilot, lambda: app.query_one(StatusBar).running == "")

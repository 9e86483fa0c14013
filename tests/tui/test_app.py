"""The app driven by Textual's Pilot, on the real default model and the tiny GPT-OSS model."""

from __future__ import annotations

import asyncio
import functools
import time

import pytest

from mlx_harmony_tui.config.settings import AppSettings
from mlx_harmony_tui.logs.store import read_chat_file
from mlx_harmony_tui.tui.app import HarmonyApp, StartOptions
from mlx_harmony_tui.tui.screens.approval import ToolApproval
from mlx_harmony_tui.tui.widgets import AssistantTurn, ChatInput, Slider, StatusBar, ToolCallsPane, UserTurn

SIZE = (140, 45)


def run_async(test):
    """Run an async test body in its own event loop (no pytest-asyncio needed)."""

    @functools.wraps(test)
    def wrapper(*args, **kwargs):
        return asyncio.run(test(*args, **kwargs))

    return wrapper


async def wait_for(pilot, condition, timeout: float = 120.0) -> None:
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise AssertionError("timed out waiting")
        await pilot.pause(0.05)


async def approval_shown(pilot, app) -> None:
    """Waits until the tool approval window is on screen with its buttons composed (pushing it and composing it are
    two steps: a query or key press between them finds no buttons)."""
    await wait_for(pilot, lambda: isinstance(app.screen, ToolApproval) and bool(app.screen.query("#always")))


async def ready(pilot, app) -> None:
    await wait_for(pilot, lambda: app.session is not None and app.query_one(StatusBar).state == "ready")


async def send(pilot, app, text: str) -> None:
    box = app.query_one(ChatInput)
    box.focus()
    # a screen just closed gives focus back to what had it, later: the Enter must reach the input box
    await wait_for(pilot, lambda: box.has_focus and app.screen is box.screen, 30)
    box.text = text
    await pilot.press("enter")


def last_turn(app) -> AssistantTurn:
    return list(app.query(AssistantTurn))[-1]


@run_async
async def test_ask_see_the_answer_and_find_the_log(default_model_dir):
    app = HarmonyApp(StartOptions(), AppSettings())
    async with app.run_test(size=SIZE) as pilot:
        assert app.query_one(StatusBar).state.startswith("loading")  # first frame before the model is in
        await ready(pilot, app)
        app.session.update_sampling(temperature=0.0, max_tokens=24)
        await send(pilot, app, "What is the capital of France? Answer in one sentence.")
        await wait_for(pilot, lambda: not app.busy)
        turn = last_turn(app)
        assert turn.finished and "Paris" in turn.answer_text
        assert [w.text for w in app.query(UserTurn)] == ["What is the capital of France? Answer in one sentence."]
        assert app.query_one(ChatInput).text == ""
        status = app.query_one(StatusBar)
        assert status.model == "SmolLM2-135M-Instruct" and "tok/s" in status.speed and status.context.split("/")[0].isdigit()
        saved = read_chat_file(app.session.log.path)[0].active()
        assert [m.role for m in saved.messages] == ["user", "assistant"] and "Paris" in saved.messages[1].content

        await pilot.press("ctrl+r")  # regenerate: the same question again, as a branch in the log
        await wait_for(pilot, lambda: not app.busy and last_turn(app).finished)
        assert len(app.query(UserTurn)) == 1 and len(app.query(AssistantTurn)) == 1
        assert [m["role"] for m in app.session.history] == ["user", "assistant"]
        saved = read_chat_file(app.session.log.path)[0].active()
        first_user, first_answer, second_user, second_answer = saved.messages
        assert second_user.parent_id == first_user.parent_id and second_answer.parent_id == second_user.id

        await pilot.press("ctrl+e")  # edit: the question goes into the box; the chat keeps it until the edit is sent
        assert app.query_one(ChatInput).text == "What is the capital of France? Answer in one sentence."
        assert len(app.query(UserTurn)) == 1 and [m["role"] for m in app.session.history] == ["user", "assistant"]


@run_async
async def test_escape_cancels_and_the_cancelled_turn_is_saved(default_model_dir):
    app = HarmonyApp(StartOptions(), AppSettings())
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        app.session.update_sampling(max_tokens=400)
        await send(pilot, app, "Write a very long story about a lighthouse keeper.")
        await wait_for(pilot, lambda: len(last_turn(app).answer_text) > 10)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not app.busy)
        assert last_turn(app).footer_text.startswith("cancelled")
        saved = read_chat_file(app.session.log.path)[0].active()
        assert saved.messages[-1].cancelled is True


@run_async
async def test_slider_change_mid_stream_reaches_the_running_sampler(default_model_dir):
    app = HarmonyApp(StartOptions(), AppSettings())
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        no_end = {int(i): -100.0 for i in app.session.generator.tokenizer.eos_token_ids}  # it must still be running
        app.session.update_sampling(temperature=0.5, max_tokens=300, logit_bias=no_end)
        await send(pilot, app, "List twenty animals, one per line.")
        await wait_for(pilot, lambda: len(last_turn(app).answer_text) > 5)
        slider = app.query_one("#slider-temperature", Slider)
        slider.focus()
        expected = slider.value + 0.1
        await pilot.press("right", "right")  # two fine steps of 0.05
        assert slider.value == pytest.approx(expected)
        engine = app.session.generator._engine
        running = app.session._request  # the running answer's request id
        assert running is not None, "the answer finished before the slider moved"
        with engine._lock:
            sampler = engine._samplers[running]
        assert sampler.params.temperature == pytest.approx(expected)
        assert sampler.params.max_tokens == 300  # only the moved slider's field changed
        await pilot.press("escape")
        await wait_for(pilot, lambda: not app.busy)
        assert app.session.generator.sampling.temperature == pytest.approx(expected)


@run_async
async def test_gpt_oss_reasoning_collapses_tool_call_shows_and_broken_output_notifies(tiny_gpt_oss_dir):
    from mlx_harmony_tui.harmony.vocab import load_encoding
    from tests.support.engine import Script

    enc = load_encoding()
    app = HarmonyApp(StartOptions(model=str(tiny_gpt_oss_dir)), AppSettings())
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        session = app.session
        assert session.info.is_gpt_oss

        def scripted(text: str):
            """Force the next answer to ``text``: wraps the generator's stream with a Script processor."""
            script = enc.encode(text, allowed_special="all")
            original = session.generator.stream

            def stream(*args, **kwargs):
                prompt, harmony, keep = session.prompt()
                from mlx_harmony_tui.harmony.render import harmony_prompt_tokens

                ids = harmony_prompt_tokens(enc, prompt, harmony)  # the prompt's date is the chat's own
                kwargs["max_tokens"] = len(script)
                session.generator.stream = original
                return original(*args, processors=(Script(script, len(ids)),), **kwargs)

            session.generator.stream = stream

        scripted("<|channel|>analysis<|message|>Thinking about capitals.<|end|><|start|>assistant<|channel|>final<|message|>**Paris**.<|return|>")
        await send(pilot, app, "Capital of France?")
        await wait_for(pilot, lambda: not app.busy)
        turn = last_turn(app)
        assert turn.reasoning is not None and turn.reasoning_text == "Thinking about capitals."
        assert turn.reasoning.collapsed and turn.answer_text == "**Paris**."
        await pilot.press("f3")
        assert not turn.reasoning.collapsed

        effort = app.query_one("#effort-select")
        assert effort.display and effort.value == "medium"
        effort.value = "high"  # what choosing it with the keyboard or mouse does
        await wait_for(pilot, lambda: session.reasoning_effort == "high")
        assert session.prompt()[1].reasoning_effort == "high"
        scripted("<|channel|>final<|message|>Rome.<|return|>")
        await send(pilot, app, "Capital of Italy?")
        await wait_for(pilot, lambda: not app.busy)
        saved = read_chat_file(session.log.path)[0].active().messages[-1]
        assert saved.content == "Rome." and saved.hyperparameters["reasoning_effort"] == "high"

        scripted('<|channel|>commentary to=functions.lookup <|constrain|>json<|message|>{"q": "x"}<|call|>')
        await send(pilot, app, "Look it up.")
        await wait_for(pilot, lambda: not app.busy)
        calls = list(app.query_one(ToolCallsPane).query("ToolCallView"))
        assert len(calls) == 1 and calls[0].recipient == "functions.lookup"

        scripted("Plain text with no header.<|end|><|return|>")
        await send(pilot, app, "Say something.")
        await wait_for(pilot, lambda: not app.busy)
        assert last_turn(app).answer_text == "Plain text with no header."
        notes = [n.message for n in app._notifications]
        assert any("malformed" in n and "without a Harmony header" in n for n in notes)


@run_async
async def test_greeting_is_shown_not_sent_and_new_chat_starts_a_new_log(default_model_dir, tmp_path):
    import json

    config = tmp_path / "greet.json"
    config.write_text(json.dumps({"assistant_greeting": "Hello {user}!", "placeholders": {"user": "Sam"}, "temperature": 0, "max_tokens": 8}))
    app = HarmonyApp(StartOptions(prompt_config=str(config)), AppSettings())
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await wait_for(pilot, lambda: [t.answer_text for t in app.query(AssistantTurn)] == ["Hello Sam!"])
        assert app.session.history == []
        first_log = app.session.log.path
        await send(pilot, app, "Hi.")
        await wait_for(pilot, lambda: not app.busy and len(app.session.history) == 2)
        old_conversation = app.session.generator.conversation_id
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: app.session.log.path != first_log and [t.answer_text for t in app.query(AssistantTurn)] == ["Hello Sam!"])
        assert app.session.history == [] and app.session.generator.conversation_id != old_conversation
        assert last_turn(app).answer_text == "Hello Sam!" and not app.query(UserTurn)
        assert app.session.log.path.parent == first_log.parent
        assert [m.role for m in read_chat_file(first_log)[0].active().messages] == ["user", "assistant"]


@run_async
async def test_model_switch_keeps_the_conversation_and_shows_effort_only_for_gpt_oss(default_model_dir, tiny_gpt_oss_dir):
    from mlx_harmony_tui.tui.commands import HarmonyCommands

    app = HarmonyApp(StartOptions(), AppSettings())
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        assert not app.query_one("#effort-select").display  # SmolLM2 has no reasoning effort
        names = [name for name, _, _ in HarmonyCommands(app.screen)._commands()]
        assert "Model: SmolLM2-135M-Instruct (embedded)" in names
        app.session.update_sampling(temperature=0.0, max_tokens=4)
        await send(pilot, app, "Hi.")
        await wait_for(pilot, lambda: not app.busy and len(app.session.history) == 2)
        app.switch_model(str(tiny_gpt_oss_dir))
        await wait_for(pilot, lambda: app.session.info.is_gpt_oss and app.query_one(StatusBar).state == "ready")
        assert app.query_one("#effort-select").display
        assert [m["role"] for m in app.session.history] == ["user", "assistant"]
        assert len(app.query(UserTurn)) == 1 and app.session.settings.model == str(tiny_gpt_oss_dir)


@run_async
async def test_long_chat_keeps_only_recent_turns_on_screen(default_model_dir):
    from mlx_harmony_tui.logs.schema import Message
    from mlx_harmony_tui.logs.store import ChatStore
    from mlx_harmony_tui.tui.widgets.conversation import KEEP_TURNS, SHOW_ON_OPEN

    log = ChatStore().create()
    pairs = KEEP_TURNS  # twice as many messages as the screen keeps
    for i in range(pairs):
        log.append(Message(role="user", content=f"question {i}"))
        log.append(Message(role="assistant", content=f"answer {i}"))
    app = HarmonyApp(StartOptions(chat=log.chat_id), AppSettings())
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await wait_for(pilot, lambda: len(app.query(AssistantTurn)) > 0)
        assert len(app.session.history) == 2 * pairs  # the model still sees the whole conversation
        assert len(app.query(UserTurn)) + len(app.query(AssistantTurn)) == SHOW_ON_OPEN
        assert app.query(UserTurn).first().text == f"question {pairs - SHOW_ON_OPEN // 2}"
        note = app.query_one("#earlier-turns")
        assert f"{2 * pairs - SHOW_ON_OPEN} earlier messages" in str(note.render())
        app.session.update_sampling(temperature=0.0, max_tokens=4)
        app.session.set_max_context_tokens(256)  # this test is about the screen: keep each prompt short on a slow machine
        for i in range((KEEP_TURNS - SHOW_ON_OPEN) // 2 + 1):  # the screen fills up to KEEP_TURNS, then prunes
            await send(pilot, app, f"More {i}.")
            await wait_for(pilot, lambda: not app.busy and app.session.history[-1]["role"] == "assistant" and len(app.session.history) == 2 * (pairs + i + 1))
        assert len(app.query(UserTurn)) + len(app.query(AssistantTurn)) == KEEP_TURNS
        assert f"{2 * pairs - SHOW_ON_OPEN + 2} earlier messages" in str(app.query_one("#earlier-turns").render())
        assert app.query(UserTurn).last().text == f"More {(KEEP_TURNS - SHOW_ON_OPEN) // 2}."
        hidden = 2 * pairs - SHOW_ON_OPEN + 2
        first_shown = pairs - SHOW_ON_OPEN // 2 + 1  # question index of the first user turn on screen
        assert app.query(UserTurn).first().text == f"question {first_shown}"
        await pilot.press("ctrl+l")  # bring back the newest of the messages off screen
        await wait_for(pilot, lambda: app.hidden_turns == hidden - SHOW_ON_OPEN)
        assert app.query(UserTurn).first().text == f"question {first_shown - SHOW_ON_OPEN // 2}"
        assert len(app.query(UserTurn)) + len(app.query(AssistantTurn)) == KEEP_TURNS + SHOW_ON_OPEN
        assert f"{hidden - SHOW_ON_OPEN} earlier messages" in str(app.query_one("#earlier-turns").render())
        app.query_one("#conversation").scroll_home(animate=False)  # where a reader scrolling up finds the note
        await pilot.pause()
        await pilot.click("#earlier-turns")  # a click on the note does the same
        await wait_for(pilot, lambda: app.hidden_turns == hidden - 2 * SHOW_ON_OPEN)
        assert app.query(UserTurn).first().text == f"question {first_shown - SHOW_ON_OPEN}"


@run_async
async def test_a_refused_turn_leaves_no_half_drawn_answer_and_gives_the_text_back(default_model_dir):
    app = HarmonyApp(StartOptions(), AppSettings())
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        app.session.set_max_context_tokens(60)
        text = "Tell me everything about lighthouses, storms and the keepers who lived in them. " * 12
        await send(pilot, app, text)
        await wait_for(pilot, lambda: not app.busy and app.query_one(ChatInput).text)
        assert not app.query(UserTurn) and not app.query(AssistantTurn)  # nothing half-drawn stays
        assert app.query_one(ChatInput).text == text  # the message is back in the box to shorten
        assert app.session.history == []
        assert not app.session.log.path.exists()  # nothing was said, so nothing was saved
        assert any(n.message.startswith("max_context_tokens: the prompt needs") for n in app._notifications)


@run_async
async def test_presence_and_frequency_penalties_have_sliders(default_model_dir):
    app = HarmonyApp(StartOptions(), AppSettings())
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        for field in ("presence_penalty", "frequency_penalty"):
            slider = app.query_one(f"#slider-{field}", Slider)
            slider.focus()
            await pilot.press("right")
            assert getattr(app.session.sampling, field) == pytest.approx(0.05)

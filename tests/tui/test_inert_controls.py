"""Control sequences from a model, a tool or a saved chat are shown as inert text in the app, never sent to the terminal.

The model (the tiny GPT-OSS, scripted through the real generation loop) writes OSC 52 (the clipboard) and OSC 0 (the
window title) into its reasoning and answer and calls python with code that prints them; a saved chat holding them
is opened in the real app in a real pseudo-terminal.
"""

from __future__ import annotations

import re

from mlx_harmony_tui.config.settings import AppSettings
from mlx_harmony_tui.logs.schema import ChatMetadata, Message
from mlx_harmony_tui.logs.store import ChatStore
from mlx_harmony_tui.tools.toolbox import ToolOptions
from mlx_harmony_tui.tui.app import HarmonyApp, StartOptions
from mlx_harmony_tui.tui.widgets import AssistantTurn, ToolCallsPane, UserTurn
from tests.cli.test_terminal_injection import ANSWER, CALL, CLIPBOARD, TITLE
from tests.support.engine import ScriptedSteps
from tests.support.terminal import ScreenTerminal

from .test_app import SIZE, approval_shown, ready, run_async, send, wait_for
from .test_terminal import CTRL_Q, app_terminal

CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # anything but tab and newline
SHOWN_CLIPBOARD, SHOWN_TITLE = r"\x1b]52;c;cHduZWQ=\x07", r"\x1b]0;pwned-title\x07"


async def assert_drawn_inert(pilot, app) -> None:
    """What the screen draws (every widget's text, as Textual renders it) holds no control character."""
    await pilot.pause(0.2)  # laid out and drawn
    drawn = app.export_screenshot()
    found = CONTROL.search(drawn)
    assert found is None, f"a control character is drawn: {drawn[max(found.start() - 60, 0):found.end() + 60]!r}"
    assert "pwned-title" in drawn  # ...and the sequence is on screen, as text


@run_async
async def test_model_and_tool_text_are_shown_with_their_control_characters_written_out(tiny_gpt_oss_dir, enc, tmp_path):
    app = HarmonyApp(StartOptions(model=str(tiny_gpt_oss_dir), tools=ToolOptions(python=True, workspace=tmp_path)), AppSettings())
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        ScriptedSteps(app.session.generator, [enc.encode(s, allowed_special="all") for s in (CALL, ANSWER)])
        await send(pilot, app, f"Show me{TITLE} something.")

        await approval_shown(pilot, app)
        assert TITLE in app.screen.request.preview  # the code asked about holds the raw sequence...
        assert SHOWN_TITLE in app.screen.query_one("#approval-preview Static").content.code  # ...shown written out
        await assert_drawn_inert(pilot, app)
        await pilot.press("y")
        await wait_for(pilot, lambda: not app.busy)

        assert CLIPBOARD + TITLE + "printed" in app.session.history[2]["content"]  # the sandbox printed the real bytes
        (view,) = app.query_one(ToolCallsPane).query("ToolCallView")
        assert str(view.output.render()).startswith(SHOWN_CLIPBOARD + SHOWN_TITLE + "printed")
        turn = list(app.query(AssistantTurn))[-1]
        assert turn.answer_text == rf"Here {SHOWN_CLIPBOARD}it\x9b is.\x07"
        assert turn.reasoning_text == rf"Thinking {SHOWN_TITLE}hard."
        assert app.query_one(UserTurn).text == f"Show me{TITLE} something."  # kept as typed, for editing
        await assert_drawn_inert(pilot, app)


def test_a_saved_chat_with_control_sequences_opens_without_sending_them_to_the_terminal(default_model_dir, tmp_path):
    log = ChatStore(tmp_path / "data" / "chats").create(ChatMetadata(model_path=str(default_model_dir)))
    log.append(Message(role="user", content=f"Hello{TITLE} there"))
    log.append(Message(role="assistant", content=f"Answer {CLIPBOARD}here", analysis=f"Why{TITLE}"))
    term: ScreenTerminal = app_terminal(tmp_path, "--chat", log.chat_id)
    try:
        screen = term.wait_for(lambda text: "Answer" in text and " ready" in text)
        term.type(CTRL_Q)
        assert term.wait_for_exit() == 0
    finally:
        term.close()
    sent = bytes(term.output)
    assert b"\x1b]52;" not in sent and b"\x1b]0;pwned" not in sent and b"\x07here" not in sent
    assert "pwned" not in (term.screen.title or "")
    assert f"Answer {SHOWN_CLIPBOARD}here" in screen and f"Hello{SHOWN_TITLE} there" in screen

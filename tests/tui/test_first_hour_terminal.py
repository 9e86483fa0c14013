"""The first hour of a new user (issue 28), in a real pseudo-terminal on the default model.

One scenario, in the order a person meets things: send and Esc, F2 and a
digit, ctrl+r, ctrl+e then Esc, sliders moved by held keys, a comparison
answered by typing on without choosing, a comparison left undecided, the log
browser's preview, export and replay, ctrl+n then a question, ctrl+q, and
``--chat`` to come back. Each step says what the user would see go wrong;
the steps go on after a failed one where the app still runs, so a failure
lists everything that broke, not only the first thing (on the code before
issue 28 it lists items 1 to 5).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.cli.test_chat_cli import chat_env, chat_logs
from tests.cli.test_generate_cli import _script, write_json
from tests.support.terminal import ScreenTerminal
from tests.tui.test_terminal import CTRL_Q, F2, status_line

ESC, ENTER, TAB = b"\x1b", b"\r", b"\t"
UP, DOWN, RIGHT = b"\x1b[A", b"\x1b[B", b"\x1b[C"
CTRL_E, CTRL_N, CTRL_O, CTRL_R, CTRL_T = b"\x05", b"\x0e", b"\x0f", b"\x12", b"\x14"
F3, F5 = b"\x1bOR", b"\x1b[15~"
BACKSPACE = b"\x7f"
COLUMNS, ROWS = 120, 64  # tall enough for the log browser's preview to show a chat's last eight messages
CHAT_WIDTH = 75  # the conversation and the message box; the sidebar starts at the next column
PLACEHOLDER = "Ask something…"
SUN = "Write a long story about the sun."


class Scenario:
    """The app in a terminal, and what went wrong so far (an entry per failed expectation, with the screen)."""

    def __init__(self, term: ScreenTerminal, problems: list[str]):
        self.term = term
        self.problems = problems

    @property
    def running(self) -> bool:
        return self.term.proc.poll() is None

    def expect(self, item: str, what: str, condition, timeout: float = 60) -> bool:
        """Wait until ``condition(screen text)`` holds; when it does not, note ``what`` the user expected."""
        try:
            self.term.wait_for(condition, timeout)
            return True
        except AssertionError as failure:
            self.problems.append(f"{item}: {what}\n{str(failure).splitlines()[0]}\n{self.term.text()}")
            return False

    def status(self) -> str:
        return status_line(self.term)

    def ready(self, _=None) -> bool:
        return " ready " in self.status()

    def box(self) -> str | None:
        """What the message box holds (empty while it shows its placeholder; None when it is not on screen)."""
        lines = self.term.lines()
        top = max((i for i, line in enumerate(lines) if line.startswith("╭")), default=None)
        if top is None:
            return None
        inside = []
        for line in lines[top + 1:]:
            if line.startswith("╰"):
                break
            inside.append(uncovered(line)[1:CHAT_WIDTH - 1].strip())
        text = "\n".join(inside).strip()
        return "" if text.startswith(PLACEHOLDER) else text

    def click_box(self) -> None:
        """Click into the message box (an SGR mouse press and release, as xterm sends them)."""
        lines = self.term.lines()
        row = max(i for i, line in enumerate(lines) if line.startswith("╭")) + 2  # 1-based: the box's first line
        self.term.type(f"\x1b[<0;10;{row}M\x1b[<0;10;{row}m".encode())

    def highlighted(self) -> str | None:
        """The option of the open list (a picker's) drawn on a background of its own; None when no list is open."""
        shown = {}
        for y, line in enumerate(self.term.lines()):
            found = re.search(r"│  ▊ (.*\S) +▎  │", line)
            if found:
                shown[found.group(1)] = self.term.screen.buffer[y][found.start(1)].bg
        backgrounds = list(shown.values())
        unique = [option for option, bg in shown.items() if backgrounds.count(bg) == 1]
        return unique[0] if len(shown) > 1 and len(unique) == 1 else None

    def conversation(self) -> str:
        """The conversation's words, wrapping undone (what is left of the sidebar, above the message box)."""
        lines = self.term.lines()
        top = max((i for i, line in enumerate(lines) if line.startswith("╭")), default=len(lines))
        return words("\n".join(uncovered(line)[:CHAT_WIDTH] for line in lines[:top]))

    def answers_in(self, text: str) -> int:
        return text.count("stop ·") + text.count("length ·")

    def send(self, text: str) -> None:
        self.term.type(text.encode() + ENTER)


def uncovered(line: str) -> str:
    """``line`` up to where a notification drawn over it begins (its left edge is a "▌")."""
    return line.split("▌", 1)[0]


def slider(screen: str, label: str) -> str:
    """The value the sampling pane shows for the slider ``label``."""
    return screen.split(label, 1)[1].split()[1]


def words(text: str) -> str:
    return " ".join(text.replace("█", " ").replace("▎", " ").split())


def tail(text: str, count: int = 4) -> str:
    return " ".join(text.split()[-count:])


def the_log(path: Path) -> dict:
    data = json.loads(path.read_text(encoding="utf-8"))
    return data["chats"][data["active_chat_id"]]


def sun_answers(chat: dict) -> tuple[str, str]:
    """The undecided comparison's answers, A's and B's (B's profile allows 48 tokens, A's 16)."""
    questions = {m["id"] for m in chat["messages"] if m["role"] == "user" and m["content"] == SUN}
    answers = [m for m in chat["messages"] if m["role"] == "assistant" and m["parent_id"] in questions]
    a, b = sorted(answers, key=lambda m: m["completion_tokens"])
    return a["content"], b["content"]


def shows_a_not_b(text: str, a: str, b: str) -> bool:
    """``text`` ends the chat with answer A, and shows nothing of B's own words (B went on where A stopped)."""
    return tail(words(a)) in words(text) and tail(words(b)) not in words(text)


@pytest.mark.timeout(600)  # two starts and ten answers on the CPU; where the app fails, each expectation waits its time out
def test_the_first_hour_in_a_real_terminal(default_model_dir, tmp_path):
    write_json(tmp_path / "brief.json", {"temperature": 0, "max_tokens": 16})
    write_json(tmp_path / "story.json", {"temperature": 0, "max_tokens": 48})
    write_json(tmp_path / "long.json", {"temperature": 0, "max_tokens": 400})
    profiles = write_json(tmp_path / "profiles.json", {
        "brief": {"prompt_config": "brief.json"}, "story": {"prompt_config": "story.json"}, "long": {"prompt_config": "long.json"},
    })
    env = chat_env(tmp_path) | {"MLX_HARMONY_EXPORT_DIR": str(tmp_path / "exports")}

    problems: list[str] = []

    def app(*args: str) -> Scenario:
        command = [_script("mlx-harmony"), "--profiles-file", str(profiles), *args]
        return Scenario(ScreenTerminal(command, env, tmp_path, columns=COLUMNS, rows=ROWS), problems)

    run = app("--profile", "long")
    first_chat = None
    try:
        term = run.term
        assert run.expect("start", "the model loads and the status bar says ready", run.ready, 240), problems[-1]

        # send, and Esc while the answer streams
        run.send("Write a long story about a lighthouse keeper and a storm.")
        run.expect("send", "the answer streams", lambda _: "generating" in run.status() and "tok/s" in run.status())
        term.type(ESC)
        run.expect("Esc", "the answer stops, marked cancelled", lambda text: "cancelled ·" in text and run.ready())

        # F2 then a digit switches profile (works in every terminal)
        term.type(F2)
        run.expect("F2", "the profile picker opens", lambda text: "1. brief" in text)
        term.type(b"1")
        run.expect("F2 + digit", "profile 1 is switched to", lambda text: "profile brief" in run.status() and "1. brief" not in text)

        # ctrl+r: the question again, as a second version
        term.type(CTRL_R)
        run.expect("ctrl+r", "the question is answered again, as version 2 of 2",
                   lambda text: "version 2 of 2" in text and run.answers_in(text) == 1 and run.ready())
        term.type(b"Hi")  # the answer is in: what is typed goes to the message box
        run.expect("focus", "typing after an answer goes to the message box", lambda _: run.box() == "Hi", 20)

        # ctrl+e then Esc: nothing changes, the draft comes back
        term.type(CTRL_E)
        run.expect("item 3", "ctrl+e puts the last question in the message box",
                   lambda _: (run.box() or "").startswith("Write a long story about a lighthouse keeper"), 20)
        term.type(ESC)
        run.expect("item 3", "Esc after ctrl+e leaves the exchange as it was and gives the draft back",
                   lambda _: run.box() == "Hi" and "version 2 of 2" in run.conversation() and run.answers_in(run.conversation()) == 1, 20)
        term.type(BACKSPACE * 80)
        run.expect("item 3", "the message box empties", lambda _: run.box() == "", 20)

        # sliders by held keys: Tab reaches them, a burst of ↓ goes down as many sliders, a burst of ↑ up as many
        term.type(TAB)
        term.type(DOWN * 8)  # temperature -> XTC threshold (no effect while the XTC probability is 0)
        term.type(RIGHT * 2)
        run.expect("item 5", "eight ↓ at once reach the XTC threshold, and two → raise it by two steps",
                   lambda text: slider(text, "XTC thresh.") == "0.12", 20)
        term.type(UP * 6)  # XTC threshold -> top-k
        term.type(RIGHT)
        run.expect("item 5", "six ↑ at once reach top-k, and → raises it (the temperature stays 0)",
                   lambda text: slider(text, "top-k") == "1" and slider(text, "temperature") == "0.00", 20)

        # ctrl+t, and a new question typed without choosing: it is asked, and the chat goes on from A
        def compare_with_story(question: str) -> None:
            term.type(CTRL_T)  # from the sliders too: once a contender is picked, the message box has the focus
            run.expect("ctrl+t", "the compare picker opens", lambda text: "profile story" in text and run.highlighted() is not None)
            for _ in range(8):  # one ↓ at a time: the list may take the focus after it is drawn
                if run.highlighted() == "profile story":
                    break
                before = run.highlighted()
                term.type(DOWN)
                run.expect("ctrl+t", "↓ moves down the compare picker", lambda _: run.highlighted() != before, 20)
            term.type(ENTER)
            run.expect("ctrl+t", "the next question will be compared with profile story",
                       lambda _: "compare with profile story" in run.status())
            run.send(question)
            run.expect("ctrl+t", "both answers arrive and the choice is offered",
                       lambda text: "Keep which" in text and run.ready() and "B · profile story" in text)

        compare_with_story("Write a sentence about the moon.")
        run.send("Name a planet.")
        run.expect("item 2", "a question typed after a comparison, without choosing, is asked and answered",
                   lambda text: "Name a planet." in run.conversation() and "Keep which" not in text and run.ready()
                   and run.answers_in(run.conversation().split("Name a planet.")[-1]) == 1, 30)

        compare_with_story(SUN)  # left undecided
        (log_path,) = chat_logs(tmp_path)
        first_chat = the_log(log_path)["chat_id"]
        a, b = sun_answers(the_log(log_path))
        assert tail(words(b)) not in words(a), (a, b)  # B's own last words tell the two apart

        # the log browser: its preview, its export and replay show the undecided comparison's A
        term.type(CTRL_O)
        run.expect("item 4", "the log browser's preview of the chat ends with answer A",
                   lambda text: "branches" in text and shows_a_not_b(text.split("branches", 1)[1], a, b), 20)
        term.type(F3)
        run.expect("item 4", "the chat is exported", lambda text: "Exported to" in text)
        exported = sorted((tmp_path / "exports").glob("*.md"))
        if exported:
            last = exported[0].read_text(encoding="utf-8").rsplit("## Assistant", 1)[-1]
            if not shows_a_not_b(last, a, b):
                problems.append(f"item 4: the export from the log browser ends with B's answer:\n{last}")
        term.type(F5)
        run.expect("replay", "the replay screen opens", lambda text: "Instant" in text)
        term.type(b"i")
        run.expect("item 4", "the replay ends with answer A", lambda text: shows_a_not_b(text, a, b), 30)
        term.type(ESC)
        run.expect("replay", "Esc goes back to the chat", lambda _: run.ready() and "Instant" not in run.term.text())

        # ctrl+n after the undecided comparison, then a question
        term.type(CTRL_N)
        run.expect("ctrl+n", "a new chat starts", lambda _: "Write a sentence about the moon." not in run.conversation())
        run.send("Name a colour.")

        def answered(_) -> bool:
            return "Name a colour." in run.conversation() and run.answers_in(run.conversation()) == 1 and run.ready()

        if not run.expect("item 1", "after ctrl+n the message box has the focus: the question typed is asked", answered, 30):
            run.click_box()  # as a user does when typing goes nowhere, and asks again
            run.send("Name a colour.")
            run.expect("item 1", "the question asked in the new chat is answered (the app is still there)", answered, 30)

        if run.running:
            term.type(CTRL_Q)
            term.wait_for_exit()
            second_chat = [c for c in (the_log(p)["chat_id"] for p in chat_logs(tmp_path)) if c != first_chat]
            if term.after_alternate_screen() != [f"resume with: mlx-harmony --chat {c}" for c in second_chat]:
                problems.append(f"ctrl+q: no resume line for the new chat: {term.after_alternate_screen()}")
    finally:
        run.term.close()

    # --chat: the undecided comparison's chat comes back on A, with A's profile and sampling
    if first_chat is not None:
        back = app("--chat", first_chat)
        try:
            back.expect("--chat", "the chat resumes", back.ready, 240)
            back.expect("item 4", "the resumed chat ends with answer A", lambda _: shows_a_not_b(back.conversation(), a, b), 20)
            back.expect("item 4", "the resumed chat has A's profile and A's sampling (max tokens 16, not B's 48)",
                        lambda text: "profile brief" in back.status() and slider(text, "max tokens") == "16", 20)
            back.term.type(CTRL_Q)
            back.term.wait_for_exit()
        finally:
            back.term.close()

    assert not problems, "\n\n".join(problems)

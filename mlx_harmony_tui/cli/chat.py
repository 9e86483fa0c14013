"""``mlx-harmony-chat``: a line-mode chat in the terminal, or driven by a script through a pipe.

In a terminal, answers stream as Markdown and GPT-OSS reasoning is shown
dimmed; ``\\help`` lists the commands. With stdin or stdout not a terminal,
each line (or multi-line message, see :mod:`.chat_input`) is one message,
answers are printed plainly, one after another, and the chat ends at the
end of input with status 0. Every message is saved to a chat log as it
happens; ``--chat ID`` resumes one.
"""

from __future__ import annotations

import argparse
import signal
import sys
import warnings
from contextlib import contextmanager, nullcontext
from typing import Any, Iterator

from ..chat.session import TurnFailed
from ..chat.startup import StartOptions, load_app_settings, start_chat
from ..engine.events import Done, Notice, TextDelta, ToolCall, ToolResult
from ..errors import UserError
from .chat_commands import parse_command
from .chat_debug import TurnDebug
from .chat_input import read_message, stream_reader, terminal_reader, typing_hidden, typing_shown
from .chat_view import ChatOutput
from .common import add_model_flags, add_sampling_flags, add_tool_flags, checked_sampling, progress_display, run_main, tool_options
from .launch import add_group_flags, grouped

RESUME_PREVIEW = 4  # messages shown when a chat is resumed
PREVIEW_CHARS = 160
TOOL_LINES = 12  # lines of a tool's output shown in the chat (the model reads all of it)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlx-harmony-chat",
        description="Chat with a local MLX model in the terminal, one message at a time (type \\help once it starts). "
        "Piped input is read one message per line and the answers are printed plainly.",
    )
    add_model_flags(parser)
    add_group_flags(parser)
    parser.add_argument("--profile", help="a profile name (model + prompt config + sampling)")
    parser.add_argument("--profiles-file", help="the profiles JSON file to read --profile (and \\profile) from")
    parser.add_argument("--prompt-config", help="a prompt config JSON file (system text, examples, sampling defaults)")
    parser.add_argument(
        "--chat", help="resume a saved chat (its id, a unique start of it, or a path) with its model, profile and sampling; "
        "sampling flags given here win",
    )
    parser.add_argument("--max-context-tokens", type=int, default=None, help="drop the oldest turns to keep the prompt within this many tokens")
    parser.add_argument("--no-markdown", action="store_true", help="print answers as raw text while they stream, without Markdown rendering")
    parser.add_argument("--hide-analysis", action="store_true", help="GPT-OSS: fold the reasoning (analysis channel) into one line")
    debug = parser.add_argument_group("debugging")
    debug.add_argument("--debug", action="store_true", help="after each answer, print the raw prompt and the figures to stderr")
    debug.add_argument("--debug-file", metavar="PATH", help="append each turn's raw prompt, raw output and figures to PATH")
    debug.add_argument(
        "--debug-tokens", nargs="?", const="out", choices=("in", "out", "both"),
        help="also write the token ids of the prompt (in), the output (out, the default) or both",
    )
    add_sampling_flags(parser)
    add_tool_flags(parser)
    return parser


class LineChat:
    """The read-answer loop around one :class:`ChatSession`."""

    def __init__(self, session: Any, output: ChatOutput, debug: TurnDebug):
        self.session = session
        self.output = output
        self.debug = debug
        self._view = None  # the answer being shown
        self._read = None  # the terminal reader, for asking before a tool runs; None when input is piped
        self._interrupted: list = []

    def run(self, read, terminal: bool = True) -> int:
        """Answer messages and run commands until the end of input, ``\\quit``, or Ctrl-C at the prompt."""
        self._read = read if terminal else None
        while True:
            try:
                text = read_message(read)
            except KeyboardInterrupt:
                self.output.note("")  # the shell's prompt starts on a line of its own
                return 0
            if text is None:
                return 0
            if not text.strip():
                continue
            found = parse_command(text.strip())
            if found is None:
                self.ask(text)
                continue
            command, args = found
            try:
                if not command.run(self, args):
                    return 0
            except UserError as exc:
                self.output.error(str(exc))

    def ask(self, text: str) -> None:
        """Send ``text`` and stream the answer; Ctrl-C meanwhile stops this answer only."""
        with _interrupt_flag() as interrupted, (typing_hidden() if self._read is not None else nullcontext()):
            done = self._stream(self.session.send(text), interrupted)
            if done is None:
                return
            if done.finish_reason == "cancelled":
                self.output.note("[cancelled: the partial answer is kept in the chat, marked cancelled]")
            elif done.finish_reason == "length":
                self.output.note(f"[stopped at max_tokens={self.session.sampling.max_tokens}]")
            for repair in done.repairs:
                self.output.note(f"[the model's output was malformed and repaired: {repair}]")
            if self.debug.active:
                self.debug.record(self.session, done)

    def _stream(self, events, interrupted: list):
        """Show one answer's events; its Done, or None when the engine refused or failed the turn."""
        done = None
        self._interrupted = interrupted
        self._view = self.output.answer()
        try:
            for event in events:
                if interrupted:
                    self.session.cancel()
                if isinstance(event, TextDelta):
                    self._view.add(event.channel, event.text)
                elif isinstance(event, ToolCall):
                    self._view.tool_call(event.recipient, event.arguments)
                elif isinstance(event, Notice):
                    self.output.note(f"[{event.text}]")
                elif isinstance(event, ToolResult):
                    self._view.close()
                    lines = event.output.strip().splitlines() or ["(no output)"]
                    shown = "\n  ".join(lines[:TOOL_LINES]) + (f"\n  … {len(lines) - TOOL_LINES} more lines" if len(lines) > TOOL_LINES else "")
                    self.output.note(f"[{event.recipient}: {event.status} in {event.duration_s:.2f} s]\n  {shown}")
                    self._view = self.output.answer()  # the model goes on after reading the result
                elif isinstance(event, Done):
                    done = event
        except TurnFailed as exc:  # the session has taken the message back; nothing of the turn was kept
            self._view.close()
            self.output.error(str(exc))
            return None
        self._view.close()
        return done

    def approve(self, request) -> bool:
        """Ask before python, apply_patch or an MCP tool runs: y runs it, a runs such calls from now on (every call, or
        the MCP server's), anything else declines."""
        if self._view is not None:
            self._view.close()
        what = request.what()
        self.output.note(f"The model wants to {what} ({request.recipient}):")
        self.output.say(request.preview)
        answer = ""
        if self._read is None:
            self.output.note("[declined: input is piped, so nobody can approve; pass --auto-approve-tools to allow]")
        else:
            with typing_shown():
                answer = (self._read("Run it? [y]es / [n]o / [a]lways: ") or "").strip().lower()
        self._view = self.output.answer()
        if self._interrupted:
            return False
        if answer in ("a", "always"):
            self.session.tools.always_allow(request)
        return answer in ("y", "yes", "a", "always")

    def switch_profile(self, name: str) -> str:
        """Switch to profile ``name``, showing the load's progress; return what happened, in a line."""
        with progress_display(sys.stderr.isatty()) as progress:
            reloaded = self.session.switch_profile(name, progress=progress)
        info = self.session.info
        return f"profile {name}: " + (f"loaded {info.name}" if reloaded else f"same model ({info.name})") + "; the conversation goes on"


@contextmanager
def _interrupt_flag() -> Iterator[list]:
    """While the block runs, Ctrl-C only makes the yielded list true (it never raises mid-stream)."""
    flag: list = []

    def handler(signum, frame) -> None:
        # Only note it: the loop cancels the generation with the next event, from ordinary code.
        flag.append(signum)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)


def _start_options(args: argparse.Namespace) -> StartOptions:
    """The flags as start-up options (UserError naming a bad flag)."""
    return StartOptions(
        model=args.model, profile=args.profile, profiles_file=args.profiles_file, prompt_config=args.prompt_config,
        chat=args.chat, tools=tool_options(args), sampling=checked_sampling(args), max_context_tokens=args.max_context_tokens,
    )


def _preview(output: ChatOutput, history: list[dict]) -> None:
    shown = history[-RESUME_PREVIEW:]
    if len(history) > len(shown):
        output.note("  …")
    for entry in shown:
        who = {"user": "you", "assistant": "assistant"}.get(entry["role"], entry.get("name", entry["role"]))
        text = " ".join(entry["content"].split())
        if len(text) > PREVIEW_CHARS:
            text = text[: PREVIEW_CHARS - 1] + "…"
        output.note(f"  {who}: {text}")


def _chat(args: argparse.Namespace) -> int:
    terminal = sys.stdin.isatty() and sys.stdout.isatty()
    output = ChatOutput(terminal, markdown=not args.no_markdown, hide_analysis=args.hide_analysis)
    debug = TurnDebug(args.debug, args.debug_file, args.debug_tokens)
    options = _start_options(args)
    app_settings, problems = load_app_settings()
    for problem in problems:  # the chat does not depend on the settings file
        warnings.warn(problem, UserWarning, stacklevel=1)
    line_chat = LineChat(None, output, debug)
    with progress_display(sys.stderr.isatty()) as progress:
        session, notes = start_chat(options, app_settings, progress=progress, approve=line_chat.approve)
    line_chat.session = session
    try:
        if options.chat:
            output.note(f"resumed {session.title()!r}: {len(session.history)} messages")
        for note in notes:
            output.note(f"[{note}]")
        if options.chat:
            _preview(output, session.history)
        if terminal:
            profile = f" · profile {session.settings.profile}" if session.settings.profile else ""
            output.note(f"{session.info.name}{profile} · chat log {session.log.path}")
            output.note("\\help for commands, \\quit or Ctrl-D to leave; Ctrl-C stops an answer.")
            greeting = session.settings.greeting()
            if greeting and not session.history:
                output.say(greeting)
        return line_chat.run(terminal_reader() if terminal else stream_reader(), terminal)
    finally:
        hint = session.resume_line("mlx-harmony-chat")
        if hint:
            output.note(hint)
        session.close()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_main(grouped(args, __spec__.name, argv, lambda: _chat(args)))


if __name__ == "__main__":
    sys.exit(main())

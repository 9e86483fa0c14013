"""What the Responses and Anthropic Messages APIs share: their conversations in the engine's message shape.

Both APIs send a conversation as a flat run of pieces (instructions, user
text, the assistant's reasoning, text and function calls, tool outputs);
:class:`ConversationBuilder` gathers an assistant's consecutive pieces into
one engine message (``analysis``, ``content``, ``tool_calls``, as
:mod:`mlx_harmony_tui.harmony.render` takes it) and matches each tool
output to its call by id, so Harmony renders the analysis of a tool loop in
progress and drops it after a final answer. :func:`tool_policy` turns a
``tool_choice`` into the tools the model is shown and the functions it must
call.
"""

from __future__ import annotations

from typing import Literal

from ..harmony.render import FUNCTIONS, FunctionTool
from .messages import JSON_CONTENT
from .openai_format import invalid_request

ToolMode = Literal["auto", "none", "required"]


class ConversationBuilder:
    """Feed a conversation's pieces in order; :attr:`messages` holds them in the engine's shape.

    ``where`` arguments name the request field a piece came from, for the
    400 a mismatched tool output gets.
    """

    def __init__(self) -> None:
        self.messages: list[dict] = []
        self._assistant: dict | None = None  # the assistant message being gathered
        self._calls: dict[str, str] = {}  # call id -> recipient

    def _close(self) -> None:
        self._assistant = None

    def _current(self) -> dict:
        if self._assistant is None:
            self._assistant = {"role": "assistant", "content": "", "analysis": "", "tool_calls": []}
            self.messages.append(self._assistant)
        return self._assistant

    def instructions(self, text: str, role: Literal["system", "developer"] = "system") -> None:
        self._close()
        self.messages.append({"role": role, "content": text})

    def user(self, text: str) -> None:
        self._close()
        self.messages.append({"role": "user", "content": text})

    def reasoning(self, text: str) -> None:
        """The assistant's analysis; Harmony keeps it while its turn's tool loop goes on."""
        if text:
            current = self._current()
            current["analysis"] = "\n".join(t for t in (current["analysis"], text) if t)

    def assistant_text(self, text: str) -> None:
        if text:
            current = self._current()
            if current["tool_calls"]:  # text after a call starts another assistant message
                self._close()
                current = self._current()
            current["content"] = "\n".join(t for t in (current["content"], text) if t)

    def function_call(self, call_id: str, name: str, arguments: str) -> None:
        self._calls[call_id] = FUNCTIONS + name
        self._current()["tool_calls"].append(
            {"recipient": FUNCTIONS + name, "arguments": arguments, "channel": "commentary", "content_type": JSON_CONTENT}
        )

    def tool_output(self, call_id: str, text: str, where: str) -> None:
        """A function's result, matched to its call by ``call_id``; APIError (400) naming ``where`` if none matches."""
        if call_id not in self._calls:
            raise invalid_request(f"{where}: {call_id!r} matches no function call before it", param=where)
        self._close()
        self.messages.append({"role": "tool", "name": self._calls[call_id], "content": text})


def tool_policy(tools: list[FunctionTool], mode: ToolMode, named: str | None, field: str) -> tuple[tuple, tuple[str, ...]]:
    """The tools to declare and the functions one of which must be called, for a ``tool_choice``.

    ``mode`` "none" hides the tools; "required" (or a ``named`` function)
    makes the answer a call. APIError (400) naming ``field`` when the choice
    cannot be met.
    """
    names = tuple(t.name for t in tools)
    if named is not None:
        if named not in names:
            raise invalid_request(f"{field}: {named!r} is not one of the tools", param=field)
        return tuple(tools), (named,)
    if mode == "none":
        return (), ()
    if mode == "required":
        if not names:
            raise invalid_request(f'{field}: "required" needs tools', param=field)
        return tuple(tools), names
    return tuple(tools), ()

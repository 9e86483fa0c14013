"""Render a chat for a GPT-OSS model with openai-harmony.

The system message carries the model identity, reasoning effort, knowledge
cutoff, the conversation's start date (fixed for the whole conversation, so
the prompt prefix is the same every turn and its cache can be reused) and the
built-in tools (python, browser). Chat ``system`` messages become developer
instructions, as OpenAI's models expect; function tools go with them.

Messages are dicts:

- ``{"role": "system" | "developer" | "user", "content": str}``
- ``{"role": "assistant", "content": str, "analysis": str, "tool_calls":
  [{"recipient", "arguments", "channel", "content_type"}], "token_ids":
  [int]}``, all but ``content`` optional
- ``{"role": "tool", "name": recipient, "content": str}``: a tool's result

Earlier turns (before the last user message) keep only the assistant's final
text: their analysis, tool calls and results are dropped here, and the
encoding is told not to drop anything itself (``auto_drop_analysis`` is buggy
in 0.0.8). The current turn, a tool loop in progress, is kept whole; an
assistant message that carries the raw ``token_ids`` it was generated as is
spliced in token for token, since Harmony would re-render a tool call
differently from how models write it, and the prompt would no longer extend
the cached one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import UserError

ROLES = ("system", "developer", "user", "assistant", "tool")
BUILTIN_TOOLS = ("python", "browser")
EFFORTS = ("low", "medium", "high")
_FUNCTION_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")


FUNCTIONS = "functions."  # the namespace of the developer's functions in a recipient


def function_name(recipient: str) -> str:
    """``functions.get_weather`` -> ``get_weather``; other recipients as they are."""
    return recipient.removeprefix(FUNCTIONS)


@dataclass(frozen=True)
class FunctionTool:
    """A function the model may call as ``functions.NAME`` with JSON arguments (``strict``: held to ``parameters``)."""

    name: str
    description: str = ""
    parameters: dict | None = None
    strict: bool = False

    @property
    def recipient(self) -> str:
        return FUNCTIONS + self.name


@dataclass(frozen=True)
class ResponseFormat:
    """A JSON schema the final answer follows, declared in the developer message's "# Response Formats"."""

    name: str
    schema_json: str
    description: str = ""

    def section(self) -> str:
        comment = f"// {self.description}\n" if self.description else ""
        return f"# Response Formats\n\n## {self.name}\n\n{comment}{self.schema_json}"


@dataclass(frozen=True)
class HarmonySettings:
    """What the Harmony system and developer messages say."""

    model_identity: str | None = None
    reasoning_effort: str = "medium"
    knowledge_cutoff: str | None = None
    conversation_start_date: str | None = None
    developer_instructions: str | None = None
    builtin_tools: tuple[str, ...] = ()
    function_tools: tuple[FunctionTool, ...] = field(default=())
    response_format: ResponseFormat | None = None

    def __post_init__(self) -> None:
        if self.reasoning_effort not in EFFORTS:
            raise UserError(f"reasoning_effort: {self.reasoning_effort!r} is not one of {', '.join(EFFORTS)}")
        for tool in self.builtin_tools:
            if tool not in BUILTIN_TOOLS:
                raise UserError(f"tools: {tool!r} is not a built-in tool ({', '.join(BUILTIN_TOOLS)})")
        for tool in self.function_tools:
            if not _FUNCTION_NAME.match(tool.name):
                raise UserError(f"tools: function name {tool.name!r} must be letters, digits, _ or -")


def _system_message(settings: HarmonySettings, start_date: str):
    from openai_harmony import Message, ReasoningEffort, Role, SystemContent

    efforts = {"low": ReasoningEffort.LOW, "medium": ReasoningEffort.MEDIUM, "high": ReasoningEffort.HIGH}
    content = SystemContent.new().with_reasoning_effort(efforts[settings.reasoning_effort])
    if settings.model_identity:
        content = content.with_model_identity(settings.model_identity)
    if settings.knowledge_cutoff:
        content = content.with_knowledge_cutoff(settings.knowledge_cutoff)
    content = content.with_conversation_start_date(start_date)
    if "browser" in settings.builtin_tools:
        content = content.with_browser_tool()
    if "python" in settings.builtin_tools:
        content = content.with_python_tool()
    return Message.from_role_and_content(Role.SYSTEM, content)


def _developer_message(settings: HarmonySettings, instructions: list[str]):
    from openai_harmony import DeveloperContent, Message, Role, ToolDescription

    if not instructions and not settings.function_tools and settings.response_format is None:
        return None
    if settings.response_format is not None:
        section = settings.response_format.section()
        if not settings.function_tools:  # the layout Harmony documents: instructions, then the response format
            text = "\n\n".join([*(["# Instructions\n\n" + "\n\n".join(instructions)] if instructions else []), section])
            return Message.from_role_and_content(Role.DEVELOPER, text)
        instructions = [*instructions, section]  # with tools, it goes with the instructions, before "# Tools"
    content = DeveloperContent.new()
    if instructions:
        content = content.with_instructions("\n\n".join(instructions))
    if settings.function_tools:
        content = content.with_function_tools(
            [ToolDescription.new(t.name, t.description, parameters=t.parameters) for t in settings.function_tools]
        )
    return Message.from_role_and_content(Role.DEVELOPER, content)


def _text(message: dict, key: str, where: str, required: bool = True) -> str:
    value = message.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise UserError(f"{where}.{key}: expected text")
    return value


def check_harmony_messages(messages: Any) -> list[dict]:
    """Validate chat messages in the shape above; raise UserError naming the bad field."""
    if not isinstance(messages, list) or not messages:
        raise UserError("messages: expected a non-empty list of {role, content} objects")
    clean = []
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise UserError(f"{where}: expected an object with role and content")
        role = message.get("role")
        if role not in ROLES:
            raise UserError(f"{where}.role: {role!r} is not one of {', '.join(ROLES)}")
        item: dict[str, Any] = {"role": role, "content": _text(message, "content", where, required=role != "assistant")}
        if role == "tool":
            item["name"] = _text(message, "name", where)
        if role == "assistant":
            item["analysis"] = _text(message, "analysis", where, required=False)
            calls = message.get("tool_calls") or []
            if not isinstance(calls, list):
                raise UserError(f"{where}.tool_calls: expected a list")
            item["tool_calls"] = []
            for j, call in enumerate(calls):
                at = f"{where}.tool_calls[{j}]"
                if not isinstance(call, dict):
                    raise UserError(f"{at}: expected an object with recipient and arguments")
                channel = call.get("channel") or "commentary"
                if channel not in ("analysis", "commentary"):
                    raise UserError(f"{at}.channel: {channel!r} is not analysis or commentary")
                item["tool_calls"].append(
                    {
                        "recipient": _text(call, "recipient", at),
                        "arguments": _text(call, "arguments", at),
                        "channel": channel,
                        "content_type": _text(call, "content_type", at, required=False) or None,
                    }
                )
            ids = message.get("token_ids")
            if ids is not None:
                if not isinstance(ids, (list, tuple)) or not all(isinstance(t, int) and t >= 0 for t in ids):
                    raise UserError(f"{where}.token_ids: expected a list of token ids")
                item["token_ids"] = list(ids)
        clean.append(item)
    return clean


def _assistant(text: str, channel: str):
    from openai_harmony import Message, Role

    return Message.from_role_and_content(Role.ASSISTANT, text).with_channel(channel)


def _current_turn_pieces(message: dict) -> list:
    """An assistant message of the turn in progress, as Harmony messages."""
    pieces = []
    if message["analysis"]:
        pieces.append(_assistant(message["analysis"], "analysis"))
    if message["tool_calls"]:
        if message["content"]:
            pieces.append(_assistant(message["content"], "commentary"))  # a preamble
        for call in message["tool_calls"]:
            piece = _assistant(call["arguments"], call["channel"]).with_recipient(call["recipient"])
            if call["content_type"]:
                piece = piece.with_content_type(call["content_type"])
            pieces.append(piece)
    elif message["content"]:
        pieces.append(_assistant(message["content"], "final"))
    return pieces


def _tool_result(message: dict, channel: str):
    from openai_harmony import Author, Message, Role

    author = Author.new(Role.TOOL, message["name"])
    return Message.from_author_and_content(author, message["content"]).with_channel(channel).with_recipient("assistant")


def harmony_pieces(messages: list[dict], settings: HarmonySettings, start_date: str | None = None) -> list:
    """The conversation as Harmony ``Message`` objects and raw token lists, in order.

    The system message's date is ``settings.conversation_start_date``, else
    ``start_date``: the conversation's owner decides it, once per conversation.
    """
    messages = check_harmony_messages(messages)
    start = settings.conversation_start_date or start_date
    if not start:
        raise ValueError("no conversation start date: set HarmonySettings.conversation_start_date")
    pieces: list = [_system_message(settings, start)]
    instructions = [settings.developer_instructions] if settings.developer_instructions else []
    instructions += [m["content"] for m in messages if m["role"] in ("system", "developer")]
    developer = _developer_message(settings, instructions)
    if developer is not None:
        pieces.append(developer)
    users = [i for i, m in enumerate(messages) if m["role"] == "user"]
    turn_start = users[-1] if users else 0
    call_channels: dict[str, str] = {}
    for i, message in enumerate(messages):
        role = message["role"]
        if role == "user":
            from openai_harmony import Message, Role

            pieces.append(Message.from_role_and_content(Role.USER, message["content"]))
        elif role == "assistant" and i < turn_start:
            if message["content"]:
                pieces.append(_assistant(message["content"], "final"))
        elif role == "assistant":
            for call in message["tool_calls"]:
                call_channels[call["recipient"]] = call["channel"]
            if "token_ids" in message:
                pieces.append(message["token_ids"])
            else:
                pieces.extend(_current_turn_pieces(message))
        elif role == "tool" and i > turn_start:
            pieces.append(_tool_result(message, call_channels.get(message["name"], "commentary")))
    return pieces


def harmony_prompt_tokens(encoding, messages: list[dict], settings: HarmonySettings, start_date: str | None = None) -> list[int]:
    """Prompt token ids ending with ``<|start|>assistant``, ready for generation."""
    from openai_harmony import Conversation, RenderConversationConfig, Role

    tokens: list[int] = []
    run: list = []
    config = RenderConversationConfig(auto_drop_analysis=False)
    assistant_header = list(encoding.render_conversation_for_completion(Conversation.from_messages([]), Role.ASSISTANT))

    def flush() -> None:
        if run:
            tokens.extend(encoding.render_conversation(Conversation.from_messages(run), config))
            run.clear()

    for piece in harmony_pieces(messages, settings, start_date):
        if isinstance(piece, list):
            flush()
            tokens.extend(assistant_header + piece)
        else:
            run.append(piece)
    flush()
    return tokens + assistant_header

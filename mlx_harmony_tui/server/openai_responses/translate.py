"""Responses API input items and tools to the chat layer's request.

An item list is the conversation: messages, the assistant's reasoning and
function calls, and function call outputs, in order. Reasoning items become
the analysis of the assistant message they precede (Harmony keeps it while
that turn's tool loop goes on and drops it after the final answer).
Everything this server cannot do (hosted tools, images, files, audio, other
item types) is a 400 naming the item and field.
"""

from __future__ import annotations

from typing import Any

from ...chat.completion import ChatRequest
from ...config.response_schema import ResponseSchema
from ...config.sampling import SamplingParams
from ...harmony.render import FunctionTool
from ..conversation import ConversationBuilder, tool_policy
from ..messages import content_text
from ..openai_format import invalid_request
from ..output_format import checked_constraint, checked_output_format
from .schemas import ResponsesRequest

ROLES = ("user", "system", "developer", "assistant")
TEXT_PARTS = {"input_text": "text", "output_text": "text", "summary_text": "text", "reasoning_text": "text", "refusal": "refusal"}
UNSUPPORTED_PARTS = {"input_image": "images", "input_file": "files", "input_audio": "audio"}


def _field(item: dict, key: str, where: str, kind: type = str, required: bool = True) -> Any:
    value = item.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, kind):
        name = {str: "text", list: "a list", dict: "an object"}.get(kind, kind.__name__)
        raise invalid_request(f"{where}.{key}: must be {name}" + ("" if value is not None else " (missing)"), param=f"{where}.{key}")
    return value


def _text(content: Any, where: str) -> str:
    """A message's or output's content: text, or a list of text parts joined by newlines."""
    return content_text(content, where, True, TEXT_PARTS, UNSUPPORTED_PARTS)


def _reasoning_text(item: dict, where: str) -> str:
    """A reasoning item's text: its full ``content`` if sent back, else its summary."""
    for key in ("content", "summary"):
        parts = _field(item, key, where, list, required=False)
        if parts:
            return _text(parts, f"{where}.{key}")
    return ""


def add_items(builder: ConversationBuilder, items: list[dict], where: str = "input") -> None:
    """Feed Responses ``items`` (input or a stored response's output) into ``builder``; APIError (400) naming the bad one."""
    for i, item in enumerate(items):
        at = f"{where}[{i}]"
        if not isinstance(item, dict):
            raise invalid_request(f"{at}: must be an object", param=at)
        kind = item.get("type", "message" if "role" in item else None)
        if kind == "message":
            role = item.get("role")
            if role not in ROLES:
                raise invalid_request(f"{at}.role: {role!r} is not one of {', '.join(ROLES)}", param=f"{at}.role")
            text = _text(item.get("content"), f"{at}.content")
            if role == "assistant":
                builder.assistant_text(text)
            elif role == "user":
                builder.user(text)
            else:
                builder.instructions(text, role)
        elif kind == "reasoning":
            builder.reasoning(_reasoning_text(item, at))
        elif kind == "function_call":
            builder.function_call(_field(item, "call_id", at), _field(item, "name", at), _field(item, "arguments", at))
        elif kind == "function_call_output":
            output = item.get("output")
            builder.tool_output(_field(item, "call_id", at), _text(output if output is not None else "", f"{at}.output"),
                                f"{at}.call_id")
        elif kind is None:
            raise invalid_request(f"{at}.type: is required (message, reasoning, function_call or function_call_output)",
                                  param=f"{at}.type")
        else:
            raise invalid_request(f"{at}.type: {kind!r} items are not supported by this server; it takes message, reasoning, "
                                  "function_call and function_call_output items", param=f"{at}.type", code="unsupported_item")


def input_items(body: ResponsesRequest) -> list[dict]:
    """The request's input as a list of items."""
    return [{"type": "message", "role": "user", "content": body.input}] if isinstance(body.input, str) else list(body.input)


def function_tools(body: ResponsesRequest) -> list[FunctionTool]:
    tools = []
    for i, tool in enumerate(body.tools or []):
        at = f"tools[{i}]"
        if not isinstance(tool, dict):
            raise invalid_request(f"{at}: must be an object", param=at)
        kind = tool.get("type")
        if kind != "function":
            raise invalid_request(f"{at}.type: {kind!r} tools are not supported by this server; only function tools are "
                                  "(hosted tools such as web_search run only at OpenAI)", param=f"{at}.type",
                                  code="unsupported_tool")
        unknown = set(tool) - {"type", "name", "description", "parameters", "strict"}
        if unknown:
            name = sorted(unknown)[0]
            raise invalid_request(f"{at}.{name}: not supported by this server", param=f"{at}.{name}")
        parameters = _field(tool, "parameters", at, dict, required=False)
        tools.append(FunctionTool(_field(tool, "name", at), _field(tool, "description", at, required=False) or "", parameters,
                                  tool.get("strict") is True))
    return tools


def _tool_choice(body: ResponsesRequest, tools: list[FunctionTool]) -> tuple[tuple, tuple[str, ...]]:
    choice = body.tool_choice if body.tool_choice is not None else "auto"
    if isinstance(choice, str):
        if choice not in ("auto", "none", "required"):
            raise invalid_request(f'tool_choice: must be "none", "auto", "required" or {{"type": "function", "name": ...}} '
                                  f"(got {choice!r})", param="tool_choice")
        return tool_policy(tools, choice, None, "tool_choice")
    if choice.get("type") != "function":
        raise invalid_request(f"tool_choice.type: {choice.get('type')!r} is not supported; use \"function\" with a name",
                              param="tool_choice.type")
    name = choice.get("name")
    if not isinstance(name, str):
        raise invalid_request("tool_choice.name: must be text", param="tool_choice.name")
    return tool_policy(tools, "auto", name, "tool_choice.name")


def text_format(body: ResponsesRequest) -> ResponseSchema | None:
    """``text.format`` (flat: ``{"type": "json_schema", "name", "schema", ...}``) through the server's one output-format check."""
    return checked_output_format(body.text.format if body.text is not None else None, "text.format")


def chat_request(body: ResponsesRequest, earlier: list[dict], params: SamplingParams) -> tuple[ChatRequest, list[dict]]:
    """The chat layer's request for ``body`` after the ``earlier`` items of its previous response, and all its input items."""
    if body.background:
        raise invalid_request("background: background responses are not supported by this server", param="background")
    builder = ConversationBuilder()
    if body.instructions:
        builder.instructions(body.instructions)  # not carried over from a previous response, as OpenAI does
    add_items(builder, earlier, "previous_response_id")
    add_items(builder, input_items(body))
    tools, required = _tool_choice(body, function_tools(body))
    effort = body.reasoning.effort if body.reasoning is not None else None
    return checked_constraint(ChatRequest(builder.messages, params, tools, required, effort, effort_field="reasoning.effort",
                                          response_schema=text_format(body))), earlier + input_items(body)

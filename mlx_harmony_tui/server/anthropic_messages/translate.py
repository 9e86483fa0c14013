"""Anthropic messages, tools and thinking settings to the chat layer's request.

A user message's ``tool_result`` blocks become tool results matched to the
assistant's ``tool_use`` by id; an assistant's ``thinking`` blocks become its
analysis, which Harmony keeps while that turn's tool loop goes on. Images,
documents, server tools and other block types are a 400 naming the message,
block and field. ``cache_control`` marks are accepted: the server reuses
every exact prompt prefix on its own.
"""

from __future__ import annotations

import json

from ...chat.completion import ChatRequest
from ...config.response_schema import ResponseSchema
from ...config.sampling import SamplingParams
from ...harmony.render import FunctionTool
from ..conversation import ConversationBuilder, tool_policy
from ..openai_format import invalid_request
from ..output_format import checked_constraint, checked_output_format
from .reply import thinking_text
from .schemas import MessagesRequest

UNSUPPORTED_BLOCKS = {"image": "images", "document": "documents", "search_result": "search results",
                      "redacted_thinking": "redacted thinking blocks"}
# budget_tokens to GPT-OSS's reasoning effort: below the first bound low, below the second medium, else high.
EFFORT_BOUNDS = (4096, 16384)
# output_config.effort to GPT-OSS's: its highest is "high".
EFFORTS = {"low": "low", "medium": "medium", "high": "high", "xhigh": "high", "max": "high"}


def _text(block: dict, key: str, at: str) -> str:
    value = block.get(key)
    if not isinstance(value, str):
        raise invalid_request(f"{at}.{key}: must be text", param=f"{at}.{key}")
    return value


def _blocks(content: str | list, at: str) -> list[dict]:
    blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
    for j, block in enumerate(blocks):
        if not isinstance(block, dict):
            raise invalid_request(f"{at}[{j}]: must be an object like {{\"type\": \"text\", \"text\": ...}}", param=f"{at}[{j}]")
        kind = block.get("type")
        if kind in UNSUPPORTED_BLOCKS:
            raise invalid_request(f"{at}[{j}].type: {UNSUPPORTED_BLOCKS[kind]} are not supported by this server; only text is",
                                  param=f"{at}[{j}].type")
    return blocks


def _plain_text(content: str | list, at: str) -> str:
    """Text, or text blocks joined by newlines (a system prompt, a tool result)."""
    texts = []
    for j, block in enumerate(_blocks(content, at)):
        if block.get("type") != "text":
            raise invalid_request(f"{at}[{j}].type: {block.get('type')!r} blocks are not supported here; only text is",
                                  param=f"{at}[{j}].type")
        texts.append(_text(block, "text", f"{at}[{j}]"))
    return "\n".join(texts)


def _user(builder: ConversationBuilder, content: str | list, at: str) -> None:
    texts: list[str] = []
    for j, block in enumerate(_blocks(content, at)):
        where, kind = f"{at}[{j}]", block.get("type")
        if kind == "text":
            texts.append(_text(block, "text", where))
        elif kind == "tool_result":
            if texts:
                builder.user("\n".join(texts))
                texts = []
            output = block.get("content", "")
            text = _plain_text(output, f"{where}.content") if output else ""
            builder.tool_output(_text(block, "tool_use_id", where), text, f"{where}.tool_use_id")
        else:
            raise invalid_request(f"{where}.type: {kind!r} blocks are not supported in user messages (text, tool_result)",
                                  param=f"{where}.type")
    if texts:
        builder.user("\n".join(texts))


def _assistant(builder: ConversationBuilder, content: str | list, at: str) -> None:
    for j, block in enumerate(_blocks(content, at)):
        where, kind = f"{at}[{j}]", block.get("type")
        if kind == "text":
            builder.assistant_text(_text(block, "text", where))
        elif kind == "thinking":
            builder.reasoning(thinking_text(_text(block, "thinking", where), block.get("signature")))
        elif kind == "tool_use":
            arguments = block.get("input", {})
            if not isinstance(arguments, dict):
                raise invalid_request(f"{where}.input: must be an object", param=f"{where}.input")
            builder.function_call(_text(block, "id", where), _text(block, "name", where), json.dumps(arguments, ensure_ascii=False))
        else:
            raise invalid_request(f"{where}.type: {kind!r} blocks are not supported in assistant messages "
                                  "(text, thinking, tool_use)", param=f"{where}.type")


def function_tools(body: MessagesRequest) -> list[FunctionTool]:
    tools = []
    for i, tool in enumerate(body.tools or []):
        at = f"tools[{i}]"
        if not isinstance(tool, dict):
            raise invalid_request(f"{at}: must be an object", param=at)
        if tool.get("type", "custom") != "custom":
            raise invalid_request(f"{at}.type: {tool['type']!r} is a server tool, which runs only at Anthropic; declare your "
                                  "own with name, description and input_schema", param=f"{at}.type")
        schema = tool.get("input_schema")
        if not isinstance(schema, dict):
            raise invalid_request(f"{at}.input_schema: must be a JSON schema object", param=f"{at}.input_schema")
        description = tool.get("description") or ""
        if not isinstance(description, str):
            raise invalid_request(f"{at}.description: must be text", param=f"{at}.description")
        tools.append(FunctionTool(_text(tool, "name", at), description, schema))
    return tools


def _tool_choice(body: MessagesRequest, tools: list[FunctionTool]) -> tuple[tuple, tuple[str, ...]]:
    choice = body.tool_choice or {"type": "auto"}
    kind = choice.get("type")
    if kind == "tool":
        return tool_policy(tools, "auto", _text(choice, "name", "tool_choice"), "tool_choice.name")
    modes = {"auto": "auto", "any": "required", "none": "none"}
    if kind not in modes:
        raise invalid_request(f"tool_choice.type: {kind!r} is not auto, any, tool or none", param="tool_choice.type")
    return tool_policy(tools, modes[kind], None, "tool_choice")


def thinking(body: MessagesRequest) -> tuple[str, str | None]:
    """How thinking blocks are returned ("none", "shown" or "omitted"), and the reasoning effort asked for."""
    effort = None
    config = body.output_config or {}
    if config.get("effort") is not None:
        if config["effort"] not in EFFORTS:
            raise invalid_request(f"output_config.effort: {config['effort']!r} is not one of {', '.join(EFFORTS)}",
                                  param="output_config.effort")
        effort = EFFORTS[config["effort"]]
    if body.thinking is None:
        return "none", effort
    kind = body.thinking.get("type")
    if kind == "disabled":
        return "none", effort
    if kind not in ("enabled", "adaptive", "between_tools"):
        raise invalid_request(f"thinking.type: {kind!r} is not enabled, adaptive, between_tools or disabled", param="thinking.type")
    display = body.thinking.get("display") or "summarized"
    if display not in ("summarized", "omitted"):
        raise invalid_request(f"thinking.display: {display!r} is not summarized or omitted", param="thinking.display")
    if kind == "enabled" and effort is None:
        budget = body.thinking.get("budget_tokens")
        if not isinstance(budget, int) or isinstance(budget, bool) or budget < 1:
            raise invalid_request("thinking.budget_tokens: must be a positive whole number", param="thinking.budget_tokens")
        low, medium = EFFORT_BOUNDS
        effort = "low" if budget < low else "medium" if budget < medium else "high"
    return ("omitted" if display == "omitted" else "shown"), effort


def output_format(body: MessagesRequest) -> ResponseSchema | None:
    """``output_config.format`` (``{"type": "json_schema", "schema": ...}``) through the server's one output-format check."""
    fmt = (body.output_config or {}).get("format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        fmt = {"name": "output", **fmt}
    return checked_output_format(fmt, "output_config.format")


def _check_context_management(body: MessagesRequest) -> None:
    """Clearing earlier turns' thinking is what Harmony does anyway; other edits would change the conversation: refused."""
    edits = (body.context_management or {}).get("edits") or []
    if not isinstance(edits, list):
        raise invalid_request("context_management.edits: must be a list", param="context_management.edits")
    for i, edit in enumerate(edits):
        kind = edit.get("type") if isinstance(edit, dict) else None
        if not (isinstance(kind, str) and kind.startswith("clear_thinking_")):
            at = f"context_management.edits[{i}].type"
            raise invalid_request(f"{at}: {kind!r} is not supported; only clear_thinking edits are (Harmony drops earlier "
                                  "turns' thinking by itself)", param=at)


def chat_request(body: MessagesRequest, params: SamplingParams) -> tuple[ChatRequest, str]:
    """The chat layer's request for ``body``, and how the answer shows its thinking (see :func:`thinking`)."""
    _check_context_management(body)
    builder = ConversationBuilder()
    if body.system:
        builder.instructions(_plain_text(body.system, "system"))
    for i, message in enumerate(body.messages):
        at = f"messages[{i}].content"
        if message.role == "user":
            _user(builder, message.content, at)
        elif message.role == "system":
            builder.instructions(_plain_text(message.content, at))
        else:
            _assistant(builder, message.content, at)
    tools, required = _tool_choice(body, function_tools(body))
    thinking_display, effort = thinking(body)
    field = "output_config.effort" if (body.output_config or {}).get("effort") is not None else "thinking"
    chat = ChatRequest(builder.messages, params, tools, required, effort, effort_field=field, response_schema=output_format(body))
    return checked_constraint(chat), thinking_display

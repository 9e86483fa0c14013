"""Whole-conversation requests: a client sends every message each time (the HTTP server's way).

The prompt is assembled as for a :class:`~.session.ChatSession` (see
:mod:`.prompt`), with a fresh start time per request; requests that open
the same way share a cache, so a client's next turn reuses its last one's
tokens. A model whose chat template calls tools gets the client's functions
as the template's tools and its calls parsed from what it writes. What a
model cannot do (function calling without GPT-OSS or a tool-calling
template, reasoning effort without GPT-OSS) is refused with a
:class:`UserError` naming the field. A call to a function the request did
not declare (GPT-OSS's built-in ``python``, a name the model made up) never
reaches the client as a call: it comes back as text (:func:`undeclared_calls_as_text`). A
``response_schema`` and strict functions become the request's
:class:`~..config.response_schema.OutputConstraint` (:func:`output_constraint`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Iterable, Iterator

from ..config.resolve import RunSettings
from ..config.response_schema import OutputConstraint, ResponseSchema, schema_from_value
from ..config.sampling import SamplingParams
from ..engine.events import Done, Event, TextDelta, ToolCall
from ..errors import UserError
from ..harmony.render import FunctionTool, function_name
from .prompt import build_prompt


@dataclass(frozen=True)
class ChatRequest:
    """One chat completion: ``messages`` in the engine's message shape (see harmony.render)."""

    messages: list[dict]
    params: SamplingParams
    function_tools: tuple[FunctionTool, ...] = ()
    required_functions: tuple[str, ...] = ()  # the answer must call one of these
    reasoning_effort: str | None = None
    effort_field: str = "reasoning_effort"  # the request field that set reasoning_effort, for the error naming it
    response_schema: ResponseSchema | None = None  # the answer is JSON following it (see response_schema_from_openai)


NO_ARGUMENTS = {"type": "object", "properties": {}, "additionalProperties": False}


def output_constraint(request: ChatRequest) -> OutputConstraint | None:
    """What the engine must hold the answer to: the response schema and strict functions' parameters
    (UserError naming ``tools[i].function.parameters`` when one cannot be enforced)."""
    tools = tuple(
        (tool.recipient, schema_from_value(tool.parameters or NO_ARGUMENTS, f"tools[{i}].function.parameters"))
        for i, tool in enumerate(request.function_tools) if tool.strict
    )
    constraint = OutputConstraint(request.response_schema, tools)
    return constraint if constraint else None


def conversation_key(name: str, messages: list[dict]) -> str:
    """Requests to ``name`` that open the same way share a cache.

    Reuse itself is by exact token prefix, so a request never sees another's
    context; the key only keeps different conversations in different caches.
    """
    users = [i for i, m in enumerate(messages) if m["role"] == "user"]
    opening = messages[: users[0] + 1] if users else messages[:1]
    digest = hashlib.sha256(json.dumps([name, opening], sort_keys=True).encode()).hexdigest()
    return f"request-{digest[:24]}"


def check_plain_request(request: ChatRequest, model_name: str, tool_calling: bool = False) -> list[dict]:
    """The messages for a model without Harmony: roles, text and (``tool_calling``: its template calls tools) the
    earlier calls and their results, function names without the ``functions.`` prefix; what it cannot do refused."""
    if request.function_tools and not tool_calling:
        raise UserError(f"tools: {model_name} cannot call tools (it is not GPT-OSS and its chat template declares no "
                        "tool calls)", "tools")
    if request.reasoning_effort:
        field = request.effort_field
        raise UserError(f"{field}: {model_name} does not reason; only GPT-OSS models take an effort", field)
    plain = []
    for i, message in enumerate(request.messages):
        if not tool_calling and (message["role"] == "tool" or message.get("tool_calls")):
            field = f"messages[{i}].{'role' if message['role'] == 'tool' else 'tool_calls'}"
            raise UserError(f"{field}: {model_name} cannot call tools (it is not GPT-OSS and its chat template declares "
                            "no tool calls)", field)
        item = {"role": "system" if message["role"] == "developer" else message["role"], "content": message["content"]}
        if message.get("tool_calls"):
            item["tool_calls"] = [{"recipient": function_name(c["recipient"]), "arguments": c["arguments"]} for c in message["tool_calls"]]
        if message["role"] == "tool":
            item["name"] = function_name(message.get("name") or "tool")
        plain.append(item)
    return plain


def undeclared_call_text(call: ToolCall) -> str:
    """What the client reads instead of a call to a function it did not declare."""
    return (f"[The model called `{function_name(call.recipient)}`, which this request does not offer as a tool; "
            f"it was not called. The call's input:]\n{call.arguments}")


def undeclared_calls_as_text(events: Iterable[Event], declared: Iterable[str]) -> Iterator[Event]:
    """``events`` with each call to a function not named in ``declared`` turned into final-channel text; a turn
    whose only calls were undeclared then ends with "stop", as an answer does, not "tool_calls"."""
    names = set(declared)
    declared_calls = 0
    for event in events:
        if isinstance(event, ToolCall) and function_name(event.recipient) not in names:
            yield TextDelta(event.request_id, undeclared_call_text(event), event.token_ids, "final")
        elif isinstance(event, Done) and event.finish_reason == "tool_calls" and not declared_calls:
            yield replace(event, finish_reason="stop")
        else:
            declared_calls += isinstance(event, ToolCall)
            yield event


def complete_chat(generator: Any, settings: RunSettings, name: str, request: ChatRequest, processors: tuple = (),
                  request_id: str | None = None) -> Iterator[Event]:
    """Stream the answer to ``request`` with ``settings`` (the served name's), as engine events.

    ``processors`` are extra logits processors (see ``TokenGenerator.stream``);
    ``request_id`` names the stream, to cancel it.
    """
    info = generator.info
    settings = replace(settings, started=datetime.now().astimezone())
    if info.is_gpt_oss:
        prompt = build_prompt(settings, True, request.messages, effort=request.reasoning_effort,
                              function_tools=request.function_tools, response_schema=request.response_schema)
    else:
        messages = check_plain_request(request, info.name, info.tool_calling)
        prompt = build_prompt(settings, False, messages, response_schema=request.response_schema,
                              function_tools=request.function_tools)
        # A template's calls are parsed as the model wrote them: only GPT-OSS's arguments are held to a schema.
        request = replace(request, function_tools=tuple(replace(t, strict=False) for t in request.function_tools))
    conversation = conversation_key(name, prompt.messages)
    events = generator.stream(messages=prompt.messages, harmony=prompt.harmony, max_context_tokens=settings.max_context_tokens,
                            keep_messages=prompt.keep, tools=prompt.tools, required_functions=request.required_functions,
                            processors=processors, conversation=conversation, request_id=request_id, persist=conversation,
                            output=output_constraint(request), **request.params.model_dump())
    return undeclared_calls_as_text(events, (t.name for t in request.function_tools))


def complete_text(generator: Any, name: str, text: str, params: SamplingParams, processors: tuple = (),
                  request_id: str | None = None) -> Iterator[Event]:
    """Stream a continuation of raw ``text`` (no chat template)."""
    return generator.stream(prompt=text, processors=processors, conversation=f"text-{name}", request_id=request_id,
                            **params.model_dump())

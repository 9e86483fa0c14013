"""The agent trace's requests in each API's shape, and what one streamed answer tells: TTFT and usage.

- ``chat`` (``/v1/chat/completions``, both servers): the opening as one
  system message, the task as a user message, then per step done the
  trace's assistant message (its intent and the call as text) and the
  result as a user message in ``<tool_result>`` tags. Only system, user and
  assistant roles with plain text, so every chat template renders it alike.
- ``responses`` (``/v1/responses``): ``instructions``, the tools declared as
  function tools, and the history as input items: the task, then per step a
  ``reasoning`` item (the intent), a ``function_call`` and its
  ``function_call_output``; ``store`` false.
- ``messages`` (``/v1/messages``): ``system``, ``tools``, then per step an
  assistant message of a ``thinking`` block and a ``tool_use`` block and a
  user message holding its ``tool_result``; thinking is asked for, so
  reasoning streams and TTFT can be taken.

The answer is greedy and ``max_tokens`` long; chat completions bias the
end-of-sequence tokens away, the other two APIs take no logit bias, so their
answers run to length only on a model that does not stop by itself (the
tiny GPT-OSS the bench uses by default).
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

from .agent_trace import AgentTrace, Session, Step
from .sse import stream_chunks
from .turns_bench import stream_turn

if TYPE_CHECKING:
    import httpx

APIS = ("chat", "responses", "messages")
PATHS = {"chat": "/v1/chat/completions", "responses": "/v1/responses", "messages": "/v1/messages"}
FIRST_TEXT = {"response.reasoning_text.delta", "response.output_text.delta", "response.function_call_arguments.delta",
              "content_block_delta"}


def _assistant_text(step: Step) -> str:
    return "\n".join(part for part in (step.thought, step.call.text()) if part)


def chat_messages(trace: AgentTrace, session: Session, done: int) -> list[dict]:
    """The chat completions message list of ``session`` after ``done`` of its steps."""
    messages = [{"role": "system", "content": trace.system}, {"role": "user", "content": session.task}]
    for step in session.steps[:done]:
        result = f'<tool_result name="{step.call.name}" id="{step.call.call_id}">\n{step.result}\n</tool_result>'
        messages += [{"role": "assistant", "content": _assistant_text(step)}, {"role": "user", "content": result}]
    return messages


def _response_items(session: Session, done: int) -> list[dict]:
    items: list[dict] = [{"type": "message", "role": "user", "content": session.task}]
    for step in session.steps[:done]:
        call = step.call
        if step.thought:
            items.append({"type": "reasoning", "summary": [], "content": [{"type": "reasoning_text", "text": step.thought}]})
        items += [{"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": json.dumps(call.arguments)},
                  {"type": "function_call_output", "call_id": call.call_id, "output": step.result}]
    return items


def _anthropic_messages(session: Session, done: int) -> list[dict]:
    messages: list[dict] = [{"role": "user", "content": session.task}]
    for step in session.steps[:done]:
        call = step.call
        thinking = [{"type": "thinking", "thinking": step.thought, "signature": ""}] if step.thought else []
        messages += [
            {"role": "assistant", "content": [*thinking, {"type": "tool_use", "id": call.call_id, "name": call.name,
                                                          "input": call.arguments}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.call_id, "content": step.result}]},
        ]
    return messages


def request_body(api: str, trace: AgentTrace, session: Session, done: int, model: str) -> dict:
    """The body of ``session``'s request after ``done`` steps, for ``api`` (chat's is sent by :func:`stream_step`)."""
    max_tokens = session.steps[done].answer_tokens
    if api == "chat":
        return {"model": model, "messages": chat_messages(trace, session, done), "max_tokens": max_tokens}
    if api == "responses":
        return {"model": model, "instructions": trace.instructions, "tools": [{"type": "function", **t} for t in trace.tools],
                "input": _response_items(session, done), "max_output_tokens": max_tokens, "temperature": 0, "stream": True,
                "store": False}
    tools = [{"name": t["name"], "description": t["description"], "input_schema": t["parameters"]} for t in trace.tools]
    return {"model": model, "system": trace.instructions, "tools": tools, "messages": _anthropic_messages(session, done),
            "max_tokens": max_tokens, "temperature": 0, "stream": True, "thinking": {"type": "adaptive"}}


def _usage(api: str, event: dict) -> dict | None:
    """(prompt, cached, completion) tokens from the event that carries the final usage, else None."""
    kind = event.get("type")
    if api == "responses" and kind in ("response.completed", "response.incomplete"):
        usage = event["response"]["usage"]
        return {"prompt_tokens": usage["input_tokens"], "cached_tokens": usage["input_tokens_details"]["cached_tokens"],
                "completion_tokens": usage["output_tokens"]}
    if api == "messages" and kind == "message_delta":
        usage = event["usage"]
        cached = usage.get("cache_read_input_tokens") or 0
        prompt = usage["input_tokens"] + cached + (usage.get("cache_creation_input_tokens") or 0)
        return {"prompt_tokens": prompt, "cached_tokens": cached, "completion_tokens": usage["output_tokens"]}
    return None


def stream_step(client: "httpx.Client", api: str, body: dict, bias: dict[int, float]) -> dict:
    """Send one request and read its stream: TTFT (sending to the first streamed text), prompt, cached and completion tokens.

    ``bias`` (end-of-sequence tokens to -100) goes with chat completions only.
    """
    if api == "chat":
        return stream_turn(client, body["model"], body["messages"], body["max_tokens"], bias)
    start = time.perf_counter()
    first, usage = None, None
    for event in stream_chunks(client, body, PATHS[api]):
        if event.get("type") == "error":
            raise RuntimeError(f"the server's stream ended in an error: {event}")
        if first is None and event.get("type") in FIRST_TEXT:
            first = time.perf_counter()
        usage = _usage(api, event) or usage
    if first is None or usage is None:
        raise RuntimeError(f"an answer through {PATHS[api]} had no text or no usage")
    return {"ttft_s": first - start, **usage}

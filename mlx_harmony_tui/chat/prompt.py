"""Prompt assembly: what comes before the conversation, for every front end.

Two functions, one per prompt format:

- :func:`template_prompt` for models with a chat template: the prompt
  config's identity and instructions (and any extra system text) as one
  system message, then its example dialogues, then the conversation; a model
  whose template calls tools gets the tools that are on as the template's
  ``tools``, and its earlier calls and their results in the template's shape.
- :func:`harmony_prompt` for GPT-OSS: identity, reasoning effort, knowledge
  cutoff and the conversation's start date go to Harmony's system message,
  instructions to its developer message, tools are declared as trained, and
  only the example dialogues come before the conversation.

A response schema (structured output) is declared where each format
expects it: Harmony's "# Response Formats" section of the developer
message, or a line of system text for a chat template; the engine enforces it.

Placeholders are filled with the conversation's start time
(``RunSettings.started``), so every turn of a conversation opens the same
way and its cache can be reused. The start date GPT-OSS sees is decided
here: the prompt config's ``conversation_start_date`` if it sets one, else
the day the conversation started.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from ..config.prompt_config import FilledPrompt, filled_prompt
from ..config.resolve import RunSettings
from ..config.response_schema import ResponseSchema
from ..harmony.render import FunctionTool, HarmonySettings, ResponseFormat


@dataclass(frozen=True)
class Prompt:
    """Messages for the engine, Harmony settings (GPT-OSS) or None, how many leading messages are fixed, and the
    tools a chat template declares (OpenAI function shape; empty for GPT-OSS, whose tools are in its settings).

    It unpacks and indexes as ``(messages, harmony, keep)``.
    """

    messages: list[dict]
    harmony: HarmonySettings | None
    keep: int
    tools: tuple[dict, ...] = ()

    def __iter__(self):
        return iter((self.messages, self.harmony, self.keep))

    def __getitem__(self, index):
        return (self.messages, self.harmony, self.keep)[index]


def _arguments(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def template_conversation(conversation: list[dict], with_tools: bool) -> list[dict]:
    """The session's history in the shape chat templates take.

    With tools, an assistant's calls become ``tool_calls`` (arguments as
    objects, ids ``call00001``... that the results point back to); without,
    messages keep only their role and text.
    """
    out: list[dict] = []
    pending: list[str] = []  # ids of calls whose results have not come yet
    count = 0
    for message in conversation:
        item = {"role": message["role"], "content": message.get("content") or ""}
        if with_tools and message["role"] == "assistant" and message.get("tool_calls"):
            calls = []
            for call in message["tool_calls"]:
                count += 1
                pending.append(f"call{count:05d}")
                calls.append({"type": "function", "id": pending[-1],
                              "function": {"name": call["recipient"], "arguments": _arguments(call["arguments"])}})
            item["tool_calls"] = calls
        elif with_tools and message["role"] == "tool":
            item["name"] = message.get("name") or "tool"
            if pending:
                item["tool_call_id"] = pending.pop(0)
        out.append(item)
    return out


def _filled(settings: RunSettings) -> FilledPrompt:
    config = settings.prompt_config
    return filled_prompt(config, settings.started) if config is not None else FilledPrompt(None, None, [])


def schema_instruction(schema: ResponseSchema) -> str:
    """The system text that tells a chat-template model which JSON to write."""
    if schema.schema is None:
        return "Reply with one JSON object and nothing else."
    about = f" ({schema.description})" if schema.description else ""
    return f"Reply with JSON only, following this JSON schema{about}:\n{schema.prompt_text()}"


def template_function(tool: FunctionTool) -> dict:
    """A client's function (the server's) as a chat template's tool."""
    return {"type": "function", "function": {"name": tool.name, "description": tool.description,
                                             "parameters": tool.parameters or {"type": "object", "properties": {}}}}


def template_prompt(settings: RunSettings, conversation: list[dict], system: str | None = None,
                    response_schema: ResponseSchema | None = None, toolbox: Any = None,
                    function_tools: tuple[FunctionTool, ...] = ()) -> Prompt:
    """The prompt for a model with a chat template (or none): system text, example dialogues, the conversation.

    ``toolbox`` (a :class:`~mlx_harmony_tui.tools.toolbox.ToolBox`, for a
    model whose template calls tools) declares the tools it has on;
    ``function_tools`` are a client's own functions (the server's). Earlier
    calls and results keep the template's tool shape while tools are declared
    or the conversation has them (a client that stopped offering tools).
    """
    filled = _filled(settings)
    schema_text = schema_instruction(response_schema) if response_schema is not None else None
    parts = [t for t in (filled.identity, filled.instructions, system, schema_text) if t]
    prefix: list[dict] = [{"role": "system", "content": "\n\n".join(parts)}] if parts else []
    prefix += [{"role": "system" if m["role"] == "developer" else m["role"], "content": m["content"]} for m in filled.examples]
    tools = tuple(toolbox.template_tools()) if toolbox is not None and toolbox.active else ()
    tools += tuple(template_function(t) for t in function_tools)
    with_tools = bool(tools) or any(m["role"] == "tool" or m.get("tool_calls") for m in conversation)
    return Prompt(prefix + template_conversation(conversation, with_tools), None, len(prefix), tools)


def conversation_start_date(settings: RunSettings) -> str:
    """The date a GPT-OSS conversation carries in its system message, the same for all its turns."""
    return _filled(settings).start_date or settings.started.date().isoformat()


def harmony_prompt(
    settings: RunSettings,
    conversation: list[dict],
    system: str | None = None,
    effort: str | None = None,
    toolbox: Any = None,
    function_tools: tuple[FunctionTool, ...] = (),
    response_schema: ResponseSchema | None = None,
) -> Prompt:
    """The prompt for a GPT-OSS model.

    ``effort`` overrides the prompt config's reasoning effort; ``toolbox`` (a
    :class:`~mlx_harmony_tui.tools.toolbox.ToolBox`) declares the tools it has
    on; ``function_tools`` are a client's own functions (the server's);
    ``response_schema`` is declared as the answer's response format.
    """
    config = settings.prompt_config
    filled = _filled(settings)
    harmony = HarmonySettings(
        model_identity=filled.identity,
        reasoning_effort=effort or (config.reasoning_effort if config is not None else None) or "medium",
        knowledge_cutoff=filled.knowledge_cutoff,
        conversation_start_date=conversation_start_date(settings),
        developer_instructions="\n\n".join(t for t in (filled.instructions, system) if t) or None,
        function_tools=tuple(function_tools),
        response_format=(ResponseFormat(response_schema.name, response_schema.prompt_text(), response_schema.description)
                         if response_schema is not None else None),
    )
    if toolbox is not None and toolbox.active:
        harmony = toolbox.declare(harmony)
    examples = [m for m in filled.examples if m["role"] in ("user", "assistant")]
    return Prompt(examples + conversation, harmony, len(examples))


def build_prompt(settings: RunSettings, gpt_oss: bool, conversation: list[dict], system: str | None = None,
                 response_schema: ResponseSchema | None = None, **options: Any) -> Prompt:
    """The prompt in the loaded model's format; ``options`` are :func:`harmony_prompt`'s (GPT-OSS) or
    :func:`template_prompt`'s (``toolbox``) own."""
    if gpt_oss:
        return harmony_prompt(settings, conversation, system, response_schema=response_schema, **options)
    return template_prompt(settings, conversation, system, response_schema, **options)


def with_effort(prompt: Prompt, effort: str) -> Prompt:
    """``prompt`` with another reasoning effort (GPT-OSS)."""
    return replace(prompt, harmony=replace(prompt.harmony, reasoning_effort=effort)) if prompt.harmony else prompt

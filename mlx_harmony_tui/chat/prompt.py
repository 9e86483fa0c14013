"""Prompt assembly: what comes before the conversation, for every front end.

Two functions, one per prompt format:

- :func:`template_prompt` for models with a chat template: the prompt
  config's identity and instructions (and any extra system text) as one
  system message, then its example dialogues, then the conversation.
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

from dataclasses import replace
from typing import Any, NamedTuple

from ..config.prompt_config import FilledPrompt, filled_prompt
from ..config.resolve import RunSettings
from ..config.response_schema import ResponseSchema
from ..harmony.render import FunctionTool, HarmonySettings, ResponseFormat


class Prompt(NamedTuple):
    """Messages for the engine, Harmony settings (GPT-OSS) or None, and how many leading messages are fixed."""

    messages: list[dict]
    harmony: HarmonySettings | None
    keep: int


def _filled(settings: RunSettings) -> FilledPrompt:
    config = settings.prompt_config
    return filled_prompt(config, settings.started) if config is not None else FilledPrompt(None, None, [])


def schema_instruction(schema: ResponseSchema) -> str:
    """The system text that tells a chat-template model which JSON to write."""
    if schema.schema is None:
        return "Reply with one JSON object and nothing else."
    about = f" ({schema.description})" if schema.description else ""
    return f"Reply with JSON only, following this JSON schema{about}:\n{schema.prompt_text()}"


def template_prompt(settings: RunSettings, conversation: list[dict], system: str | None = None,
                    response_schema: ResponseSchema | None = None) -> Prompt:
    """The prompt for a model with a chat template (or none): system text, example dialogues, the conversation."""
    filled = _filled(settings)
    schema_text = schema_instruction(response_schema) if response_schema is not None else None
    parts = [t for t in (filled.identity, filled.instructions, system, schema_text) if t]
    prefix: list[dict] = [{"role": "system", "content": "\n\n".join(parts)}] if parts else []
    prefix += [{"role": "system" if m["role"] == "developer" else m["role"], "content": m["content"]} for m in filled.examples]
    return Prompt(prefix + conversation, None, len(prefix))


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
                 response_schema: ResponseSchema | None = None, **harmony: Any) -> Prompt:
    """The prompt in the loaded model's format; ``harmony`` holds :func:`harmony_prompt`'s GPT-OSS-only options."""
    if gpt_oss:
        return harmony_prompt(settings, conversation, system, response_schema=response_schema, **harmony)
    return template_prompt(settings, conversation, system, response_schema)


def with_effort(prompt: Prompt, effort: str) -> Prompt:
    """``prompt`` with another reasoning effort (GPT-OSS)."""
    return prompt._replace(harmony=replace(prompt.harmony, reasoning_effort=effort)) if prompt.harmony else prompt

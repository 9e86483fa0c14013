"""Render a chat for a GPT-OSS model with openai-harmony.

The system message carries the model identity, reasoning effort, knowledge
cutoff and the conversation's start date (fixed for the whole conversation,
so the prompt prefix is the same every turn and its cache can be reused).
Chat ``system`` messages become developer instructions, as OpenAI's models
expect. Earlier assistant turns are rendered on the final channel; their
analysis is dropped here, and the encoding is told not to drop anything
itself (``auto_drop_analysis`` is buggy in 0.0.8).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from ..engine.prompt import check_messages

@dataclass(frozen=True)
class HarmonySettings:
    """What the Harmony system and developer messages say."""

    model_identity: str | None = None
    reasoning_effort: str = "medium"
    knowledge_cutoff: str | None = None
    conversation_start_date: str | None = None
    developer_instructions: str | None = None


def _system_message(settings: HarmonySettings, start_date: str):
    from openai_harmony import Message, ReasoningEffort, Role, SystemContent

    content = SystemContent.new().with_reasoning_effort(
        {"low": ReasoningEffort.LOW, "medium": ReasoningEffort.MEDIUM, "high": ReasoningEffort.HIGH}[settings.reasoning_effort]
    )
    if settings.model_identity:
        content = content.with_model_identity(settings.model_identity)
    if settings.knowledge_cutoff:
        content = content.with_knowledge_cutoff(settings.knowledge_cutoff)
    content = content.with_conversation_start_date(start_date)
    return Message.from_role_and_content(Role.SYSTEM, content)


def harmony_messages(messages: list[dict], settings: HarmonySettings, start_date: str | None = None) -> list:
    """openai-harmony ``Message`` objects for a chat, ending before the assistant's reply."""
    from openai_harmony import DeveloperContent, Message, Role

    messages = check_messages(messages)
    start = settings.conversation_start_date or start_date or date.today().isoformat()
    rendered = [_system_message(settings, start)]
    instructions = [settings.developer_instructions] if settings.developer_instructions else []
    instructions += [m["content"] for m in messages if m["role"] in ("system", "developer")]
    if instructions:
        developer = DeveloperContent.new().with_instructions("\n\n".join(instructions))
        rendered.append(Message.from_role_and_content(Role.DEVELOPER, developer))
    for message in messages:
        if message["role"] == "user":
            rendered.append(Message.from_role_and_content(Role.USER, message["content"]))
        elif message["role"] == "assistant":
            rendered.append(Message.from_role_and_content(Role.ASSISTANT, message["content"]).with_channel("final"))
    return rendered


def harmony_prompt_tokens(encoding, messages: list[dict], settings: HarmonySettings, start_date: str | None = None) -> list[int]:
    """Prompt token ids ending with ``<|start|>assistant``, ready for generation."""
    from openai_harmony import Conversation, RenderConversationConfig, Role

    conversation = Conversation.from_messages(harmony_messages(messages, settings, start_date))
    return list(
        encoding.render_conversation_for_completion(conversation, Role.ASSISTANT, RenderConversationConfig(auto_drop_analysis=False))
    )

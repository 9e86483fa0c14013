"""Prompt configs: the assistant's identity, instructions, examples and sampling.

Reads the seed tool's JSON format. Built-in placeholders (``<|DATE|>``,
``<|DATETIME|>``, ``<|TIME|>``, ``<|TIMEZ|>``, ``<|TIMEA|>``, ``<|TIMEU|>``, any case)
take their value when a conversation starts and keep it for that
conversation, so the prompt prefix stays the same from turn to turn;
``{name}`` takes a value from ``placeholders``. The user's own messages are
never rewritten.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..errors import UserError
from .files import key_text, read_json, unknown_keys, validation_message
from .sampling import SamplingParams

SAMPLING_FIELDS = tuple(SamplingParams.model_fields)
# Keys of the seed tool's prompt configs that mlx-harmony has no use for; a config naming them is
# told so, by name, rather than having them dropped in silence.
SEED_KEYS_UNUSED = {
    "use_harmony": "Harmony is used exactly when the model is GPT-OSS",
    "max_user_tokens": "messages are not truncated; max_context_tokens drops the oldest turns instead",
    "max_assistant_tokens": "use max_tokens",
    "xtc_special_tokens": "XTC never drops end-of-sequence or newline tokens",
    "mlock": "MLX manages wired memory itself",
    "no_fs_cache": "not applicable",
    "lazy": "models load fully",
    "truncate_thinking": "the analysis pane is collapsible instead",
    "truncate_response": "answers are shown whole",
    "logs_dir": "chat logs live in the data folder (MLX_HARMONY_DATA_DIR)",
    "chats_dir": "chat logs live in the data folder (MLX_HARMONY_DATA_DIR)",
}


class DialogueMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["user", "assistant", "system", "developer"]
    content: str


class PromptConfig(BaseModel):
    """A prompt config file; sampling fields left out keep the app's defaults."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    system_model_identity: str | None = None
    reasoning_effort: Literal["low", "medium", "high"] | None = None
    conversation_start_date: str | None = None
    knowledge_cutoff: str | None = None
    developer_instructions: str | None = None
    assistant_greeting: str | None = None
    example_dialogues: list[list[DialogueMessage]] = Field(default_factory=list)
    placeholders: dict[str, str] = Field(default_factory=dict)
    max_context_tokens: int | None = Field(None, ge=1)

    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    min_p: float | None = None
    min_tokens_to_keep: int | None = None
    repetition_penalty: float | None = None
    repetition_context_size: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    xtc_probability: float | None = None
    xtc_threshold: float | None = None
    logit_bias: dict[int, float] | None = None
    max_tokens: int | None = None
    seed: int | None = None
    reseed_each_turn: bool | None = None
    speculative: Literal["off", "ngram"] | None = None
    draft_tokens: int | None = None

    @field_validator("reasoning_effort", mode="before")
    @classmethod
    def _lower_effort(cls, value):
        return value.lower() if isinstance(value, str) else value

    @field_validator("seed", mode="before")
    @classmethod
    def _random_seed(cls, value):
        return None if value == -1 and not isinstance(value, bool) else value  # the seed tool's "random"

    def sampling_overrides(self) -> dict:
        return {name: getattr(self, name) for name in SAMPLING_FIELDS if getattr(self, name) is not None}

    def sampling(self, base: SamplingParams | None = None) -> SamplingParams:
        """``base`` with this config's sampling fields applied (validated by SamplingParams' ranges)."""
        return (base or SamplingParams()).with_changes(**self.sampling_overrides())


def load_prompt_config(path: str | Path) -> PromptConfig:
    """Read and validate a prompt config; warn about keys it does not know."""
    path = Path(path).expanduser()
    data = read_json(path, "prompt config")
    if not isinstance(data, dict):
        raise UserError(f"{path}: a prompt config must be a JSON object")
    unknown = unknown_keys(data, PromptConfig)
    unused = [k for k in unknown if k in SEED_KEYS_UNUSED]
    unknown = [k for k in unknown if k not in SEED_KEYS_UNUSED]
    if unused:
        reasons = "; ".join(f"{k} ({SEED_KEYS_UNUSED[k]})" for k in unused)
        warnings.warn(f"{path}: seed-tool keys not used by mlx-harmony: {reasons}", UserWarning, stacklevel=2)
    if unknown:
        warnings.warn(f"{path}: unknown keys ignored: {', '.join(map(key_text, unknown))}", UserWarning, stacklevel=2)
    try:
        # Sampling fields are checked as written first, so messages quote the user's own values.
        raw = {k: data[k] for k in SAMPLING_FIELDS if data.get(k) is not None and not (k == "seed" and data[k] == -1)}
        SamplingParams.model_validate(raw)
        config = PromptConfig.model_validate(data)
    except ValidationError as exc:
        raise UserError(validation_message(path, exc)) from None
    return config


_ANGLE = re.compile(r"<\|([A-Za-z_][A-Za-z0-9_]*)\|>")
_USER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def builtin_values(now: datetime) -> dict[str, str]:
    """Values of the built-in placeholders at ``now`` (a timezone-aware local time)."""
    utc = now.astimezone(timezone.utc)
    return {
        "DATE": now.strftime("%Y-%m-%d"),
        "DATETIME": now.strftime("%Y-%m-%d %H:%M:%S"),
        "TIME": now.strftime("%H:%M"),
        "TIMEZ": now.strftime("%H:%M %Z").strip(),
        "TIMEA": now.strftime("%I:%M %p"),
        "TIMEU": utc.strftime("%H:%M UTC"),
    }


def fill_placeholders(text: str, values: dict[str, str], user_values: dict[str, str]) -> str:
    """Fill ``<|NAME|>`` and ``{name}`` placeholders; anything unknown is left as written.

    ``<|NAME|>`` is a built-in in any case, else a user placeholder (its exact
    key first, then any case); ``{name}`` is a user placeholder, exact key.
    """
    folded = {k.lower(): v for k, v in user_values.items()}

    def angle(match: re.Match) -> str:
        name = match.group(1)
        if name.upper() in values:
            return values[name.upper()]
        if name in user_values:
            return user_values[name]
        return folded.get(name.lower(), match.group(0))

    text = _ANGLE.sub(angle, text)
    return _USER.sub(lambda m: user_values.get(m.group(1), m.group(0)), text)


@dataclass(frozen=True)
class FilledPrompt:
    """A config's texts with placeholders filled for one conversation."""

    identity: str | None
    instructions: str | None
    examples: list[dict]
    greeting: str | None = None
    start_date: str | None = None
    knowledge_cutoff: str | None = None


def filled_prompt(config: PromptConfig, started: datetime) -> FilledPrompt:
    """Fill every text of ``config`` with the values of the conversation that began at ``started``."""
    values = builtin_values(started)

    def fill(text: str | None) -> str | None:
        return fill_placeholders(text, values, config.placeholders) if text else text

    examples = [{"role": m.role, "content": fill(m.content)} for dialogue in config.example_dialogues for m in dialogue]
    return FilledPrompt(
        identity=fill(config.system_model_identity),
        instructions=fill(config.developer_instructions),
        examples=examples,
        greeting=fill(config.assistant_greeting),
        start_date=fill(config.conversation_start_date),
        knowledge_cutoff=fill(config.knowledge_cutoff),
    )

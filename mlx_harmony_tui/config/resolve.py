"""Combine flags, profile and prompt config into what one run uses.

Precedence, lowest first: app defaults, the profile's prompt config, the
profile's sampling, an explicit ``--prompt-config``, then individual flags
(applied by the caller).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from ..engine.sampling_params import SamplingParams
from ..errors import UserError
from .profiles import find_profile
from .prompt_config import PromptConfig, conversation_messages, filled_prompt, load_prompt_config


@dataclass
class RunSettings:
    model: str | None
    sampling: SamplingParams
    prompt_config: PromptConfig | None = None
    profile: str | None = None
    started: datetime = field(default_factory=lambda: datetime.now().astimezone())
    max_context_tokens: int | None = None
    tools: tuple[str, ...] = ()
    prompt_config_path: str | None = None

    def prefix_messages(self, system: str | None = None) -> list[dict]:
        """What comes before the conversation for ordinary models: system text, then example dialogues."""
        return conversation_messages(self.prompt_config, None, system, self.started)

    def messages(self, prompt: str, system: str | None = None) -> list[dict]:
        return self.prefix_messages(system) + [{"role": "user", "content": prompt}]

    def harmony_prefix(self, system: str | None = None):
        """For GPT-OSS: (HarmonySettings, example messages). Identity and instructions go to Harmony's own slots."""
        from ..harmony.render import HarmonySettings

        config = self.prompt_config
        if config is None:
            return HarmonySettings(developer_instructions=system), []
        filled = filled_prompt(config, self.started)
        settings = HarmonySettings(
            model_identity=filled.identity,
            reasoning_effort=config.reasoning_effort or "medium",
            knowledge_cutoff=filled.knowledge_cutoff,
            conversation_start_date=filled.start_date or self.started.date().isoformat(),
            developer_instructions="\n\n".join(t for t in (filled.instructions, system) if t) or None,
        )
        return settings, [m for m in filled.examples if m["role"] in ("user", "assistant")]

    def harmony_chat(self, prompt: str, system: str | None = None):
        settings, examples = self.harmony_prefix(system)
        return settings, examples + [{"role": "user", "content": prompt}]

    def greeting(self) -> str | None:
        return filled_prompt(self.prompt_config, self.started).greeting if self.prompt_config else None


def resolve_run_settings(
    model: str | None = None,
    prompt_config: str | None = None,
    profile: str | None = None,
    profiles_file: str | None = None,
) -> RunSettings:
    sampling = SamplingParams()
    config = None
    chosen_model = model
    max_context = None
    tools: tuple[str, ...] = ()
    config_path = None
    if profile:
        found = find_profile(profile, profiles_file)
        if found.prompt_config:
            config = load_prompt_config(found.prompt_config)
            config_path = found.prompt_config
            sampling = config.sampling(sampling)
        # Each field was range-checked when the profiles file was read.
        sampling = sampling.with_changes(**found.sampling)
        if chosen_model is None:
            chosen_model = found.model
        max_context = found.max_context_tokens
        tools = tuple(found.tools)
    elif profiles_file:
        raise UserError("--profiles-file: give --profile NAME to pick a profile from it")
    if prompt_config:
        config = load_prompt_config(prompt_config)
        config_path = str(Path(prompt_config).expanduser().resolve())
        sampling = config.sampling(sampling)
    if max_context is None and config is not None:
        max_context = config.max_context_tokens
    return RunSettings(
        model=chosen_model, sampling=sampling, prompt_config=config, profile=profile, max_context_tokens=max_context, tools=tools,
        prompt_config_path=config_path,
    )

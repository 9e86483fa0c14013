"""Combine flags, profile and prompt config into what one run uses.

Precedence, lowest first: app defaults, the profile's prompt config, the
profile's sampling, an explicit ``--prompt-config``, then individual flags
(applied by the caller).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from pydantic import ValidationError

from ..engine.sampling_params import SamplingParams
from ..errors import UserError
from .profiles import find_profile
from .prompt_config import PromptConfig, conversation_messages, load_prompt_config


@dataclass
class RunSettings:
    model: str | None
    sampling: SamplingParams
    prompt_config: PromptConfig | None = None
    profile: str | None = None
    started: datetime = field(default_factory=lambda: datetime.now().astimezone())

    def messages(self, prompt: str, system: str | None = None) -> list[dict]:
        return conversation_messages(self.prompt_config, prompt, system, self.started)

    def harmony_chat(self, prompt: str, system: str | None = None):
        """For GPT-OSS: (HarmonySettings, messages). Identity and instructions go to Harmony's own slots."""
        from ..harmony.render import HarmonySettings
        from .prompt_config import builtin_values, fill_placeholders

        config = self.prompt_config
        if config is None:
            return HarmonySettings(developer_instructions=system), [{"role": "user", "content": prompt}]
        values = builtin_values(self.started)
        fill = lambda t: fill_placeholders(t, values, config.placeholders) if t else None  # noqa: E731
        instructions = "\n\n".join(t for t in (fill(config.developer_instructions), system) if t) or None
        settings = HarmonySettings(
            model_identity=fill(config.system_model_identity),
            reasoning_effort=config.reasoning_effort or "medium",
            knowledge_cutoff=config.knowledge_cutoff,
            conversation_start_date=config.conversation_start_date or self.started.date().isoformat(),
            developer_instructions=instructions,
        )
        examples = [
            {"role": m.role, "content": fill(m.content) or ""}
            for dialogue in config.example_dialogues
            for m in dialogue
            if m.role in ("user", "assistant")
        ]
        return settings, examples + [{"role": "user", "content": prompt}]


def resolve_run_settings(
    model: str | None = None,
    prompt_config: str | None = None,
    profile: str | None = None,
    profiles_file: str | None = None,
) -> RunSettings:
    sampling = SamplingParams()
    config = None
    chosen_model = model
    if profile:
        found = find_profile(profile, profiles_file)
        if found.prompt_config:
            config = load_prompt_config(found.prompt_config)
            sampling = config.sampling(sampling)
        try:
            sampling = SamplingParams.model_validate({**sampling.model_dump(), **found.sampling})
        except ValidationError as exc:
            first = exc.errors()[0]
            raise UserError(f"profile {profile!r}: sampling.{first['loc'][0]}: {first['msg']}") from None
        if chosen_model is None:
            chosen_model = found.model
    elif profiles_file:
        raise UserError("--profiles-file: give --profile NAME to pick a profile from it")
    if prompt_config:
        config = load_prompt_config(prompt_config)
        sampling = config.sampling(sampling)
    return RunSettings(model=chosen_model, sampling=sampling, prompt_config=config, profile=profile)

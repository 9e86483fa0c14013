"""Combine flags, profile and prompt config into what one run uses.

Precedence, lowest first: app defaults, the profile's prompt config, the
profile's sampling, an explicit ``--prompt-config``, then individual flags
(applied by the caller).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from ..errors import UserError
from .files import key_text
from .profiles import find_profile
from .prompt_config import PromptConfig, filled_prompt, load_prompt_config
from .response_schema import ResponseSchema
from .sampling import SamplingParams


@dataclass
class RunSettings:
    """What one conversation runs with; ``started`` freezes its placeholders (see chat.prompt)."""

    model: str | None
    sampling: SamplingParams
    prompt_config: PromptConfig | None = None
    profile: str | None = None
    started: datetime = field(default_factory=lambda: datetime.now().astimezone())
    max_context_tokens: int | None = None
    tools: tuple[str, ...] = ()
    prompt_config_path: str | None = None
    mcp_servers: dict = field(default_factory=dict)  # the profile's MCP servers (name -> config.mcp.McpServer)
    response_schema: ResponseSchema | None = None  # every answer is JSON following it (a profile's, or --json-schema)

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
    mcp_servers: dict = {}
    schema = None
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
        mcp_servers = dict(found.mcp_servers)
        schema = found.answer_schema(f"profile {key_text(profile)}: response_schema")
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
        prompt_config_path=config_path, mcp_servers=mcp_servers, response_schema=schema,
    )

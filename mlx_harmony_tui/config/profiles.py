"""Profiles: named bundles of model, prompt config and sampling.

The seed tool's shape, ``{"name": {"model": ..., "prompt_config": ...,
"max_context_tokens": ...}}``, plus optional ``sampling`` and ``tools``.
Relative paths resolve against the profiles file's folder; ``~`` expands.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..engine.sampling_params import SamplingParams
from ..errors import UserError
from ..paths import config_dir
from .files import read_json, validation_message


class Profile(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    model: str | None = None
    prompt_config: str | None = None
    max_context_tokens: int | None = Field(None, ge=1)
    sampling: dict = Field(default_factory=dict)
    tools: list[str] = Field(default_factory=list)


def _resolve(value: str | None, base: Path) -> str | None:
    if value is None:
        return None
    path = Path(value).expanduser()
    if path.is_absolute():
        return str(path)
    candidate = base / path
    # A bare "org/name" that is not a file next to the profiles is a Hugging Face repo id.
    if candidate.exists() or value.startswith(".") or value.endswith((".json", ".gguf")):
        return str(candidate)
    return value


def profile_files(explicit: str | None) -> list[Path]:
    """Where profiles are looked for, in order."""
    if explicit:
        return [Path(explicit).expanduser()]
    return [config_dir() / "profiles.json", Path.cwd() / "configs" / "profiles.json"]


def load_profiles(path: Path) -> dict[str, Profile]:
    data = read_json(path, "profiles file")
    if not isinstance(data, dict):
        raise UserError(f"{path}: a profiles file must be a JSON object of name -> profile")
    profiles = {}
    for name, body in data.items():
        try:
            profile = Profile.model_validate(body)
            SamplingParams.model_validate(profile.sampling)
        except ValidationError as exc:
            where = f"{name}.sampling." if exc.title == "SamplingParams" else f"{name}."
            raise UserError(validation_message(path, exc, where)) from None
        base = path.parent.resolve()
        profiles[name] = profile.model_copy(
            update={"model": _resolve(profile.model, base), "prompt_config": _resolve(profile.prompt_config, base)}
        )
    return profiles


def find_profile(name: str, explicit_file: str | None) -> Profile:
    files = profile_files(explicit_file)
    searched = []
    for path in files:
        if not path.is_file():
            if explicit_file:
                raise UserError(f"{path}: profiles file not found")
            continue
        searched.append(str(path))
        profiles = load_profiles(path)
        if name in profiles:
            return profiles[name]
    where = ", ".join(searched) if searched else "no profiles file found (" + ", ".join(map(str, files)) + ")"
    raise UserError(f"--profile: no profile named {name!r} in {where}")

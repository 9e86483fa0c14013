"""Profiles: named bundles of model, prompt config and sampling.

The seed tool's shape, ``{"name": {"model": ..., "prompt_config": ...,
"max_context_tokens": ...}}``, plus optional ``sampling``, ``tools``, ``mcpServers`` (see :mod:`.mcp`) and
``response_schema`` (a JSON schema every answer follows, inline or a file
path; checked when the file is read).
Relative paths resolve against the profiles file's folder; ``~`` expands.
The seed's own example names its prompt config relative to the project
folder (``configs/prompt-config.example.json`` inside ``configs/``), so a
relative path that does not exist next to the profiles file but does exist
from the current folder is taken from there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..errors import UserError
from ..paths import config_dir
from .files import key_text, read_json, validation_message
from .mcp import McpServer, enabled_servers
from .response_schema import ResponseSchema, load_schema_file, schema_from_value
from .sampling import SamplingParams


class Profile(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, populate_by_name=True)

    model: str | None = None
    prompt_config: str | None = None
    max_context_tokens: int | None = Field(None, ge=1)
    sampling: dict = Field(default_factory=dict)
    tools: list[Literal["browser", "python", "apply_patch"]] = Field(default_factory=list)
    mcp_servers: dict[str, McpServer] = Field(default_factory=dict, alias="mcpServers")  # on top of the settings' ones

    @field_validator("mcp_servers")
    @classmethod
    def _servers(cls, value: dict[str, McpServer]) -> dict[str, McpServer]:
        return enabled_servers(value)
    response_schema: dict | str | None = None

    def answer_schema(self, where: str = "response_schema") -> ResponseSchema | None:
        """The profile's response schema, read and checked (UserError naming ``where`` or the schema file)."""
        if self.response_schema is None:
            return None
        if isinstance(self.response_schema, str):
            return load_schema_file(self.response_schema, where)
        return schema_from_value(self.response_schema, where)


def _resolve(value: str | None, base: Path) -> str | None:
    if value is None:
        return None
    path = Path(value).expanduser()
    if path.is_absolute():
        return str(path)
    candidate = base / path
    if candidate.exists():
        return str(candidate)
    if Path.cwd().joinpath(path).exists():
        return str(Path.cwd() / path)
    # A bare "org/name" that is not a file next to the profiles is a Hugging Face repo id.
    if value.startswith(".") or value.endswith((".json", ".gguf")):
        return str(candidate)
    return value


PROJECT_CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def profile_files(explicit: str | None) -> list[Path]:
    """Where profiles are looked for, in order: the named file, the user's, the project's."""
    if explicit:
        return [Path(explicit).expanduser()]
    found = [config_dir() / "profiles.json"]
    for folder in dict.fromkeys([Path.cwd() / "configs", PROJECT_CONFIGS]):
        found += [folder / "profiles.json", folder / "profiles.example.json"]
    return found


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
            where = f"{key_text(name)}.sampling." if exc.title == "SamplingParams" else f"{key_text(name)}."
            raise UserError(validation_message(path, exc, where)) from None
        base = path.parent.resolve()
        schema = profile.response_schema
        profile = profile.model_copy(
            update={"model": _resolve(profile.model, base), "prompt_config": _resolve(profile.prompt_config, base),
                    "response_schema": str((base / Path(schema).expanduser())) if isinstance(schema, str) else schema}
        )
        profile.answer_schema(f"{path}: {key_text(name)}.response_schema")
        profiles[name] = profile
    return profiles


@dataclass(frozen=True)
class ProfilesFile:
    """A profiles file that exists: its profiles, or the one-line reason it cannot be read."""

    path: Path
    profiles: dict[str, Profile]
    problem: str | None = None


def profiles_files(explicit: str | None) -> list[ProfilesFile]:
    """Every profiles file there is, in search order; an explicitly named file that is missing is an error."""
    found = []
    for path in profile_files(explicit):
        if not path.is_file():
            if explicit:
                raise UserError(f"{path}: profiles file not found")
            continue
        try:
            found.append(ProfilesFile(path, load_profiles(path)))
        except UserError as exc:
            found.append(ProfilesFile(path, {}, str(exc)))
    return found


def all_profiles(explicit: str | None) -> dict[str, Profile]:
    """Every profile in the readable profiles files (name -> Profile); the first file's wins a name."""
    merged: dict[str, Profile] = {}
    for found in profiles_files(explicit):
        for name, profile in found.profiles.items():
            merged.setdefault(name, profile)
    return merged


def find_profile(name: str, explicit_file: str | None) -> Profile:
    """Profile ``name`` from the first profiles file that has it; a damaged file on the way is an error."""
    files = profiles_files(explicit_file)
    for found in files:
        if found.problem:
            raise UserError(found.problem)
        if name in found.profiles:
            return found.profiles[name]
    searched = ", ".join(str(f.path) for f in files)
    where = searched or "no profiles file found (" + ", ".join(map(str, profile_files(explicit_file))) + ")"
    raise UserError(f"--profile: no profile named {name!r} in {where}")

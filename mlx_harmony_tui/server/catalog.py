"""What a request's ``model`` may name: the model the server started with, or a profile.

Clients choose among these names only; nothing a client sends is ever taken
for a path on disk. The startup model is listed under its own name (and
under its profile's, when started with ``--profile``); every profile in the
server's profiles files is listed under its name, with its model, prompt
config and sampling.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from ..config.profiles import profiles_files
from ..config.resolve import RunSettings, resolve_run_settings
from ..errors import UserError
from ..models.resolve import REPO_ID
from .openai_format import model_not_found


@dataclass(frozen=True)
class ServedModel:
    """A name clients can ask for, and what serving it means."""

    id: str
    settings: RunSettings


def display_name(spec: str | None) -> str:
    """The name a model is known by: the default model's, a folder's or file's, or the repo id."""
    if spec is None:
        from ..models.default_model import NAME

        return NAME
    path = Path(spec).expanduser()
    if path.exists():
        path = path.resolve()  # "." names its folder
        return path.stem if path.suffix.lower() == ".gguf" else path.name
    return spec


def check_model_spec(spec: str | None, flag: str = "--model") -> None:
    """Refuse a model that names neither an existing path nor a Hugging Face repo id."""
    if spec is None or Path(spec).expanduser().exists():
        return
    if spec.startswith((".", "/", "~")) or spec.endswith(".gguf") or not REPO_ID.match(spec):
        raise UserError(f"{flag}: model not found: {spec} (no such folder or file)")


class ModelCatalog:
    """Served names in order; the first is the startup model."""

    def __init__(self, entries: list[ServedModel]):
        if not entries:
            raise ValueError("a catalog needs the startup model")
        self._entries: dict[str, ServedModel] = {}
        for entry in entries:
            self._entries.setdefault(entry.id, entry)
        self.startup = entries[0]

    @classmethod
    def from_flags(cls, model: str | None = None, profile: str | None = None, profiles_file: str | None = None) -> "ModelCatalog":
        """The startup model from ``--model``/``--profile``, then every profile the profiles files hold."""
        startup = resolve_run_settings(model=model, profile=profile, profiles_file=profiles_file if profile else None)
        check_model_spec(startup.model, "--model" if model else f"--profile {profile}: model")
        entries = [ServedModel(display_name(startup.model), startup)]
        if profile:
            entries.insert(0, ServedModel(profile, startup))
        for found in profiles_files(profiles_file):
            if found.problem:
                raise UserError(found.problem)
            for name in found.profiles:
                if name != profile:
                    entries.append(ServedModel(name, resolve_run_settings(profile=name, profiles_file=str(found.path))))
        return cls(entries)

    @classmethod
    def for_model(cls, model: str | None) -> "ModelCatalog":
        """Only the one model, with default settings (no profiles)."""
        return cls([ServedModel(display_name(model), resolve_run_settings(model=model))])

    def with_sampling(self, changes: dict) -> "ModelCatalog":
        """Every entry with ``changes`` (range-checked SamplingParams fields, e.g. ``--speculative``) over its sampling."""
        if not changes:
            return self
        return type(self)([replace(entry, settings=replace(entry.settings, sampling=entry.settings.sampling.with_changes(**changes)))
                           for entry in self._entries.values()])

    def get(self, name: str) -> ServedModel:
        """The entry named ``name``; APIError 404 ``model_not_found`` otherwise."""
        entry = self._entries.get(name)
        if entry is None:
            raise model_not_found(name)
        return entry

    def ids(self) -> list[str]:
        return list(self._entries)

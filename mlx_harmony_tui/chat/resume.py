"""Resuming a saved chat: its profile, or else its model and prompt config, and the sampling of the branch it opens on
come back."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

from ..config.prompt_config import PromptConfig
from ..config.sampling import SamplingParams
from ..errors import UserError
from ..logs.branches import path_to
from ..logs.schema import Chat
from ..logs.store import ChatLog
from ..models.resolve import names_hub_repo
from .history import history_entry


def resume_chat(session: Any, log: ChatLog, progress: Callable[[str, float], None] | None = None) -> list[str]:
    """Make ``session`` continue the saved chat ``log`` from its head (the end of the branch the chat shows).

    The chat's profile, or else its model and prompt config, and the
    sampling that branch's last answer was written with are restored where
    they still exist; returns one note per thing that could not be, so the
    user knows what they are talking to.
    """
    chat = log.read()
    meta = chat.metadata
    notes: list[str] = []
    restored_profile = False
    if meta.profile and meta.profile != session.settings.profile:
        try:
            session.switch_profile(meta.profile, progress)
            restored_profile = True
        except UserError as exc:
            notes.append(f"profile {meta.profile!r} not restored ({exc})")
    if not restored_profile:
        model = meta.last_model_path or meta.model_path
        if model and model != session.info.path:
            if not Path(model).exists() and not names_hub_repo(model):
                notes.append(f"the chat's model {model} is missing; continuing with {session.info.name}")
            else:
                try:
                    session.switch_model(model, progress)
                except UserError as exc:
                    notes.append(f"the chat's model was not loaded ({exc}); continuing with {session.info.name}")
        if meta.prompt_config is not None:
            try:
                config = PromptConfig.model_validate(meta.prompt_config)
                session.settings = replace(session.settings, prompt_config=config, prompt_config_path=meta.prompt_config_path)
            except ValueError as exc:
                notes.append(f"the chat's prompt config was not restored: {str(exc).splitlines()[0]}")
    used = sampling_at(chat, log.head)
    fields = {k: v for k, v in used.items() if k in SamplingParams.model_fields}
    if fields:
        try:
            session.generator.sampling = SamplingParams(**fields)
            session.settings = replace(session.settings, sampling=session.generator.sampling)
        except ValueError:
            notes.append("the chat's sampling settings were invalid; the current ones stay")
    effort = used.get("reasoning_effort")
    session.reasoning_effort = effort if isinstance(effort, str) else None
    session.history = [history_entry(m) for m in path_to(chat, log.head) if m.role in ("user", "assistant", "tool")]
    session.fresh_cache()
    session.log = log
    return notes


def sampling_at(chat: Chat, head: str | None) -> dict[str, Any]:
    """The sampling the last answer of the branch ending at ``head`` was written with.

    A message records its sampling only when it differs from the message saved before it, in the file's order (another
    branch's, a comparison's other answer), so it is the newest record up to that answer.
    """
    answers = [m.id for m in path_to(chat, head) if m.role == "assistant"]
    saved = [m.id for m in chat.messages]
    upto = saved.index(answers[-1]) + 1 if answers else len(saved)
    return next((m.hyperparameters for m in reversed(chat.messages[:upto]) if m.hyperparameters), chat.metadata.last_hyperparameters)

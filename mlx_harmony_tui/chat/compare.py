"""Compare: one question answered twice at once, by the session as it is and by other settings of the same model.

Side A is the session itself: its profile, live sampling, tools and
conversation cache. Side B is a second session on the same generator (the
engine batches both answers) with another profile's prompt and sampling, or
the session's own prompt with other sampling; it starts from a copy of the
conversation and computes in a cache of its own. Both answers are saved in
the session's chat log as versions of the question (two branches from the
same point), so the version marks, the branch picker and the log browser
show them like any edit or regeneration. Until the user keeps one, the chat
is on A everywhere (:meth:`Comparison.ended` decides it, for every front
end): the session goes on from A and the log shows A's branch, so resuming,
previewing, replaying and exporting the chat give A, whichever answer was
saved last. :meth:`Comparison.keep` picks B. Side B runs no tools: a tool
call it makes is shown and saved, not run.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterator

from ..config.resolve import RunSettings, resolve_run_settings
from ..engine.events import Event
from ..errors import UserError
from .session import ChatSession

SIDES = ("a", "b")


@dataclass(frozen=True)
class Contender:
    """What side B answers with: a label for the screen and the settings."""

    label: str
    settings: RunSettings


def profile_contender(session: ChatSession, name: str) -> Contender:
    """Profile ``name`` on the loaded model (UserError when it names another model: a comparison runs one model)."""
    settings = resolve_run_settings(profile=name, profiles_file=session.profiles_file)
    if settings.model != session.generator.model_spec:
        raise UserError(f"profile {name} runs {settings.model or 'the default model'}; a comparison answers with the loaded model "
                        f"({session.info.name}): pick a profile of that model, or switch to {name} first", "profile")
    return Contender(f"profile {name}", replace(settings, started=session.settings.started))


def sampling_contender(session: ChatSession, label: str, **changes) -> Contender:
    """The session's own profile and prompt with other sampling (UserError naming a bad value)."""
    try:
        sampling = session.sampling.with_changes(**changes)
    except ValueError as exc:
        raise UserError(f"sampling: {exc}") from None
    return Contender(label, replace(session.settings, sampling=sampling))


def contenders(session: ChatSession, profile_names: list[str]) -> list[Contender]:
    """What the next answer can be compared with: other sampling of this profile, and every profile of the loaded model."""
    params = session.sampling
    found = []
    if params.temperature > 0:
        found.append(sampling_contender(session, "same prompt, greedy (temperature 0)", temperature=0.0))
        found.append(sampling_contender(session, f"same prompt, another seed ({(params.seed or 0) + 1})", seed=(params.seed or 0) + 1))
    hotter = round(min(params.temperature + 0.5, 1.5), 2)
    if hotter != params.temperature:
        found.append(sampling_contender(session, f"same prompt, temperature {hotter}", temperature=hotter))
    for name in profile_names:
        try:
            found.append(profile_contender(session, name))
        except UserError:
            continue  # another model's profile (or a damaged one): not comparable here
    return found


class Comparison:
    """Side A (``session``) and side B (``contender``) answering the same next question."""

    def __init__(self, session: ChatSession, contender: Contender):
        self.session = session
        self.contender = contender
        generator = session.generator
        other = ChatSession(contender.settings, generator=generator, profiles_file=session.profiles_file,
                            system=session.system, conversation_id=generator.new_conversation_id())
        generator.sampling = session.sampling  # a new session sets the generator's default sampling to its own
        other.history = [dict(m) for m in session.history]
        if contender.settings.profile == session.settings.profile:
            other.reasoning_effort = session.reasoning_effort
        if session.log is not None:
            other.log = session.log.handle()  # the same chat; its answer is saved as a second version of the question
        self.other = other

    def sides(self, text: str) -> tuple[Iterator[Event], Iterator[Event]]:
        """The two answers to ``text`` as event streams (A, B); run each on a thread of its own so both decode together.

        Each raises :class:`~.session.TurnFailed` the way :meth:`ChatSession.send` does.
        """
        return self.session.send(text), self.other.send(text)

    def cancel(self) -> None:
        """Stop both answers (from any thread); what they said is saved marked cancelled."""
        self.session.cancel()
        self.other.cancel()

    def leaf(self, side: str) -> str | None:
        """The log id of side ``side``'s last saved message (None when nothing of it was saved)."""
        chosen = self.session if side == "a" else self.other
        saved = [m.get("log_id") for m in chosen.history if m.get("log_id")]
        return saved[-1] if saved else None

    def ended(self, answered: list[str]) -> str | None:
        """Both answers have ended, ``answered`` naming the sides that left one: the side the chat goes on from until
        the user keeps one (None when neither answered).

        That is A, or B when A left nothing; the log records it as the branch the chat shows.
        """
        side = next((s for s in SIDES if s in answered), None)
        if side is not None:
            self.keep(side)
        return side

    def keep(self, side: str) -> None:
        """Go on from side ``side``'s answer; the other stays in the log as a version of the question."""
        if side not in SIDES:
            raise ValueError(f"side must be one of {SIDES}")
        session, other = self.session, self.other
        if side == "a":
            if session.log is not None and (leaf := self.leaf("a")):
                session.log.show_branch(leaf)  # B may have been saved last: the log shows A all the same
            return
        if session.log is not None and (leaf := self.leaf("b")):
            session.show_branch(leaf)
        else:
            session.history = [dict(m) for m in other.history]
        session.conversation_id = other.conversation_id  # B's cache holds exactly what the next turn starts with

"""ChatSession: one conversation with a model, under a profile that can change mid-way.

The session keeps the conversation itself (user, assistant and tool
messages); what comes before it (system text, Harmony settings, example
dialogues) is rebuilt from the current prompt config for every turn, with
placeholders frozen at the conversation's start. Switching profile reloads
the model only when the profile names a different one, then applies the new
prompt config and sampling; the conversation carries on.

Front ends drive it from one thread: :meth:`send` yields the engine's typed
events and records the answer when the turn ends.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable, Iterator

from ..config.resolve import RunSettings, resolve_run_settings
from ..engine.events import Done, Event, TextDelta, ToolCall
from ..engine.token_generator import TokenGenerator

Progress = Callable[[str, float], None]


class ChatSession:
    def __init__(
        self,
        settings: RunSettings,
        generator: TokenGenerator | None = None,
        profiles_file: str | None = None,
        progress: Progress | None = None,
        system: str | None = None,
    ):
        self.settings = settings
        self.profiles_file = profiles_file
        self.system = system
        self.generator = generator or TokenGenerator(settings.model, sampling=settings.sampling, progress=progress)
        if generator is not None and generator.model_spec != settings.model:
            generator.load(settings.model, progress)
        self.generator.sampling = settings.sampling
        self.history: list[dict] = []
        self.last_done: Done | None = None

    @property
    def info(self):
        return self.generator.info

    def prompt(self) -> tuple[list[dict], Any, int]:
        """(messages for the engine, Harmony settings or None, how many leading messages are fixed)."""
        if self.info.is_gpt_oss:
            harmony, prefix = self.settings.harmony_prefix(self.system)
        else:
            harmony, prefix = None, self.settings.prefix_messages(self.system)
        return prefix + self.history, harmony, len(prefix)

    def send(self, text: str, **sampling: Any) -> Iterator[Event]:
        """Add a user message and stream the answer; the answer joins the history when the turn ends."""
        self.history.append({"role": "user", "content": text})
        return self._answer(sampling)

    def _answer(self, sampling: dict) -> Iterator[Event]:
        messages, harmony, keep = self.prompt()
        final: list[str] = []
        analysis: list[str] = []
        calls: list[dict] = []
        for event in self.generator.stream(
            messages=messages, harmony=harmony, max_context_tokens=self.settings.max_context_tokens, keep_messages=keep, **sampling
        ):
            if isinstance(event, TextDelta):
                (final if event.channel == "final" else analysis).append(event.text)
            elif isinstance(event, ToolCall):
                calls.append(
                    {"recipient": event.recipient, "arguments": event.arguments, "channel": event.channel, "content_type": event.content_type}
                )
            elif isinstance(event, Done):
                self.last_done = event
                answer: dict[str, Any] = {"role": "assistant", "content": "".join(final)}
                if analysis:
                    answer["analysis"] = "".join(analysis)
                if calls:
                    answer["tool_calls"] = calls
                if self.info.is_gpt_oss:
                    answer["token_ids"] = list(event.token_ids)  # the raw history of this step, see harmony.render
                self.history.append(answer)
            yield event

    def add_tool_result(self, name: str, content: str) -> None:
        """Record a tool's result; the next :meth:`continue_turn` lets the model read it."""
        self.history.append({"role": "tool", "name": name, "content": content})

    def continue_turn(self, **sampling: Any) -> Iterator[Event]:
        """Generate the next step of the current turn (after tool results)."""
        return self._answer(sampling)

    def switch_profile(self, name: str, progress: Progress | None = None) -> bool:
        """Apply profile ``name``; return True when that meant loading another model."""
        new = resolve_run_settings(profile=name, profiles_file=self.profiles_file)
        new = replace(new, started=self.settings.started)  # the conversation's placeholders stay as they were
        reloaded = new.model != self.generator.model_spec
        if reloaded:
            self.generator.load(new.model, progress)
        self.generator.sampling = new.sampling
        self.settings = new
        return reloaded

    def update_sampling(self, **changes: Any) -> None:
        """Change sampling for this and later turns (from any thread, mid-generation too)."""
        self.generator.update_sampling(**changes)
        self.settings = replace(self.settings, sampling=self.generator.sampling)

    def close(self) -> None:
        self.generator.close()

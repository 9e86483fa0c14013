"""ChatSession: one conversation with a model, under a profile that can change mid-way.

The session keeps the conversation itself (user, assistant and tool
messages); what comes before it (system text, Harmony settings, example
dialogues) is rebuilt from the current prompt config for every turn, with
placeholders frozen at the conversation's start. Switching profile reloads
the model only when the profile names a different one, then applies the new
prompt config and sampling; the conversation carries on.

Front ends drive it from one thread: :meth:`send` yields the engine's typed
events and records the answer when the turn ends. With a chat log attached
(:meth:`start_log`), every completed message is saved as it happens, and a
cancelled answer is saved marked ``cancelled``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable, Iterator

import time

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
        self.log = None  # a logs.store.ChatLog once start_log is called
        self._store = None  # where start_log keeps this session's chats
        self._metadata_changes: dict[str, Any] = {}  # for the log's metadata, saved with the next message
        self.reasoning_effort: str | None = None  # GPT-OSS: overrides the prompt config's effort from the next turn

    def start_log(self, store=None):
        """Save this conversation from now on, in ``store`` (default: the data folder's chats)."""
        from ..logs.schema import ChatMetadata
        from ..logs.store import ChatStore

        config = self.settings.prompt_config
        metadata = ChatMetadata(
            model_path=self.info.path,
            last_model_path=self.info.path,
            profile=self.settings.profile,
            prompt_config_path=self.settings.prompt_config_path,
            prompt_config=config.model_dump(exclude_none=True) if config else None,
            tools=list(self.settings.tools),
        )
        self._store = store or self._store or ChatStore()
        self.log = self._store.create(metadata)
        return self.log

    def new_conversation(self) -> None:
        """Start over: empty history, a new start time for placeholders, a new cache and a new log if one was kept."""
        from datetime import datetime

        keep_log = self.log is not None
        self.history.clear()
        self.settings = replace(self.settings, started=datetime.now().astimezone())
        self.generator.new_conversation()
        self.log = None
        if keep_log:
            self.start_log()

    def _save(self, role: str, content: str, hyperparameters: dict | None = None, **fields: Any):
        if self.log is None:
            return None
        from ..logs.schema import Message

        changes, self._metadata_changes = self._metadata_changes, {}
        return self.log.append(
            Message(role=role, content=content, **fields), hyperparameters=hyperparameters, model_path=self.info.path, metadata=changes
        )

    @property
    def info(self):
        return self.generator.info

    def prompt(self) -> tuple[list[dict], Any, int]:
        """(messages for the engine, Harmony settings or None, how many leading messages are fixed)."""
        if self.info.is_gpt_oss:
            harmony, prefix = self.settings.harmony_prefix(self.system)
            if self.reasoning_effort:
                harmony = replace(harmony, reasoning_effort=self.reasoning_effort)
        else:
            harmony, prefix = None, self.settings.prefix_messages(self.system)
        return prefix + self.history, harmony, len(prefix)

    def send(self, text: str, **sampling: Any) -> Iterator[Event]:
        """Add a user message and stream the answer; the answer joins the history when the turn ends."""
        entry = {"role": "user", "content": text}
        self.history.append(entry)
        saved = self._save("user", text)
        if saved is not None:
            entry["log_parent"] = saved.parent_id  # where a regenerated or edited turn branches from
        return self._answer(sampling)

    def take_back(self) -> str | None:
        """Remove the last exchange, from the last user message on, and return that message's text.

        The log keeps what was said; the next message branches off before it.
        """
        users = [i for i, m in enumerate(self.history) if m["role"] == "user"]
        if not users:
            return None
        entry = self.history[users[-1]]
        del self.history[users[-1] :]
        if self.log is not None and "log_parent" in entry:
            self.log.head = entry["log_parent"]
        return entry["content"]

    def _answer(self, sampling: dict) -> Iterator[Event]:
        messages, harmony, keep = self.prompt()
        final: list[str] = []
        analysis: list[str] = []
        calls: list[dict] = []
        chunks: list[tuple[float, str, str]] = []
        start = time.perf_counter()
        for event in self.generator.stream(
            messages=messages, harmony=harmony, max_context_tokens=self.settings.max_context_tokens, keep_messages=keep, **sampling
        ):
            if isinstance(event, TextDelta):
                (final if event.channel == "final" else analysis).append(event.text)
                if event.text:
                    chunks.append((round(time.perf_counter() - start, 4), event.text, event.channel))
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
                used = self.generator.sampling.with_changes(**sampling).model_dump()
                if harmony is not None:
                    used["reasoning_effort"] = harmony.reasoning_effort
                self._save_answer(answer, event, chunks, used)
            yield event

    def _save_answer(self, answer: dict, done: Done, chunks: list, hyperparameters: dict) -> None:
        stats = done.stats
        self._save(
            "assistant",
            answer["content"],
            hyperparameters=hyperparameters,
            analysis=answer.get("analysis"),
            tool_calls=answer.get("tool_calls"),
            finish_reason=done.finish_reason,
            cancelled=True if done.finish_reason == "cancelled" else None,
            prompt_tokens=stats.prompt_tokens,
            cached_tokens=stats.cached_tokens,
            completion_tokens=stats.completion_tokens,
            stats={"ttft_s": stats.ttft_s, "prefill_tps": stats.prefill_tps, "decode_tps": stats.decode_tps,
                   "peak_memory_gb": stats.peak_memory_gb},
            chunks=chunks or None,
        )

    def add_tool_result(self, name: str, content: str) -> None:
        """Record a tool's result; the next :meth:`continue_turn` lets the model read it."""
        self.history.append({"role": "tool", "name": name, "content": content})
        self._save("tool", content, name=name)

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
        self.reasoning_effort = None  # the new prompt config says how hard to think
        config = new.prompt_config
        self._metadata_changes = {
            "profile": new.profile,
            "prompt_config_path": new.prompt_config_path,
            "prompt_config": config.model_dump(exclude_none=True) if config else None,
            "tools": list(new.tools),
        }
        return reloaded

    def switch_model(self, model: str | None, progress: Progress | None = None) -> None:
        """Load ``model`` (None: the embedded default) and keep the prompt config, sampling and conversation."""
        self.generator.load(model, progress)
        self.generator.sampling = self.settings.sampling
        self.settings = replace(self.settings, model=model)

    def update_sampling(self, **changes: Any) -> None:
        """Change sampling for this and later turns (from any thread, mid-generation too)."""
        self.generator.update_sampling(**changes)
        self.settings = replace(self.settings, sampling=self.generator.sampling)

    def close(self) -> None:
        self.generator.close()

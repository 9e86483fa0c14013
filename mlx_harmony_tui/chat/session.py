"""ChatSession: one conversation with a model, under a profile that can change mid-way.

The session keeps the conversation itself (user, assistant and tool
messages); what comes before it (system text, Harmony settings, example
dialogues) is rebuilt from the current prompt config for every turn (see
:mod:`.prompt`), with placeholders frozen at the conversation's start.
Switching profile reloads the model only when the profile names a
different one, then applies the new prompt config and sampling; the
conversation carries on.

Front ends drive it from one thread: :meth:`send` yields the engine's typed
events and records the answer when the turn ends. With a chat log attached
(:meth:`start_log`), every completed message is saved as it happens, and a
cancelled answer is saved marked ``cancelled``. A turn the engine refuses
or fails (a prompt too long, say) leaves nothing behind: the user's message
leaves the history, is saved only once the engine has taken it, and comes
back in :class:`TurnFailed` for the user to edit.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import replace
from datetime import datetime
from typing import Any, Callable, Iterator

from ..config.resolve import RunSettings, resolve_run_settings
from ..config.response_schema import OutputConstraint
from ..config.sampling import SamplingParams
from ..engine.events import Done, Event, Notice, TextDelta, ToolCall, ToolResult
from ..engine.token_generator import TokenGenerator
from ..errors import UserError
from ..logs.branches import path_to
from ..logs.schema import ChatMetadata, Message
from ..logs.store import ChatLog, ChatStore
from .history import history_entry
from .prompt import Prompt, build_prompt
from .resume import resume_chat

Progress = Callable[[str, float], None]


class TurnFailed(UserError):
    """The engine refused or failed a turn; the conversation is as it was before the turn.

    ``text`` is the user's message that started the turn (None for a
    continuation), for the front end to offer back for editing.
    """

    def __init__(self, message: str, text: str | None, field: str | None = None):
        super().__init__(message, field)
        self.text = text


def _metadata_of(settings: RunSettings) -> dict[str, Any]:
    config = settings.prompt_config
    return {
        "profile": settings.profile,
        "prompt_config_path": settings.prompt_config_path,
        "prompt_config": config.model_dump(exclude_none=True) if config else None,
        "tools": list(settings.tools),
    }


class ChatSession:
    def __init__(
        self,
        settings: RunSettings,
        generator: TokenGenerator | None = None,
        profiles_file: str | None = None,
        progress: Progress | None = None,
        system: str | None = None,
        tools=None,
        cache_budget_bytes: int | None = None,
        conversation_id: str | None = None,
        disk_cache: tuple | None = None,
    ):
        self.settings = settings
        self.tools = tools  # a tools.toolbox.ToolBox: GPT-OSS tool calls run and the turn goes on
        if tools is not None:
            tools.use_profile_tools(settings.tools, settings.mcp_servers)
        self.profiles_file = profiles_file
        self.system = system
        self.generator = generator or TokenGenerator(
            settings.model, sampling=settings.sampling, progress=progress, cache_budget_bytes=cache_budget_bytes, disk_cache=disk_cache
        )
        if generator is not None and generator.model_spec != settings.model:
            generator.load(settings.model, progress)
        self.generator.sampling = settings.sampling
        # The engine cache this conversation reuses; a second session on one generator brings its own.
        self.conversation_id = conversation_id or self.generator.conversation_id
        self._request: str | None = None  # the running answer's request id, for cancel and live sampling
        self.history: list[dict] = []
        self.last_done: Done | None = None
        self.log: ChatLog | None = None  # once start_log is called
        self._store: ChatStore | None = None  # where start_log keeps this session's chats
        self._metadata_changes: dict[str, Any] = {}  # for the log's metadata, saved with the next message
        self._unsaved_user: dict | None = None  # the user message of a turn the engine has not taken yet
        self.reasoning_effort: str | None = None  # GPT-OSS: overrides the prompt config's effort from the next turn

    # --- the log ------------------------------------------------------------------------------------

    def start_log(self, store: ChatStore | None = None) -> ChatLog:
        """Save this conversation from now on, in ``store`` (default: the data folder's chats); nothing is written before its first message."""
        metadata = ChatMetadata(model_path=self.info.path, last_model_path=self.info.path, **_metadata_of(self.settings))
        self._store = store or self._store or ChatStore()
        self.log = self._store.new(metadata)  # its file is written with the first message
        return self.log

    def _save(self, role: str, content: str, hyperparameters: dict | None = None, **fields: Any) -> Message | None:
        if self.log is None:
            return None
        changes, self._metadata_changes = self._metadata_changes, {}
        return self.log.append(
            Message(role=role, content=content, **fields), hyperparameters=hyperparameters, model_path=self.info.path, metadata=changes
        )

    def title(self) -> str:
        """The saved chat's title (its id when it has none yet); empty when the chat is not saved."""
        return (self.log.read().metadata.title or self.log.chat_id) if self.log is not None else ""

    def resume_line(self, program: str) -> str | None:
        """How to come back to this chat with ``program``: ``resume with: PROGRAM --chat ID`` (None when nothing of it
        was saved)."""
        log = self.log
        return f"resume with: {program} --chat {log.chat_id}" if log is not None and log.saved else None

    @property
    def last_user_id(self) -> str | None:
        """The log id of the newest user message (None until it is saved)."""
        users = [m for m in self.history if m["role"] == "user"]
        return users[-1].get("log_id") if users else None

    # --- what the model sees ------------------------------------------------------------------------

    @property
    def info(self):
        return self.generator.info

    @property
    def sampling(self) -> SamplingParams:
        """The sampling the next answer uses."""
        return self.settings.sampling

    @property
    def generating(self) -> bool:
        """An answer of this session is running."""
        return self._request is not None

    def prompt(self, tools: bool = True) -> Prompt:
        """(messages for the engine, Harmony settings or None, how many leading messages are fixed, template tools).

        The tools are declared only to a model that can call them; MCP servers not started yet start here
        (``tools=False`` leaves the tools out, and starts nothing).
        """
        options: dict[str, Any] = {"effort": self.reasoning_effort} if self.info.is_gpt_oss else {}
        if tools and self.info.tool_calling:
            options["toolbox"] = self.tools
        return build_prompt(self.settings, self.info.is_gpt_oss, self.history, self.system, self.settings.response_schema, **options)

    def _tool_notices(self, starting: bool) -> Iterator[Notice]:
        tools = self.tools
        if tools is None or not self.info.tool_calling:
            return
        if starting and (pending := tools.pending_servers()):
            yield Notice(self._request or "", f"starting MCP server{'s' if len(pending) > 1 else ''} {', '.join(pending)}")
        for text in tools.take_notices():
            yield Notice(self._request or "", text, "warning")

    def decode(self, token_ids: list[int]) -> str:
        """Token ids as text, special tokens included (for debugging output)."""
        return self.generator.tokenizer.decode(list(token_ids))

    # --- turns --------------------------------------------------------------------------------------

    def send(self, text: str, **sampling: Any) -> Iterator[Event]:
        """Add a user message and stream the answer; the answer joins the history when the turn ends.

        Raises :class:`TurnFailed` (mid-iteration) when the engine refuses or fails the turn.
        """
        entry = {"role": "user", "content": text}
        self.history.append(entry)
        self._unsaved_user = entry
        return self._turn(sampling, entry)

    def continue_turn(self, **sampling: Any) -> Iterator[Event]:
        """Generate the next step of the current turn (after tool results)."""
        users = [m for m in self.history if m["role"] == "user"]
        return self._turn(sampling, users[-1] if users else None, continuing=True)

    def cancel(self) -> None:
        """Stop the running answer before its next token (from any thread); it is saved marked cancelled."""
        request = self._request
        if request is not None:
            self.generator.cancel(request)

    def _save_user(self) -> None:
        """The engine has taken the turn: its user message is saved (its id lets a later edit branch from it)."""
        entry, self._unsaved_user = self._unsaved_user, None
        if entry is None:
            return
        saved = self._save("user", entry["content"])
        if saved is not None:
            entry["log_parent"] = saved.parent_id  # where a regenerated or edited turn branches from
            entry["log_id"] = saved.id

    def _turn(self, sampling: dict, user: dict | None, continuing: bool = False) -> Iterator[Event]:
        """Answer, running the model's tool calls and letting it go on, up to the tools' step limit.

        Each step ends with its own ``Done``; a step that ends with tool calls is
        followed by one :class:`ToolResult` per call, then the next step.
        """
        try:
            steps = 0
            while True:
                calls: list[ToolCall] = []
                for event in self._answer(sampling):
                    if isinstance(event, ToolCall):
                        calls.append(event)
                    yield event
                done = self.last_done
                if self.tools is None or not self.tools.active or not calls or done is None or done.finish_reason != "tool_calls":
                    return
                if steps >= self.tools.options.max_steps:
                    return  # the model keeps calling tools: the turn ends and the user decides what next
                steps += 1
                self.tools.start_conversation(self.log.chat_id if self.log is not None else self.conversation_id)
                for call in calls:
                    output, status, seconds = self.tools.run(call.recipient, call.arguments)
                    self.add_tool_result(call.recipient, output.text, status=status, duration_s=seconds)
                    yield ToolResult(call.request_id, call.recipient, output.text, status, seconds)
        except (UserError, RuntimeError) as exc:
            if user is None or user not in self.history:
                raise
            text = self._take_back_from(self.history.index(user))
            self._unsaved_user = None
            field = exc.field if isinstance(exc, UserError) else None
            raise TurnFailed(str(exc), None if continuing else text, field) from None

    def _answer(self, sampling: dict) -> Iterator[Event]:
        try:
            params = self.settings.sampling.with_changes(**sampling)
        except ValueError as exc:
            raise UserError(f"sampling: {exc}") from None
        final: list[str] = []
        analysis: list[str] = []
        calls: list[dict] = []
        chunks: list[tuple[float, str, str]] = []
        self._request = f"turn-{uuid.uuid4().hex[:12]}"
        try:
            yield from self._tool_notices(starting=True)
            prompt = self.prompt()
            yield from self._tool_notices(starting=False)
            start = time.perf_counter()
            yield from self._relay(prompt, params, final, analysis, calls, chunks, start)
        finally:
            self._request = None

    def _relay(self, prompt: Prompt, params, final, analysis, calls, chunks, start) -> Iterator[Event]:
        """The engine's events for one step, recorded as they pass (the answer is saved with its Done)."""
        harmony = prompt.harmony
        for event in self.generator.stream(
            messages=prompt.messages, harmony=harmony, max_context_tokens=self.settings.max_context_tokens,
            keep_messages=prompt.keep, tools=prompt.tools, conversation=self.conversation_id, request_id=self._request,
            persist=self.log.chat_id if self.log is not None else None,
            output=OutputConstraint(self.settings.response_schema) if self.settings.response_schema is not None else None,
            **params.model_dump(),
        ):
            self._save_user()
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
                used = params.model_dump()
                if harmony is not None:
                    used["reasoning_effort"] = harmony.reasoning_effort
                self._save_answer(answer, event, chunks, used)
            yield event

    def _save_answer(self, answer: dict, done: Done, chunks: list, hyperparameters: dict) -> None:
        stats = done.stats
        saved = self._save(
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
        if saved is not None:
            answer["log_id"] = saved.id

    def add_tool_result(self, name: str, content: str, status: str | None = None, duration_s: float | None = None) -> None:
        """Record a tool's result; the next :meth:`continue_turn` lets the model read it."""
        self.history.append({"role": "tool", "name": name, "content": content})
        stats = {"duration_s": round(duration_s, 4)} if duration_s is not None else None
        self._save("tool", content, name=name, finish_reason=status, stats=stats)

    # --- going back ---------------------------------------------------------------------------------

    def take_back(self) -> str | None:
        """Remove the last exchange, from the last user message on, and return that message's text.

        The log keeps what was said; the next message branches off before it.
        """
        users = [i for i, m in enumerate(self.history) if m["role"] == "user"]
        return self._take_back_from(users[-1]) if users else None

    def take_back_to(self, log_id: str) -> str | None:
        """Remove the user message saved as ``log_id`` and everything after it; return its text (for editing)."""
        found = [i for i, m in enumerate(self.history) if m["role"] == "user" and m.get("log_id") == log_id]
        return self._take_back_from(found[0]) if found else None

    def _take_back_from(self, index: int) -> str:
        entry = self.history[index]
        del self.history[index:]
        if self.log is not None and "log_parent" in entry:
            self.log.head = entry["log_parent"]
        return entry["content"]

    def show_branch(self, leaf_id: str) -> None:
        """Make the saved branch that ends at ``leaf_id`` the conversation (the next message continues it).

        The log remembers it, so the chat opens on this branch next time.
        """
        chat = self.log.read()
        self.history = [history_entry(m) for m in path_to(chat, leaf_id) if m.role in ("user", "assistant", "tool")]
        self.log.show_branch(leaf_id)

    def new_conversation(self) -> None:
        """Start over: empty history, a new start time for placeholders, a new cache and a new log if one was kept."""
        keep_log = self.log is not None
        self.history.clear()
        self.settings = replace(self.settings, started=datetime.now().astimezone())
        self.fresh_cache()
        self.log = None
        if keep_log:
            self.start_log()

    # --- profile, model and sampling ----------------------------------------------------------------

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
        if self.tools is not None:
            self.tools.use_profile_tools(new.tools, new.mcp_servers)
        self._metadata_changes = _metadata_of(new)
        return reloaded

    def switch_model(self, model: str | None, progress: Progress | None = None) -> None:
        """Load ``model`` (None: the embedded default) and keep the prompt config, sampling and conversation."""
        self.generator.load(model, progress)
        self.generator.sampling = self.settings.sampling
        self.settings = replace(self.settings, model=model)

    def update_sampling(self, **changes: Any) -> None:
        """Change sampling for this and later turns (from any thread, mid-generation too)."""
        try:
            sampling = self.settings.sampling.with_changes(**changes)
        except ValueError as exc:
            raise UserError(f"sampling: {exc}") from None
        self.settings = replace(self.settings, sampling=sampling)
        self.generator.sampling = sampling
        request = self._request
        if request is not None:
            self.generator.update_sampling(request_id=request, **changes)

    def fresh_cache(self) -> None:
        """Later turns start from a new engine cache (a new or reopened conversation)."""
        self.generator.new_conversation()
        self.conversation_id = self.generator.conversation_id

    def set_max_context_tokens(self, limit: int | None) -> None:
        """Keep prompts within ``limit`` tokens from the next turn (None: the model's own context length)."""
        self.settings = replace(self.settings, max_context_tokens=limit)

    def resume(self, log: ChatLog, progress: Progress | None = None) -> list[str]:
        """Continue the saved chat ``log`` from its head (see :func:`.resume.resume_chat`); return notes on what was not restored."""
        return resume_chat(self, log, progress)

    def close(self) -> None:
        if self.tools is not None:
            self.tools.close()
        self.generator.close()

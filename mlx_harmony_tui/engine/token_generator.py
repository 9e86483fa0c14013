"""The Python API: ``TokenGenerator(model).generate(messages=..., max_tokens=...)``."""

from __future__ import annotations

import itertools
import queue
from dataclasses import replace
from datetime import date
from typing import Any, Callable, Iterator

from ..config.sampling import SamplingParams
from ..errors import UserError
from .events import Done, Error, Event, ModelInfo, ModelLoaded, ModelLoading, TextDelta
from .inference import InferenceThread
from .requests import Generate, LoadModel

_ids = itertools.count(1)


class TokenGenerator:
    """A model on its own inference thread, driven from the caller's thread.

    ``model`` is a local mlx-lm folder, a ``.gguf`` file, a Hugging Face repo
    id, or None for the embedded default model. Loading happens in the
    constructor; a model that cannot be found or loaded raises
    :class:`~mlx_harmony_tui.errors.UserError` with one clear line.

    Successive calls are one conversation: a prompt that extends an earlier
    one (the next chat turn, a tool result) only computes its new tokens.
    ``kv_bits`` stores the KV cache quantized (not for GPT-OSS);
    ``cache_budget_bytes`` bounds what is kept beyond the live conversation.
    """

    def __init__(
        self,
        model: str | None = None,
        sampling: SamplingParams | None = None,
        progress: Callable[[str, float], None] | None = None,
        kv_bits: int | None = None,
        kv_group_size: int = 64,
        cache_budget_bytes: int | None = None,
    ):
        self._events: queue.Queue[Event] = queue.Queue()
        self._engine = InferenceThread(self._events.put, cache_budget_bytes=cache_budget_bytes)
        self.sampling = sampling or SamplingParams()
        # The running generation's id and parameters, replaced as one tuple so other threads see a consistent pair.
        self._running: tuple[str, SamplingParams] | None = None
        self.conversation_id = f"conversation-{next(_ids)}"
        self._started = (self.conversation_id, date.today().isoformat())  # the date GPT-OSS prompts carry, per conversation
        self.model_spec: str | None = None
        try:
            self.load(model, progress, kv_bits, kv_group_size)
        except BaseException:
            self._engine.shutdown()
            raise

    def load(
        self,
        model: str | None,
        progress: Callable[[str, float], None] | None = None,
        kv_bits: int | None = None,
        kv_group_size: int = 64,
    ) -> ModelInfo:
        """Load ``model`` in place of the current one (the conversation's caches are dropped)."""
        rid = f"load-{next(_ids)}"
        self._engine.submit(LoadModel(rid, model, kv_bits=kv_bits, kv_group_size=kv_group_size))
        for event in self._drain(rid):
            if isinstance(event, ModelLoading) and progress:
                progress(event.stage, event.fraction)
            if isinstance(event, ModelLoaded):
                self.info: ModelInfo = event.info
                break
        self.tokenizer = self._engine.loaded.tokenizer
        self.model_spec = model
        return self.info

    def _drain(self, request_id: str) -> Iterator[Event]:
        while True:
            event = self._events.get()
            if getattr(event, "request_id", None) != request_id:
                continue
            if isinstance(event, Error):
                if event.user_error:
                    raise UserError(event.message, event.field)
                raise RuntimeError(f"{event.message}\n{event.detail}")
            yield event
            if isinstance(event, (Done, ModelLoaded)):
                return

    def _params(self, max_tokens: int | None, sampling: dict[str, Any]) -> SamplingParams:
        changes = dict(sampling)
        if max_tokens is not None:
            changes["max_tokens"] = max_tokens
        try:
            return self.sampling.with_changes(**changes)
        except ValueError as exc:
            raise UserError(f"sampling: {exc}") from None

    def stream(
        self,
        messages: list[dict] | None = None,
        prompt: str | list[int] | None = None,
        max_tokens: int | None = None,
        harmony: Any = None,
        reuse_cache: bool = True,
        max_context_tokens: int | None = None,
        keep_messages: int = 0,
        processors: tuple[Callable, ...] = (),
        required_functions: tuple[str, ...] = (),
        **sampling: Any,
    ) -> Iterator[Event]:
        """Yield the typed events of one generation, ending with :class:`Done`.

        Give chat ``messages`` (rendered with the model's chat template, or
        with Harmony for GPT-OSS, using ``harmony`` settings) or a raw
        ``prompt`` (text or token ids). Leaving the loop early cancels it.
        ``reuse_cache=False`` computes the whole prompt afresh and leaves the
        conversation's cache as it was. ``max_context_tokens`` (default: the
        model's context length) drops the oldest turns to fit, never the
        first ``keep_messages`` messages. ``processors`` are logits processors
        ``(tokens_so_far, logits) -> logits`` applied before sampling.
        ``required_functions`` (GPT-OSS) makes the answer a call to one of them.
        A GPT-OSS prompt without a ``conversation_start_date`` gets the day
        this conversation began.
        """
        if (messages is None) == (prompt is None):
            raise UserError("give either messages or prompt")
        params = self._params(max_tokens, sampling)
        if messages is not None and self.info.is_gpt_oss:
            harmony = self._dated(harmony)
        prompt_ids = None
        if prompt is not None:
            prompt_ids = list(self.tokenizer.encode(prompt)) if isinstance(prompt, str) else list(prompt)
        rid = f"gen-{next(_ids)}"
        self._running = (rid, params)
        self._engine.submit(Generate(rid, messages=messages, prompt_ids=prompt_ids, params=params,
                                     conversation_id=self.conversation_id, harmony=harmony, reuse_cache=reuse_cache,
                                     max_context_tokens=max_context_tokens, keep_messages=keep_messages,
                                     processors=tuple(processors), required_functions=tuple(required_functions)))
        finished = False
        try:
            for event in self._drain(rid):
                finished = isinstance(event, Done)
                yield event
        except (UserError, RuntimeError):
            finished = True  # an Error event ends the request; no Done follows
            raise
        finally:
            self._running = None
            if not finished:
                self._engine.cancel(rid)
                for _ in self._drain(rid):
                    pass

    def _dated(self, harmony: Any) -> Any:
        from ..harmony.render import HarmonySettings

        harmony = harmony or HarmonySettings()
        if harmony.conversation_start_date:
            return harmony
        if self._started[0] != self.conversation_id:
            self._started = (self.conversation_id, date.today().isoformat())
        return replace(harmony, conversation_start_date=self._started[1])

    def generate(
        self,
        messages: list[dict] | None = None,
        prompt: str | list[int] | None = None,
        max_tokens: int | None = None,
        **sampling: Any,
    ) -> Iterator[int]:
        """Yield generated token ids as they are produced (decode them with ``self.tokenizer.decode``)."""
        for event in self.stream(messages=messages, prompt=prompt, max_tokens=max_tokens, **sampling):
            if isinstance(event, TextDelta):
                yield from event.token_ids

    def new_conversation(self) -> None:
        """Later calls are a new conversation: nothing is reused from the earlier one's cache."""
        self.use_conversation(None)

    def use_conversation(self, conversation_id: str | None) -> str:
        """Make later calls part of ``conversation_id`` (a new one when None); return the one they were part of.

        Switching back later finds that conversation's cache where the memory
        budget kept it.
        """
        previous = self.conversation_id
        self.conversation_id = conversation_id or f"conversation-{next(_ids)}"
        return previous

    def render(self, messages: list[dict]) -> list[int]:
        """``messages`` as prompt token ids in the model's chat template (not for Harmony prompts)."""
        from .prompt import prompt_tokens

        return self.call(lambda loaded: prompt_tokens(loaded, messages))

    def call(self, fn: Callable[[Any], Any]) -> Any:
        """Run ``fn(loaded_model)`` on the inference thread (after queued work) and return its result."""
        return self._engine.call(fn).result()

    def cancel(self) -> None:
        """Stop the running generation before its next token."""
        running = self._running
        if running is not None:
            self._engine.cancel(running[0])

    def update_sampling(self, **changes: Any) -> None:
        """Change sampling from any thread: the defaults for later calls, and the
        running generation from its next token (only the named fields change)."""
        self.sampling = self._params(None, changes)
        running = self._running
        if running is not None:
            rid, params = running
            try:
                updated = params.with_changes(**changes)
            except ValueError as exc:
                raise UserError(f"sampling: {exc}") from None
            self._running = (rid, updated)
            self._engine.update_sampling(rid, updated)

    def close(self) -> None:
        self._engine.shutdown()

    def __enter__(self) -> "TokenGenerator":
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

"""The Python API: ``TokenGenerator(model).generate(messages=..., max_tokens=...)``."""

from __future__ import annotations

import itertools
import queue
import threading
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any, Callable, Iterator

from ..config.response_schema import OutputConstraint
from ..config.sampling import SamplingParams
from ..errors import UserError
from ..harmony.render import HarmonySettings
from .context import turn_starts, without_turns
from .events import Done, Error, Event, ModelInfo, ModelLoaded, ModelLoading, TextDelta
from .group import SHARD_ENV, follower
from .inference import InferenceThread
from .lockstep import rank_log
from .requests import Generate, LoadModel

_ids = itertools.count(1)
__all__ = ["SHARD_ENV", "TokenGenerator", "is_follower", "join_group", "launched_ranks", "serve_rank_zero"]


def never_dropped(messages: list[dict]) -> list[dict]:
    """The messages of a conversation the engine keeps however long it is (it drops the oldest turns to fit the
    context, never these): a front end can bound a prompt before the engine sees it."""
    return without_turns(messages, 0, len(turn_starts(messages, 0)))


def launched_ranks() -> int:
    """How many ranks ``mlx.launch`` started this command on (1 when it runs alone); read without importing MLX."""
    from .group import launched

    launch = launched()
    return launch.size if launch is not None else 1


def join_group() -> None:
    """Under ``mlx.launch``, join the group now (every rank must): a front end does it before it takes the terminal,
    since a rank that never joins ends the process (see ``engine.group``). Alone, it does nothing."""
    from ..runtime import mlx_core
    from .group import Group, GroupLost, launched

    launch = launched()
    if launch is not None:
        try:
            Group.join(mlx_core(), launch)
        except GroupLost as exc:
            raise UserError(str(exc)) from None


def is_follower() -> bool:
    """Whether this process is a rank other than 0 under ``mlx.launch``: it runs only the engine (no front end)."""
    return follower()


def serve_rank_zero() -> int:
    """On a rank other than 0: run the engine as rank 0 directs until rank 0's engine stops; the exit status.

    It prints nothing (only rank 0 shows, logs and serves) except one line on
    stderr when the group breaks. Ctrl-C, which a terminal sends to every
    local rank at once, is left to rank 0: its engine's stop ends this one.
    """
    import os
    import signal
    import sys
    import threading

    from .group import launched

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    launch = launched()
    engine = InferenceThread(rank_log(launch.rank if launch else 0), follow=True)
    engine.wait()
    if engine.failure:
        print(f"mlx-harmony rank {launch.rank if launch else '?'}: stopped: {engine.failure}", file=sys.stderr, flush=True)
        return 1
    if launch is not None and threading.current_thread() is threading.main_thread():
        # Rank 0 waits for this rank's last exchange and then exits with the command's status (130 after Ctrl-C),
        # which makes mlx.launch kill any rank still running: leave at once, before the interpreter's slow teardown.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    return 0


class TokenGenerator:
    """A model on its own inference thread, driven from any number of caller threads at once.

    ``model`` is a local mlx-lm folder, a ``.gguf`` file, a Hugging Face repo
    id, or None for the embedded default model. Loading happens in the
    constructor; a model that cannot be found or loaded raises
    :class:`~mlx_harmony_tui.errors.UserError` with one clear line.

    Successive calls are one conversation. Any prompt only computes what
    follows the longest prefix it shares with an earlier one, of any
    conversation (the next chat turn, a tool result, a new conversation with
    the same system prompt). Streams started from several threads run at the
    same time, decoding together; give each its own ``conversation``.
    ``kv_bits`` stores the KV cache quantized (not for GPT-OSS; such streams
    run one at a time); ``cache_budget_bytes`` bounds the caches kept
    (default: a quarter of the machine's memory, at most 16 GiB);
    ``disk_cache`` (folder, byte budget) keeps the caches of streams given a
    ``persist`` key on disk too, for a later process.

    Under ``mlx.launch`` with several ranks, rank 0's generator loads the
    model split across the ranks (``shard``: "tensor" or "pipeline"); on
    every other rank the constructor serves rank 0 until it closes its
    generator, then ends the process (``SystemExit``).
    """

    def __init__(
        self,
        model: str | None = None,
        sampling: SamplingParams | None = None,
        progress: Callable[[str, float], None] | None = None,
        kv_bits: int | None = None,
        kv_group_size: int = 64,
        cache_budget_bytes: int | None = None,
        disk_cache: tuple[Path, int] | None = None,
        shard: str | None = None,
    ):
        if is_follower():
            raise SystemExit(serve_rank_zero())
        self._shard = shard
        self._queues: dict[str, queue.SimpleQueue[Event]] = {}  # request id -> its events (SimpleQueue: a put is cheap on the inference thread)
        self._queues_lock = threading.Lock()
        self._engine = InferenceThread(self._deliver, cache_budget_bytes=cache_budget_bytes, disk_cache=disk_cache)
        self.sampling = sampling or SamplingParams()
        self._running: dict[str, SamplingParams] = {}  # request id -> its current parameters
        self.conversation_id = self.new_conversation_id()
        self._started = (self.conversation_id, date.today().isoformat())  # the date GPT-OSS prompts carry, per conversation
        self.model_spec: str | None = None
        try:
            self.load(model, progress, kv_bits, kv_group_size)
        except BaseException:
            self._engine.shutdown()
            raise

    def _deliver(self, event: Event) -> None:
        """Called on the inference thread: hand ``event`` to the stream waiting for its request."""
        with self._queues_lock:
            target = self._queues.get(getattr(event, "request_id", ""))
        if target is not None:
            target.put(event)

    def _open(self, request_id: str) -> queue.SimpleQueue[Event]:
        events: queue.SimpleQueue[Event] = queue.SimpleQueue()
        with self._queues_lock:
            self._queues[request_id] = events
        return events

    def _close(self, request_id: str) -> None:
        with self._queues_lock:
            self._queues.pop(request_id, None)

    def load(
        self,
        model: str | None,
        progress: Callable[[str, float], None] | None = None,
        kv_bits: int | None = None,
        kv_group_size: int = 64,
    ) -> ModelInfo:
        """Load ``model`` in place of the current one, once running streams are done (caches are dropped)."""
        rid = f"load-{next(_ids)}"
        events = self._open(rid)
        try:
            self._engine.submit(LoadModel(rid, model, kv_bits=kv_bits, kv_group_size=kv_group_size, shard=self._shard))
            for event in self._drain(events):
                if isinstance(event, ModelLoading) and progress:
                    progress(event.stage, event.fraction)
                if isinstance(event, ModelLoaded):
                    self.info: ModelInfo = event.info
                    break
        finally:
            self._close(rid)
        self.tokenizer = self._engine.loaded.tokenizer
        self.model_spec = model
        return self.info

    @staticmethod
    def _drain(events: queue.SimpleQueue[Event]) -> Iterator[Event]:
        while True:
            event = events.get()
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
        conversation: str | None = None,
        request_id: str | None = None,
        persist: str | None = None,
        tools: tuple[dict, ...] = (),
        output: OutputConstraint | None = None,
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
        ``conversation`` (default: :attr:`conversation_id`) picks the cache to
        reuse; ``request_id`` names the stream for :meth:`cancel` and
        :meth:`update_sampling`; ``persist`` keeps the conversation's cache
        on disk under that key as well (see ``disk_cache``). ``output`` keeps
        the answer (GPT-OSS: its final channel) and strict functions'
        arguments inside their JSON schemas; a schema the model's tokens
        cannot follow raises UserError naming it. A GPT-OSS
        prompt without a ``conversation_start_date`` gets the day this
        conversation began. ``tools`` (a model with a tool-calling chat
        template) are declared through the template, and the answer's calls
        come back as :class:`ToolCall` events.
        """
        if (messages is None) == (prompt is None):
            raise UserError("give either messages or prompt")
        params = self._params(max_tokens, sampling)
        conversation = conversation or self.conversation_id
        if messages is not None and self.info.is_gpt_oss:
            harmony = self._dated(harmony, conversation)
        prompt_ids = None
        if prompt is not None:
            prompt_ids = list(self.tokenizer.encode(prompt)) if isinstance(prompt, str) else list(prompt)
        rid = request_id or f"gen-{next(_ids)}"
        events = self._open(rid)
        self._running[rid] = params
        self._engine.submit(Generate(rid, messages=messages, prompt_ids=prompt_ids, params=params,
                                     conversation_id=conversation, harmony=harmony, reuse_cache=reuse_cache,
                                     max_context_tokens=max_context_tokens, keep_messages=keep_messages,
                                     processors=tuple(processors), required_functions=tuple(required_functions),
                                     persist_key=persist, tools=tuple(tools), output=output))
        finished = False
        try:
            for event in self._drain(events):
                finished = isinstance(event, Done)
                yield event
        except (UserError, RuntimeError):
            finished = True  # an Error event ends the request; no Done follows
            raise
        finally:
            self._running.pop(rid, None)
            if not finished:
                self._engine.cancel(rid)
                for _ in self._drain(events):
                    pass
            self._close(rid)

    def _dated(self, harmony: Any, conversation: str) -> Any:
        harmony = harmony or HarmonySettings()
        if harmony.conversation_start_date:
            return harmony
        if self._started[0] != conversation:
            self._started = (conversation, date.today().isoformat())
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

    @staticmethod
    def new_conversation_id() -> str:
        """A fresh conversation id (for :meth:`stream`'s ``conversation``)."""
        return f"conversation-{next(_ids)}"

    def new_conversation(self) -> None:
        """Later calls are a new conversation: nothing is reused from the earlier one's cache."""
        self.use_conversation(None)

    def use_conversation(self, conversation_id: str | None) -> str:
        """Make later calls part of ``conversation_id`` (a new one when None); return the one they were part of.

        Switching back later finds that conversation's cache where the memory
        budget kept it.
        """
        previous = self.conversation_id
        self.conversation_id = conversation_id or self.new_conversation_id()
        return previous

    @property
    def ready(self) -> bool:
        """Whether a model is loaded (False once the group a split model ran on broke: load it again)."""
        return self._engine.loaded is not None

    @property
    def running(self) -> int:
        """Generations running on this model now (this generator's and any other caller's)."""
        return self._engine.running

    def call(self, fn: Callable[[Any], Any]) -> Any:
        """Run ``fn(loaded_model)`` on the inference thread (after queued work) and return its result."""
        return self._engine.call(fn).result()

    def render(self, messages: list[dict]) -> list[int]:
        """``messages`` as prompt token ids in the model's chat template (not for Harmony prompts)."""
        from .prompt import prompt_tokens

        return self.call(lambda loaded: prompt_tokens(loaded, messages))

    def cancel(self, request_id: str | None = None) -> None:
        """Stop stream ``request_id`` (None: every stream of this generator) before its next token."""
        for rid in [request_id] if request_id is not None else list(self._running):
            self._engine.cancel(rid)

    def update_sampling(self, request_id: str | None = None, **changes: Any) -> None:
        """Change sampling from any thread: the defaults for later calls (unless ``request_id`` is given), and
        the running stream ``request_id`` (None: every running stream) from its next token; only the named fields change."""
        if request_id is None:
            self.sampling = self._params(None, changes)
        targets = [request_id] if request_id is not None else list(self._running)
        for rid in targets:
            params = self._running.get(rid)
            if params is None:
                continue
            try:
                updated = params.with_changes(**changes)
            except ValueError as exc:
                raise UserError(f"sampling: {exc}") from None
            self._running[rid] = updated
            self._engine.update_sampling(rid, updated)

    def close(self) -> None:
        self._engine.shutdown()

    def __enter__(self) -> "TokenGenerator":
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

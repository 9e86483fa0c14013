"""Exact KV-cache reuse across turns and tool loops.

Each conversation keeps its model cache and the token ids it holds. A new
prompt reuses the longest prefix it shares with them, so a chat turn or a
tool-loop step only prefills what is new; the result matches a cold prefill
of the whole prompt.

- Plain (and quantized) KV layers keep every token, so cutting them back to
  the shared prefix is exact.
- Sliding-window layers (GPT-OSS alternates them with full layers) forget old
  tokens once the window wraps and cannot be cut back. For them a snapshot of
  their state is taken after each prompt is prefilled up to its last token;
  the next prompt restores the newest snapshot within the shared prefix and
  cuts the plain layers back to the same length. A chat's next prompt always
  extends the previous prompt, so that snapshot is always usable.

Memory: the live conversation keeps its cache and newest snapshot; other
conversations' caches and older snapshots share a byte budget, and the least
recently used go first. Openings that conversations share (a system prompt
and its tools, prefilled once from nothing) are kept the same way, so a new
conversation that starts alike computes only what follows them. What else
the engine keeps per conversation (turns dropped to fit the context, the
seeded random key) lives on the same entry, so it goes with its cache.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from . import lm

DEFAULT_BUDGET_BYTES = 512 * 1024**2
MAX_CONVERSATIONS = 64  # kept however small their caches are: a server opens one per new client conversation


@dataclass
class Snapshot:
    """Copies of the layers that cannot be cut back, taken when the cache held ``offset`` tokens."""

    offset: int
    states: dict[int, Any]
    nbytes: int


@dataclass
class Prefix:
    """Every layer's state right after exactly ``tokens`` were prefilled from nothing: where conversations that
    open alike (the same system prompt and tools) start, without computing that opening again."""

    tokens: tuple[int, ...]
    states: list[Any]
    nbytes: int


def shared_prefix(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


class ConversationCache:
    """One conversation's model cache, the tokens it holds, snapshots of its window layers, and its engine state."""

    def __init__(self, loaded: lm.LoadedModel, kv_bits: int | None = None, kv_group_size: int = 64):
        self._new = lambda: lm.new_cache(loaded, kv_bits, kv_group_size)
        self.layers: list = self._new()
        self.tokens: list[int] = []
        self.snapshots: list[Snapshot] = []
        self._windowed = [i for i, layer in enumerate(self.layers) if not lm.trims_exactly(layer)]
        self.dropped_turns = 0  # oldest turns left out to fit the context (see engine.context)
        self._seed: tuple[int, Any] | None = None  # (seed, the random key its next draw continues from)

    def seed_key_for(self, params) -> Any:
        """The random key to continue from: a seed applies once per conversation unless reseeded each turn."""
        if params.seed is None or params.reseed_each_turn or self._seed is None or self._seed[0] != params.seed:
            return None
        return self._seed[1]

    def keep_seed_key(self, params, key: Any) -> None:
        if params.seed is not None:
            self._seed = (params.seed, key)

    def reset(self) -> None:
        self.layers = self._new()
        self.tokens = []
        self.snapshots = []

    def reuse_for(self, prompt: list[int]) -> int:
        """Make the cache hold the longest reusable prefix of ``prompt``; return its length.

        The prompt's last token is never served from cache: its forward pass
        gives the first token's logits.
        """
        target = shared_prefix(self.tokens, prompt[:-1])
        if target == len(self.tokens):
            return target
        if all(lm.can_trim_now(layer) for layer in self.layers):
            self._cut_to(target)
            return target
        usable = [s for s in self.snapshots if s.offset <= target]
        if not usable:
            self.reset()
            return 0
        snapshot = usable[-1]
        for i, state in snapshot.states.items():
            lm.restore_layer_state(self.layers[i], state)
        for i, layer in enumerate(self.layers):
            if i not in snapshot.states:
                lm.trim_layer(layer, len(self.tokens) - snapshot.offset)
        self.tokens = self.tokens[: snapshot.offset]
        self._forget_after(snapshot.offset)
        return snapshot.offset

    def _cut_to(self, length: int) -> None:
        for layer in self.layers:
            lm.trim_layer(layer, len(self.tokens) - length)
        self.tokens = self.tokens[:length]
        self._forget_after(length)

    def _forget_after(self, length: int) -> None:
        # Snapshots past ``length`` belong to a branch whose tokens the plain layers no longer hold.
        self.snapshots = [s for s in self.snapshots if s.offset <= length]

    def take_snapshot(self) -> None:
        """Save the window layers' state at the current length (called after each prefill)."""
        offset = len(self.tokens)
        if not self._windowed or offset == 0 or (self.snapshots and self.snapshots[-1].offset == offset):
            return
        states, total = {}, 0
        for i in self._windowed:
            states[i], nbytes = lm.copy_layer_state(self.layers[i])
            total += nbytes
        self.snapshots.append(Snapshot(offset, states, total))

    def capture_prefix(self) -> Prefix:
        """Copies of every layer as they are now, for other conversations to start from."""
        states, total = [], 0
        for layer in self.layers:
            state, nbytes = lm.copy_layer_state(layer)
            states.append(state)
            total += nbytes
        return Prefix(tuple(self.tokens), states, total)

    def start_from(self, prefix: Prefix) -> None:
        """Hold ``prefix`` (copied) instead of what this cache held."""
        self.reset()
        for layer, state in zip(self.layers, prefix.states):
            lm.restore_layer_state(layer, state)
        self.tokens = list(prefix.tokens)
        self.take_snapshot()

    def reusable_state(self) -> tuple[list, list[int]]:
        """Layers holding what a later prompt can reuse exactly, and their tokens (this cache is left as it is).

        With sliding-window layers that is the newest snapshot, with the plain layers cut to its length.
        """
        if not self._windowed:
            return [lm.cut_copy(layer, len(self.tokens)) for layer in self.layers], list(self.tokens)
        if not self.snapshots:
            return [], []
        snapshot = self.snapshots[-1]
        layers = [
            lm.layer_from_state(layer, snapshot.states[i]) if i in snapshot.states else lm.cut_copy(layer, snapshot.offset)
            for i, layer in enumerate(self.layers)
        ]
        return layers, self.tokens[: snapshot.offset]

    def install(self, layers: list, tokens: list[int]) -> None:
        """Hold ``layers`` (read from disk) and their ``tokens`` instead of what this cache held."""
        self.layers = layers
        self.tokens = list(tokens)
        self.snapshots = []
        self.take_snapshot()

    def cache_bytes(self) -> int:
        return lm.cache_nbytes(self.layers)

    def snapshot_bytes(self, skip_newest: bool = False) -> int:
        snapshots = self.snapshots[:-1] if skip_newest else self.snapshots
        return sum(s.nbytes for s in snapshots)


class PromptCacheStore:
    """Conversation caches by id: the live one, plus others within ``budget_bytes`` and ``max_entries``."""

    def __init__(self, budget_bytes: int = DEFAULT_BUDGET_BYTES, max_entries: int = MAX_CONVERSATIONS):
        self.budget_bytes = budget_bytes
        self.max_entries = max_entries
        self._entries: OrderedDict[str, ConversationCache] = OrderedDict()
        self._prefixes: OrderedDict[tuple[int, ...], Prefix] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, conversation_id: str, loaded: lm.LoadedModel, kv_bits: int | None = None, kv_group_size: int = 64) -> ConversationCache:
        """The cache for ``conversation_id`` (created if new), which becomes the live one."""
        entry = self._entries.get(conversation_id)
        if entry is None:
            entry = self._entries[conversation_id] = ConversationCache(loaded, kv_bits, kv_group_size)
        self._entries.move_to_end(conversation_id)
        return entry

    def drop(self, conversation_id: str) -> None:
        self._entries.pop(conversation_id, None)

    def clear(self) -> None:
        self._entries.clear()
        self._prefixes.clear()

    def find_prefix(self, prompt: list[int]) -> Prefix | None:
        """The longest kept opening that ``prompt`` starts with (and goes on past), most recently used first."""
        best = None
        for tokens, prefix in self._prefixes.items():
            if len(tokens) < len(prompt) and (best is None or len(tokens) > len(best.tokens)) and tuple(prompt[: len(tokens)]) == tokens:
                best = prefix
        if best is not None:
            self._prefixes.move_to_end(best.tokens)
        return best

    def has_prefix(self, tokens: list[int]) -> bool:
        return tuple(tokens) in self._prefixes

    def add_prefix(self, prefix: Prefix) -> None:
        self._prefixes[prefix.tokens] = prefix

    def spare_bytes(self) -> int:
        """Bytes held beyond the live conversation's cache and newest snapshot."""
        if not self._entries:
            return 0
        *others, live = self._entries.values()
        openings = sum(p.nbytes for p in self._prefixes.values())
        return sum(e.cache_bytes() + e.snapshot_bytes() for e in others) + live.snapshot_bytes(skip_newest=True) + openings

    def enforce_budget(self, in_use: set[str] = frozenset()) -> None:
        """Drop least recently used conversations, then openings, then the live one's oldest snapshots, until within budget.

        The live conversation (the one used last) and those ``in_use`` (a request runs on them) are not dropped.
        """
        while self._entries and (len(self._entries) > max(self.max_entries, 1) or self.spare_bytes() > self.budget_bytes):
            live = next(reversed(self._entries))
            idle = [key for key in self._entries if key != live and key not in in_use]
            if idle:
                del self._entries[idle[0]]
            elif self._prefixes:
                self._prefixes.popitem(last=False)
            elif len(self._entries[live].snapshots) > 1:
                self._entries[live].snapshots.pop(0)
            else:
                return

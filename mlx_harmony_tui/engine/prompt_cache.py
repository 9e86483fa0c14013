"""Exact KV-cache reuse, shared by every conversation of a model.

Each sequence the scheduler runs computes in a :class:`TokenCache`: a model
cache, the token ids it holds, and snapshots of its sliding-window layers.
Finished (and fully prefilled) sequences leave theirs in the
:class:`PrefixCache`, a radix tree of token ids (:mod:`.token_tree`). A new
prompt starts from the longest prefix it shares with anything kept: its own
conversation's last turn, another conversation that opened with the same
system prompt and tools, a request of another API whose rendered prompt
starts alike. The result matches a cold prefill of the whole prompt.

- Plain (and quantized) KV layers keep every token, so a kept cache serves any
  prefix of its tokens: it is cut back to the shared length.
- Sliding-window layers (GPT-OSS alternates them with full layers) forget old
  tokens once the window wraps and cannot be cut back. A cache can be reused
  exactly only where a snapshot of those layers was taken: at the end of each
  prompt's prefill, and at the message boundaries the scheduler stops at (the
  end of the system and developer messages, which new conversations share,
  and of the last whole message). Restoring one cuts the plain layers back to
  the same length.

A reused cache is never written: a sequence computes in a fork whose arrays
are the kept ones (MLX copies an array on its first write while another
holds it), so concurrent requests that share a prefix each get their own.
Memory: kept caches share a byte budget and a count limit, least recently
used first out; the newest one stays whatever its size. What the engine keeps
per conversation (turns dropped to fit the context, the seeded random key) is
small and lives in its own bounded table.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from . import lm
from .memory import default_budget_bytes
from .token_tree import TokenTree

MAX_ENTRIES = 256  # kept caches, however small: each costs Python objects beyond its bytes
MAX_CONVERSATIONS = 4096  # conversations whose dropped turns and seed are remembered


@dataclass
class Snapshot:
    """Copies of the layers that cannot be cut back, taken when the cache held ``offset`` tokens."""

    offset: int
    states: dict[int, Any]
    nbytes: int


class TokenCache:
    """A model cache, the tokens it holds, and snapshots of its window layers (offsets ascending)."""

    def __init__(self, layers: list, tokens: list[int], snapshots: list[Snapshot] | None = None):
        self.layers = layers
        self.tokens = tokens
        self.snapshots: list[Snapshot] = snapshots or []
        self.windowed = tuple(i for i, layer in enumerate(layers) if not lm.trims_exactly(layer))
        self.owner: str | None = None  # the conversation that left it in the PrefixCache

    @classmethod
    def empty(cls, loaded: lm.LoadedModel, kv_bits: int | None = None, kv_group_size: int = 64) -> TokenCache:
        return cls(lm.new_cache(loaded, kv_bits, kv_group_size), [])

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def cuts_anywhere(self) -> bool:
        """Whether it can be cut back to any length: always without window layers, with them until the window
        first fills."""
        return all(lm.can_trim_now(self.layers[i]) for i in self.windowed)

    def points(self) -> list[int]:
        """The lengths it is marked at in the PrefixCache: its own, and its snapshots' (window layers)."""
        if not self.windowed:
            return [len(self.tokens)]
        return [s.offset for s in self.snapshots if s.offset < len(self.tokens)] + [len(self.tokens)]

    def usable(self, shared: int) -> int:
        """The longest prefix of at most ``shared`` tokens it can give exactly."""
        if self.cuts_anywhere:
            return min(shared, len(self.tokens))
        return max((p for p in self.points() if p <= shared), default=0)

    def fork(self, length: int) -> TokenCache:
        """A new cache holding exactly the first ``length`` tokens (as :meth:`usable` allows).

        Its arrays are this cache's until it writes: this one never changes.
        """
        snapshot = None
        if not self.cuts_anywhere and length != len(self.tokens):
            snapshot = next(s for s in self.snapshots if s.offset == length)
        layers = []
        for i, layer in enumerate(self.layers):
            if snapshot is not None and i in snapshot.states:
                layers.append(lm.layer_from_state(layer, snapshot.states[i]))
            else:
                copy = lm.layer_from_state(layer, lm.layer_state(layer))
                lm.trim_layer(copy, len(self.tokens) - length)
                layers.append(copy)
        return TokenCache(layers, self.tokens[:length], [s for s in self.snapshots if s.offset <= length])

    def take_snapshot(self) -> None:
        """Keep the window layers' state at the current length."""
        offset = len(self.tokens)
        if not self.windowed or offset == 0 or (self.snapshots and self.snapshots[-1].offset == offset):
            return
        states, total = {}, 0
        for i in self.windowed:
            states[i], nbytes = lm.copy_layer_state(self.layers[i])
            total += nbytes
        self.snapshots.append(Snapshot(offset, states, total))

    def thin_snapshots(self, keep_first: int = 2) -> bool:
        """Drop the middle snapshot (the first ``keep_first`` are shared openings, the last is where the next turn
        starts); False when there is none to drop."""
        inner = self.snapshots[keep_first:-1]
        if not inner:
            return False
        self.snapshots.remove(inner[len(inner) // 2])
        return True

    def nbytes(self) -> int:
        return lm.cache_nbytes(self.layers) + sum(s.nbytes for s in self.snapshots)

    def reusable_state(self) -> tuple[list, list[int], list[Snapshot]]:
        """Layers holding what a later prompt is most likely to reuse, their tokens, and the snapshots before
        them, for a file on disk.

        With sliding-window layers that is the newest snapshot (where the prompt ended: the next turn starts
        there), with the plain layers cut to its length, and the earlier snapshots (message ends: where a new
        conversation that opens alike starts); otherwise everything.
        """
        if not self.windowed:
            return [lm.cut_copy(layer, len(self.tokens)) for layer in self.layers], list(self.tokens), []
        if not self.snapshots:
            return [], [], []
        newest = self.snapshots[-1].offset
        return self.fork(newest).layers, self.tokens[:newest], self.snapshots[:-1]

    def opening_state(self, length: int) -> tuple[list, list[Snapshot]]:
        """Layers holding exactly the first ``length`` tokens (a point), and the snapshots before it, for a file
        on disk."""
        forked = self.fork(length)
        if forked.windowed:
            return forked.layers, [s for s in forked.snapshots if s.offset < length]
        return [lm.cut_copy(layer, length) for layer in forked.layers], []


class ConversationState:
    """What the engine remembers of one conversation besides its cache."""

    def __init__(self):
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


@dataclass
class Found:
    """Where a prompt can start: ``length`` tokens of ``source`` (None: nothing usable); ``shared`` is how many
    tokens it has in common with what is kept (more than ``length`` when no exact point lies further)."""

    source: TokenCache | None
    length: int
    shared: int


class PrefixCache:
    """Kept token caches of one model in a radix tree, within ``budget_bytes`` and ``max_entries``."""

    def __init__(self, budget_bytes: int | None = None, max_entries: int = MAX_ENTRIES,
                 max_conversations: int = MAX_CONVERSATIONS):
        self.budget_bytes = default_budget_bytes() if budget_bytes is None else budget_bytes
        self.max_entries = max_entries
        self.max_conversations = max_conversations
        self._tree = TokenTree()
        self._entries: OrderedDict[TokenCache, int] = OrderedDict()  # least recently used first; value: its bytes
        self._used: dict[TokenCache, int] = {}  # when each was last used, on a counter
        self._clock = 0
        self._conversations: OrderedDict[str, ConversationState] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, cache: TokenCache) -> bool:
        return cache in self._entries

    @property
    def nbytes(self) -> int:
        return sum(self._entries.values())

    def entries(self) -> list[TokenCache]:
        """Kept caches, least recently used first."""
        return list(self._entries)

    def conversation(self, conversation_id: str) -> ConversationState:
        """The state of ``conversation_id`` (made if new; the least recently used go beyond ``max_conversations``)."""
        state = self._conversations.get(conversation_id)
        if state is None:
            state = self._conversations[conversation_id] = ConversationState()
            while len(self._conversations) > self.max_conversations:
                self._conversations.popitem(last=False)
        self._conversations.move_to_end(conversation_id)
        return state

    def find(self, prompt: list[int], touch: bool = True) -> Found:
        """The longest exact start kept for ``prompt`` (its last token is never served: its logits give the first
        token); with ``touch``, the cache found counts as used."""
        shared, met, below = self._tree.walk(prompt[:-1])
        source, length = None, 0
        if below is not None and below.cuts_anywhere:
            source, length = below, shared
        else:
            for depth, items in reversed(met):
                if depth > 0:
                    source, length = max(items, key=self._used.__getitem__), depth
                    break
        if source is None or length == 0:
            return Found(None, 0, shared)
        if touch:
            self._touch(source)
        return Found(source, length, shared)

    def add(self, cache: TokenCache, owner: str | None = None) -> None:
        """Keep ``cache`` (nothing may write to it any more); kept caches it makes useless go."""
        if len(cache) == 0 or cache in self._entries:
            return
        cache.owner = owner
        for other in self._covered_by(cache):
            self.remove(other)
        self._keep(cache)
        self.enforce_budget()

    def remove(self, cache: TokenCache) -> None:
        if self._entries.pop(cache, None) is None:
            return
        del self._used[cache]
        for point in cache.points():
            self._tree.unmark(cache.tokens[:point], cache)

    def clear(self) -> None:
        self._entries.clear()
        self._used.clear()
        self._tree = TokenTree()
        self._conversations.clear()

    def enforce_budget(self) -> None:
        """Drop least recently used caches, then the newest one's middle snapshots, until within budget."""
        while len(self._entries) > 1 and (len(self._entries) > max(self.max_entries, 1) or self.nbytes > self.budget_bytes):
            self.remove(next(iter(self._entries)))
        if self._entries and self.nbytes > self.budget_bytes:
            newest = next(reversed(self._entries))
            if len(newest.snapshots) > 3:
                self.remove(newest)
                while newest.nbytes() > self.budget_bytes and newest.thin_snapshots():
                    pass
                self._keep(newest)

    def _keep(self, cache: TokenCache) -> None:
        for point in cache.points():
            self._tree.mark(cache.tokens[:point], cache)
        self._entries[cache] = cache.nbytes()
        self._touch(cache)

    def _touch(self, cache: TokenCache) -> None:
        self._clock += 1
        self._used[cache] = self._clock
        self._entries.move_to_end(cache)

    def _covered_by(self, cache: TokenCache) -> list[TokenCache]:
        """Kept caches that hold a prefix of ``cache``'s tokens and whose every reuse point it also has."""
        _, met, _ = self._tree.walk(cache.tokens)
        points = set(cache.points())
        return [other for depth, items in met for other in items
                if len(other) == depth and (cache.cuts_anywhere or set(other.points()) <= points)]

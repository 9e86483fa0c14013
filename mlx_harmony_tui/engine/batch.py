"""The sequences that decode together: one forward pass a step for all of them.

One sequence decodes in its own cache, exactly as it would alone; when
others join, the rows move into mlx-lm's batch caches (plain and rotating
layers both merge, extend, filter and extract), and a row that leaves takes
its cache back out. Greedy tokens came out identical either way on the
default model and the tiny GPT-OSS (past its 128-token window).

A row whose text it is copying from (see :mod:`.lookup`) feeds the model
its next token and a draft of the ones after it; one pass checks every row's
draft, each row keeps what its sampler would have drawn (:mod:`.verify`),
and the caches forget the rest. Such a step waits for its tokens before the
next is built; the others, below, do not.

Each step queues the next forward pass before reading the tokens it feeds,
and draws the following tokens ahead of time where a draw needs no token
ids on the host (no logits processors, no history-based penalties). A draw
made ahead is thrown away, and its random key set back, when new sampling
parameters arrived in the meantime or the row ended: parameter changes and
cancels take effect from the very next token.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

from ..runtime import mlx_core
from . import lm
from .lookup import DraftPace, DraftPolicy, PromptLookup
from .sequence import Sequence
from .verify import settle

mx = mlx_core()

# Rows that drop more drafts than others get more left padding in the batch's full-attention layers; past this
# spread (positions every step reads and skips), the rows are copied into fresh batch caches.
MAX_PADDING_SPREAD = 512
REPACK_CHECK_EVERY = 32
QUIET_STEPS = 16  # after drafts were judged not worth a step, this many steps go by before looking again


@dataclass
class _EarlyDraw:
    """A token drawn for a row before its previous token was read, and the key to go back to."""

    token: Any
    key: Any


class DecodeBatch:
    """Rows (sequences) decoding in step; ``inputs`` are the tokens each feeds at the next step."""

    def __init__(self, loaded: lm.LoadedModel, share: Callable[[Any], Any] | None = None):
        self._loaded = loaded
        self._share = share  # in a group: every rank feeds rank 0's tokens
        self.rows: list[Sequence] = []
        self._cache: list | None = None  # the one row's own cache, or the batch caches of several
        self._inputs: list[Any] = []  # per row: a lazy (1,) token array to feed next
        self._fresh: list[bool] = []  # per row: its input is its prompt's last token, not a generated one
        self._known: list[int | None] = []  # per row: its input's id when the host has it (None: still on the device)
        self._steps = 0
        self.pace = DraftPace()
        self._plain_started: tuple[float, int] | None = None  # when the last step without drafts began, and its rows
        self._quiet_until = 0  # drafts did not pay at the last look: steps go on without looking until this one

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, seq: Sequence) -> None:
        """Let ``seq`` (prefilled up to its prompt's last token) decode from the next step."""
        own = seq.cache.layers
        if not self.rows:
            self._cache = own
        else:
            if len(self.rows) == 1:
                self._cache = lm.batch_cache([self._cache, own])
            else:
                lm.add_rows(self._cache, [own])
            for row in (*self.rows, seq):
                row.cache.layers = []  # the batch holds them now; each row gets its own back when it leaves
        self.rows.append(seq)
        self._inputs.append(mx.array(seq.prompt[-1:]))
        self._fresh.append(True)
        self._known.append(seq.prompt[-1])

    def remove(self, leaving: list[Sequence]) -> None:
        """Take ``leaving`` out; each gets its own cache back (what it computed stays usable by its conversation)."""
        if not leaving:
            return
        keep = [i for i, seq in enumerate(self.rows) if seq not in leaving]
        if len(self.rows) > 1:
            for i, seq in enumerate(self.rows):
                if seq in leaving:
                    seq.cache.layers = lm.row_cache(self._cache, i)
            if len(keep) == 1:
                only = self.rows[keep[0]]
                only.cache.layers = lm.row_cache(self._cache, keep[0])
                self._cache = only.cache.layers
            elif keep:
                lm.keep_rows(self._cache, keep)
        self.rows = [self.rows[i] for i in keep]
        self._inputs = [self._inputs[i] for i in keep]
        self._fresh = [self._fresh[i] for i in keep]
        self._known = [self._known[i] for i in keep]
        if not self.rows:
            self._cache = None

    def step(self, cancelled: set[str], sink, before_wait: Callable[[], None]) -> list[Sequence]:
        """Feed each row its input, emit what the fed tokens completed, and draw each continuing row's next input.

        ``before_wait`` runs once the step's graph is built, just before the host
        hands it to the device (MLX lets go of the GIL while it does).
        Returns the rows that ended at this step (already out of the batch).
        """
        self._steps += 1
        if self._share is None and self._may_draft():
            return self._checked_step(cancelled, sink, before_wait)
        return self._timed_plain_step(cancelled, sink, before_wait)

    def _timed_plain_step(self, cancelled: set[str], sink, before_wait: Callable[[], None]) -> list[Sequence]:
        now, rows = time.perf_counter(), len(self.rows)
        if self._plain_started is not None and self._plain_started[1] == rows:
            self.pace.note(rows, 1, now - self._plain_started[0])  # steps overlap: one step's cost is the time between starts
        self._plain_started = (now, rows)
        return self._plain_step(cancelled, sink, before_wait)

    def _plain_step(self, cancelled: set[str], sink, before_wait: Callable[[], None]) -> list[Sequence]:
        inputs = self._inputs[0] if len(self.rows) == 1 else mx.concatenate(self._inputs)
        if self._share is not None:
            inputs = self._share(inputs)
            if self._loaded.pipelined:
                # Its forward pass receives from another rank first, a step that needs no token: share them before,
                # or ranks may wait on each other in different orders.
                mx.eval(inputs)
        logits = lm.forward_rows(self._loaded, inputs, self._cache)
        early = self._draw_early(logits)
        before_wait()
        mx.async_eval(logits, [d.token for d in early.values()])
        fed = inputs.tolist()  # the one wait per step: the tokens drawn at the last step
        ended = []
        for i, seq in enumerate(self.rows):
            if self._fresh[i]:
                seq.cache.tokens.append(fed[i])  # the prompt's last token: nothing to emit yet
                self._fresh[i] = False
            elif seq.accept(fed[i], seq.rid in cancelled, sink):
                ended.append(i)
        for i in ended:
            if i in early:
                self.rows[i].sampler.key = early[i].key  # a draw that will never be used
        drawn_late = False
        for i, seq in enumerate(self.rows):
            if i in ended:
                continue
            draw = early.get(i)
            if draw is not None and not seq.sampler.has_pending and seq.draws_early:
                self._inputs[i] = draw.token  # already queued with the forward pass
                continue
            if draw is not None:
                seq.sampler.key = draw.key  # new parameters came: draw again with them
            self._inputs[i] = self._draw(seq, logits[i : i + 1])
            drawn_late = True
        self._known = [None] * len(self.rows)
        leaving = [self.rows[i] for i in ended]
        self.remove(leaving)
        if drawn_late and self.rows:
            mx.async_eval(self._inputs)
        return leaving

    # --- drafts --------------------------------------------------------------------------------------------

    def _policy(self, seq: Sequence) -> DraftPolicy | None:
        """``seq``'s drafting state when it drafts at all (prompt lookup on, no logits processors)."""
        params = seq.sampler.upcoming
        if params.speculative != "ngram" or seq.processors:
            return None
        if seq.policy is None:
            seq.policy, seq.lookup = DraftPolicy(params.draft_tokens), PromptLookup(seq.history)
        seq.policy.max_tokens = params.draft_tokens
        return seq.policy

    def _may_draft(self) -> bool:
        """Whether some row is likely to have a draft at this step."""
        if self._steps < self._quiet_until:
            return False
        for i, seq in enumerate(self.rows):
            policy = None if self._fresh[i] else self._policy(seq)
            if policy is None or not policy.wants(self._steps):
                continue
            # An input the host has: the checked step drafts from it (and steps aside when no row has a draft).
            if self._known[i] is not None or seq.lookup.matches_end():
                return True
        return False

    def _draft(self, i: int, seq: Sequence, token: int) -> list[int]:
        policy = None if self._fresh[i] else self._policy(seq)
        if policy is None or not policy.wants(self._steps):
            return []
        room = min(seq.sampler.upcoming.max_tokens, seq.room) - len(seq.generated) - 1  # the fed token takes one
        return seq.lookup.propose(token, min(policy.length(), room))

    def _expected(self, drafts: list[list[int]]) -> dict[int, float]:
        """Tokens a step is expected to give at each width, from each drafting row's acceptance so far."""
        longest = max(map(len, drafts))
        return {width: sum(1 + (seq.policy.expected(min(len(draft), width - 1)) if draft else 0.0)
                           for seq, draft in zip(self.rows, drafts))
                for width in range(2, longest + 2)}

    def _host_inputs(self) -> list[int]:
        """Every row's input id (read from the device where it was drawn there)."""
        unknown = [i for i, known in enumerate(self._known) if known is None]
        if unknown:
            ids = mx.concatenate([self._inputs[i] for i in unknown]).tolist()
            for i, token in zip(unknown, ids):
                self._known[i] = token
        return list(self._known)

    def _checked_step(self, cancelled: set[str], sink, before_wait: Callable[[], None]) -> list[Sequence]:
        """Feed each row its input and its draft, keep what the samplers accept, and forget the rest."""
        fed = self._host_inputs()
        drafts = [self._draft(i, seq, fed[i]) for i, seq in enumerate(self.rows)]
        if not any(drafts):
            return self._timed_plain_step(cancelled, sink, before_wait)
        width = self.pace.best_width(len(self.rows), self._expected(drafts))
        if width == 1:
            self._quiet_until = self._steps + QUIET_STEPS
            return self._timed_plain_step(cancelled, sink, before_wait)
        self._plain_started = None
        started = time.perf_counter()
        drafts = [draft[: width - 1] for draft in drafts]
        grid = [[fed[i], *draft] + [fed[i]] * (width - 1 - len(draft)) for i, draft in enumerate(drafts)]
        logits = lm.forward_tokens(self._loaded, mx.array(grid), self._cache)
        before_wait()
        mx.async_eval(logits)
        ended: list[int] = []
        for i, seq in enumerate(self.rows):
            if self._fresh[i]:
                seq.cache.tokens.append(fed[i])
                self._fresh[i] = False
            elif seq.accept(fed[i], seq.rid in cancelled, sink):
                ended.append(i)
        checks = {}
        for i, seq in enumerate(self.rows):
            if i in ended:
                continue
            draft = drafts[i]
            row = logits[i, : len(draft) + 1]
            checks[i] = (seq.sampler.check_drafts(row, seq.history, draft) if draft else self._draw(seq, row[:1])).reshape(-1)
        values = mx.concatenate(list(checks.values())).tolist() if checks else []
        forget, at = [], 0
        for i, seq in enumerate(self.rows):
            if i not in checks:
                forget.append(width - 1)
                continue
            draft, size = drafts[i], checks[i].size
            kept, token = settle(values[at : at + size], draft)
            at += size
            if draft:
                seq.policy.record(self._steps, len(draft), kept)
                seq.clock.drafted += len(draft)
                seq.clock.accepted += kept
            used = 0
            for draft_token in draft[:kept]:
                used += 1
                if seq.accept(draft_token, seq.rid in cancelled, sink):
                    ended.append(i)
                    break
            forget.append(width - 1 - used)
            if i not in ended:
                self._inputs[i], self._known[i] = mx.array([token]), token
        lm.forget_last(self._cache, forget)
        self.pace.note(len(self.rows), width, time.perf_counter() - started)
        if len(self.rows) > 1 and self._steps % REPACK_CHECK_EVERY == 0 and lm.padding_spread(self._cache) > MAX_PADDING_SPREAD:
            self._cache = lm.batch_cache([lm.row_cache(self._cache, i) for i in range(len(self.rows))])
        leaving = [self.rows[i] for i in ended]
        self.remove(leaving)
        return leaving

    def _draw_early(self, logits) -> dict[int, _EarlyDraw]:
        rows = self.rows
        if all(seq.draws_early and seq.sampler.plain_greedy for seq in rows):
            tokens = mx.argmax(logits, axis=-1)  # one op for the whole batch
            if len(rows) == 1:
                return {0: _EarlyDraw(tokens, rows[0].sampler.key)}
            return {i: _EarlyDraw(tokens[i : i + 1], seq.sampler.key) for i, seq in enumerate(rows)}
        found = {}
        for i, seq in enumerate(rows):
            if seq.draws_early:
                key = seq.sampler.key
                found[i] = _EarlyDraw(self._draw(seq, logits[i : i + 1]), key)
        return found

    @staticmethod
    def _draw(seq: Sequence, logits) -> Any:
        for processor in seq.processors:
            logits = processor(seq.history, logits)
        return seq.sampler(logits, None if seq.draws_early else seq.history)

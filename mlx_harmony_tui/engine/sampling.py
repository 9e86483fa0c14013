"""Sampling parameters and the sampler that applies them, token by token.

The chain, in order, on the model's ``(1, V)`` logits:

1. ``logit_bias`` adds to chosen tokens' logits.
2. ``repetition_penalty`` divides positive (multiplies negative) logits of every
   token among the last ``repetition_context_size`` tokens of prompt and answer;
   ``presence_penalty`` and ``frequency_penalty`` lower the logits of tokens the
   answer already holds (OpenAI's definition, see :mod:`.penalties`).
3. ``top_k`` keeps the k most likely tokens (0 = off).
4. ``top_p`` keeps the smallest set of most likely tokens whose mass reaches p.
5. ``min_p`` drops tokens less likely than ``min_p`` times the most likely one.
6. XTC, with probability ``xtc_probability``, drops every token at least
   ``xtc_threshold`` likely except the least likely of them; end-of-sequence and
   newline tokens are never dropped.
7. ``temperature`` scales what is left; 0 means greedy (the argmax after steps
   1-2; the filters in 3-6 cannot change it except XTC, which is then off).

``top_p`` and ``min_p`` always keep at least ``min_tokens_to_keep`` tokens.
A :class:`LiveSampler` takes new parameters at any time; they apply from the
next token it samples.
"""

from __future__ import annotations

import math
import threading
from typing import Any

from ..config.sampling import SamplingParams
from ..runtime import mlx_core
from .penalties import TokenPenalties

__all__ = ["SamplingParams", "LiveSampler", "processed_logits"]

mx = mlx_core()


def apply_logit_bias(logits, bias: dict[int, float], vocab_size: int):
    ids = [t for t in bias if t < vocab_size]
    if not ids:
        return logits
    return logits.at[:, mx.array(ids)].add(mx.array([bias[t] for t in ids], dtype=logits.dtype))


def apply_repetition_penalty(logits, recent_tokens: list[int], penalty: float):
    vocab = logits.shape[-1]
    ids = sorted({t for t in recent_tokens if 0 <= t < vocab})
    if penalty == 1.0 or not ids:
        return logits
    index = mx.array(ids)
    chosen = logits[:, index]
    return logits.at[:, index].add(mx.where(chosen < 0, chosen * penalty, chosen / penalty) - chosen)


def _drop(logits, keep):
    return mx.where(keep, logits, -mx.inf)


def apply_top_k(logits, k: int):
    if k <= 0 or k >= logits.shape[-1]:
        return logits
    kth = mx.sort(logits, axis=-1)[:, -k][:, None]
    return _drop(logits, logits >= kth)


def apply_top_p(logits, p: float, min_keep: int):
    if p >= 1.0:
        return logits
    order = mx.argsort(-logits, axis=-1)
    sorted_probs = mx.softmax(mx.take_along_axis(logits, order, axis=-1), axis=-1)
    mass_before = mx.cumsum(sorted_probs, axis=-1) - sorted_probs
    rank = mx.arange(logits.shape[-1])[None]
    keep_sorted = (mass_before < p) | (rank < max(min_keep, 1))
    keep = mx.put_along_axis(mx.zeros_like(keep_sorted), order, keep_sorted, axis=-1)
    return _drop(logits, keep)


def apply_min_p(logits, min_p: float, min_keep: int):
    if min_p <= 0.0:
        return logits
    # In log space: p_i >= min_p * p_max  <=>  logit_i >= logit_max + log(min_p).
    floor = logits.max(axis=-1, keepdims=True) + math.log(min_p)
    keep = logits >= floor
    if min_keep > 1:
        kth = mx.sort(logits, axis=-1)[:, -min(min_keep, logits.shape[-1])][:, None]
        keep = keep | (logits >= kth)
    return _drop(logits, keep)


def apply_xtc(logits, threshold: float, protected, draw, probability: float):
    """Exclude Top Choices: drop all tokens >= threshold likely but the least likely of them."""
    probs = mx.softmax(logits, axis=-1)
    # Tokens an earlier filter dropped have probability 0 and must not count as "above".
    above = (probs >= threshold) & (probs > 0)
    least_above = mx.where(above, probs, mx.inf).min(axis=-1, keepdims=True)
    drop = above & (probs > least_above)
    if protected:
        drop[:, mx.array(protected)] = False
    return mx.where((mx.array(draw) < probability) & drop, -mx.inf, logits)


def processed_logits(
    logits,
    params: SamplingParams,
    recent_tokens: list[int] | None = None,
    protected_ids: list[int] | None = None,
    xtc_draw=None,
    penalties: TokenPenalties | None = None,
):
    """Apply the whole chain except the final draw; -inf marks dropped tokens.

    The result divided by the temperature (when it is above 0) is the
    distribution the next token is drawn from. ``xtc_draw`` is a uniform
    number in [0, 1) deciding whether XTC fires (drawn here when omitted).
    ``penalties`` holds the answer's token counts for presence and frequency
    penalties (their values are taken from ``params``).
    """
    vocab = logits.shape[-1]
    logits = logits.astype(mx.float32)
    if params.logit_bias:
        logits = apply_logit_bias(logits, params.logit_bias, vocab)
    if params.repetition_penalty != 1.0 and recent_tokens and params.repetition_context_size:
        logits = apply_repetition_penalty(logits, recent_tokens[-params.repetition_context_size :], params.repetition_penalty)
    if penalties is not None and (params.presence_penalty or params.frequency_penalty):
        penalties.presence, penalties.frequency = params.presence_penalty, params.frequency_penalty
        logits = penalties.apply(logits)
    if params.temperature == 0:
        return logits
    logits = apply_top_k(logits, params.top_k)
    logits = apply_top_p(logits, params.top_p, params.min_tokens_to_keep)
    logits = apply_min_p(logits, params.min_p, params.min_tokens_to_keep)
    if params.xtc_probability > 0:
        draw = xtc_draw if xtc_draw is not None else mx.random.uniform()
        logits = apply_xtc(logits, params.xtc_threshold, protected_ids, draw, params.xtc_probability)
    return logits


class LiveSampler:
    """Draws the next token; parameters can be replaced from any thread.

    A replacement applies from the next call. With a ``seed``, draws come
    from a private random key, so the same seed gives the same tokens. Tokens
    at or above ``penalty_exempt_from`` (Harmony's special tokens) never count
    for presence and frequency penalties.
    """

    def __init__(
        self, params: SamplingParams, protected_ids: list[int] | None = None, key: Any = None, penalty_exempt_from: int | None = None
    ):
        self._lock = threading.Lock()
        self._penalties = TokenPenalties(exempt_from=penalty_exempt_from)
        self._pending: SamplingParams | None = None
        self._protected_ids = sorted(set(protected_ids or []))
        self.params = params
        if key is None and params.seed is not None:
            key = mx.random.key(params.seed)
        self._key: Any = key

    @property
    def key(self) -> Any:
        """The random key the next seeded draw continues from."""
        return self._key

    @key.setter
    def key(self, key: Any) -> None:
        # Set back when a draw made ahead of time is thrown away (see engine.batch).
        self._key = key

    @property
    def has_pending(self) -> bool:
        """New parameters arrived that the next draw will take."""
        return self._pending is not None

    @property
    def upcoming(self) -> SamplingParams:
        """The parameters the next draw will use."""
        return self._pending or self.params

    @property
    def history_free(self) -> bool:
        """The next draw needs no tokens so far (no repetition, presence or frequency penalty), so it can be made early."""
        params = self._pending or self.params
        return params.repetition_penalty == 1.0 and not params.presence_penalty and not params.frequency_penalty

    @property
    def plain_greedy(self) -> bool:
        """The next draw is the argmax of the logits, nothing else."""
        params = self._pending or self.params
        return params.temperature == 0 and not params.logit_bias and self.history_free

    def observe(self, history: list[int]) -> None:
        """Count the answer's tokens for presence and frequency penalties (also while they are off)."""
        self._penalties.observe(history)

    def update(self, params: SamplingParams) -> None:
        """Use ``params`` from the next token on (thread-safe)."""
        with self._lock:
            self._pending = params

    def _take_pending(self) -> None:
        if self._pending is None:
            return
        with self._lock:
            new, self._pending = self._pending, None
        if new.seed != self.params.seed:
            self._key = mx.random.key(new.seed) if new.seed is not None else None
        self.params = new

    def _split(self):
        self._key, sub = mx.random.split(self._key)
        return sub

    def check_drafts(self, logits, history: list[int], drafts: list[int]):
        """The draws that decide which of ``drafts`` to keep, as one lazy int array (see :func:`.verify.settle`).

        ``logits`` (S, V) are the model's at the last history token and at
        each draft (S = 1 + len(drafts)); ``history`` ends with the token fed
        before the drafts. Greedy: the choice at each position (S ids).
        Sampling: for each draft, 1 if it is kept (drawn with the probability
        the full chain gives it there: exactly speculative sampling with a
        draft that is certain), then for each draft a token drawn from the
        chain with that draft left out (used where the draft is rejected),
        then a token drawn at the last position (used when every draft is
        kept): 2 * len(drafts) + 1 ids. Parameter changes apply from here.
        """
        self._take_pending()
        params = self.params
        self.observe(history)
        count = len(drafts)
        filtered = self._chain_at_drafts(logits, params, history, drafts)
        if params.temperature == 0:
            return mx.argmax(filtered, axis=-1)
        scaled = filtered * (1.0 / params.temperature)
        ids = mx.array(drafts)
        head = scaled[:count]
        logp = head - mx.logsumexp(head, axis=-1, keepdims=True)
        chance = mx.exp(mx.take_along_axis(logp, ids[:, None], axis=-1))[:, 0]
        uniform = self._uniform((count,))
        kept = (uniform < chance).astype(mx.int32)
        without = mx.put_along_axis(head, ids[:, None], mx.array(-mx.inf, dtype=head.dtype), axis=-1)
        draws = self._categorical(mx.concatenate([without, scaled[count:]], axis=0))
        return mx.concatenate([kept, draws.astype(mx.int32)])

    def _chain_at_drafts(self, logits, params: SamplingParams, history: list[int], drafts: list[int]):
        """The chain at every position (one pass for all when no penalty looks at the history)."""
        rows = logits.shape[0]
        xtc = None
        if params.xtc_probability > 0 and params.temperature > 0:
            xtc = self._uniform((rows, 1))
        needs_history = params.repetition_penalty != 1.0
        penalised = bool(params.presence_penalty or params.frequency_penalty)
        if not needs_history and not penalised:
            return processed_logits(logits, params, None, self._protected_ids, xtc, self._penalties)
        out = []
        for j in range(rows):
            seen = history + drafts[:j]
            penalties = self._penalties.with_tokens(drafts[:j])
            draw = xtc[j : j + 1] if xtc is not None else None
            out.append(processed_logits(logits[j : j + 1], params, seen if needs_history else None, self._protected_ids, draw, penalties))
        return mx.concatenate(out, axis=0)

    def _uniform(self, shape: tuple[int, ...]):
        return mx.random.uniform(shape=shape, key=self._split()) if self._key is not None else mx.random.uniform(shape=shape)

    def _categorical(self, logits):
        return mx.random.categorical(logits, key=self._split()) if self._key is not None else mx.random.categorical(logits)

    def __call__(self, logits, recent_tokens: list[int] | None):
        """Return the next token as a lazy scalar array."""
        self._take_pending()
        params = self.params
        if recent_tokens is not None:
            self.observe(recent_tokens)  # counted always, so penalties set mid-answer see it all
        needs_history = params.repetition_penalty != 1.0
        penalised = bool(params.presence_penalty or params.frequency_penalty)
        if params.temperature == 0 and not params.logit_bias and not needs_history and not penalised:
            return mx.argmax(logits, axis=-1)
        draw = None
        if params.xtc_probability > 0 and params.temperature > 0:
            draw = mx.random.uniform(key=self._split()) if self._key is not None else mx.random.uniform()
        filtered = processed_logits(logits, params, recent_tokens if needs_history else None, self._protected_ids, draw, self._penalties)
        if params.temperature == 0:
            return mx.argmax(filtered, axis=-1)
        scaled = filtered * (1.0 / params.temperature)
        if self._key is not None:
            return mx.random.categorical(scaled, key=self._split())
        return mx.random.categorical(scaled)

"""Prompt-lookup drafts: guess the next tokens by finding the latest n-gram earlier in the text.

An answer that copies from its context (a patch repeating a file's lines, a
rewrite repeating a function, a reformat repeating values) continues the way
the text did after the same few tokens before. :class:`PromptLookup` keeps
an index from every n-gram of a sequence's prompt and output to where it last
ended, and proposes what followed the longest one matching the end.

:class:`DraftPolicy` decides, from how a request's drafts fared, whether and
how many tokens to draft: a request whose drafts keep being rejected (prose)
stops drafting for a while, longer each time, so verifying drafts never costs
it much. The drafts are only guesses: whatever they are, the verification in
:mod:`.verify` keeps the output distributed exactly as without them.
"""

from __future__ import annotations

from dataclasses import dataclass

NGRAM_MAX = 4  # the longest n-gram looked up
NGRAM_MIN = 2  # single tokens match almost anywhere: their drafts are mostly wrong
MAX_BACKOFF_STEPS = 256


class PromptLookup:
    """Drafts for one sequence; ``tokens`` is its history (prompt and output), a list that grows in place."""

    def __init__(self, tokens: list[int]):
        self.tokens = tokens
        self._where: dict[tuple[int, ...], int] = {}  # n-gram -> the position just after its latest occurrence
        self._indexed = 0  # n-grams ending before this position are in ``_where``

    def _index(self, upto: int) -> None:
        tokens, where = self.tokens, self._where
        for end in range(self._indexed, upto):
            for n in range(NGRAM_MIN, NGRAM_MAX + 1):
                if end - n + 1 < 0:
                    break
                where[tuple(tokens[end - n + 1 : end + 1])] = end + 1
        self._indexed = max(self._indexed, upto)

    def propose(self, pending: int, count: int) -> list[int]:
        """Up to ``count`` tokens to follow ``tokens + [pending]``: what followed its longest earlier-seen ending."""
        tokens = self.tokens
        if count <= 0:
            return []
        self._index(len(tokens))
        for n in range(NGRAM_MAX, NGRAM_MIN - 1, -1):
            if n - 1 > len(tokens):
                continue
            start = self._where.get((*tokens[len(tokens) - (n - 1) :], pending))
            if start is None:
                continue
            draft = tokens[start : start + count]
            if len(draft) < count:
                draft.append(pending)  # the occurrence ran into the end, which goes on with the pending token
            return draft
        return []

    def matches_end(self) -> bool:
        """Whether the text's last few tokens were seen before: once the next one is known, a draft is likely."""
        tokens = self.tokens
        if len(tokens) <= NGRAM_MIN:
            return False
        self._index(len(tokens) - 1)  # not the very end yet: it would match itself
        return tuple(tokens[-NGRAM_MIN:]) in self._where


@dataclass
class DraftPolicy:
    """How a request's drafts have fared: whether to draft now, and how many tokens."""

    max_tokens: int
    acceptance: float = 0.5  # a moving average of the fraction of drafted tokens accepted
    misses: int = 0  # verifications in a row that accepted nothing
    resume_at: int = 0  # the step from which it may draft again
    last_run: int = -1  # tokens accepted at the last verification (-1: none yet)

    def wants(self, step: int) -> bool:
        return step >= self.resume_at

    def length(self) -> int:
        """Tokens to draft now: all it may after a fully accepted draft, fewer after a partial one."""
        if self.last_run < 0:
            return self.max_tokens
        return max(1, min(self.max_tokens, self.last_run + 2))

    def expected(self, length: int) -> float:
        """Tokens a draft of ``length`` is expected to add (each accepted with the average acceptance, in order)."""
        a = min(max(self.acceptance, 0.0), 0.99)
        return sum(a**i for i in range(1, length + 1))

    def record(self, step: int, drafted: int, accepted: int) -> None:
        self.acceptance = 0.7 * self.acceptance + 0.3 * (accepted / drafted)
        self.last_run = accepted
        if accepted:
            self.misses = 0
            return
        self.misses += 1
        self.resume_at = step + min(2**self.misses, MAX_BACKOFF_STEPS)


class DraftPace:
    """How long a decode step takes, by rows and tokens fed per row, measured as the batch runs.

    A step that checks drafts feeds every row ``width`` tokens: on a GPU it
    costs about what a one-token step costs; on a CPU, more. It is worth it
    where the tokens it is expected to give per second beat a plain step's.
    """

    def __init__(self) -> None:
        self._seconds: dict[tuple[int, int], float] = {}

    def note(self, rows: int, width: int, seconds: float) -> None:
        key = (rows, width)
        old = self._seconds.get(key)
        if old is not None and seconds > 4 * old:
            return  # the thread did other work in between (a prefill chunk): not this step's cost
        self._seconds[key] = seconds if old is None else 0.8 * old + 0.2 * seconds

    def best_width(self, rows: int, expected: dict[int, float]) -> int:
        """The width (1: no drafts) with the most tokens a second; ``expected[w]`` is the tokens a step of width w gives.

        A width never measured at this row count is tried once it might pay.
        """
        plain = self._seconds.get((rows, 1))
        if plain is None:
            return 1
        best, best_rate = 1, rows / plain
        for width, tokens in sorted(expected.items()):
            seconds = self._seconds.get((rows, width))
            if seconds is None:
                if tokens > rows:
                    return width
                continue
            if tokens / seconds > best_rate * 1.02:
                best, best_rate = width, tokens / seconds
        return best

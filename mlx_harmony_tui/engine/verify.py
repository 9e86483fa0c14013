"""Which drafted tokens a row keeps, from the draws its sampler made at every drafted position.

:meth:`.sampling.LiveSampler.check_drafts` makes the draws on the device;
:func:`settle` reads them on the host. A draft is a guess that is certain
of itself, so speculative sampling keeps draft token ``d`` where the chain
gives it probability ``p(d)`` with exactly that probability, and on a
rejection draws from the chain with ``d`` left out: each kept or drawn token
is distributed exactly as a token drawn one at a time (greedy: the draft is
kept where it is the argmax, and the argmax replaces it where it is not).
"""

from __future__ import annotations


def settle(draws: list[int], draft: list[int]) -> tuple[int, int]:
    """``(kept, next_token)``: how many of ``draft`` to keep, and the token after them.

    ``draws`` is what ``check_drafts`` returned for ``draft`` (``len(draft) + 1``
    argmax choices, or ``2 * len(draft) + 1`` draws when sampling), or, for a
    row without a draft, its one drawn token.
    """
    count = len(draft)
    if len(draws) == count + 1:  # greedy (or no draft)
        kept = 0
        while kept < count and draws[kept] == draft[kept]:
            kept += 1
        return kept, draws[kept]
    if len(draws) != 2 * count + 1:
        raise ValueError(f"{len(draws)} draws for a draft of {count}")
    kept = 0
    while kept < count and draws[kept]:
        kept += 1
    return kept, draws[count + kept]

"""Fitting a conversation into ``max_context_tokens`` by dropping its oldest turns.

A turn is a user message and everything after it up to the next user
message. System and developer messages, the first ``keep`` messages (a
prompt config's example dialogues) and the newest turn are never dropped.

Dropping changes the start of the prompt, so the KV cache cannot be reused
past that point. To make that rare, once a conversation overflows it drops
enough turns to come down to three quarters of the budget, and keeps at
least that many dropped on later turns, so the prompt's start stays the same
until the budget is reached again.
"""

from __future__ import annotations

from typing import Callable

from ..errors import UserError

REFILL = 0.75


def turn_starts(messages: list[dict], keep: int) -> list[int]:
    """Indices of user messages that begin a droppable turn (all but the newest)."""
    starts = [i for i, m in enumerate(messages) if i >= keep and m.get("role") == "user"]
    return starts[:-1]


def without_turns(messages: list[dict], keep: int, count: int) -> list[dict]:
    """``messages`` with the oldest ``count`` droppable turns removed (system/developer messages stay)."""
    starts = turn_starts(messages, keep)
    if count <= 0 or not starts:
        return messages
    newest = max(i for i, m in enumerate(messages) if m.get("role") == "user")
    end = starts[count] if count < len(starts) else newest
    kept = [m for m in messages[starts[0] : end] if m.get("role") in ("system", "developer")]
    return messages[: starts[0]] + kept + messages[end:]


def fit_context(
    messages: list[dict],
    render: Callable[[list[dict]], list[int]],
    limit: int,
    reserve: int,
    keep: int = 0,
    already_dropped: int = 0,
) -> tuple[list[int], int]:
    """The prompt ids for ``messages`` within ``limit - reserve`` tokens, and how many turns were dropped."""
    budget = limit - reserve
    droppable = len(turn_starts(messages, keep))
    dropped = min(already_dropped, droppable)
    prompt = render(without_turns(messages, keep, dropped))
    if len(prompt) <= budget:
        return prompt, dropped
    target = int(budget * REFILL)
    # Fewest further drops that reach the target; lengths fall as turns go, so bisect.
    low, high = dropped + 1, droppable
    best = None
    while low <= high:
        middle = (low + high) // 2
        candidate = render(without_turns(messages, keep, middle))
        if len(candidate) <= target:
            best, high = (candidate, middle), middle - 1
        else:
            low = middle + 1
    if best is None:
        prompt = render(without_turns(messages, keep, droppable))
        if len(prompt) > budget:
            raise UserError(
                f"max_context_tokens: the prompt needs {len(prompt)} tokens even without earlier turns, "
                f"more than the {budget} left of {limit} after {reserve} for the answer"
            )
        return prompt, droppable
    return best

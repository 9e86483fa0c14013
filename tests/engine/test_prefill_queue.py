"""Which waiting request prefills next, on token counts alone (the same decisions every rank of a group takes).

The real engine path (a short request answered while a long prompt is prefilled) is tested in test_fair_prefill.py;
here the queue's choices are checked over many rounds with chunks of a fixed size.
"""

from __future__ import annotations

from mlx_harmony_tui.engine.prefill_queue import PrefillQueue
from mlx_harmony_tui.engine.prompt_cache import PrefixCache, TokenCache
from mlx_harmony_tui.engine.requests import Generate
from mlx_harmony_tui.engine.sequence import GenerationClock, Sequence

CHUNK = 64


def waiting(name: str, prompt: list[int]) -> Sequence:
    return Sequence(Generate(name), prompt, None, None, None, (), GenerationClock(len(prompt)), 1 << 30, None)


def run_round(queue: PrefillQueue, caches: PrefixCache) -> Sequence | None:
    """One round as the scheduler runs it, without a model: the picked sequence starts from the longest prefix kept
    or being prefilled, prefills one chunk, and once prefilled leaves its tokens in ``caches``."""
    seq = queue.pick()
    if seq is None:
        return None
    if not seq.started:
        length = max(caches.find(seq.prompt).length, queue.best_started_source(seq)[1])
        seq.cache = TokenCache([], seq.prompt[:length])
        seq.clock.cached_tokens = length
    n = min(CHUNK, len(seq.prompt) - 1 - seq.held)
    seq.cache.tokens.extend(seq.prompt[seq.held : seq.held + n])
    queue.counted(seq, n)
    if seq.prefilled:
        queue.remove(seq)
        caches.add(seq.cache)
    return seq


def test_a_short_request_goes_before_the_rest_of_a_long_prompt():
    caches = PrefixCache(budget_bytes=0)
    queue = PrefillQueue(caches, windowed=False)
    long = waiting("long", list(range(5000)))
    queue.append(long)
    for _ in range(10):
        assert run_round(queue, caches) is long
    short = waiting("short", list(range(10_000, 10_030)))
    queue.append(short)
    assert run_round(queue, caches) is short and short.prefilled  # the next chunk is the short one's whole prompt
    assert run_round(queue, caches) is long


def test_a_stream_of_short_requests_never_starves_a_long_prompt():
    caches = PrefixCache(budget_bytes=0)
    queue = PrefillQueue(caches, windowed=False)
    long = waiting("long", list(range(2000)))
    queue.append(long)
    rounds, arrivals = 0, 0
    while long.held < len(long.prompt) - 1:
        if rounds % 2 == 0:  # a new 100-token request every other round: more work than one chunk per round
            arrivals += 1
            queue.append(waiting(f"short-{arrivals}", [50_000 + arrivals] * 100))
        run_round(queue, caches)
        rounds += 1
        assert rounds < 200
    # The long prompt waited for at most about its own length of others' work.
    others = queue.prefilled - long.own_prefill
    assert others <= len(long.prompt) + 2 * CHUNK


def test_a_request_sharing_an_opening_with_one_being_prefilled_waits_for_it():
    caches = PrefixCache(budget_bytes=0)
    queue = PrefillQueue(caches, windowed=False)
    opening = list(range(1000))
    first = waiting("first", opening + [7] * 20)
    queue.append(first)
    run_round(queue, caches)  # first has started
    second = waiting("second", opening + [8] * 20)
    unrelated = waiting("unrelated", list(range(5000, 5300)))
    queue.append(second)
    queue.append(unrelated)
    picked = []
    while not second.started:
        picked.append(run_round(queue, caches))
        assert len(picked) < 50
    # second started only once the whole opening it shares with first was there to copy, and took all of it
    assert first.held >= len(opening) and second.clock.cached_tokens == len(opening)
    assert unrelated in picked  # meanwhile the others went on

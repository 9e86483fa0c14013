"""Many distinct conversations against one engine: what it keeps stays within its bounds, and memory stays flat."""

from __future__ import annotations

import resource

from mlx_harmony_tui.config.sampling import SamplingParams
from mlx_harmony_tui.engine.events import Done
from mlx_harmony_tui.engine.requests import Generate
from mlx_harmony_tui.runtime import mlx_core
from tests.support.engine import run_request, start_engine

mx = mlx_core()

BUDGET = 16 * 1024**2


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 1024**2


def memory_mb(thread) -> tuple[float, float]:
    """MLX's arrays in use (the caches' memory; MLX reuses freed buffers, so the process's RSS lags behind it) and the
    process's resident memory (the Python objects)."""
    return thread.call(lambda _: mx.get_active_memory()).result() / 1024**2, rss_mb()


def test_thousands_of_conversations_keep_the_engine_bounded(tiny_gpt_oss_dir):
    thread, events = start_engine(str(tiny_gpt_oss_dir), cache_budget_bytes=BUDGET)
    try:
        caches = thread._caches
        caches.max_conversations = 100  # the table's own bound, lowered so this test reaches it
        seen = {}
        for i in range(700):
            prompt = [200 + i % 7, 1000 + i, 2000 + i // 3, 3000 + i] * 10  # every conversation its own
            request = Generate(f"c{i}", prompt_ids=prompt, conversation_id=f"conversation-{i}",
                               params=SamplingParams(temperature=0.0, max_tokens=2, seed=i))
            assert isinstance(run_request(thread, events, request)[-1], Done)
            if i in (300, 699):
                seen[i] = memory_mb(thread)
        assert len(caches) <= caches.max_entries
        assert caches.nbytes <= BUDGET or len(caches) == 1
        assert len(caches._conversations) == 100
        # What a conversation leaves behind is freed when it is dropped: no growth once the bounds are reached
        # (with no bounds, MLX's memory grew by about 50 MB between these two points).
        assert seen[699][0] - seen[300][0] < 12 and seen[699][1] - seen[300][1] < 48, seen
    finally:
        thread.shutdown()

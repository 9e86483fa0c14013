"""How much memory kept prompt caches may use when the user set nothing."""

from __future__ import annotations

import os

MIN_DEFAULT_BUDGET = 512 * 1024**2
MAX_DEFAULT_BUDGET = 16 * 1024**3


def default_budget_bytes() -> int:
    """A quarter of the machine's memory, between 512 MiB and 16 GiB: coding agents' sessions keep long caches
    (a 10k-token conversation of the default model holds about 460 MB in float32)."""
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return MIN_DEFAULT_BUDGET
    return max(MIN_DEFAULT_BUDGET, min(MAX_DEFAULT_BUDGET, memory // 4))

"""Where and how a benchmark ran: the fields every bench result starts with, and the lines its table opens with.

A figure measured while other work shares the machine is that moment's, not
the machine's. Every bench takes :func:`machine_now` before its work starts
(the bench's own threads would add to the load) and every report opens with
:func:`table_opening`, which says the figures are unreliable when the load
average then was above the core count, or when the bench's rounds spread
wider than :data:`SPREAD_LIMIT` of their median.
"""

from __future__ import annotations

import os
import platform
import statistics
from typing import Iterable

SPREAD_LIMIT = 0.25  # rounds whose quartiles lie further apart than this share of their median: too noisy to trust


def machine_now() -> dict[str, float | int]:
    """The machine's core count and its 1-minute load average now (-1 where the system has none)."""
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        load = -1.0
    return {"cores": os.cpu_count() or 1, "load": round(load, 2)}


def run_place(model_name: str, machine: dict | None = None) -> dict:
    """model, backend, blas and platform, for a result's first fields, then ``machine`` (:func:`machine_now`, taken
    before the run; default: now)."""
    from ..runtime import backend_name, blas_info

    return {
        "model": model_name,
        "backend": backend_name(),
        "blas": blas_info().name,
        "platform": f"{platform.system()} {platform.machine()}",
        **(machine or machine_now()),
    }


def place_line(result: dict) -> str:
    """Where it ran, in a line: the fields :func:`run_place` put in ``result``."""
    return f"model {result['model']} on {result['backend']} ({result['blas']}), {result['platform']}"


def relative_spread(values: Iterable[float]) -> float | None:
    """How far apart the middle half of some rounds' figures lie, as a share of their median (None: too few)."""
    values = sorted(values)
    if len(values) < 2 or not statistics.median(values):
        return None
    low, _, high = statistics.quantiles(values, n=4, method="inclusive")
    return (high - low) / abs(statistics.median(values))


def quartile_spread(quartiles: tuple[float, float], median: float) -> float | None:
    """:func:`relative_spread` from rounds already reduced to their quartiles and median."""
    return (quartiles[1] - quartiles[0]) / abs(median) if median else None


def busy_lines(result: dict, spread: float | None = None) -> list[str]:
    """Warnings for a report: the load before the run above the core count (``result``'s ``load`` and ``cores``, from
    :func:`machine_now`), or rounds spread by more than :data:`SPREAD_LIMIT` (``spread``, from
    :func:`relative_spread`). Empty when neither."""
    lines = []
    load, cores = result.get("load"), result.get("cores")
    if load is not None and cores and load > cores:
        lines.append(f"warning: the machine was busy (load average {load:.2f} on {cores} cores when the run began): "
                     "these figures are unreliable; run again on an idle machine")
    if spread is not None and spread > SPREAD_LIMIT:
        lines.append(f"warning: the rounds spread widely (their middle half spans {spread:.0%} of the median; "
                     f"under {SPREAD_LIMIT:.0%} is steady): these figures are unreliable; run again on an idle machine")
    return lines


def table_opening(result: dict, spread: float | None = None) -> list[str]:
    """The first lines of every bench's table: where it ran, then :func:`busy_lines`."""
    return [place_line(result), *busy_lines(result, spread)]

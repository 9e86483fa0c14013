"""``mlx-harmony doctor``: what this machine runs with, and what is missing."""

from __future__ import annotations

from ..engine.machine import doctor_lines


def run_doctor() -> int:
    rows = doctor_lines()
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {value}")
    return 0

"""``mlx-harmony doctor``: what this machine runs with, and what is missing."""

from __future__ import annotations

from ..engine.machine import doctor_lines
from ..engine.token_generator import is_follower


def run_doctor() -> int:
    rows = doctor_lines()
    if is_follower():
        return 0  # under mlx.launch every rank checks the group; only rank 0 prints
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {value}")
    return 0

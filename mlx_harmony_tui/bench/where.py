"""Where a benchmark ran: the fields every bench result starts with."""

from __future__ import annotations

import platform


def run_place(model_name: str) -> dict[str, str]:
    """model, backend, blas and platform, for a result's first fields."""
    from ..runtime import backend_name, blas_info

    return {
        "model": model_name,
        "backend": backend_name(),
        "blas": blas_info().name,
        "platform": f"{platform.system()} {platform.machine()}",
    }


def place_line(result: dict) -> str:
    """The first line of a bench's table: the fields :func:`run_place` put in ``result``."""
    return f"model {result['model']} on {result['backend']} ({result['blas']}), {result['platform']}"

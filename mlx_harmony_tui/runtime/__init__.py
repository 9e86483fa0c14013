"""The one door to MLX: a fast BLAS is put in place before ``mlx.core`` is imported.

Every module of ours that needs MLX imports it through :func:`mlx_core`.
"""

from __future__ import annotations

import sys

from .blas import OPENBLAS_HINT, BlasInfo, blas_info

__all__ = ["OPENBLAS_HINT", "BlasInfo", "backend_name", "blas_info", "device_label", "mlx_core"]


def mlx_core():
    """Return ``mlx.core``, having first put the fastest BLAS in place."""
    blas_info()
    import mlx.core as mx

    return mx


def backend_name() -> str:
    """``metal``, ``cuda`` or ``cpu``: where MLX runs by default."""
    mx = mlx_core()
    if mx.default_device() == mx.cpu:
        return "cpu"
    if sys.platform == "darwin":
        return "metal"
    return "cuda"


def device_label() -> str:
    """Where the model runs, for the status bar: ``metal``, ``cuda``, or ``cpu`` with the BLAS in use."""
    backend = backend_name()
    if backend != "cpu":
        return backend
    blas = blas_info()
    return f"cpu, {blas.name}" if blas.fast else "cpu, slow bundled BLAS"

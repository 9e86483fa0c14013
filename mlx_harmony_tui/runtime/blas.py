"""Which BLAS MLX runs its CPU matrix products with, loaded before ``mlx.core`` is imported.

MLX's Linux CPU wheel bundles the reference BLAS (about 2 GFLOP/s here); a
system OpenBLAS loaded globally first takes its place (130-175 GFLOP/s). Every
module of ours that needs MLX imports it through :func:`mlx_core`.
"""

from __future__ import annotations

import ctypes
import os
import sys
from dataclasses import dataclass

OPENBLAS_NAMES = ("libopenblas.so.0", "libopenblasp.so.0", "libopenblas.so")
OPENBLAS_HINT = (
    "install OpenBLAS for much faster CPU inference: "
    "sudo apt-get install libopenblas0-pthread (Debian/Ubuntu), "
    "sudo dnf install openblas (Fedora)"
)


@dataclass(frozen=True)
class BlasInfo:
    """Which BLAS MLX runs its CPU matrix products with."""

    name: str
    library: str | None
    fast: bool
    note: str = ""


_blas: BlasInfo | None = None


def _load_openblas() -> BlasInfo:
    if sys.platform == "darwin":
        return BlasInfo("Accelerate", None, True)
    if not sys.platform.startswith("linux"):
        return BlasInfo("bundled with mlx", None, False)
    choice = os.environ.get("MLX_HARMONY_BLAS", "").strip()
    if choice.lower() in ("none", "bundled", "reference"):
        return BlasInfo("reference BLAS bundled with mlx", None, False, "MLX_HARMONY_BLAS=none")
    if "mlx.core" in sys.modules:
        return BlasInfo("unknown", None, False, "mlx was imported before mlx-harmony could load a BLAS")
    names = (choice,) if choice else OPENBLAS_NAMES
    for name in names:
        try:
            ctypes.CDLL(name, mode=ctypes.RTLD_GLOBAL)
        except OSError:
            continue
        return BlasInfo("OpenBLAS", name, True)
    if choice:
        return BlasInfo("reference BLAS bundled with mlx", None, False, f"MLX_HARMONY_BLAS={choice} could not be loaded")
    return BlasInfo("reference BLAS bundled with mlx", None, False, OPENBLAS_HINT)


def blas_info() -> BlasInfo:
    """Load the fastest BLAS available (once) and say which one it is."""
    global _blas
    if _blas is None:
        _blas = _load_openblas()
    return _blas

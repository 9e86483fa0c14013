"""Which BLAS MLX runs its CPU matrix products with, loaded before ``mlx.core`` is imported.

MLX's Linux CPU wheel bundles the reference BLAS (0.8-8 GFLOP/s for a 1024² float32
matmul on 2 cores). A library exporting the standard ``cblas_*`` symbols, loaded
globally first, takes its place: a system OpenBLAS (130-175 GFLOP/s), else the
Intel MKL that the ``cpu`` extra installs from the ``mkl`` wheel on x86-64
(about 100 GFLOP/s). ``MLX_HARMONY_BLAS`` overrides the choice: ``none``
(also ``bundled``, ``reference``) keeps the bundled BLAS; a path or a soname
loads that library instead. Every module of ours that needs MLX imports it
through :func:`mlx_harmony_tui.runtime.mlx_core`.
"""

from __future__ import annotations

import ctypes
import os
import platform
import re
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

OPENBLAS_NAMES = ("libopenblas.so.0", "libopenblasp.so.0", "libopenblas.so")
if platform.machine() in ("x86_64", "AMD64"):
    OPENBLAS_HINT = (
        "a fast BLAS makes CPU prompt processing about 10x faster: "
        "pip install mkl (the cpu extra, pip install -e '.[cpu]', brings it), "
        "or sudo apt-get install libopenblas0-pthread (Debian/Ubuntu)"
    )
else:
    OPENBLAS_HINT = (
        "OpenBLAS makes CPU prompt processing about 10x faster: "
        "sudo apt-get install libopenblas0-pthread (Debian/Ubuntu), sudo dnf install openblas (Fedora)"
    )
BUNDLED = "reference BLAS bundled with mlx"
MKL_RT = re.compile(r"libmkl_rt\.so(\.\d+)*$")


@dataclass(frozen=True)
class BlasInfo:
    """Which BLAS MLX runs its CPU matrix products with."""

    name: str
    library: str | None
    fast: bool
    note: str = ""


_blas: BlasInfo | None = None


def _dist_file(dist: str, pattern: re.Pattern[str]) -> Path | None:
    """The installed file of distribution ``dist`` whose name matches ``pattern``, if any."""
    try:
        files = metadata.distribution(dist).files or []
    except metadata.PackageNotFoundError:
        return None
    # The mkl wheel ships each library under several names (.so, .so.3): take the most specific.
    found = sorted((f for f in files if pattern.fullmatch(f.name)), key=lambda f: len(f.name), reverse=True)
    for f in found:
        path = Path(f.locate()).resolve()
        if path.is_file():
            return path
    return None


def _global(library: str | Path) -> None:
    """Load ``library`` so that its symbols serve every library loaded after it (raises OSError)."""
    ctypes.CDLL(str(library), mode=ctypes.RTLD_GLOBAL)


def _load_mkl(library: Path) -> BlasInfo:
    """Load libmkl_rt at ``library`` with a threading layer that can run, and describe it; raises OSError.

    The layer is ``MKL_THREADING_LAYER`` if the user set it, else INTEL when the
    intel-openmp wheel's runtime loads, else SEQUENTIAL.
    """
    # libmkl_rt finds its own parts next to itself, but not libiomp5 outside its folder, and a missing
    # OpenMP runtime kills the process at the first matmul. Measured on 2 cores: INTEL and SEQUENTIAL
    # decode alike, INTEL prefills long prompts faster, GNU (system libgomp) prefilled 3-15x slower.
    layer = os.environ.get("MKL_THREADING_LAYER", "").upper()
    if layer in ("", "INTEL"):
        iomp = _dist_file("intel-openmp", re.compile(r"libiomp5\.so"))
        try:
            if iomp is None:
                raise OSError("intel-openmp is not installed")
            _global(iomp)
            layer = "INTEL"
        except OSError:
            layer = layer or "SEQUENTIAL"
        os.environ["MKL_THREADING_LAYER"] = layer
    _global(library)
    return BlasInfo("Intel MKL", str(library), True, f"MKL_THREADING_LAYER={layer}")


def _load(library: str | Path) -> BlasInfo:
    """Load ``library`` (a path or a soname) globally and describe it; raises OSError."""
    if MKL_RT.fullmatch(Path(library).name):
        return _load_mkl(Path(library))
    _global(library)
    name = "OpenBLAS" if "openblas" in Path(library).name.lower() else Path(library).name
    return BlasInfo(name, str(library), True)


def _choose() -> BlasInfo:
    if sys.platform == "darwin":
        return BlasInfo("Accelerate", None, True)
    if not sys.platform.startswith("linux"):
        return BlasInfo("bundled with mlx", None, False)
    choice = os.environ.get("MLX_HARMONY_BLAS", "").strip()
    if choice.lower() in ("none", "bundled", "reference"):
        return BlasInfo(BUNDLED, None, False, f"MLX_HARMONY_BLAS={choice}")
    if "mlx.core" in sys.modules:
        return BlasInfo("unknown", None, False, "mlx was imported before mlx-harmony could load a BLAS")
    if choice:
        try:
            return _load(choice)
        except OSError as exc:
            return BlasInfo(BUNDLED, None, False, f"MLX_HARMONY_BLAS={choice} could not be loaded ({exc})")
    # A system OpenBLAS first: it measured faster (130-175 GFLOP/s) than the MKL wheel (about 100).
    for name in OPENBLAS_NAMES:
        try:
            return _load(name)
        except OSError:
            continue
    mkl = _dist_file("mkl", MKL_RT)
    if mkl is not None:
        try:
            return _load(mkl)
        except OSError as exc:
            return BlasInfo(BUNDLED, None, False, f"{mkl} could not be loaded ({exc}); {OPENBLAS_HINT}")
    return BlasInfo(BUNDLED, None, False, OPENBLAS_HINT)


def blas_info() -> BlasInfo:
    """Put the fastest BLAS available in place (once, before ``mlx.core`` is imported) and say which it is.

    Never raises: a library that cannot be loaded leaves MLX's bundled BLAS in place, with
    ``fast`` False and the reason (or how to get a fast one) in ``note``.
    """
    global _blas
    if _blas is None:
        _blas = _choose()
    return _blas

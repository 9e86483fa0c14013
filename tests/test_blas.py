"""The BLAS put in place before mlx.core is imported, checked in fresh interpreters (a BLAS is chosen once per process)."""

from __future__ import annotations

import ctypes.util
import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the BLAS is chosen on Linux only")

INFO = """
import dataclasses, json
from mlx_harmony_tui.runtime import blas_info, mlx_core
mlx_core()
print(json.dumps(dataclasses.asdict(blas_info())))
"""


def _fresh(code: str, **env: str) -> dict:
    """Run ``code`` in a fresh interpreter with ``env`` added, and return the JSON of its last line."""
    full = {k: v for k, v in os.environ.items() if k not in ("MLX_HARMONY_BLAS", "MKL_THREADING_LAYER")}
    done = subprocess.run([sys.executable, "-c", code], check=False, env={**full, **env}, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _mkl_rt() -> Path | None:
    from mlx_harmony_tui.runtime.blas import MKL_RT, _dist_file

    return _dist_file("mkl", MKL_RT)


needs_mkl = pytest.mark.skipif(_mkl_rt() is None, reason="the mkl wheel of the cpu extra is not installed (x86-64 only)")


@needs_mkl
def test_the_cpu_extra_brings_a_fast_blas_that_is_loaded_by_default():
    info = _fresh(INFO)
    assert info["fast"] is True
    if ctypes.util.find_library("openblas"):  # a system OpenBLAS is preferred when present
        assert info["name"] == "OpenBLAS"
    else:
        assert info["name"] == "Intel MKL"
        assert Path(info["library"]) == _mkl_rt()
        assert Path(info["library"]).is_file()
        mkl_files = {Path(f.locate()).resolve() for f in metadata.distribution("mkl").files or []}
        assert Path(info["library"]) in mkl_files


@needs_mkl
def test_the_wheel_blas_loads_by_full_path_with_a_runnable_threading_layer():
    info = _fresh(INFO, MLX_HARMONY_BLAS=str(_mkl_rt()))
    assert (info["name"], info["library"], info["fast"]) == ("Intel MKL", str(_mkl_rt()), True)
    assert info["note"] in ("MKL_THREADING_LAYER=INTEL", "MKL_THREADING_LAYER=SEQUENTIAL")


def test_none_keeps_the_bundled_reference_blas():
    info = _fresh(INFO, MLX_HARMONY_BLAS="none")
    assert info == {"name": "reference BLAS bundled with mlx", "library": None, "fast": False, "note": "MLX_HARMONY_BLAS=none"}


def test_a_library_that_cannot_be_loaded_leaves_the_bundled_blas_and_says_why():
    info = _fresh(INFO, MLX_HARMONY_BLAS="/nonexistent/libnothing.so")
    assert info["fast"] is False and info["library"] is None
    assert "MLX_HARMONY_BLAS=/nonexistent/libnothing.so could not be loaded" in info["note"]


MATMUL = """
import json
import numpy as np
from mlx_harmony_tui.runtime import blas_info, mlx_core
mx = mlx_core()
rng = np.random.default_rng(0)
a, b = rng.standard_normal((300, 200), dtype=np.float32), rng.standard_normal((100, 200), dtype=np.float32)
expected = a.astype(np.float64) @ b.astype(np.float64).T
errors = []
for got in (mx.array(a) @ mx.array(b).T, mx.matmul(mx.array(a), mx.array(b.T.copy()))):
    errors.append(float(np.abs(np.asarray(got) - expected).max() / np.abs(expected).max()))
print(json.dumps({"blas": blas_info().name, "fast": blas_info().fast, "errors": errors}))
"""


@pytest.mark.parametrize("blas", [None, "none"])
def test_matmul_is_numerically_right_with_the_loaded_blas(blas):
    out = _fresh(MATMUL, **({"MLX_HARMONY_BLAS": blas} if blas else {}))
    if blas == "none":
        assert out["fast"] is False
    elif _mkl_rt() is not None:
        assert out["fast"] is True
    assert max(out["errors"]) < 1e-5, out


def test_the_blas_bench_runs_both_sides():
    from mlx_harmony_tui.bench.blas_bench import format_table, run_blas_bench

    result = run_blas_bench(size=128, reps=3, budget_s=0.5)
    assert result["size"] == 128 and result["dtype"] == "float32"
    chosen, reference = result["chosen"], result["reference"]
    assert reference["blas"] == "reference BLAS bundled with mlx" and reference["fast"] is False and reference["library"] is None
    if _mkl_rt() is not None:
        assert chosen["fast"] is True and chosen["library"]
    for side in (chosen, reference):
        assert side["reps"] >= 3 and side["best_gflops"] > 0 and side["median_gflops"] > 0
        assert side["max_rel_err"] < 1e-5
    assert result["ratio"] == pytest.approx(chosen["best_gflops"] / reference["best_gflops"])
    table = format_table(result)
    assert chosen["blas"] in table and "reference BLAS bundled with mlx" in table

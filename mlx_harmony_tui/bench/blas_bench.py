"""A float32 matmul's speed in MLX with the BLAS mlx-harmony loads, against the reference BLAS that mlx bundles.

Each side runs in a fresh interpreter, since a BLAS can only be chosen before
``mlx.core`` is imported: the chosen one as :func:`~mlx_harmony_tui.runtime.blas_info`
picks it, the reference one with ``MLX_HARMONY_BLAS=none``.
Run ``python -m mlx_harmony_tui.bench.blas_bench`` for the JSON result.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time

from .where import busy_lines, machine_now


def _measure(size: int, reps: int, budget_s: float) -> dict:
    """Time ``reps`` (fewer past ``budget_s``, at least 3) size x size float32 matmuls in this process."""
    from ..runtime import blas_info, mlx_core

    blas = blas_info()
    mx = mlx_core()
    import numpy as np

    a = mx.random.normal((size, size), key=mx.random.key(0))
    b = mx.random.normal((size, size), key=mx.random.key(1))
    c = a @ b
    mx.eval(c)  # the warm-up, and the product checked below
    expected = np.asarray(a, dtype=np.float64) @ np.asarray(b, dtype=np.float64)
    # A fast wrong answer is no result: report how far it is from float64 numpy.
    rel_err = float(np.abs(np.asarray(c) - expected).max() / np.abs(expected).max())
    times: list[float] = []
    started = time.perf_counter()
    while len(times) < reps and (len(times) < 3 or time.perf_counter() - started < budget_s):
        t = time.perf_counter()
        mx.eval(a @ b)
        times.append(time.perf_counter() - t)
    flop = 2 * size**3
    return {
        "blas": blas.name,
        "library": blas.library,
        "fast": blas.fast,
        "note": blas.note,
        "reps": len(times),
        "best_gflops": flop / min(times) / 1e9,
        "median_gflops": flop / sorted(times)[len(times) // 2] / 1e9,
        "max_rel_err": rel_err,
    }


def _in_child(size: int, reps: int, budget_s: float, blas: str | None) -> dict:
    """:func:`_measure` in a fresh interpreter, with ``MLX_HARMONY_BLAS`` set to ``blas`` if given."""
    env = dict(os.environ)
    if blas is not None:
        env["MLX_HARMONY_BLAS"] = blas
    cmd = [sys.executable, "-m", "mlx_harmony_tui.bench.blas_bench", "--child", str(size), str(reps), str(budget_s)]
    done = subprocess.run(cmd, check=False, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"blas bench child ({blas or 'chosen BLAS'}) failed: {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_blas_bench(size: int = 1024, reps: int = 10, budget_s: float = 5.0) -> dict:
    """Measure, in one run, MLX's float32 ``size``² matmul with the chosen BLAS and with the bundled one.

    Returns ``size``, ``platform``, ``chosen`` and ``reference`` (each: blas name,
    library path or None, fast, note, reps, best and median GFLOP/s, max relative
    error against float64 numpy) and ``ratio``, chosen over reference best GFLOP/s.
    """
    machine = machine_now()
    chosen = _in_child(size, reps, budget_s, None)
    reference = _in_child(size, reps, budget_s, "none")
    return {
        "size": size,
        "dtype": "float32",
        "platform": f"{platform.system()} {platform.machine()}",
        **machine,
        "chosen": chosen,
        "reference": reference,
        "ratio": chosen["best_gflops"] / reference["best_gflops"],
    }


def format_table(result: dict) -> str:
    """The result as a small Markdown table, one row per BLAS."""
    n = result["size"]
    rows = [
        f"float32 {n}x{n} matmul in MLX, {result['platform']}",
        *busy_lines(result),
        "",
        "| BLAS | library | GFLOP/s best | GFLOP/s median | reps | max rel. error |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for side in ("chosen", "reference"):
        r = result[side]
        rows.append(
            f"| {r['blas']} | {r['library'] or '-'} | {r['best_gflops']:.1f} | {r['median_gflops']:.1f} | {r['reps']} | {r['max_rel_err']:.1e} |"
        )
    rows += ["", f"chosen / reference: {result['ratio']:.1f}x"]
    return "\n".join(rows)


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        print(json.dumps(_measure(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))))
    else:
        print(json.dumps(run_blas_bench()))

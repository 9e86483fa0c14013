"""Shared fixtures: the real default model, in a cache the whole session shares.

The cache lives in ``.pytest_cache/mlx-harmony`` (or ``MLX_HARMONY_TEST_CACHE``)
so a second local run skips the download and conversion; data and config
folders are fresh temporary folders for every session.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("MLX_HARMONY_TEST_CACHE", ROOT / ".pytest_cache" / "mlx-harmony"))
os.environ["MLX_HARMONY_CACHE_DIR"] = str(CACHE)
os.environ.setdefault("HF_HUB_OFFLINE", "1")

FRANCE = [{"role": "user", "content": "What is the capital of France? Answer in one sentence."}]


@pytest.fixture(scope="session", autouse=True)
def _user_dirs(tmp_path_factory: pytest.TempPathFactory) -> None:
    base = tmp_path_factory.mktemp("user-dirs")
    os.environ["MLX_HARMONY_DATA_DIR"] = str(base / "data")
    os.environ["MLX_HARMONY_CONFIG_DIR"] = str(base / "config")
    os.environ["MLX_HARMONY_EXPORT_DIR"] = str(base / "exports")  # never the user's Documents
    os.environ["HF_HUB_CACHE"] = str(base / "hf-hub")  # the model catalog lists what is there: keep it the same everywhere


@pytest.fixture(scope="session")
def default_model_dir() -> Path:
    """The default model's mlx-lm folder, fetched and converted for real on first use."""
    from mlx_harmony_tui.models.default_model import best_form, ensure_default_model
    from mlx_harmony_tui.runtime import backend_name, blas_info

    return ensure_default_model(best_form(backend_name(), blas_info().fast))


@pytest.fixture(scope="session")
def generator(default_model_dir: Path):
    """One TokenGenerator on the default model for the whole session."""
    from mlx_harmony_tui import TokenGenerator

    gen = TokenGenerator()
    yield gen
    gen.close()


@pytest.fixture(scope="session")
def loaded_default(default_model_dir: Path):
    """The default model loaded on the test's own thread (for tokenizer-level tests)."""
    from mlx_harmony_tui.engine import lm

    return lm.load(default_model_dir)


@pytest.fixture(scope="session")
def tiny_gpt_oss_dir() -> Path:
    """A random-weight GPT-OSS model with the real Harmony tokenizer, built once per cache."""
    from tests.support.tiny_gpt_oss import build_tiny_gpt_oss, is_built

    folder = CACHE / "tiny-gpt-oss"
    if not is_built(folder):
        build_tiny_gpt_oss(folder)
    return folder


@pytest.fixture(scope="session")
def enc():
    """openai-harmony's GPT-OSS encoding, from the offline vocabulary."""
    from mlx_harmony_tui.harmony.vocab import load_encoding

    return load_encoding()

"""Where mlx-harmony keeps its cache, data and configuration.

Each folder follows platformdirs and can be overridden by an environment
variable, which the tests use to stay inside a temporary folder.
"""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "mlx-harmony"


def _dir(env_var: str, default: Path) -> Path:
    value = os.environ.get(env_var)
    return Path(value).expanduser() if value else default


def cache_dir() -> Path:
    """Converted models and the Harmony vocabulary (safe to delete)."""
    import platformdirs

    return _dir("MLX_HARMONY_CACHE_DIR", platformdirs.user_cache_path(APP_NAME))


def data_dir() -> Path:
    """Chat logs and other things the user would miss if deleted."""
    import platformdirs

    return _dir("MLX_HARMONY_DATA_DIR", platformdirs.user_data_path(APP_NAME))


def config_dir() -> Path:
    """Profiles and settings the user edits."""
    import platformdirs

    return _dir("MLX_HARMONY_CONFIG_DIR", platformdirs.user_config_path(APP_NAME))


def export_dir() -> Path:
    """Where exported chats go unless settings.json names a folder: ``mlx-harmony`` in the user's Documents folder."""
    import platformdirs

    return _dir("MLX_HARMONY_EXPORT_DIR", platformdirs.user_documents_path() / APP_NAME)

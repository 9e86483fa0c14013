"""The app's own themes, read from ``themes/*.json`` (and the user's ``<config dir>/themes``)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

from textual.theme import Theme

from ..paths import config_dir

PROJECT_THEMES = Path(__file__).resolve().parents[2] / "themes"
FIELDS = ("primary", "secondary", "accent", "warning", "error", "success", "foreground", "background", "surface", "panel")


def theme_folders() -> list[Path]:
    return [PROJECT_THEMES, config_dir() / "themes"]


def load_themes() -> list[Theme]:
    """Every readable theme file; a broken one is named in a warning and skipped."""
    themes = []
    for folder in theme_folders():
        for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                themes.append(
                    Theme(name=str(data["name"]), dark=bool(data.get("dark", True)), **{k: data[k] for k in FIELDS if k in data})
                )
            except (OSError, ValueError, KeyError, TypeError) as exc:
                warnings.warn(f"{path}: theme skipped: {type(exc).__name__}: {exc}", UserWarning, stacklevel=2)
    return themes

"""Local folders kept out of what HTTP clients read.

The engine's and chat layer's messages are written for the person at the
keyboard and name the file at fault; a client of the server must not learn
where the server keeps its models, data, cache and configuration, nor whose
home folder it runs in. Where such a message becomes an HTTP error,
:func:`without_local_paths` puts a name in place of each folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from ..paths import cache_dir, config_dir, data_dir, export_dir


def _spellings(folder: str | Path) -> set[str]:
    path = Path(folder).expanduser()
    spellings = {str(folder), str(path)}
    try:
        spellings.add(str(path.resolve()))
    except (OSError, RuntimeError):
        pass
    return {s for s in spellings if len(s) > 1}  # never "/" or ""


def without_local_paths(text: str, models: Iterable[tuple[str | Path | None, str]] = ()) -> str:
    """``text`` with each model folder in ``models`` (folder, the name it is served as) replaced by that name, and the
    app's data, cache, configuration and export folders and the home folder by ``<data folder>`` and the like."""
    names: dict[str, str] = {}
    folders = [(home, "~") for home in (Path.home(),)]
    folders += [(cache_dir(), "<cache folder>"), (data_dir(), "<data folder>"), (config_dir(), "<config folder>"),
                (export_dir(), "<export folder>")]
    for folder, name in [*((f, n) for f, n in models if f), *folders]:
        for spelling in _spellings(folder):
            names.setdefault(spelling, name)
    for spelling in sorted(names, key=len, reverse=True):  # a model folder inside the home folder goes first
        text = text.replace(spelling, names[spelling])
    return text

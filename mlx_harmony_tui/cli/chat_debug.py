"""``--debug``, ``--debug-file`` and ``--debug-tokens`` for ``mlx-harmony-chat``.

After each turn: ``--debug`` prints the raw prompt the model saw and the
turn's figures to stderr; ``--debug-file PATH`` appends the raw prompt, the
raw output (special tokens included) and the figures to PATH;
``--debug-tokens in|out|both`` adds the prompt's and/or the output's token
ids to both (to stderr when neither of the others is given).
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from ..chat.terminal_text import strip_controls
from ..errors import UserError
from .common import stats_line


class TurnDebug:
    """Writes what each turn sent to and got from the model, where the flags asked."""

    def __init__(self, show: bool = False, file: str | None = None, tokens: str | None = None):
        self.show = show or (tokens is not None and file is None)
        self.tokens = tokens or ""
        self.path = Path(file).expanduser() if file else None
        self._turn = 0
        if self.path is not None:
            try:
                with self.path.open("a", encoding="utf-8"):
                    pass
            except OSError as exc:
                raise UserError(f"--debug-file: cannot write {self.path}: {exc.strerror or exc}") from None

    @property
    def active(self) -> bool:
        return self.show or self.path is not None

    def record(self, session: Any, done: Any) -> None:
        """Write turn ``done`` (the engine's ``Done``, which carries the prompt as the model read it)."""
        self._turn += 1
        prompt_ids = list(done.prompt_ids)
        prompt_text, output_text = session.decode(prompt_ids), session.decode(list(done.token_ids))
        ids = []
        if self.tokens in ("in", "both"):
            ids.append(("prompt token ids", str(prompt_ids)))
        if self.tokens in ("out", "both"):
            ids.append(("output token ids", str(list(done.token_ids))))
        stats = ("stats", stats_line(done))
        prompt_part = (f"prompt ({len(prompt_ids)} tokens)", prompt_text)
        if self.show:  # the terminal gets the text without control sequences; the file keeps it exactly
            _write(sys.stderr, f"turn {self._turn}", [(title, strip_controls(body)) for title, body in [prompt_part, *ids, stats]])
            sys.stderr.flush()
        if self.path is not None:
            output_part = (f"output ({len(done.token_ids)} tokens)", output_text)
            header = f"turn {self._turn} · {datetime.now().astimezone().isoformat(timespec='seconds')}"
            try:
                with self.path.open("a", encoding="utf-8") as handle:
                    _write(handle, header, [prompt_part, output_part, *ids, stats])
            except OSError as exc:
                raise UserError(f"--debug-file: cannot write {self.path}: {exc.strerror or exc}") from None


def _write(stream: TextIO, header: str, parts: list[tuple[str, str]]) -> None:
    stream.write(f"===== {header} =====\n")
    for title, body in parts:
        stream.write(f"----- {title} -----\n{body}\n")

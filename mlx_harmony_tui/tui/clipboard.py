"""Copying text: OSC 52 through the terminal, plus the system clipboard tool where there is one."""

from __future__ import annotations

import re
import shutil
import subprocess

from textual.app import App

CLIPBOARD_TOOLS = (["pbcopy"], ["wl-copy"], ["xclip", "-selection", "clipboard"], ["xsel", "--clipboard", "--input"])


def copy_text(app: App, text: str) -> None:
    """Put ``text`` on the clipboard by every way available, and say so."""
    app.copy_to_clipboard(text)
    for tool in CLIPBOARD_TOOLS:
        if shutil.which(tool[0]):
            try:
                subprocess.run(tool, input=text.encode(), timeout=5, check=False)
            except (OSError, subprocess.SubprocessError):
                continue
            break
    app.notify(f"Copied {len(text)} characters.")


def last_code_block(markdown: str) -> str | None:
    """The body of the last fenced code block in ``markdown``."""
    blocks = re.findall(r"```[^\n]*\n(.*?)```", markdown, re.S)
    return blocks[-1] if blocks else None

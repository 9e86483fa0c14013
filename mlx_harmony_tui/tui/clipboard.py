"""Copying text: OSC 52 through the terminal, plus the system clipboard tool where there is one."""

from __future__ import annotations

import re
import shutil
import subprocess

from textual.app import App

CLIPBOARD_TOOLS = (["pbcopy"], ["wl-copy"], ["xclip", "-selection", "clipboard"], ["xsel", "--clipboard", "--input"])


def copy_text(app: App, text: str) -> str:
    """Put ``text`` on the clipboard by every way available; say, in the notification and the result, how far it got.

    A clipboard tool that ran without error is known to have it. OSC 52 is only
    a request to the terminal, which may ignore it (many do, and tmux needs
    ``set-clipboard on``), so the message does not claim more than that.
    """
    app.copy_to_clipboard(text)  # OSC 52, always: the only way over ssh
    tool = _copy_with_tool(text)
    if tool is not None:
        message = f"Copied {len(text)} characters with {tool}."
    else:
        message = f"Sent {len(text)} characters to the terminal (OSC 52); your terminal may ignore it (no clipboard tool found: xclip, xsel, wl-copy or pbcopy)."
    app.notify(message, timeout=6)
    return message


def _copy_with_tool(text: str) -> str | None:
    """The name of the first clipboard tool that took ``text`` (exit status 0), or None."""
    for tool in CLIPBOARD_TOOLS:
        if not shutil.which(tool[0]):
            continue
        try:
            # No pipes for its output: xclip stays behind to serve the selection and would hold them open.
            done = subprocess.run(tool, input=text.encode(), timeout=5, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except (OSError, subprocess.SubprocessError):
            continue
        if done.returncode == 0:
            return tool[0]
    return None


def last_code_block(markdown: str) -> str | None:
    """The body of the last fenced code block in ``markdown``."""
    blocks = re.findall(r"```[^\n]*\n(.*?)```", markdown, re.S)
    return blocks[-1] if blocks else None

"""A model-written attack on the user's terminal through the python tool: code that prints control sequences.

``mlx-harmony tools call python`` runs as a real process, as a user would run it; the code writes OSC 52 (sets the
clipboard), OSC 0 (the window title), OSC 8 (a hidden link), a DCS string, cursor movement, a C1 CSI and a bell. The
sandbox runs it; the terminal gets the text without any of them.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.cli.test_generate_cli import _script

pytestmark = pytest.mark.attack

ROOT = Path(__file__).resolve().parents[2]
CONTROL = re.compile(rb"[\x00-\x08\x0b-\x1f\x7f]|\xc2[\x80-\x9f]")  # C0 but tab and newline, DEL, C1 (as UTF-8)
ATTACK = r"""
import sys
sys.stdout.write("\x1b]52;c;cHduZWQ=\x07")          # the clipboard
sys.stdout.write("\x1b]0;pwned-title\x1b\\")         # the window title, ended by ST
sys.stdout.write("\x1b]8;;https://example.invalid\x07click\x1b]8;;\x07 ")  # a hidden link
sys.stdout.write("\x1bP+q544e\x1b\\")               # a DCS query (the terminal would answer on stdin)
sys.stdout.write("\x1b[2J\x1b[H\x1b[?1049h")         # clear, home, alternate screen
_ = sys.stdout.write("\x9b2Jsafe\r\n\x07tab\there\n")  # assigned: the sandbox echoes a last value
"""


def test_python_output_reaches_the_terminal_without_control_sequences(tmp_path):
    env = {**os.environ, "MLX_HARMONY_DATA_DIR": str(tmp_path / "data"), "MLX_HARMONY_CONFIG_DIR": str(tmp_path / "config")}
    result = subprocess.run([_script("mlx-harmony"), "tools", "call", "python", ATTACK, "--python", "--auto-approve-tools"], cwd=tmp_path, env=env, capture_output=True,
                            timeout=180, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    assert CONTROL.search(result.stdout) is None, result.stdout
    assert CONTROL.search(result.stderr) is None, result.stderr
    assert result.stdout.decode() == "click 2Jsafe\ntab\there\n"  # the text is kept, the sequences gone

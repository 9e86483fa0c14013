"""A badly behaved MCP server, run for real: lines on its stdout that are not MCP messages, control sequences in
its tool's description and result.

``mlx-harmony tools`` runs as a real process, as a user would run it: the stray lines go to the server's log with
one warning that counts them (not a traceback each), and nothing the server says reaches the terminal as a control
sequence.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from tests.cli.test_generate_cli import _script
from tests.support.mcp_servers import STRAY_LINES, stdio_command

ROOT = Path(__file__).resolve().parents[2]
CONTROL = re.compile(rb"[\x00-\x08\x0b-\x1f\x7f]|\xc2[\x80-\x9f]")  # C0 but tab and newline, DEL, C1 (as UTF-8)


def tools(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MLX_HARMONY_DATA_DIR": str(tmp_path / "data"), "MLX_HARMONY_CONFIG_DIR": str(tmp_path / "config")}
    return subprocess.run([_script("mlx-harmony"), "tools", *args, "--mcp", f"rude={stdio_command('rude')}"], cwd=ROOT,
                          env=env, capture_output=True, timeout=180, stdin=subprocess.DEVNULL)


def test_stray_stdout_lines_go_to_the_servers_log_with_one_warning(tmp_path):
    result = tools(tmp_path, "call", "rude__add", '{"a": 2, "b": 40}', "--auto-approve-tools")
    err = result.stderr.decode()
    assert result.returncode == 0, err[-3000:]
    assert result.stdout.decode().strip() == "42"  # the server still serves
    log = tmp_path / "data" / "mcp-logs" / "rude.log"
    assert "Traceback" not in err and "Failed to parse" not in err, err[:3000]
    lines = err.splitlines()
    assert len(lines) == 2 and lines[1].startswith("[rude__add: done in"), err[:3000]
    assert lines[0].startswith("warning: MCP server 'rude' wrote 2014 line(s) to standard output that are not MCP messages")
    assert lines[0].endswith(str(log))
    kept = [line for line in log.read_text(encoding="utf-8").splitlines() if line.startswith("[stdout, not an MCP message] ")]
    assert len(kept) == STRAY_LINES
    assert kept[7].endswith("debug: warming up, step 7") and kept[-1].endswith('{"log": "ready"}')


def test_a_servers_control_sequences_never_reach_the_terminal(tmp_path):
    listed = tools(tmp_path, "list")
    assert listed.returncode == 0, listed.stderr.decode()[-3000:]
    called = tools(tmp_path, "call", "rude__banner", "{}", "--auto-approve-tools")
    assert called.returncode == 0, called.stderr.decode()[-3000:]
    for stream in (listed.stdout, listed.stderr, called.stdout, called.stderr):
        assert CONTROL.search(stream) is None, stream[:3000]
    # The sequences are gone whole; a lone C1 character goes alone (its parameters "2J" stay, as inert text).
    assert "    Show the welcome banner.red2J\n" in listed.stdout.decode()
    assert called.stdout.decode() == "red2JWelcome!\n"

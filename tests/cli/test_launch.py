"""``--hosts``/``--hostfile``: the command ``mlx.launch`` is given (the app's own options after ``--``, away from the
launcher), and bad input as one line. Running it for real: tests/tui/test_distributed_app.py."""

from __future__ import annotations

import subprocess
import sys

from mlx_harmony_tui.cli.generate import build_parser
from mlx_harmony_tui.cli.launch import launch_command


def test_the_same_command_goes_to_mlx_launch_after_a_double_dash(monkeypatch):
    monkeypatch.delenv("MLX_HARMONY_LAUNCH_PORT", raising=False)
    argv = ["--hosts", "10.0.0.1,10.0.0.2", "--model", "m", "--python", "--launch-backend", "ring", "--prompt", "hi"]
    command = launch_command(build_parser().parse_args(argv), "mlx_harmony_tui.cli.generate", argv)
    assert command[0].endswith("mlx.launch") and command[1:3] == ["--python", sys.executable]
    assert command[3:] == ["--hosts", "10.0.0.1,10.0.0.2", "--backend", "ring", "--", "-m", "mlx_harmony_tui.cli.generate",
                           "--model", "m", "--python", "--prompt", "hi"]


def test_a_missing_hostfile_and_a_single_host_are_one_line_each(tmp_path):
    def generate(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "mlx_harmony_tui.cli.generate", *args, "--prompt", "hi"],
                              capture_output=True, text=True, timeout=60, cwd=tmp_path)

    missing = generate("--hostfile", str(tmp_path / "nope.json"))
    assert missing.returncode == 2 and missing.stderr.startswith(f"error: --hostfile: cannot read {tmp_path / 'nope.json'}")
    assert len(missing.stderr.strip().splitlines()) == 1
    alone = generate("--hosts", "10.0.0.1")
    assert (alone.returncode, alone.stderr) == (2, "error: --hosts: name at least two hosts, comma-separated (rank 0 first)\n")

"""Starting a real group of ranks on 127.0.0.1 with MLX's ring backend, as ``mlx.launch`` does.

``mlx.launch`` writes a JSON host list (one ``ip:port`` per rank) to a file
named by ``MLX_HOSTFILE`` and gives each process its ``MLX_RANK``; doing the
same here keeps one process handle per rank, so a test can kill one of them
(the launcher itself stops every rank once one fails).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).with_name("group_driver.py")


def free_ports(count: int) -> list[int]:
    """Ports free on 127.0.0.1 right now (held together, so they differ)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def rank_env(rank: int, hostfile: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ, MLX_RANK=str(rank), MLX_HOSTFILE=str(hostfile), PYTHONPATH=str(ROOT))
    env.update(extra or {})
    return env


def start_ranks(args: list[str], size: int, folder: Path, extra_env: dict[str, str] | None = None) -> list[subprocess.Popen]:
    """``python ARGS...`` as ranks 0..size-1 of one ring group; each rank's output goes to ``folder/rank-N.log``."""
    hostfile = folder / "hosts.json"
    hostfile.write_text(json.dumps([[f"127.0.0.1:{port}"] for port in free_ports(size)]))
    procs = []
    for rank in range(size):
        log = open(folder / f"rank-{rank}.log", "w")
        procs.append(subprocess.Popen([sys.executable, *args], env=rank_env(rank, hostfile, extra_env), cwd=ROOT,
                                      stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))
        log.close()
    return procs


def finish(procs: list[subprocess.Popen], timeout: float = 240) -> list[int]:
    """Every rank's exit status (a rank still running after ``timeout`` is killed and counts as -9)."""
    codes = []
    for proc in procs:
        try:
            codes.append(proc.wait(timeout=timeout))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            codes.append(-9)
    return codes


def rank_log_lines(path: Path) -> list[dict]:
    """The finished requests a rank other than 0 noted (MLX_HARMONY_RANK_LOG)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def consecutive_free_ports(count: int) -> int:
    """The first of ``count`` consecutive ports free on 127.0.0.1 (mlx.launch's ring gives rank N port P+N)."""
    for _ in range(50):
        first = free_ports(1)[0]
        sockets = []
        try:
            for port in range(first, first + count):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
            return first
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError("no run of free ports")


def mlx_launch(ranks: int, args: list[str], log: Path, extra_env: dict[str, str] | None = None) -> subprocess.Popen:
    """The real ``mlx.launch`` (ring backend, 127.0.0.1) running ``python ARGS...`` on ``ranks`` ranks, in its own
    process group (stop it with os.killpg); everything it prints goes to ``log``."""
    launcher = Path(sys.executable).with_name("mlx.launch")
    command = [str(launcher), "-n", str(ranks), "--backend", "ring", "--starting-port", str(consecutive_free_ports(ranks)),
               "--python", sys.executable, "--", *args]
    out = open(log, "w")
    try:
        return subprocess.Popen(command, env=dict(os.environ, PYTHONPATH=str(ROOT), **(extra_env or {})), cwd=ROOT,
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    finally:
        out.close()

"""One command across several machines: ``--hosts``/``--hostfile`` start it again through ``mlx.launch``; under the
launcher, a rank other than 0 runs only the engine, following rank 0 (which runs the front end)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable

from ..engine.token_generator import SHARD_ENV, is_follower, join_group, launched_ranks, serve_rank_zero
from ..errors import UserError

BACKENDS = ("ring", "jaccl", "jaccl-ring", "mpi", "nccl")
PORT_ENV = "MLX_HARMONY_LAUNCH_PORT"
_TAKES_VALUE = ("--hosts", "--hostfile", "--launch-backend")


def add_group_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("several machines (MLX distributed, see README)")
    group.add_argument("--hosts", metavar="H1,H2", help="run on these hosts (IP addresses for the ring backend) through "
                       "mlx.launch, rank 0 on the first; each must have this same Python environment at the same path")
    group.add_argument("--hostfile", metavar="FILE", help="run on the hosts of this mlx.launch hostfile (JSON)")
    group.add_argument("--launch-backend", choices=BACKENDS, help="mlx.launch's backend for --hosts/--hostfile "
                       "(default: the hostfile's, else nccl with CUDA, else ring)")
    group.add_argument("--shard", choices=("tensor", "pipeline"),
                       help="how several ranks split the model (default: tensor where the model has it, else pipeline)")


def start_or_follow(args: argparse.Namespace, module: str, argv: list[str] | None, full_screen: bool = False) -> int | None:
    """Handle the group flags: the exit status when this process is done (relaunched, or it followed rank 0),
    None when it goes on as the front end (alone, or as rank 0)."""
    if args.shard:
        os.environ[SHARD_ENV] = args.shard
    if args.hosts or args.hostfile:
        return relaunch(args, module, sys.argv[1:] if argv is None else argv, full_screen)
    if launched_ranks() > 1:
        join_group()
    if is_follower():
        return serve_rank_zero()
    return None


def grouped(args: argparse.Namespace, module: str, argv: list[str] | None, body: Callable[[], int],
            full_screen: bool = False) -> Callable[[], int]:
    """``body`` for ``run_main``, run only where this process is the front end (see :func:`start_or_follow`)."""

    def run() -> int:
        started = start_or_follow(args, module, argv, full_screen)
        if started is not None:
            return started
        if full_screen and launched_ranks() > 1:
            take_terminal()
        return body()

    return run


def launcher() -> str:
    """The ``mlx.launch`` script of this Python environment."""
    beside = Path(sys.executable).with_name("mlx.launch")
    found = str(beside) if beside.exists() else shutil.which("mlx.launch")
    if not found:
        raise UserError("--hosts: mlx.launch was not found beside this Python; install mlx in this environment")
    return found


def launch_command(args: argparse.Namespace, module: str, argv: list[str]) -> list[str]:
    """``mlx.launch`` running ``python -m module`` with ``argv`` less the group flags (after ``--``, so options of
    ours such as ``--python`` never reach the launcher)."""
    command = [launcher(), "--python", sys.executable]
    if args.hostfile:
        path = Path(args.hostfile).expanduser()
        try:
            json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise UserError(f"--hostfile: cannot read {path}: {exc.strerror or exc}") from None
        except ValueError as exc:
            raise UserError(f"--hostfile: {path} is not JSON: {exc}") from None
        command += ["--hostfile", str(path)]
    else:
        hosts = [h.strip() for h in args.hosts.split(",") if h.strip()]
        if len(hosts) < 2:
            raise UserError("--hosts: name at least two hosts, comma-separated (rank 0 first)")
        command += ["--hosts", ",".join(hosts)]
    if args.launch_backend:
        command += ["--backend", args.launch_backend]
    if os.environ.get(PORT_ENV):
        command += ["--starting-port", os.environ[PORT_ENV]]  # the ring's first port (mlx.launch's default: 32323)
    return [*command, "--", "-m", module, *_without_group_flags(argv)]


def _without_group_flags(argv: list[str]) -> list[str]:
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in _TAKES_VALUE:
            skip = True
        elif not arg.startswith(tuple(f"{flag}=" for flag in _TAKES_VALUE)):
            kept.append(arg)
    return kept


def relaunch(args: argparse.Namespace, module: str, argv: list[str], full_screen: bool = False) -> int:
    """Run the same command on every host through mlx.launch; its exit status (it says 0 even when a rank failed:
    read the ``[WARN] Node with rank N`` lines it prints).

    The launcher hands its input to every rank; for the full-screen app it
    gets a silent pipe instead, so that rank 0 alone reads the terminal.
    """
    command = launch_command(args, module, argv)
    print(f"starting: {' '.join(command)}", file=sys.stderr, flush=True)
    if not full_screen:
        return subprocess.call(command)
    quiet, keep_open = os.pipe()
    try:
        return subprocess.call(command, stdin=quiet)
    finally:
        os.close(quiet)
        os.close(keep_open)


def take_terminal() -> None:
    """Rank 0 of a group runs the full-screen app on the terminal the launcher was started from.

    ``mlx.launch`` gives each rank pipes, not the terminal; a rank it started
    on this machine can still open it. Over ssh there is none: say so.
    """
    if sys.stdin.isatty() and sys.stdout.isatty():
        return
    try:
        fd = os.open("/dev/tty", os.O_RDWR)
    except OSError:
        raise UserError("the full-screen app needs a terminal, and mlx.launch started rank 0 without one (over ssh): "
                        "run rank 0 on this machine (127.0.0.1 first, or --hosts), or use mlx-harmony-chat or "
                        "mlx-harmony-server with the same flags") from None
    os.dup2(fd, 0)
    os.dup2(fd, 1)
    os.close(fd)

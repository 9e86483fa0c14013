"""The GPT-OSS ``python`` tool: a stateful Python session in a sandboxed process.

``PythonSandbox(workdir).run(code)`` runs model-written code like a notebook
cell: variables, imports and functions stay for the next call, the value of a
final bare expression is printed, stdout and stderr (its subprocesses'
included) come back cut to ``output_limit`` characters. Every failure (an
exception, a syntax error, a timeout, a crash, a limit) comes back as
``ToolOutput(ok=False)`` text; after a timeout or a crash the next call gets
a fresh session and the output says the old one's variables are gone.

Isolation depends on the platform and is detected when a session starts;
``isolation_report()`` says in plain words what is and is not enforced. On
Linux the worker (``python_worker.py``) runs under ``unshare`` in its own
user, network, pid and mount namespaces where available, hides the folders
that hold socket files and home folders, confines itself with Landlock and
rlimits, and drops its capabilities. On macOS it runs under ``sandbox-exec``
with a generated profile, plus rlimits. Elsewhere only rlimits and the
timeout apply, and the report says so.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from mlx_harmony_tui.tools.output import ToolOutput, truncate
from mlx_harmony_tui.tools.python_limits import WATCH_INTERVAL_S, MemoryCgroup, TreeWatcher, cgroup_support, wait_for_group

WORKER = Path(__file__).with_name("python_worker.py")
RESTARTED = "the python session was restarted, earlier variables are gone"
MAX_PROCESSES = 128  # RLIMIT_NPROC in the sandbox's own user namespace (threads count too)
START_TIMEOUT_S = 30.0
READ_BACK_BYTES = 16 * 1024 * 1024  # captured output read back per call; more is only counted
UNSHARE_FLAGS = ("--user", "--map-root-user", "--net", "--pid", "--fork", "--kill-child", "--mount-proc")


@dataclass(frozen=True)
class _Isolation:
    """How sessions are confined on this machine: ``kind`` and why nothing stronger is used."""

    kind: str  # "linux-namespaces", "linux", "macos", "posix" or "unsupported"
    prefix: tuple[str, ...] = ()
    reason: str = ""


_isolation_lock = threading.Lock()
_isolation_found: list[_Isolation] = []


def _base_env() -> dict[str, str]:
    return {"PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]),
            "LANG": "C.UTF-8"}


def _isolation() -> _Isolation:
    """Probe once per process which confinement works here."""
    with _isolation_lock:
        if not _isolation_found:
            _isolation_found.append(_probe())
        return _isolation_found[0]


def _probe() -> _Isolation:
    if sys.platform == "linux":
        unshare = shutil.which("unshare")
        if unshare is None:
            return _Isolation("linux", reason="the unshare command (util-linux) is not installed")
        try:
            probe = subprocess.run([unshare, *UNSHARE_FLAGS, "true"], capture_output=True, text=True,
                                   env=_base_env(), timeout=START_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            return _Isolation("linux", reason=f"unshare did not finish within {START_TIMEOUT_S:g} s")
        if probe.returncode == 0:
            return _Isolation("linux-namespaces", (unshare, *UNSHARE_FLAGS))
        return _Isolation("linux", reason=f"namespaces are not available: {probe.stderr.strip()}")
    if sys.platform == "darwin":
        tool = shutil.which("sandbox-exec")
        if tool and subprocess.run([tool, "-p", "(version 1)(allow default)", "/usr/bin/true"]).returncode == 0:
            return _Isolation("macos", (tool,))
        return _Isolation("posix", reason="sandbox-exec is not available")
    if os.name == "posix":
        return _Isolation("posix", reason=f"no sandbox is known for {sys.platform}")
    return _Isolation("unsupported", reason=f"the python tool needs Linux or macOS, not {sys.platform}")


def _quote(path: str) -> str:
    return '"' + path.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _python_folders() -> list[str]:
    found = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    found.update(p for p in sys.path if p and os.path.isdir(p))
    return sorted({os.path.realpath(p) for p in found})


def _macos_profile(workdir: Path) -> str:
    """A sandbox-exec profile: no network, writes only in ``workdir``, no reads in the home folder."""
    readable = " ".join(f"(subpath {_quote(p)})" for p in [str(workdir), *_python_folders()])
    home = _quote(os.path.realpath(Path.home()))
    return "\n".join([
        "(version 1)",
        "(allow default)",
        "(deny network*)",
        f'(deny file-write* (require-not (require-any (subpath {_quote(str(workdir))}) (literal "/dev/null"))))',
        f"(deny file-read-data (require-all (subpath {home}) (require-not (require-any {readable}))))",
    ])


def _capture_file() -> int:
    """An unlinked temporary file in append mode: the worker's stdout and stderr."""
    fd, path = tempfile.mkstemp(prefix="mlx-harmony-python-")
    os.unlink(path)
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_APPEND)
    return fd


class _StartFailed(Exception):
    """The sandbox could not start; the message says why."""


@dataclass
class _Session:
    """One worker process tree, the pipes that talk to it and the file that captures its output."""

    proc: subprocess.Popen
    requests: int
    replies: int
    lifeline: int  # never written: the worker kills itself when it closes
    capture: int
    cgroup: MemoryCgroup | None = None
    watcher: TreeWatcher | None = None
    stopped_for: str | None = None  # why the watcher stopped the processes, if it did
    facts: dict = field(default_factory=dict)
    _buffer: bytes = b""
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _closed: bool = False

    def send(self, code: str) -> None:
        data = json.dumps({"code": code}).encode() + b"\n"
        while data:
            data = data[os.write(self.requests, data):]

    def read_reply(self, deadline: float) -> dict | str:
        """The next reply; ``"timeout"`` once ``deadline`` passes, ``"eof"`` when the worker is gone."""
        while True:
            while b"\n" in self._buffer:
                line, self._buffer = self._buffer.split(b"\n", 1)
                try:
                    message = json.loads(line)
                except ValueError:  # a partial line from a process that died mid-write
                    continue
                if isinstance(message, dict):
                    return message
            remaining = deadline - time.monotonic()
            if select.select([self.replies], [], [], max(remaining, 0))[0]:
                chunk = os.read(self.replies, 65536)
                if not chunk:
                    return "eof"
                self._buffer += chunk
            elif remaining <= 0:
                return "timeout"

    def clear_output(self) -> None:
        os.ftruncate(self.capture, 0)

    def output(self) -> tuple[str, int]:
        """The captured output (its first ``READ_BACK_BYTES``) and its full size in bytes."""
        size = os.fstat(self.capture).st_size
        return os.pread(self.capture, min(size, READ_BACK_BYTES), 0).decode("utf-8", errors="replace"), size

    def stop(self, reason: str) -> None:
        """Kill the whole process tree because it went over a limit; ``reason`` says which."""
        self.stopped_for = self.stopped_for or reason
        self.kill()

    def kill(self) -> None:
        """Kill the whole process tree; safe from any thread, any number of times."""
        with self._lock:
            if not self._closed:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def close(self) -> int:
        """Kill, reap and release everything; return the worker's exit code."""
        if self.watcher is not None:
            self.watcher.close()
        self.kill()
        with self._lock:
            if not self._closed:
                self.proc.wait()
                wait_for_group(self.proc.pid)  # unshare can end before what it ran
                if self.cgroup is not None:
                    self.cgroup.remove()
                for fd in (self.requests, self.replies, self.lifeline, self.capture):
                    os.close(fd)
                self._closed = True
        return self.proc.returncode


class PythonSandbox:
    """The ``python`` tool for one conversation: a stateful, sandboxed Python session.

    ``workdir`` (created if missing) is the only folder the code can write;
    its ``.tmp`` folder is the code's TMPDIR and HOME is ``workdir``. The
    session's processes may use ``total_memory_mb`` together (each at most
    ``memory_mb`` of address space), and the folder may hold ``disk_mb`` and
    ``max_files`` entries (files, folders, links). Call ``run`` from one thread
    at a time; ``close`` may come from any thread.
    """

    name = "python"

    def __init__(self, workdir: Path, *, timeout_s: float = 30.0, memory_mb: int = 2048, cpu_s: int = 60,
                 output_limit: int = 20_000, file_mb: int = 256, total_memory_mb: int = 2048,
                 disk_mb: int = 1024, max_files: int = 20_000) -> None:
        self.workdir = Path(workdir).resolve()
        (self.workdir / ".tmp").mkdir(parents=True, exist_ok=True)
        self.timeout_s = timeout_s
        self.memory_mb = memory_mb
        self.cpu_s = cpu_s
        self.output_limit = output_limit
        self.file_mb = file_mb
        self.total_memory_mb = total_memory_mb
        self.disk_mb, self.max_files = disk_mb, max_files
        self._session: _Session | None = None
        self._run_lock = threading.Lock()
        self._closed = threading.Event()

    def __enter__(self) -> PythonSandbox:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def run(self, code: str) -> ToolOutput:
        """Run ``code`` in this conversation's session and say what it printed and returned.

        Never raises for anything the code does: errors, timeouts, crashes
        and limits come back as ``ok=False`` with an explanation.
        """
        with self._run_lock:
            if self._closed.is_set():
                return ToolOutput("the python session is closed", ok=False)
            before: list[str] = []
            if self._session is not None:
                left = self._session.read_reply(time.monotonic())
                if left != "timeout":  # the worker ended between calls (a CPU limit, a stray thread's crash)
                    before.append(f"{self._ended(left)} after the last call; {RESTARTED}")
                    self._drop_session()
            try:
                session = self._session = self._session or self._start()
            except _StartFailed as exc:
                return ToolOutput("\n".join([*before, str(exc)]), ok=False)
            if self._closed.is_set():  # close() came while the session started
                self._drop_session()
                return ToolOutput("the python session is closed", ok=False)
            session.clear_output()
            assert session.watcher is not None
            session.watcher.call_starts()
            try:
                session.send(code)
                reply = session.read_reply(time.monotonic() + self.timeout_s)
            except BrokenPipeError:
                reply = "eof"
            over_quota = session.watcher.call_ends()
            return self._result(reply, before, over_quota)

    def restart(self) -> None:
        """End the session; the next ``run`` starts a fresh one with no variables."""
        with self._run_lock:
            self._drop_session()

    def close(self) -> None:
        """Kill the session for good; a ``run`` in progress on another thread returns at once."""
        self._closed.set()
        session = self._session
        if session is not None:
            session.kill()
        with self._run_lock:
            self._drop_session()

    def isolation_report(self) -> list[str]:
        """What this sandbox enforces here, in plain words, from what its worker really applied."""
        with self._run_lock:
            if self._closed.is_set():
                return ["the python session is closed"]
            try:
                self._session = self._session or self._start()
            except _StartFailed as exc:
                return [str(exc)]
            return self._describe(self._session.facts)

    def _start(self) -> _Session:
        isolation = _isolation()
        if isolation.kind == "unsupported":
            raise _StartFailed(isolation.reason)
        prefix = isolation.prefix
        if isolation.kind == "macos":
            prefix = (*prefix, "-p", _macos_profile(self.workdir))
        requests_r, requests_w = os.pipe()
        replies_r, replies_w = os.pipe()
        life_r, life_w = os.pipe()
        capture = _capture_file()
        config = {
            "workdir": str(self.workdir), "memory_mb": self.memory_mb, "cpu_s": self.cpu_s,
            "file_mb": self.file_mb, "max_processes": MAX_PROCESSES,
            "namespaces": isolation.kind == "linux-namespaces",
            "hide": [str(Path.home()), tempfile.gettempdir()], "reply_fd": replies_w, "life_fd": life_r,
        }
        env = {**_base_env(), "HOME": str(self.workdir), "TMPDIR": str(self.workdir / ".tmp"), "PYTHONUTF8": "1",
               "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1", "MPLBACKEND": "Agg", "TERM": "dumb"}
        command = [*prefix, sys.executable, "-I", "-u", "-X", "utf8", str(WORKER), json.dumps(config)]
        cgroup, cgroup_error = None, None
        if cgroup_support().parent is not None:
            try:
                cgroup = MemoryCgroup(cgroup_support().parent, self.total_memory_mb)
                command = cgroup.wrap(command)
            except OSError as exc:
                cgroup_error = f"cgroup v2 memory limit: {exc}"
        try:
            proc = subprocess.Popen(command, stdin=requests_r, stdout=capture, stderr=capture, env=env,
                                    pass_fds=(replies_w, life_r), cwd=self.workdir, start_new_session=True)
        except OSError as exc:
            for fd in (requests_w, replies_r, life_w, capture):
                os.close(fd)
            if cgroup is not None:
                cgroup.remove()
            raise _StartFailed(f"the python sandbox could not start: {exc}") from exc
        finally:
            for fd in (requests_r, replies_w, life_r):
                os.close(fd)
        session = _Session(proc, requests_w, replies_r, life_w, capture, cgroup)
        session.watcher = TreeWatcher(proc.pid, self.workdir, None if cgroup else self.total_memory_mb, self.disk_mb,
                                      session.stop, max_files=self.max_files)
        ready = session.read_reply(time.monotonic() + START_TIMEOUT_S)
        if isinstance(ready, dict) and "ready" in ready:
            session.facts = ready["ready"]
            session.facts["errors"] += [cgroup_error] if cgroup_error else []
            return session
        session.kill()
        output, _ = session.output()
        session.close()
        why = output.strip() or ("it did not answer in time" if ready == "timeout" else "it ended without a word")
        raise _StartFailed(f"the python sandbox could not start: {why}")

    def _drop_session(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def _ended(self, reply: dict | str) -> str:
        """Say how the worker ended, from its supervisor's report or else its exit code."""
        assert self._session is not None
        if self._session.stopped_for:
            return self._session.stopped_for
        if self._session.cgroup is not None and self._session.cgroup.out_of_memory():
            return (f"the python processes went over the python tool's limit of {self.total_memory_mb} MB of memory "
                    "in total and were stopped")
        ended = reply.get("ended") if isinstance(reply, dict) else None
        if ended is None:
            code = self._session.close()
            ended = {"signal": -code} if code < 0 else {"status": code}
        if "signal" in ended:
            number = ended["signal"]
            if number == signal.SIGXCPU:
                return f"the python process used more than {self.cpu_s:g} s of CPU time in one call and was stopped"
            return f"the python process was killed by signal {number} ({signal.strsignal(number)})"
        return f"the python process exited with status {ended['status']}"

    def _result(self, reply: dict | str, before: list[str], over_quota: str | None = None) -> ToolOutput:
        assert self._session is not None
        after: list[str] = []
        finished = isinstance(reply, dict) and "ok" in reply
        if reply == "timeout":
            self._session.kill()
        output, size = self._session.output()
        if not finished:
            if self._closed.is_set():
                after.append("the python session was closed while the code ran")
            elif reply == "timeout":
                after.append(f"timed out after {self.timeout_s:g} s; {RESTARTED}")
            else:
                after.append(f"{self._ended(reply)}; {RESTARTED}")
            self._drop_session()
        else:  # stopped by the watch just as it replied, or written faster than the watch could stop: it fails
            if self._session.stopped_for:
                over_quota = f"{self._session.stopped_for}; {RESTARTED}"
                self._drop_session()
            after += [over_quota] if over_quota else []
        error = reply.get("error") if finished else None
        text, cut = truncate(output.rstrip("\n"), self.output_limit)
        if size > READ_BACK_BYTES:
            text += f"\n[the output was {size} bytes in all]"
        if cut and error:  # the traceback's last line may have been cut off
            text += f"\n{error}"
        text = "\n".join(part for part in [*before, text, *after] if part)
        return ToolOutput(text or "(no output)", ok=finished and reply["ok"] is True and not over_quota, truncated=cut)

    def _describe(self, facts: dict) -> list[str]:
        isolation = _isolation()
        kind = isolation.kind
        landlock = facts["landlock_abi"]
        rlimits = facts["rlimits"]
        lines = [f"sandbox: {kind}" + (f" ({isolation.reason})" if isolation.reason else "")]
        if kind == "linux-namespaces":
            lines.append("network: blocked: the code has its own network namespace with no interface up"
                         + (", and Landlock denies TCP connect and bind" if landlock >= 4 else ""))
            lines.append("processes: in their own pid namespace; all are killed on timeout, restart and close, "
                         "and any still running when a call ends are killed then")
        else:
            if kind == "macos":
                lines.append("network: blocked by the sandbox-exec profile (deny network*), UNIX sockets included")
            elif landlock >= 4:
                lines.append("network: Landlock denies TCP connect and bind; UDP, raw and UNIX sockets are NOT blocked")
            else:
                lines.append("network: NOT blocked")
            lines.append("processes: the process group is killed on timeout, restart and close; a process that "
                         "leaves it (setsid) is NOT killed, and background processes keep running between calls")
        if facts["pid_namespace"] or landlock >= 6:
            lines.append("signals: the code cannot signal the app or any other process outside the sandbox")
        else:
            lines.append("signals: NOT blocked: the code can signal the app's other processes")
        if landlock:
            proc = "the sandbox's own /proc, " if facts["pid_namespace"] else ""
            proc += "a private /dev/shm, " if "/dev" in facts["hidden"] else ""
            lines.append(f"files: writes only inside the working folder {self.workdir} (Landlock ABI {landlock})")
            lines.append("reads: only the working folder, Python's folders (" + ", ".join(facts["python_folders"])
                         + "), /usr, /bin, /sbin, /lib*, a few files in /etc, " + proc
                         + "/sys/devices/system/cpu and /dev/null, zero, full, random, urandom; "
                         "everything else, the home folder included, cannot be read")
        elif kind == "macos":
            lines.append(f"files: writes only inside the working folder {self.workdir} (sandbox-exec)")
            lines.append(f"reads: file contents and listings in the home folder {os.path.realpath(Path.home())} are "
                         "denied except the working folder and Python's folders; the rest of the disk is readable, "
                         "and names and sizes in the home folder can still be looked up")
        else:
            lines.append("files: NOT restricted: the code can read and write whatever the app's user can")
        if facts["hidden"]:
            lines.append("hidden: " + ", ".join(facts["hidden"]) + " are empty folders inside the sandbox, with only the "
                         "working folder, Python's folders and the devices above bound back in, so socket files "
                         "there cannot be reached")
        elif sys.platform == "linux":
            lines.append("UNIX sockets: NOT blocked: the code can connect to any socket file it can find")
        root = os.geteuid() == 0
        if "NPROC" in rlimits and not root:
            lines.append(f"process count: at most {rlimits['NPROC']} processes and threads (RLIMIT_NPROC)")
        elif facts["pid_max"]:
            lines.append(f"process count: at most {facts['pid_max'] - 1} processes and threads (pid_max of the "
                         "sandbox's pid namespace)" + ("; RLIMIT_NPROC does not apply to root" if root else ""))
        else:
            lines.append("process count: NOT limited")
        session = self._session
        assert session is not None
        if session.cgroup is not None:
            total = (f"at most {self.total_memory_mb} MB in total for all the sandbox's processes, held by the kernel "
                     f"(cgroup v2 {session.cgroup.path}: memory.max, no swap, the whole group killed together)")
        else:
            counted = "their share of anonymous and shared memory" if sys.platform == "linux" else "resident memory"
            total = (f"at most {self.total_memory_mb} MB in total for all the sandbox's processes, summed by the app "
                     f"every {WATCH_INTERVAL_S:g} s ({counted}) and all killed when over; cgroup v2 is not used: "
                     f"{cgroup_support().reason}")
        per_process = (f"; at most {self.memory_mb} MB of address space per process (RLIMIT_AS)" if "AS" in rlimits
                       else " (macOS does not enforce RLIMIT_AS)" if sys.platform == "darwin" else "")
        lines.append(f"memory: {total}{per_process}"
                     + ("; the out-of-memory killer takes sandbox processes first" if facts.get("oom_first") else ""))
        if "CPU" in rlimits:
            lines.append(f"CPU: {self.cpu_s:g} s of CPU time per call for the python process (RLIMIT_CPU, a soft "
                         "limit the code could raise)")
        lines.append(f"time: each call is stopped after {self.timeout_s:g} s of wall-clock time")
        lines.append(f"file size: at most {self.file_mb} MB per file (RLIMIT_FSIZE)" if "FSIZE" in rlimits
                     else "file size: NOT limited")
        lines.append(f"disk: the working folder may hold at most {self.disk_mb} MB and {self.max_files:,} files and folders: "
                     f"the app measures it every {WATCH_INTERVAL_S:g} s and when a call ends, stops the code's processes when "
                     "it grows past that, and fails the call (a burst written between two checks stays until the code deletes it)")
        if facts["caps_dropped"]:
            lines.append("privileges: all capabilities dropped, no_new_privs set")
        lines.append("environment: a fresh one (PATH, LANG, Python settings; HOME and TMPDIR inside the working "
                     "folder); nothing is inherited from the app, so its secrets are not visible")
        lines += [f"not applied: {error}" for error in facts["errors"]]
        return lines


def isolation_report() -> list[str]:
    """What the python tool enforces on this machine, measured by starting a real sandbox."""
    with tempfile.TemporaryDirectory(prefix="mlx-harmony-python-") as tmp, PythonSandbox(Path(tmp)) as sandbox:
        return sandbox.isolation_report()

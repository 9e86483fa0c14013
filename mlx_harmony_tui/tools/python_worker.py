"""The python tool's worker: one stateful Python session inside the sandbox.

``python_sandbox.PythonSandbox`` starts this file as a script (``python -I -u
-X utf8 python_worker.py CONFIG``), never imports it: it uses the standard
library only, because once it has confined itself little else is readable.

Start-up confines the process before any model code runs (Linux: hide
folders, cap the number of pids, drop capabilities, set rlimits, apply
Landlock), then forks. The parent stays as the supervisor (pid 1 of the
sandbox's pid namespace when there is one): it reaps orphans, reports how the
session ended, and kills everything when the app's lifeline pipe closes. The
child is the kernel: it reads one JSON request per line on stdin, runs the
code in a persistent ``__main__`` namespace, and answers one JSON line on the
reply pipe. Everything the code prints, and what its subprocesses print, goes
to fds 1 and 2, a capture file the app owns and reads back.
"""

from __future__ import annotations

import ast
import builtins
import ctypes
import json
import linecache
import os
import resource
import select
import signal
import stat
import sys
import time
import traceback
import types

# Folders hidden behind empty tmpfs mounts in the sandbox's mount namespace:
# socket files live there (docker.sock, the session bus, ssh agents), and
# Landlock cannot stop a connect() to a socket file it can see.
HIDDEN = ("/home", "/root", "/tmp", "/var", "/run", "/mnt", "/media", "/srv", "/opt", "/dev")
DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")
SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
ETC = (
    "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "timezone", "passwd", "group",
    "nsswitch.conf", "hosts", "host.conf", "gai.conf", "mime.types", "ssl", "ca-certificates",
    "fonts", "alternatives", "os-release", "locale.alias",
)
PID_MAX = 301  # the smallest pid_max the kernel accepts: at most 300 pids in the namespace

# Landlock (linux/landlock.h)
LL_EXECUTE, LL_WRITE_FILE, LL_READ_FILE, LL_READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
LL_REFER, LL_TRUNCATE, LL_IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
LL_FILE_RIGHTS = LL_EXECUTE | LL_WRITE_FILE | LL_READ_FILE | LL_TRUNCATE | LL_IOCTL_DEV
LL_READ = LL_EXECUTE | LL_READ_FILE | LL_READ_DIR
SYS_LANDLOCK_CREATE_RULESET, SYS_LANDLOCK_ADD_RULE, SYS_LANDLOCK_RESTRICT_SELF = 444, 445, 446
PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 24, 38
MS_NOSUID, MS_NODEV, MS_BIND, MS_REC = 2, 4, 4096, 16384


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("fs", ctypes.c_uint64), ("net", ctypes.c_uint64), ("scoped", ctypes.c_uint64)]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _check(result: int, what: str) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


def _syscall(number: int, *args) -> int:
    return _check(_libc.syscall(ctypes.c_long(number), *args), f"syscall {number}")


def _outermost(paths) -> list[str]:
    """The given paths without those inside another one of them."""
    kept: list[str] = []
    for path in sorted(set(paths)):
        if not any(path == k or path.startswith(k.rstrip("/") + "/") for k in kept):
            kept.append(path)
    return kept


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _python_folders() -> list[str]:
    """Folders this interpreter reads from: its prefixes, import path and loaded libraries."""
    found = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    found.update(p for p in sys.path if os.path.isdir(p))
    with open("/proc/self/maps") as maps:
        for line in maps:
            parts = line.split(maxsplit=5)
            if len(parts) == 6 and parts[5].startswith("/") and os.path.exists(parts[5].rstrip()):
                found.add(os.path.dirname(parts[5].rstrip()))
    return _outermost(r for r in map(os.path.realpath, found) if r != "/")


def _set_pid_max() -> int:
    with open("/proc/sys/kernel/pid_max", "w") as f:
        f.write(str(PID_MAX))
    with open("/proc/sys/kernel/pid_max") as f:
        return int(f.read())


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None) -> None:
    args = [None if a is None else a.encode() for a in (source, target, fstype)]
    _check(_libc.mount(*args, ctypes.c_ulong(flags), data and data.encode()), f"mount {target}")


def _hide(folders: list[str], keep: list[str]) -> list[str]:
    """Cover each folder with an empty tmpfs, then bind the kept paths inside it back."""
    hidden = []
    for top in _outermost(os.path.realpath(f) for f in folders if os.path.isdir(f)):
        if top == "/" or any(_inside(top, k) for k in keep):
            continue
        inner = [k for k in keep if _inside(k, top)]
        if top == "/dev":
            inner += [d for d in DEVICES if os.path.exists(d)]
        fds = [(k, os.open(k, os.O_PATH | os.O_CLOEXEC)) for k in inner]
        _mount("tmpfs", top, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m")
        for path, fd in fds:
            if stat.S_ISDIR(os.fstat(fd).st_mode):
                os.makedirs(path, exist_ok=True)
            else:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                open(path, "a").close()
            _mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC, None)
            os.close(fd)
        if top == "/dev":
            # multiprocessing needs a /dev/shm: give it a small private one
            os.mkdir("/dev/shm")
            _mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=64m")
            for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                                 ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
                os.symlink(target, f"/dev/{name}")
        hidden.append(top)
    return hidden


def _drop_capabilities() -> None:
    with open("/proc/sys/kernel/cap_last_cap") as f:
        last = int(f.read())
    for cap in range(last + 1):
        _check(_libc.prctl(PR_CAPBSET_DROP, ctypes.c_ulong(cap), 0, 0, 0), "drop capability")
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    _check(_libc.capset(header, (ctypes.c_uint32 * 6)()), "capset")


def _landlock(rules: list[tuple[str, int]]) -> int:
    """Allow only ``rules`` (path, rights) from now on; return the Landlock ABI used."""
    abi = _syscall(SYS_LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    handled = (1 << 13) - 1
    handled |= (LL_REFER if abi >= 2 else 0) | (LL_TRUNCATE if abi >= 3 else 0) | (LL_IOCTL_DEV if abi >= 5 else 0)
    # TCP bind/connect (ABI 4), abstract unix sockets and signals beyond the sandbox (ABI 6)
    attr = _RulesetAttr(handled, 3 if abi >= 4 else 0, 3 if abi >= 6 else 0)
    size = 8 if abi < 4 else 16 if abi < 6 else 24
    ruleset = _syscall(SYS_LANDLOCK_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    for path, rights in rules:
        try:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            continue
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            rights &= LL_FILE_RIGHTS
        rule = _PathBeneath(rights & handled, fd)
        _syscall(SYS_LANDLOCK_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(1), ctypes.byref(rule), ctypes.c_uint32(0))
        os.close(fd)
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, ctypes.c_ulong(1), 0, 0, 0), "no_new_privs")
    _syscall(SYS_LANDLOCK_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0))
    os.close(ruleset)
    return abi


def _set_rlimits(cfg: dict, facts: dict) -> None:
    mb = 1024 * 1024
    limits = {
        "CPU": (resource.RLIMIT_CPU, cfg["cpu_s"], resource.RLIM_INFINITY),
        "FSIZE": (resource.RLIMIT_FSIZE, cfg["file_mb"] * mb, cfg["file_mb"] * mb),
        "NOFILE": (resource.RLIMIT_NOFILE, 256, 256),
        "CORE": (resource.RLIMIT_CORE, 0, 0),
    }
    if sys.platform != "darwin":  # macOS accepts RLIMIT_AS but does not enforce it
        limits["AS"] = (resource.RLIMIT_AS, cfg["memory_mb"] * mb, cfg["memory_mb"] * mb)
    if cfg["namespaces"]:  # counted per user namespace; outside one it would count all the user's processes
        limits["NPROC"] = (resource.RLIMIT_NPROC, cfg["max_processes"], cfg["max_processes"])
    for name, (which, soft, hard) in limits.items():
        try:
            resource.setrlimit(which, (soft, hard))
            facts["rlimits"][name] = soft
        except (OSError, ValueError) as exc:
            facts["errors"].append(f"RLIMIT_{name}: {exc}")
    # a write past RLIMIT_FSIZE then fails with EFBIG instead of killing the writer
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def _confine(cfg: dict) -> dict:
    """Apply every restriction this platform offers; return what was applied."""
    facts: dict = {"pid_namespace": os.getpid() == 1, "rlimits": {}, "errors": [], "hidden": [],
                   "pid_max": None, "caps_dropped": False, "landlock_abi": 0, "python_folders": []}
    workdir = cfg["workdir"]
    linux = sys.platform == "linux"
    folders = _python_folders() if linux else []
    facts["python_folders"] = [f for f in folders if not any(_inside(f, s) for s in SYSTEM)]
    if linux and cfg["namespaces"]:
        for what, step in (("pid_max", _set_pid_max),
                           ("hidden", lambda: _hide(list(HIDDEN) + cfg["hide"], _outermost([workdir, *folders]))),
                           ("caps_dropped", lambda: _drop_capabilities() or True)):
            try:
                facts[what] = step()
            except OSError as exc:
                facts["errors"].append(f"{what}: {exc}")
    if linux:
        try:
            with open("/proc/self/oom_score_adj", "w") as f:
                f.write("1000")  # the out-of-memory killer takes sandbox processes first
            facts["oom_first"] = True
        except OSError as exc:
            facts["errors"].append(f"oom_score_adj: {exc}")
    _set_rlimits(cfg, facts)
    if linux:
        rules = [(workdir, (1 << 16) - 1), ("/dev/null", LL_READ_FILE | LL_WRITE_FILE | LL_TRUNCATE | LL_IOCTL_DEV)]
        rules += [(p, LL_READ) for p in (*SYSTEM, *folders)]
        rules += [(f"/etc/{name}", LL_READ) for name in ETC]
        rules += [(d, LL_READ_FILE) for d in DEVICES if d != "/dev/null"]
        rules += [("/sys/devices/system/cpu", LL_READ)]
        if "/dev" in facts["hidden"]:
            rules.append(("/dev/shm", (1 << 16) - 1))
        if facts["pid_namespace"]:  # a private /proc shows only the sandbox's own processes
            rules.append(("/proc", LL_READ_FILE | LL_READ_DIR))
        try:
            facts["landlock_abi"] = _landlock(rules)
        except OSError as exc:
            facts["errors"].append(f"Landlock: {exc}")
    return facts


def _supervise(kernel: int, life_fd: int, reply_fd: int) -> None:
    """Reap orphans until the kernel ends, then report how; kill everything if the app goes away."""
    resource.setrlimit(resource.RLIMIT_CPU, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))  # reaping is no call
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    while True:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                pid, status = kernel, 0
            if pid == 0:
                break
            if pid == kernel:
                ended = {"signal": os.WTERMSIG(status)} if os.WIFSIGNALED(status) else {"status": os.waitstatus_to_exitcode(status)}
                os.write(reply_fd, b"\n" + json.dumps({"ended": ended}).encode() + b"\n")
                os._exit(0)
        ready, _, _ = select.select([life_fd, wake_r], [], [])
        if life_fd in ready:
            try:
                os.killpg(0, signal.SIGKILL)
            finally:
                os._exit(1)
        os.read(wake_r, 512)


def _limit_cpu(cpu_s: int) -> None:
    """Let this call use ``cpu_s`` more seconds of CPU time before SIGXCPU stops the kernel."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = int(usage.ru_utime + usage.ru_stime) + cpu_s
    resource.setrlimit(resource.RLIMIT_CPU, (soft if hard == resource.RLIM_INFINITY else min(soft, hard), hard))


def _end_strays() -> None:
    """Kill every other process of the pid namespace (the kernel spares pid 1) until none is left."""
    for _ in range(200):  # a fork bomb's last children may still be exiting: give them 2 s
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            return
        try:
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        except ChildProcessError:
            pass
        time.sleep(0.01)


def _report(exc: BaseException, memory_mb: int) -> str:
    """Print the traceback of the model's own code (worker frames dropped); return its last line."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    text = "".join(traceback.format_exception(type(exc), exc, tb))
    if isinstance(exc, MemoryError):
        text += f"(the python tool allows {memory_mb} MB of memory per process)\n"
    try:
        sys.stderr.write(text)
    except OSError:
        pass
    return traceback.format_exception_only(type(exc), exc)[-1].strip()


def _run_cell(code: str, number: int, namespace: dict, cfg: dict, kernel: int) -> dict:
    """Run one call's code; print the value of a final bare expression like a notebook."""
    filename = f"<cell {number}>"
    linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
    try:
        tree = ast.parse(code, filename)
        last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
        body = compile(tree, filename, "exec")
        expression = None if last is None else compile(ast.Expression(last.value), filename, "eval")
    except SyntaxError as exc:
        return {"ok": False, "error": _report(exc.with_traceback(None), cfg["memory_mb"])}
    _limit_cpu(cfg["cpu_s"])
    error = None
    try:
        exec(body, namespace)
        if expression is not None:
            value = eval(expression, namespace)
            if value is not None:
                print(repr(value))
    except BaseException as exc:
        error = _report(exc, cfg["memory_mb"])
    if os.getpid() != kernel:  # a process the code forked finished the cell: it must not answer
        os._exit(1 if error else 0)
    return {"ok": error is None, "error": error}


def _serve(requests_fd: int, reply_fd: int, cfg: dict, facts: dict) -> None:
    main = types.ModuleType("__main__")
    main.__builtins__ = builtins
    sys.modules["__main__"] = main
    kernel = os.getpid()
    os.write(reply_fd, json.dumps({"ready": facts}).encode() + b"\n")
    number = 0
    with os.fdopen(requests_fd, "rb") as requests:
        for line in requests:
            number += 1
            reply = _run_cell(json.loads(line)["code"], number, main.__dict__, cfg, kernel)
            if facts["pid_namespace"]:
                _end_strays()
            os.write(reply_fd, json.dumps(reply).encode() + b"\n")


def main() -> None:
    cfg = json.loads(sys.argv[1])
    requests_fd = os.dup(0)  # the request pipe; the code's own stdin is /dev/null
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    reply_fd, life_fd = cfg["reply_fd"], cfg["life_fd"]
    os.set_inheritable(reply_fd, False)
    os.set_inheritable(life_fd, False)
    facts = _confine(cfg)
    os.chdir(cfg["workdir"])
    kernel = os.fork()
    if kernel:
        os.close(requests_fd)
        _supervise(kernel, life_fd, reply_fd)
    os.close(life_fd)
    _serve(requests_fd, reply_fd, cfg, facts)


if __name__ == "__main__":
    main()

"""Model-written attacks on the python tool: each must be contained and reported back to the model.

Every test runs a real attack in a real sandbox and then checks that the
sandbox (or the fresh one it restarted) still answers. Where this platform's
isolation report admits a protection is missing, the attack is skipped with
that line as the reason instead of being run against the machine.
"""

from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlx_harmony_tui.tools.python_folder import folder_bytes
from mlx_harmony_tui.tools.python_limits import MB
from mlx_harmony_tui.tools.python_sandbox import RESTARTED, PythonSandbox
from tests.tools.test_python_sandbox import wait_until_at_most

pytestmark = pytest.mark.attack


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake home folder for the app, holding a secret."""
    folder = tmp_path / "home"
    (folder / ".ssh").mkdir(parents=True)
    (folder / ".ssh" / "id_ed25519").write_text("PRIVATE-KEY-DO-NOT-LEAK")
    monkeypatch.setenv("HOME", str(folder))
    return folder


@pytest.fixture
def sandbox(tmp_path: Path, home: Path):
    with PythonSandbox(tmp_path / "conversation", timeout_s=3, memory_mb=512) as box:
        yield box


def still_works(box: PythonSandbox) -> bool:
    return box.run("6 * 7").text == "42"


def require(box: PythonSandbox, gap: str) -> None:
    """Skip when a line of this platform's isolation report starts with ``gap``: the protection is missing."""
    for line in box.isolation_report():
        if line.startswith(gap):
            pytest.skip(f"not contained on this platform: {line}")


@pytest.mark.parametrize("target", ["beside", "home", "symlink"])
def test_writing_outside_the_working_folder_fails(sandbox: PythonSandbox, tmp_path: Path, home: Path, target: str) -> None:
    require(sandbox, "files: NOT restricted")
    outside = {"beside": tmp_path / "planted.txt", "home": home / ".bashrc", "symlink": tmp_path / "via-link.txt"}[target]
    code = f"open({str(outside)!r}, 'w').write('pwned')"
    if target == "symlink":
        code = f"import os\nos.symlink({str(outside)!r}, 'link')\nopen('link', 'w').write('pwned')"
    result = sandbox.run(code)
    assert not result.ok and ("PermissionError" in result.text or "FileNotFoundError" in result.text)
    assert not outside.exists()
    assert still_works(sandbox)


@pytest.mark.parametrize("what", ["secret", "listing"])
def test_reading_the_home_folder_fails(sandbox: PythonSandbox, home: Path, what: str) -> None:
    require(sandbox, "files: NOT restricted")
    code = {"secret": f"print(open({str(home / '.ssh' / 'id_ed25519')!r}).read())",
            "listing": f"import os\nprint(os.listdir({str(home / '.ssh')!r}))"}[what]
    result = sandbox.run(code)
    assert not result.ok and ("PermissionError" in result.text or "FileNotFoundError" in result.text)
    assert "PRIVATE-KEY" not in result.text and "['id_ed25519']" not in result.text
    assert still_works(sandbox)


def test_a_tcp_connection_to_a_local_server_fails(sandbox: PythonSandbox) -> None:
    require(sandbox, "network: NOT blocked")
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=5):  # the server is really there
            server.accept()[0].close()
        result = sandbox.run(f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)")
        assert not result.ok and "Error" in result.text.splitlines()[-1]
        assert select.select([server], [], [], 0)[0] == []  # nobody knocked
    assert still_works(sandbox)


def test_a_unix_socket_outside_the_working_folder_cannot_be_reached(sandbox: PythonSandbox, tmp_path: Path) -> None:
    require(sandbox, "UNIX sockets: NOT blocked")
    path = tmp_path / "agent.sock"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        server.listen()
        code = f"import socket\ns = socket.socket(socket.AF_UNIX)\ns.connect({str(path)!r})"
        result = sandbox.run(code)
        assert not result.ok and "Error" in result.text.splitlines()[-1]
        assert select.select([server], [], [], 0)[0] == []
    assert still_works(sandbox)


def test_environment_secrets_of_the_app_are_not_visible(sandbox: PythonSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLX_HARMONY_FAKE_API_KEY", "sk-fake-secret-4242")
    sandbox.restart()  # a session started after the secret was set
    code = ("import os\nprint(dict(os.environ))\n"
            "for pid in [p for p in os.listdir('/proc') if p.isdigit()] if os.path.isdir('/proc') else []:\n"
            "    try:\n        print(open(f'/proc/{pid}/environ', 'rb').read())\n    except OSError as e:\n        print(e)")
    result = sandbox.run(code)
    assert "'HOME': " in result.text
    assert "sk-fake-secret" not in result.text and "MLX_HARMONY_FAKE_API_KEY" not in result.text
    assert still_works(sandbox)


def test_killing_the_app_from_the_sandbox_fails(sandbox: PythonSandbox) -> None:
    require(sandbox, "signals: NOT blocked")
    result = sandbox.run(f"import os, signal\nos.kill({os.getpid()}, signal.SIGKILL)")
    assert not result.ok and ("ProcessLookupError" in result.text or "PermissionError" in result.text)
    assert still_works(sandbox)


@pytest.mark.parametrize("bomb", ["plain", "relentless"])
def test_a_fork_bomb_is_stopped(sandbox: PythonSandbox, bomb: str) -> None:
    require(sandbox, "process count: NOT limited")
    code = {"plain": "import os\nwhile True:\n    os.fork()",
            "relentless": "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass"}[bomb]
    result = sandbox.run(code)
    assert not result.ok
    assert "BlockingIOError" in result.text or result.text.endswith(f"timed out after 3 s; {RESTARTED}")
    assert len(wait_until_at_most(str(sandbox.workdir), 3)) <= 3  # only the live session is left
    assert still_works(sandbox)


@pytest.mark.parametrize("where", ["session", "subprocess"])
def test_a_memory_hog_fails(sandbox: PythonSandbox, where: str) -> None:
    require(sandbox, "memory: NOT limited")
    sandbox.run("kept = 'state'")
    hog = "block = bytearray(4 * 1024 ** 3)"
    if where == "subprocess":
        hog = f"import subprocess, sys\nsubprocess.run([sys.executable, '-c', {hog!r}], check=True)"
    result = sandbox.run(hog)
    assert not result.ok and "MemoryError" in result.text
    assert sandbox.run("kept").text == "'state'"  # a refused allocation does not cost the session


def test_a_huge_file_is_refused(tmp_path: Path) -> None:
    with PythonSandbox(tmp_path / "w", file_mb=1) as box:
        require(box, "file size: NOT limited")
        result = box.run("with open('fill.bin', 'wb') as f:\n    f.write(b'x' * (8 * 1024 * 1024))")
        assert not result.ok and "File too large" in result.text
        assert (box.workdir / "fill.bin").stat().st_size <= 1024 * 1024
        assert still_works(box)


def test_an_infinite_loop_times_out(sandbox: PythonSandbox) -> None:
    result = sandbox.run("while True:\n    pass")
    assert not result.ok and result.text == f"timed out after 3 s; {RESTARTED}"
    assert still_works(sandbox)


@pytest.mark.parametrize("how", ["waited", "background"])
def test_a_cpu_burning_subprocess_is_killed(sandbox: PythonSandbox, how: str) -> None:
    token = f"burn-{how}-{os.getpid()}"
    spawn = f"import subprocess, sys\np = subprocess.Popen([sys.executable, '-c', '# {token}\\nwhile True: pass'])\n"
    if how == "waited":
        result = sandbox.run(spawn + "p.wait()")
        assert not result.ok and result.text.endswith(f"timed out after 3 s; {RESTARTED}")
    else:
        require(sandbox, "processes: the process group is killed")
        assert sandbox.run(spawn + "print('left running')").text == "left running"
    assert wait_until_at_most(token, 0) == []
    assert still_works(sandbox)


@pytest.mark.parametrize("how", ["many files", "one burst"])
def test_filling_the_disk_is_stopped_at_the_quota(tmp_path: Path, how: str) -> None:
    with PythonSandbox(tmp_path / "w", timeout_s=20, disk_mb=8) as box:
        if how == "many files":  # each file is small: only the folder's quota can stop this
            code = ("import time\nfor i in range(400):\n    with open(f'fill-{i}.bin', 'wb') as f:\n"
                    "        f.write(b'x' * 1024 * 1024)\n    time.sleep(0.01)\nprint('filled')")
        else:  # 64 MB as fast as the disk takes it: it may all land between two checks
            code = "with open('fill.bin', 'wb') as f:\n    for _ in range(64):\n        f.write(b'x' * 1024 * 1024)"
        result = box.run(code)
        assert not result.ok and "over the python tool's disk quota of 8 MB" in result.text
        assert "delete files there to make room" in result.text
        if how == "many files":
            assert "filled" not in result.text and "the python processes were stopped" in result.text
            assert result.text.endswith(RESTARTED) and 8 * MB < folder_bytes(box.workdir) < 400 * MB
        grow = box.run("open('more.txt', 'w').write('x' * 100_000)")  # over the quota the folder may not grow
        assert not grow.ok and "over the python tool's disk quota of 8 MB" in grow.text
        cleaned = box.run("import glob, os\nfor name in glob.glob('fill*') + ['more.txt']:\n    os.remove(name)\nprint('cleaned')")
        assert cleaned.text == "cleaned" and folder_bytes(box.workdir) < MB  # the model can make room and go on
        assert box.run("open('notes.txt', 'w').write('fine')").ok
        assert still_works(box)


@pytest.mark.parametrize("how", ["subprocesses", "forks", "shared memory"])
def test_memory_hogs_across_processes_are_stopped_by_the_total(tmp_path: Path, how: str) -> None:
    with PythonSandbox(tmp_path / "w", timeout_s=20, memory_mb=512, total_memory_mb=160) as box:
        require(box, "memory: NOT limited")
        token = f"hog-{how.replace(' ', '-')}-{os.getpid()}"
        hog = f"# {token}\nimport time\nblock = b'x' * (64 * 1024 * 1024)\ntime.sleep(60)"  # 64 MB each: 4 make 256
        if how == "shared memory":  # pages of a shared mapping are not anonymous memory of any one process
            hog = f"# {token}\nimport mmap, time\nblock = mmap.mmap(-1, 64 * 1024 * 1024)\nblock.write(b'x' * len(block))\ntime.sleep(60)"
        if how == "subprocesses":
            code = (f"import subprocess, sys\nhogs = [subprocess.Popen([sys.executable, '-c', {hog!r}]) for _ in range(4)]\n"
                    "for hog in hogs:\n    hog.wait()\nprint('all hogs done')")
        else:  # forks share the session's pages: only their own allocations count
            code = (f"import os\nfor _ in range(4):\n    if os.fork() == 0:\n        exec({hog!r})\n        os._exit(0)\n"
                    "for _ in range(4):\n    os.wait()\nprint('all hogs done')")
        result = box.run(code)
        assert not result.ok and "all hogs done" not in result.text
        assert "over the python tool's limit of 160 MB of memory in total" in result.text
        assert result.text.endswith(RESTARTED)
        assert wait_until_at_most(token, 0) == [] and wait_until_at_most(str(box.workdir), 0) == []
        assert still_works(box)


def network_contained(box: PythonSandbox) -> None:
    """Skip unless the isolation report says the network (UNIX sockets included) is blocked."""
    for line in box.isolation_report():
        if line.startswith("network: ") and "NOT blocked" in line:
            pytest.skip(f"not contained on this platform: {line}")


def test_deep_symlinks_lead_nowhere_outside(sandbox: PythonSandbox, home: Path) -> None:
    require(sandbox, "files: NOT restricted")
    secret = home / ".ssh" / "id_ed25519"
    deepest = "/".join(f"d{n}" for n in range(1, 30)) + "/l29"  # 29 folders down, 30 links back to the secret
    code = (f"import os\nos.symlink({str(secret)!r}, 'l0')\nfolder = '.'\nfor n in range(1, 30):\n"
            "    folder = os.path.join(folder, f'd{n}')\n    os.mkdir(folder)\n"
            "    os.symlink(f'../l{n - 1}', os.path.join(folder, f'l{n}'))\n"
            f"print(open({deepest!r}).read())")
    result = sandbox.run(code)
    assert not result.ok and "PRIVATE-KEY" not in result.text
    assert any(error in result.text for error in ("PermissionError", "FileNotFoundError", "Too many levels"))
    write = sandbox.run(f"open({deepest!r}, 'w').write('pwned')")
    assert not write.ok and secret.read_text() == "PRIVATE-KEY-DO-NOT-LEAK"
    assert still_works(sandbox)


def test_hard_links_to_files_outside_fail(sandbox: PythonSandbox, home: Path) -> None:
    require(sandbox, "files: NOT restricted")
    secret = home / ".ssh" / "id_ed25519"
    code = (f"import os, sys\nfor n, target in enumerate([{str(secret)!r}, os.path.realpath(sys.executable)]):\n"
            "    try:\n        os.link(target, f'stolen-{n}')\n        print('linked', target)\n"
            "    except OSError as error:\n        print('refused', type(error).__name__)")
    result = sandbox.run(code)
    assert "linked" not in result.text and result.text.count("refused") == 2
    assert not list(sandbox.workdir.glob("stolen-*")) and secret.stat().st_nlink == 1
    assert still_works(sandbox)


def test_an_abstract_unix_socket_of_the_host_cannot_be_reached(sandbox: PythonSandbox) -> None:
    network_contained(sandbox)
    name = f"\0mlx-harmony-attack-{os.getpid()}"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(name)
        server.listen()
        with socket.socket(socket.AF_UNIX) as probe:  # the socket is really there for the host
            probe.connect(name)
            server.accept()[0].close()
        result = sandbox.run(f"import socket\ns = socket.socket(socket.AF_UNIX)\ns.connect({name!r})")
        assert not result.ok and "Error" in result.text.splitlines()[-1]
        assert select.select([server], [], [], 0)[0] == []
    assert still_works(sandbox)


def test_host_processes_are_not_visible_in_proc(sandbox: PythonSandbox, tmp_path: Path) -> None:
    require(sandbox, "files: NOT restricted")
    token = f"host-process-{os.getpid()}"
    folder = tmp_path / "host-cwd"
    folder.mkdir()
    (folder / "secret.txt").write_text("HOST-FILE-DO-NOT-LEAK")
    host = subprocess.Popen([sys.executable, "-c", f"import time\ntime.sleep(60)  # {token}"], cwd=folder,
                            env={"HOST_SECRET": "HOST-ENV-DO-NOT-LEAK"})
    try:
        code = (f"import os\nfor what in ('cmdline', 'environ', 'status', 'cwd/secret.txt', 'root{folder}/secret.txt'):\n"
                f"    try:\n        print(what, open(f'/proc/{host.pid}/{{what}}', 'rb').read())\n"
                "    except OSError as error:\n        print(what, type(error).__name__)\n"
                "try:\n    print([open(f'/proc/{p}/cmdline', 'rb').read() for p in os.listdir('/proc') if p.isdigit()])\n"
                "except OSError as error:\n    print('listing', type(error).__name__)")
        result = sandbox.run(code)
        assert result.ok and result.text.count("Error") >= 5
        for leak in (token, "HOST-ENV", "HOST-FILE"):
            assert leak not in result.text
    finally:
        host.kill()
        host.wait()
    assert still_works(sandbox)


def test_descriptors_the_app_holds_are_not_inherited(sandbox: PythonSandbox, home: Path) -> None:
    fd = os.open(home / ".ssh" / "id_ed25519", os.O_RDONLY)
    os.set_inheritable(fd, True)
    try:
        code = ("import os\nfor fd in range(3, 1024):\n    try:\n        print(fd, os.pread(fd, 64, 0))\n"
                "    except OSError:\n        pass\nprint('done')")
        result = sandbox.run(code)
        assert result.ok and result.text.endswith("done") and "PRIVATE-KEY" not in result.text
    finally:
        os.close(fd)
    assert still_works(sandbox)


def test_a_setsid_daemon_is_killed_when_the_call_ends(sandbox: PythonSandbox) -> None:
    require(sandbox, "processes: the process group is killed")
    token = f"daemon-{os.getpid()}"
    daemon = (f"# {token}\nimport os, time\nif os.fork():\n    os._exit(0)\nos.setsid()\nwhile True:\n"
              "    with open('beat', 'a') as f:\n        f.write('.')\n    time.sleep(0.02)")
    code = (f"import subprocess, sys, time\nsubprocess.Popen([sys.executable, '-c', {daemon!r}], start_new_session=True)\n"
            "time.sleep(0.5)\nprint('daemon started')")
    assert sandbox.run(code).text == "daemon started"
    assert wait_until_at_most(token, 0) == []
    beats = (sandbox.workdir / "beat").stat().st_size
    time.sleep(0.3)
    assert beats > 0 and (sandbox.workdir / "beat").stat().st_size == beats
    assert still_works(sandbox)


def test_a_thread_bomb_is_stopped(sandbox: PythonSandbox) -> None:
    require(sandbox, "process count: NOT limited")
    code = ("import threading, time\nthreads = []\nwhile True:\n"
            "    threads.append(threading.Thread(target=time.sleep, args=(30,), daemon=True))\n    threads[-1].start()")
    result = sandbox.run(code)
    assert not result.ok and "can't start new thread" in result.text
    assert still_works(sandbox)


def test_300_mb_of_output_is_cut_and_counted(tmp_path: Path) -> None:
    def resident() -> int:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    with PythonSandbox(tmp_path / "w", timeout_s=60, output_limit=1000) as box:
        require(box, "file size: NOT limited")
        before = resident()
        result = box.run("import sys\nchunk = 'x' * (1024 * 1024)\nfor _ in range(300):\n    sys.stdout.write(chunk)")
        assert result.truncated and len(result.text) < 2000
        said = int(result.text.split("[the output was ")[1].split(" bytes in all]")[0])
        assert 16 * MB < said <= 256 * MB  # cut at the 256 MB file-size limit
        assert not result.ok and "File too large" in result.text
        assert resident() - before < 128 * MB  # only 16 MB of it was read back
        assert box.run("print('short')").text == "short"

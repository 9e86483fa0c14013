"""The python tool as the model uses it: a real sandboxed worker process per conversation."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import pytest

from mlx_harmony_tui.tools.output import ToolOutput
from mlx_harmony_tui.tools.python_sandbox import RESTARTED, PythonSandbox, isolation_report


def processes_mentioning(text: str) -> list[str]:
    """Command lines of the machine's processes that contain ``text`` (seen from outside any sandbox)."""
    listing = subprocess.run(["ps", "-ww", "-eo", "pid=,args="], capture_output=True, text=True, check=True).stdout
    return [line for line in listing.splitlines() if text in line and "ps -ww" not in line]


def wait_until_at_most(text: str, count: int) -> list[str]:
    """Wait up to 10 s for at most ``count`` processes mentioning ``text``; return those left."""
    deadline = time.monotonic() + 10
    while len(left := processes_mentioning(text)) > count and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


@pytest.fixture
def sandbox(tmp_path: Path):
    with PythonSandbox(tmp_path / "conversation", timeout_s=3, memory_mb=512) as box:
        yield box


def test_variables_imports_and_functions_survive_between_calls(sandbox: PythonSandbox) -> None:
    assert sandbox.run("import math\nradius = 2\ndef area(r):\n    return math.pi * r * r").ok
    result = sandbox.run("print(round(area(radius), 3))")
    assert result.ok and result.text == "12.566"


def test_a_final_bare_expression_is_shown_like_a_notebook(sandbox: PythonSandbox) -> None:
    assert sandbox.run("x = 5\nx * 2").text == "10"
    assert sandbox.run("{'a': [1, 2]}").text == "{'a': [1, 2]}"
    assert sandbox.run("y = x").text == "(no output)"
    assert sandbox.run("None").text == "(no output)"


def test_stdout_stderr_and_subprocess_output_are_captured_in_order(sandbox: PythonSandbox) -> None:
    code = "import subprocess, sys\nprint('one')\nprint('two', file=sys.stderr)\nsubprocess.run(['echo', 'three'])\nprint('four')"
    result = sandbox.run(code)
    assert result.ok and result.text == "one\ntwo\nthree\nfour"


def test_an_exception_shows_the_traceback_of_the_models_code_only(sandbox: PythonSandbox) -> None:
    sandbox.run("def ratio(a, b):\n    return a / b\nkept = 'still here'")
    result = sandbox.run("print('before')\nratio(1, 0)")
    assert not result.ok
    assert result.text.startswith("before\nTraceback (most recent call last):")
    assert 'File "<cell 2>", line 2' in result.text and 'File "<cell 1>", line 2, in ratio' in result.text
    assert result.text.endswith("ZeroDivisionError: division by zero")
    assert "python_worker" not in result.text
    assert sandbox.run("kept").text == "'still here'"


def test_a_syntax_error_is_reported_without_running_anything(sandbox: PythonSandbox) -> None:
    result = sandbox.run("print('not run')\ndef broken(:")
    assert not result.ok and "not run" not in result.text
    assert "SyntaxError" in result.text and "<cell 1>" in result.text


def test_long_output_is_truncated_and_the_error_still_named(tmp_path: Path) -> None:
    with PythonSandbox(tmp_path / "w", output_limit=1000) as box:
        result = box.run("print('x' * 5000)")
        assert result.ok and result.truncated
        assert result.text == "x" * 1000 + "\n[... 4000 more characters not shown]"
        failed = box.run("print('y' * 5000)\nraise ValueError('the real problem')")
        assert not failed.ok and failed.truncated
        assert failed.text.endswith("ValueError: the real problem")


def test_a_timeout_restarts_the_session_and_it_works_again(sandbox: PythonSandbox) -> None:
    sandbox.run("state = 1")
    result = sandbox.run("print('working')\nwhile True:\n    pass")
    assert not result.ok
    assert result.text == f"working\ntimed out after 3 s; {RESTARTED}"
    after = sandbox.run("state")
    assert not after.ok and "NameError: name 'state' is not defined" in after.text
    assert sandbox.run("1 + 1").text == "2"


@pytest.mark.parametrize(
    ("code", "said"),
    [
        ("import os\nos._exit(3)", "the python process exited with status 3"),
        ("import ctypes\nctypes.string_at(0)", "the python process was killed by signal 11"),
    ],
    ids=["exit", "segfault"],
)
def test_a_crash_restarts_the_session(sandbox: PythonSandbox, code: str, said: str) -> None:
    sandbox.run("state = 1")
    result = sandbox.run(f"print('last words')\n{code}")
    assert not result.ok
    assert result.text.startswith(f"last words\n{said}") and result.text.endswith(RESTARTED)
    assert "NameError" in sandbox.run("state").text
    assert sandbox.run("2 * 21").text == "42"


def test_a_call_over_its_cpu_time_is_stopped(tmp_path: Path) -> None:
    with PythonSandbox(tmp_path / "w", timeout_s=30, cpu_s=1) as box:
        result = box.run("print('spinning')\nwhile True:\n    pass")
        assert not result.ok
        assert result.text == f"spinning\nthe python process used more than 1 s of CPU time in one call and was stopped; {RESTARTED}"
        assert box.run("3 * 3").text == "9"


def test_a_session_that_dies_between_calls_is_reported_on_the_next(sandbox: PythonSandbox) -> None:
    code = ("import os, threading, time\n"
            "def later():\n    while not os.path.exists('go'):\n        time.sleep(0.01)\n    os._exit(5)\n"
            "threading.Thread(target=later, daemon=True).start()")
    assert sandbox.run(code).ok
    (sandbox.workdir / "go").touch()
    assert wait_until_at_most(str(sandbox.workdir), 0) == []
    result = sandbox.run("print('fresh')")
    assert "the python process exited with status 5" in result.text and RESTARTED in result.text
    assert sandbox.run("1 + 2").text == "3"


def test_files_written_land_in_the_working_folder(sandbox: PythonSandbox) -> None:
    code = ("import os, tempfile\nopen('notes.txt', 'w').write('hello')\n"
            "print(os.getcwd(), os.environ['HOME'], tempfile.gettempdir(), sep='\\n')")
    result = sandbox.run(code)
    assert result.ok
    assert (sandbox.workdir / "notes.txt").read_text() == "hello"
    assert result.text.splitlines() == [str(sandbox.workdir), str(sandbox.workdir), str(sandbox.workdir / ".tmp")]


def test_two_conversations_share_neither_state_nor_folders(tmp_path: Path) -> None:
    with PythonSandbox(tmp_path / "a", timeout_s=3) as first, PythonSandbox(tmp_path / "b", timeout_s=3) as second:
        first.run("secret = 'only in a'\nopen('a.txt', 'w').write('from a')")
        assert "NameError" in second.run("secret").text
        assert not (second.workdir / "a.txt").exists()
        peek = second.run(f"open({str(first.workdir / 'a.txt')!r}).read()")
        assert not peek.ok and "from a" not in peek.text
        assert first.run("secret").text == "'only in a'"


def test_close_from_another_thread_stops_a_running_call(tmp_path: Path) -> None:
    box = PythonSandbox(tmp_path / "w", timeout_s=60)
    results = []
    worker = threading.Thread(target=lambda: results.append(box.run("open('started', 'w').close()\nwhile True:\n    pass")))
    worker.start()
    while not (box.workdir / "started").exists():
        time.sleep(0.01)
    box.close()
    worker.join(10)
    assert not worker.is_alive()
    assert results[0].text == "the python session was closed while the code ran" and not results[0].ok
    assert box.run("1") == ToolOutput("the python session is closed", ok=False)


def test_the_isolation_report_says_what_this_sandbox_enforces(sandbox: PythonSandbox) -> None:
    lines = sandbox.isolation_report()
    memory = next(line for line in lines if line.startswith("memory: "))
    assert "at most 512 MB of address space per process" in memory or "NOT limited" in memory
    assert memory.startswith("memory: at most 2048 MB in total for all the sandbox's processes")
    assert ("cgroup v2" in memory) and ("held by the kernel" in memory or "cgroup v2 is not used: " in memory)
    assert ("disk: the working folder may hold at most 1024 MB and 20,000 files and folders: the app measures it every "
            "0.1 s") in "\n".join(lines)
    assert "time: each call is stopped after 3 s of wall-clock time" in lines
    assert any(line.startswith("files: ") for line in lines) and any(line.startswith("network: ") for line in lines)
    assert isolation_report()[0].startswith("sandbox: ")

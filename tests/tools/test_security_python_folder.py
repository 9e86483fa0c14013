"""Model-written attacks on the python tool's folder quotas: each is stopped at the quota and the model can clean up.

The byte quota must see every file however deep or locked its folder, and the
file-count quota must stop floods of names that take no bytes (empty files,
hard links, folders, symbolic links), which would otherwise make every later
call of the conversation measure a huge folder.
"""

from __future__ import annotations

import pytest

from mlx_harmony_tui.tools.python_folder import measure_folder
from mlx_harmony_tui.tools.python_limits import MB
from mlx_harmony_tui.tools.python_sandbox import RESTARTED, PythonSandbox
from tests.tools.test_python_folder import remove_chain

pytestmark = pytest.mark.attack

FILL_24_MB = ("import time\nfor i in range(24):\n    with open(f'fill-{i}.bin', 'wb') as f:\n"
              "        f.write(b'x' * 1024 * 1024)\n    time.sleep(0.01)\n")


def still_works(box: PythonSandbox) -> bool:
    return box.run("6 * 7").text == "42"


def grows_and_is_refused(box: PythonSandbox, quota: str) -> None:
    grow = box.run("open('more.txt', 'w').write('x' * 100_000)")  # over the quota the folder may not grow
    assert not grow.ok and quota in grow.text and "delete files there to make room" in grow.text


@pytest.mark.parametrize(("name", "depth"), [("n" * 250, 20), ("d", 2500)], ids=["long names", "many levels"])
def test_files_below_a_folder_chain_deeper_than_path_max_count(tmp_path, name: str, depth: int) -> None:
    """2,500 folders take 10 MB themselves, and a walk by path sees only the first 2,047 of them."""
    quota = "over the python tool's disk quota of 16 MB"
    down = f"import os\ntop = os.open('.', os.O_RDONLY)\nfor _ in range({depth}):\n    os.mkdir({name!r})\n    os.chdir({name!r})\n"
    clean = (f"import os\ntop = os.open('.', os.O_RDONLY)\ndepth = 0\nwhile os.path.isdir({name!r}):\n"
             f"    os.chdir({name!r})\n    depth += 1\nfor entry in os.listdir('.'):\n    os.remove(entry)\n"
             f"for _ in range(depth):\n    os.chdir('..')\n    os.rmdir({name!r})\nos.fchdir(top)\nos.remove('more.txt')\n"
             "print('cleaned', depth)")
    with PythonSandbox(tmp_path / "w", timeout_s=30, disk_mb=16) as box:
        try:
            result = box.run(down + FILL_24_MB + "os.fchdir(top)\nprint('hidden below', len(os.listdir('.')))")
            assert not result.ok and quota in result.text
            grows_and_is_refused(box, quota)
            assert box.run(clean).text == f"cleaned {depth}"  # the model can make room and go on
        finally:  # a chain left behind would break pytest's clean-up of old temporary folders
            if (box.workdir / name).exists():
                remove_chain(box.workdir, name)
        assert measure_folder(box.workdir).bytes < MB
        assert box.run("open('notes.txt', 'w').write('fine')").ok
        assert still_works(box)


def test_files_in_a_folder_locked_with_chmod_count(tmp_path) -> None:
    code = ("import os, time\nos.makedirs('vault/inner')\nfor i in range(6):\n"
            "    open(f'vault/inner/{i}.bin', 'wb').write(b'x' * 1024 * 1024)\nos.chmod('vault/inner', 0o600)\n"
            "os.chmod('vault', 0)\ntime.sleep(0.5)\n" + FILL_24_MB.replace("fill-", "more-"))
    with PythonSandbox(tmp_path / "w", timeout_s=30, disk_mb=8) as box:
        result = box.run(code)
        assert not result.ok and "over the python tool's disk quota of 8 MB" in result.text
        clean = ("import os, glob, shutil\nos.chmod('vault', 0o700)\nos.chmod('vault/inner', 0o700)\nshutil.rmtree('vault')\n"
                 "for name in glob.glob('more-*'):\n    os.remove(name)\nprint('cleaned')")
        assert box.run(clean).text == "cleaned"
        assert measure_folder(box.workdir).bytes < MB and still_works(box)


def test_links_to_big_folders_and_link_loops_are_not_followed(tmp_path) -> None:
    code = ("import os, sys\nos.symlink('/usr', 'usr')\nos.symlink(sys.prefix, 'python')\nos.symlink('loop', 'loop')\n"
            "os.makedirs('a/b')\nos.symlink('../..', 'a/b/up')\nprint('linked')")
    with PythonSandbox(tmp_path / "w", timeout_s=30, disk_mb=8, max_files=50) as box:
        result = box.run(code)
        assert result.ok and result.text == "linked"  # /usr alone holds more than 8 MB and 50 files
        assert measure_folder(box.workdir).entries == 7  # .tmp, the four links, a, a/b
        assert still_works(box)


FLOODS = {
    "empty files": "for i in range(200_000):\n    open(f'flood/{i}', 'w').close()",
    "hard links": "open('flood/0', 'w').close()\nfor i in range(1, 200_000):\n    os.link('flood/0', f'flood/{i}')",
    "folders": "for i in range(200_000):\n    os.mkdir(f'flood/{i}')",
    "symlinks": "for i in range(200_000):\n    os.symlink('nowhere', f'flood/{i}')",
}


@pytest.mark.parametrize("flood", FLOODS)
def test_a_flood_of_names_is_stopped_at_the_file_count_limit(tmp_path, flood: str) -> None:
    limit = "over the python tool's limit of 1,000 files and folders"
    with PythonSandbox(tmp_path / "w", timeout_s=60, max_files=1000) as box:
        result = box.run(f"import os\nos.mkdir('flood')\n{FLOODS[flood]}\nprint('flooded')")
        assert not result.ok and limit in result.text
        assert "flooded" not in result.text and "the python processes were stopped" in result.text
        assert result.text.endswith(RESTARTED)
        assert 1000 < measure_folder(box.workdir).entries < 200_000  # stopped, not only reported at the end
        grows_and_is_refused(box, limit)
        assert box.run("import os, shutil\nshutil.rmtree('flood')\nos.remove('more.txt')\nprint('cleaned')").text == "cleaned"
        assert measure_folder(box.workdir).entries < 10
        assert box.run("open('notes.txt', 'w').write('fine')").ok
        assert still_works(box)


def test_the_file_count_limit_is_in_the_isolation_report(tmp_path) -> None:
    with PythonSandbox(tmp_path / "w", disk_mb=8, max_files=1234) as box:
        lines = box.isolation_report()
        assert any(line.startswith("disk: the working folder may hold at most 8 MB and 1,234 files and folders")
                   for line in lines)

"""Figures for issue 27 items 1 and 2: run with PYTHONPATH=<checkout> python docs/measure/python_folder_attacks.py [flood|deep]."""
import sys, tempfile, time
from pathlib import Path

from mlx_harmony_tui.tools.python_sandbox import PythonSandbox

try:
    from mlx_harmony_tui.tools.python_folder import measure_folder
    def measure(p): u = measure_folder(p); return u.entries, u.bytes
except ImportError:  # HEAD: count by path
    import os
    def measure(p):
        n = b = 0
        for root, dirs, files in os.walk(p):
            n += len(dirs) + len(files)
        from mlx_harmony_tui.tools.python_limits import folder_bytes
        return n, folder_bytes(p)

def timed(box, code):
    began = time.monotonic()
    out = box.run(code)
    return time.monotonic() - began, out

def flood(tmp):
    with PythonSandbox(tmp / "empty") as box:  # the same calls in an empty folder: the reference
        first, _ = timed(box, "1")
        second, _ = timed(box, "1")
    print(f"empty folder: first call (session start) {first:.2f} s, next {second:.2f} s")
    with PythonSandbox(tmp / "flooded", timeout_s=120) as box:
        timed(box, "1")
        took, out = timed(box, "import os\nos.mkdir('flood')\nfor i in range(200_000):\n    open(f'flood/{i}', 'w').close()\nprint('flooded')")
        print(f"flood call: {took:.2f} s, ok={out.ok}: {out.text[-300:]!r}")
        print("folder after the flood: entries, bytes =", measure(box.workdir))
        for n in range(3):
            took, out = timed(box, "1")
            print(f"call {n + 1} after the flood: {took:.2f} s ({out.text[:80]!r})")

def deep(tmp):
    code = ("import os\ntop = os.open('.', os.O_RDONLY)\nfor _ in range(20):\n    os.mkdir('n' * 250)\n    os.chdir('n' * 250)\n"
            "for i in range(5):\n    with open(f'fill-{i}.bin', 'wb') as f:\n        for _ in range(250):\n            f.write(b'x' * 1024 * 1024)\n"
            "os.fchdir(top)\nprint('wrote 1250 MB below a 5,020-character path')")
    with PythonSandbox(tmp / "deep", timeout_s=120) as box:
        took, out = timed(box, code)
        print(f"deep call: {took:.2f} s, ok={out.ok}: {out.text[-300:]!r}")
        print("folder after: entries, MB =", (lambda e, b: (e, b // 2**20))(*measure(box.workdir)))
        print("du -sm:", __import__("subprocess").run(["du", "-sm", str(box.workdir)], capture_output=True, text=True).stdout.split()[0])
        took, out = timed(box, "open('more.txt', 'w').write('x')")
        print(f"a 1-byte write next: {took:.2f} s, ok={out.ok}: {out.text[-200:]!r}")

with tempfile.TemporaryDirectory() as tmp:
    {"flood": flood, "deep": deep}[sys.argv[1]](Path(tmp))

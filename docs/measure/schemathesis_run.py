"""Run schemathesis against the tiny scripted GPT-OSS server (as tests/server/test_openapi.py does), printing its report."""
import os, subprocess, sys, tempfile, time
sys.path.insert(0, os.getcwd())
import tests.conftest  # sets the cache folder
from pathlib import Path
base = Path(tempfile.mkdtemp(prefix="schemathesis-"))
for name in ("data", "config", "exports"):
    os.environ["MLX_HARMONY_" + {"exports": "EXPORT"}.get(name, name.upper()) + "_DIR"] = str(base / name)
from mlx_harmony_tui.harmony.vocab import load_encoding
from mlx_harmony_tui.server.app import create_app
from mlx_harmony_tui.server.catalog import ModelCatalog
from tests.server.conftest import API_KEY, running
from tests.server.test_tools import ANSWER, Scripted
tiny = tests.conftest.CACHE / "tiny-gpt-oss"
scripted = Scripted(load_encoding()); scripted.set(ANSWER)
model = os.environ.get("ST_MODEL", str(tiny))
app = create_app(ModelCatalog.for_model(model), logits_processors=scripted.processors if model == str(tiny) else None, api_key=API_KEY)
app.state.slot.preload(model)
with running(app, API_KEY) as live:
    start = time.time()
    cmd = [sys.executable, "-m", "schemathesis.cli", "run", live.url + "/openapi.json", "--checks",
           "not_a_server_error,status_code_conformance", "--max-examples", sys.argv[1], "--seed", sys.argv[2] if len(sys.argv) > 2 else "27",
           "--workers", "1", "--request-timeout", "300", "--header", f"Authorization: Bearer {API_KEY}",
           "--report", "junit,ndjson", "--report-dir", str(base / "report"), "--no-color"] + sys.argv[3:]
    print(" ".join(cmd[2:]), flush=True)
    done = subprocess.run(cmd, text=True, capture_output=True, env={**os.environ, "NO_COLOR": "1"})
    print(done.stdout[-12000:]); print(done.stderr[-3000:])
    print("rc", done.returncode, "elapsed", round(time.time() - start, 1), "health", live.health())

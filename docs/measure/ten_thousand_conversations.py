"""10,000 distinct conversations against one server (tiny GPT-OSS): the server's RSS every 1,000."""
import sys, time, tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
import httpx
from mlx_harmony_tui.bench.server_bench import _ours

folder = Path(sys.argv[1]); total = int(sys.argv[2])
logs = Path(tempfile.mkdtemp())
def rss(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"): return int(line.split()[1]) / 1024
with _ours(folder, logs / "ours.log", 4) as base:
    import subprocess
    port = base.rsplit(":", 1)[1].strip("/")
    out = subprocess.check_output(["ss", "-ltnpH", f"sport = :{port}"], text=True)
    import re
    pid = int(re.search(r"pid=(\d+)", out).group(1))
    print("server pid", pid, open(f"/proc/{pid}/cmdline").read().replace("\0", " ")[:200], flush=True)
    model = httpx.get(base + "/v1/models").json()["data"][0]["id"]
    client = httpx.Client(base_url=base, timeout=120)
    def one(i):
        r = client.post("/v1/chat/completions", json={"model": model, "max_tokens": 2, "temperature": 0,
            "messages": [{"role": "system", "content": f"Conversation {i}: you are assistant number {i * 7919 % 100003}."},
                         {"role": "user", "content": f"Item {i}: what is {i} plus {i * 3}?"}]})
        r.raise_for_status()
    one(-1)
    print(f"after one conversation: server RSS {rss(pid):.1f} MB", flush=True)
    start = time.time()
    with ThreadPoolExecutor(2) as pool:
        for block in range(total // 1000):
            list(pool.map(one, range(block * 1000, (block + 1) * 1000)))
            print(f"{(block + 1) * 1000} conversations: server RSS {rss(pid):.1f} MB, {time.time() - start:.0f} s", flush=True)
    print(httpx.get(base + "/health").json())

"""Issue 27 item 3 figure: a 10 MB body's refusal time, and a concurrent short request's TTFT against its idle TTFT.

usage: python docs/measure/large_body.py [--model PATH] [--max-request-mb N] [--rounds N]
Starts mlx-harmony-server as a user would (a subprocess on 127.0.0.1), then measures.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import httpx

parser = argparse.ArgumentParser()
parser.add_argument("--model")
parser.add_argument("--max-request-mb")
parser.add_argument("--rounds", type=int, default=5)
parser.add_argument("--path", default="/v1/chat/completions")
args = parser.parse_args()

base = tempfile.mkdtemp(prefix="h27fig-")
env = {**os.environ, "MLX_HARMONY_CACHE_DIR": "/work/main/.pytest_cache/mlx-harmony", "HF_HUB_OFFLINE": "1",
       "MLX_HARMONY_DATA_DIR": base + "/data", "MLX_HARMONY_CONFIG_DIR": base + "/config", "MLX_HARMONY_EXPORT_DIR": base + "/exp"}
command = [sys.executable, "-m", "mlx_harmony_tui.cli.server", "--port", "0", "--preload", "--log-level", "warning"]
if args.model:
    command += ["--model", args.model]
if args.max_request_mb:
    command += ["--max-request-mb", args.max_request_mb]
server = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)
url = None
for line in server.stderr:
    found = re.search(r"at (http://127\.0\.0\.1:\d+)/v1", line)
    if found:
        url = found.group(1)
        break
threading.Thread(target=lambda: [None for _ in server.stderr], daemon=True).start()
model = httpx.get(url + "/v1/models").json()["data"][0]["id"]
SHORT = {"model": model, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4, "temperature": 0, "stream": True}


def ttft() -> float:
    start = time.perf_counter()
    with httpx.stream("POST", url + "/v1/chat/completions", json=SHORT, timeout=600) as response:
        assert response.status_code == 200, response.read()
        lines = response.iter_lines()
        for line in lines:
            if line.startswith("data: "):
                first = time.perf_counter() - start
                break
        for _ in lines:
            pass
    return first


def big_body() -> bytes:
    text = "word " * (2 * 1024 * 1024)  # 10 MiB of text
    body = {"model": model, "max_tokens": 4, "messages": [{"role": "user", "content": text}]}
    if args.path == "/v1/completions":
        body = {"model": model, "max_tokens": 4, "prompt": text}
    return json.dumps(body).encode()


try:
    for _ in range(3):
        ttft()
    idle = [ttft() for _ in range(args.rounds)]
    body = big_body()
    refused, busy, statuses = [], [], []
    for _ in range(args.rounds):
        result = {}

        def send_big():
            start = time.perf_counter()
            response = httpx.post(url + args.path, content=body, headers={"Content-Type": "application/json"}, timeout=600)
            result["s"], result["status"], result["text"] = time.perf_counter() - start, response.status_code, response.text[:200]

        thread = threading.Thread(target=send_big)
        thread.start()
        time.sleep(0.05)
        busy.append(ttft())
        thread.join()
        refused.append(result["s"])
        statuses.append(result["status"])
    print(json.dumps({"model": model, "max_request_mb": args.max_request_mb or "default", "path": args.path,
                      "body_bytes": len(body), "statuses": statuses, "last_error": result["text"],
                      "refused_s": [round(x, 3) for x in refused], "idle_ttft_s": [round(x, 3) for x in idle],
                      "busy_ttft_s": [round(x, 3) for x in busy],
                      "ttft_ratio_median": round(statistics.median(busy) / statistics.median(idle), 2),
                      "ttft_ratio_max": round(max(busy) / statistics.median(idle), 2)}, indent=1))
finally:
    server.terminate()
    server.wait(60)

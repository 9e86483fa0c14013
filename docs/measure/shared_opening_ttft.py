"""4 new conversations sharing a ~4.1k-token system prompt, on our server and mlx_lm.server (default model):
TTFT and cached tokens of each; then ours on tiny GPT-OSS through chat, Responses and Messages."""
import json, sys, tempfile, time
from pathlib import Path
import httpx
from mlx_harmony_tui.bench.server_bench import _ours, _theirs
from mlx_harmony_tui.bench.sse import stream_chunks

import secrets
SYSTEM = f"Run {secrets.token_hex(4)}. You are a careful coding agent working in a repository.\n" + "\n".join(
    f"Rule {i}: when you edit src/module_{i}.py keep its public names, add a test in tests/test_module_{i}.py, and run it before you answer."
    for i in range(90))
QUESTIONS = ["What does rule 3 ask?", "Summarise rule 41 in five words.", "Which file does rule 99 name?", "Is rule 120 strict?"]
logs = Path(tempfile.mkdtemp())

def chat(client, model, q):
    body = {"model": model, "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": q}], "max_tokens": 8,
            "temperature": 0, "stream": True, "stream_options": {"include_usage": True}}
    start, first, usage = time.perf_counter(), None, {}
    for chunk in stream_chunks(client, body):
        for c in chunk.get("choices") or []:
            d = c.get("delta") or {}
            if first is None and (d.get("content") or d.get("reasoning_content") or d.get("reasoning")):
                first = time.perf_counter()
        usage = chunk.get("usage") or usage
    return round((first or time.perf_counter()) - start, 2), usage["prompt_tokens"], (usage.get("prompt_tokens_details") or {}).get("cached_tokens")

def run(name, cm):
    with cm as base:
        with httpx.Client(base_url=base, timeout=3600) as client:
            model = folder if name == "theirs" else client.get("/v1/models").json()["data"][0]["id"]
            chat(client, model, "Warm-up: name three colours." if name != "theirs" else "Warm-up: name three colours.")
            rows = [chat(client, model, q) for q in QUESTIONS]
    print(name, "(TTFT s, prompt, cached):", rows, flush=True)

folder = sys.argv[1]
which = sys.argv[2:] or ["ours", "theirs"]
if "ours" in which: run("ours", _ours(Path(folder), logs / "ours.log", 4))
if "theirs" in which: run("theirs", _theirs(Path(folder), logs / "theirs.log"))
if "gptoss" in which:
    with _ours(Path(folder), logs / "ours2.log", 4) as base:
        with httpx.Client(base_url=base, timeout=3600) as client:
            model = client.get("/v1/models").json()["data"][0]["id"]
            for q in QUESTIONS[:3]:
                print("chat", chat(client, model, q))
            for q in QUESTIONS[:3]:
                r = client.post("/v1/responses", json={"model": model, "instructions": SYSTEM, "input": q, "max_output_tokens": 8, "store": False}).json()
                print("responses", r["usage"]["input_tokens"], r["usage"]["input_tokens_details"]["cached_tokens"])
            for q in QUESTIONS[:3]:
                r = client.post("/v1/messages", json={"model": model, "system": SYSTEM, "messages": [{"role": "user", "content": q}], "max_tokens": 8}).json()
                u = r["usage"]; print("messages", u["input_tokens"], u.get("cache_read_input_tokens"), u.get("cache_creation_input_tokens"))

"""``mlx-harmony-server`` as a user runs it: a real process, real flags, one-line errors."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys

import httpx
import pytest

SERVER = [sys.executable, "-m", "mlx_harmony_tui.cli.server"]


def run_server(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(SERVER + list(args), capture_output=True, text=True, timeout=timeout, env=os.environ.copy())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "/no/such/model"], "error: --model: model not found: /no/such/model (no such folder or file)"),
        (["--max-queue", "-1"], "error: --max-queue: must be 0 or more"),
        (["--max-request-mb", "0"], "error: --max-request-mb: must be a number more than 0"),
        (["--port", "70000"], "error: --port: 70000 is not a port number (0-65535)"),
        (["--allowed-origins", "localhost:3000"], "error: --allowed-origins: 'localhost:3000' is not an origin like http://localhost:3000 (or *)"),
        (["--profile", "nope", "--profiles-file", "/no/such/profiles.json"], "error: /no/such/profiles.json: profiles file not found"),
    ],
)
def test_bad_flags_give_one_line(args, message):
    done = run_server(*args)
    assert done.returncode == 2
    assert done.stderr.strip() == message


def test_port_in_use_gives_one_line():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        done = run_server("--port", str(port))
    assert done.returncode == 2
    assert done.stderr.strip().startswith(f"error: --port: cannot listen on 127.0.0.1:{port}: ")
    assert len(done.stderr.strip().splitlines()) == 1


def test_serves_profiles_and_answers_until_interrupted(default_model_dir, tmp_path):
    profiles = tmp_path / "profiles.json"
    profiles.write_text(json.dumps({"greedy": {"sampling": {"temperature": 0.0, "max_tokens": 3}}}))
    process = subprocess.Popen(SERVER + ["--port", "0", "--preload", "--profile", "greedy", "--profiles-file", str(profiles),
                                         "--api-key", "k", "--allowed-origins", "http://localhost:3000"],
                               stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    try:
        line = process.stderr.readline()
        found = re.search(r"serving (.*) at (http://127\.0\.0\.1:\d+)/v1", line)
        assert found, line
        assert found.group(1) == "greedy, SmolLM2-135M-Instruct"
        url = found.group(2)
        headers = {"Authorization": "Bearer k"}
        assert httpx.get(url + "/health", timeout=30).json()["model"] == "SmolLM2-135M-Instruct"  # preloaded
        reply = httpx.post(url + "/v1/chat/completions", headers=headers, timeout=120,
                           json={"model": "greedy", "messages": [{"role": "user", "content": "Hi"}]}).json()
        assert reply["usage"]["completion_tokens"] <= 3 and reply["model"] == "greedy"  # the profile's max_tokens
        preflight = httpx.options(url + "/v1/chat/completions", timeout=30, headers={
            "Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type"})
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "http://localhost:3000"
    finally:
        process.send_signal(signal.SIGINT)  # Ctrl-C
        rest = process.communicate(timeout=60)[1]
    assert process.returncode == 130  # as every command stopped with Ctrl-C
    assert "Application shutdown complete" in rest and "Traceback" not in rest

"""The server under the real ``mlx.launch`` with two ranks (ring, 127.0.0.1): rank 0 serves HTTP, rank 1 follows."""

from __future__ import annotations

import os
import re
import signal
import time

import openai

from tests.support.ranks import free_ports, mlx_launch, rank_log_lines


def test_the_server_on_two_ranks_streams_to_the_official_client(tiny_gpt_oss_dir, tmp_path):
    port = free_ports(1)[0]
    log = tmp_path / "launch.log"
    launcher = mlx_launch(2, ["-m", "mlx_harmony_tui.cli.server", "--model", str(tiny_gpt_oss_dir), "--port", str(port),
                              "--preload"], log, {"MLX_HARMONY_RANK_LOG": str(tmp_path / "rank-1.jsonl")})
    try:
        deadline = time.monotonic() + 180
        while "serving" not in log.read_text():
            assert time.monotonic() < deadline and launcher.poll() is None, log.read_text()
            time.sleep(0.2)
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused", max_retries=0)
        model = client.models.list().data[0].id
        chunks = list(client.chat.completions.create(model=model, messages=[{"role": "user", "content": "Hello"}],
                                                     max_tokens=8, temperature=0, stream=True))
    finally:
        os.killpg(launcher.pid, signal.SIGINT)  # Ctrl-C in a terminal
        launcher.wait(60)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert len(chunks) > 2 and text and finishes == ["length"]
    followed = rank_log_lines(tmp_path / "rank-1.jsonl")
    assert [(f["finish"], len(f["tokens"])) for f in followed] == [("length", 8)]  # rank 1 ran the same request
    output = log.read_text()
    assert len(re.findall(r"serving .* at http://", output)) == 1  # only rank 0 serves
    # Ctrl-C reached every process: rank 1 followed rank 0 out cleanly (mlx.launch warns of any rank that exits
    # non-zero or that it had to kill), and rank 0 stopped as a server does (130). mlx.launch itself takes the same
    # Ctrl-C: when it lands while it waits for its rank threads, it dies with its own KeyboardInterrupt before it
    # reports rank 0's status (seen once in about 30 runs), so then only rank 1's clean exit can be checked here.
    assert "Node with rank 1" not in output
    launcher_interrupted = "KeyboardInterrupt" in output and "_wait_for_tstate_lock" in output
    assert "Node with rank 0 exited with code 130" in output or launcher_interrupted, output

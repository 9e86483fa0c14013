"""Prompt caches on disk: a new process goes on warm, exactly; a damaged or foreign file is never used."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# One turn in a fresh process: prints the Done's figures and tokens as JSON.
TURN = """
import json, sys
from pathlib import Path
from mlx_harmony_tui import TokenGenerator
from mlx_harmony_tui.engine.events import Done
from mlx_harmony_tui.harmony.render import HarmonySettings
model, folder, messages, reuse = sys.argv[1] or None, Path(sys.argv[2]), json.loads(sys.argv[3]), sys.argv[4] == "1"
harmony = HarmonySettings(conversation_start_date="2026-11-26", builtin_tools=("python",))
with TokenGenerator(model, disk_cache=(folder, 1 << 30)) as generator:
    extra = {"harmony": harmony} if generator.info.is_gpt_oss else {}
    done = [e for e in generator.stream(messages=messages, persist="chat-1", reuse_cache=reuse, temperature=0.0,
                                        max_tokens=150, **extra) if isinstance(e, Done)][-1]
print(json.dumps({"cached": done.stats.cached_tokens, "prompt": done.stats.prompt_tokens, "tokens": list(done.token_ids),
                  "text": generator.tokenizer.decode([t for t in done.token_ids if t < 199998])}))
"""


def turn(model: str | None, folder: Path, messages: list[dict], reuse: bool = True) -> dict:
    done = subprocess.run([sys.executable, "-c", TURN, model or "", str(folder), json.dumps(messages), "1" if reuse else "0"],
                          capture_output=True, text=True, env=os.environ.copy(), timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(params=["default", "tiny-gpt-oss"])
def model(request, default_model_dir, tiny_gpt_oss_dir) -> str | None:
    return None if request.param == "default" else str(tiny_gpt_oss_dir)


def first_and_next(model, folder: Path) -> tuple[dict, list[dict]]:
    ask = [{"role": "user", "content": "Tell me about lighthouses and the people who kept them, in detail."}]
    first = turn(model, folder, ask)
    follow = ask + [{"role": "assistant", "content": first["text"]}, {"role": "user", "content": "And what about storms?"}]
    return first, follow


def test_a_new_process_continues_a_conversation_from_disk_exactly(model, tmp_path):
    first, follow = first_and_next(model, tmp_path)
    files = list(tmp_path.glob("*/*.safetensors"))
    assert len(files) == 1
    warm = turn(model, tmp_path, follow)
    cold = turn(model, tmp_path / "elsewhere", follow, reuse=False)
    assert warm["cached"] > first["prompt"] // 2  # the earlier turn came from the file
    assert cold["cached"] == 0
    assert warm["tokens"] == cold["tokens"]


def test_a_damaged_file_is_ignored_then_replaced(model, tmp_path):
    first, follow = first_and_next(model, tmp_path)
    (saved,) = tmp_path.glob("*/*.safetensors")
    good = saved.read_bytes()
    saved.write_bytes(good[: len(good) // 2] + b"\x00" * 64)  # cut short: not a valid safetensors file any more
    damaged = turn(model, tmp_path, follow)
    cold = turn(model, tmp_path / "elsewhere", follow, reuse=False)
    assert damaged["cached"] < first["prompt"] // 2 and damaged["tokens"] == cold["tokens"]
    assert saved.read_bytes() != good[: len(good) // 2] + b"\x00" * 64  # the answer wrote a good one
    assert turn(model, tmp_path, follow + [{"role": "assistant", "content": "x"}, {"role": "user", "content": "More?"}])["cached"] > 0


def test_a_file_of_another_model_is_never_used(default_model_dir, tiny_gpt_oss_dir, tmp_path):
    ask = [{"role": "user", "content": "Tell me about lighthouses and the people who kept them, in detail."}]
    turn(None, tmp_path, ask)
    (smol_file,) = tmp_path.glob("*/*.safetensors")
    first = turn(str(tiny_gpt_oss_dir), tmp_path, ask)
    (tiny_folder,) = [p for p in tmp_path.iterdir() if p.is_dir() and p != smol_file.parent]
    (tiny_file,) = tiny_folder.glob("*.safetensors")
    tiny_file.write_bytes(smol_file.read_bytes())  # the other model's cache, under this model's name
    follow = ask + [{"role": "assistant", "content": first["text"]}, {"role": "user", "content": "And storms?"}]
    foreign = turn(str(tiny_gpt_oss_dir), tmp_path, follow)
    cold = turn(str(tiny_gpt_oss_dir), tmp_path / "elsewhere", follow, reuse=False)
    assert foreign["cached"] < first["prompt"] // 2 and foreign["tokens"] == cold["tokens"]


# Several new conversations in one fresh process, each with its own key: prints each one's cached and prompt tokens.
CONVERSATIONS = """
import json, sys
from pathlib import Path
from mlx_harmony_tui import TokenGenerator
from mlx_harmony_tui.engine.events import Done
from mlx_harmony_tui.harmony.render import HarmonySettings
model, folder, system, questions = sys.argv[1] or None, Path(sys.argv[2]), sys.argv[3], json.loads(sys.argv[4])
harmony = HarmonySettings(conversation_start_date="2026-11-26", developer_instructions=system)
with TokenGenerator(model, disk_cache=(folder, 1 << 30)) as generator:
    out = []
    for i, question in enumerate(questions):
        gpt_oss = generator.info.is_gpt_oss
        messages = ([] if gpt_oss else [{"role": "system", "content": system}]) + [{"role": "user", "content": question}]
        done = [e for e in generator.stream(messages=messages, persist=f"{question}", temperature=0.0, max_tokens=4,
                                            conversation=question, **({"harmony": harmony} if gpt_oss else {}))
                if isinstance(e, Done)][-1]
        out.append({"cached": done.stats.cached_tokens, "prompt": list(done.prompt_ids)})
print(json.dumps(out))
"""
RULES = " ".join(f"Rule {i}: cite the file and line you read, and keep answers short." for i in range(30))


def conversations(model: str | None, folder: Path, questions: list[str]) -> list[dict]:
    done = subprocess.run([sys.executable, "-c", CONVERSATIONS, model or "", str(folder), RULES, json.dumps(questions)],
                          capture_output=True, text=True, env=os.environ.copy(), timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_an_opening_conversations_shared_is_kept_on_disk_for_a_restart(model, tmp_path):
    first, second = conversations(model, tmp_path, ["Which files import settings?", "Where is the retry loop?"])
    shared = 0
    while first["prompt"][shared] == second["prompt"][shared]:
        shared += 1
    assert shared > 300 and second["cached"] >= shared - 8  # the second reused the first's opening (to a message end)
    openings = list(tmp_path.glob("*/opening-*.safetensors"))
    assert len(openings) == 1
    (third,) = conversations(model, tmp_path, ["What does the CLI parse?"])  # a new process, a new conversation
    assert third["cached"] == second["cached"]  # the opening came from its file


def test_a_new_process_starts_a_new_conversation_from_another_ones_file(tiny_gpt_oss_dir, tmp_path):
    """One conversation only (no opening file): its file keeps the window layers' snapshots at message ends, so a
    new conversation with the same instructions in a new process starts from the end of the developer message."""
    model = str(tiny_gpt_oss_dir)
    (first,) = conversations(model, tmp_path, ["Which files import settings?"])
    assert not list(tmp_path.glob("*/opening-*.safetensors"))
    (second,) = conversations(model, tmp_path, ["Where is the retry loop?"])
    shared = 0
    while first["prompt"][shared] == second["prompt"][shared]:
        shared += 1
    end = max(i + 1 for i, token in enumerate(first["prompt"][:shared]) if token == 200007)  # <|end|> of the developer message
    assert end > 300 and second["cached"] == end


def test_files_are_written_once_the_engine_has_been_idle_a_while(tiny_gpt_oss_dir, tmp_path):
    """Not in the gap between an answer and the next request (an agent's next step comes at once), but soon after
    the engine falls idle, while the process goes on; and only this model's folder is written."""
    import time

    from mlx_harmony_tui import TokenGenerator
    from mlx_harmony_tui.engine.events import Done
    from mlx_harmony_tui.engine.scheduler import SAVE_AFTER_IDLE_S

    with TokenGenerator(str(tiny_gpt_oss_dir), disk_cache=(tmp_path, 1 << 30)) as generator:
        for question in ("Name a colour.", "Name a fruit."):
            events = list(generator.stream(messages=[{"role": "user", "content": question}], persist=question,
                                           temperature=0.0, max_tokens=8))
            assert isinstance(events[-1], Done)
            ended = time.monotonic()
            assert not list(tmp_path.glob("*/*.safetensors"))  # nothing written while answers follow one another
        while len(list(tmp_path.glob("*/[!.]*.safetensors"))) < 2 and time.monotonic() - ended < 60:
            time.sleep(0.1)
        written = time.monotonic() - ended
        files = list(tmp_path.glob("*/[!.]*.safetensors"))
    assert len(files) == 2 and SAVE_AFTER_IDLE_S <= written < 60


def test_a_file_left_half_written_by_a_dead_process_is_never_read_and_is_cleared(tiny_gpt_oss_dir, tmp_path):
    import time

    ask = [{"role": "user", "content": "Name a colour."}]
    turn(str(tiny_gpt_oss_dir), tmp_path, ask)
    (saved,) = tmp_path.glob("*/*.safetensors")
    left = saved.with_name(f".{saved.name}.abc123.safetensors")  # what a writer killed before its rename leaves
    left.write_bytes(saved.read_bytes())
    old = time.time() - 2 * 3600
    os.utime(left, (old, old))
    saved.unlink()
    again = turn(str(tiny_gpt_oss_dir), tmp_path, ask)
    assert again["cached"] == 0  # the stray file was not taken for a cache
    assert not left.exists() and len(list(tmp_path.glob("*/*.safetensors"))) == 1  # cleared once the new file was written

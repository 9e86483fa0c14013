"""The engine split across two ranks on 127.0.0.1 (MLX's ring backend), driven through the Python API and the chat
layer exactly as one process would be (tests/support/group_driver.py), compared with one process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.support import group_driver
from tests.support.ranks import DRIVER, ROOT, finish, free_ports, rank_env, rank_log_lines, start_ranks

RANK_LOG = "MLX_HARMONY_RANK_LOG"


@pytest.fixture(scope="module")
def two_ranks(tiny_gpt_oss_dir, tmp_path_factory):
    """Every engine scenario once, on two ranks: rank 0's results and rank 1's finished requests."""
    folder = tmp_path_factory.mktemp("two-ranks")
    procs = start_ranks([str(DRIVER), "engine", str(tiny_gpt_oss_dir), str(folder / "out.json")], 2, folder,
                        {RANK_LOG: str(folder / "rank-1.jsonl")})
    codes = finish(procs)
    logs = [(folder / f"rank-{rank}.log").read_text() for rank in range(2)]
    assert codes == [0, 0], logs
    assert logs[1] == "", "only rank 0 prints"
    return json.loads((folder / "out.json").read_text()), rank_log_lines(folder / "rank-1.jsonl")


@pytest.fixture(scope="module")
def one_process(tiny_gpt_oss_dir, tmp_path_factory):
    """The same scenarios in this process, alone."""
    out = tmp_path_factory.mktemp("one-process") / "out.json"
    group_driver.engine_scenarios(str(tiny_gpt_oss_dir), out)
    return json.loads(out.read_text())


def test_sharded_greedy_and_seeded_sampling_match_one_process(two_ranks, one_process):
    group, _ = two_ranks
    assert group["ranks"] == 2 and one_process["ranks"] == 1
    assert len(group["rank_memory_gb"]) == 2 and all(m > 0 for m in group["rank_memory_gb"])
    assert group["greedy"]["tokens"] == one_process["greedy"]["tokens"] and len(group["greedy"]["tokens"]) == 12
    assert group["seeded"]["tokens"] == one_process["seeded"]["tokens"]  # temperature 1, seed 7
    assert group["seeded"]["tokens"] != group["greedy"]["tokens"]


def test_every_rank_decodes_the_same_tokens_and_ends_each_request_alike(two_ranks):
    group, followed = two_ranks
    mine = {r["request"]: r for r in [group["greedy"], group["seeded"], group["cancel"], group["update"], *group["batched"],
                                       *group["chat"]["turns"], *group["chat"]["tool_steps"]]}
    assert {f["request"] for f in followed} == set(mine)
    for seen in followed:
        ours = mine[seen["request"]]
        assert (seen["tokens"], seen["finish"], seen["cached"]) == (ours["tokens"], ours["finish"], ours["cached"])


def test_two_answers_decoding_together_match_one_process(two_ranks, one_process):
    split, alone = two_ranks[0]["batched"], one_process["batched"]
    assert [b["tokens"] for b in split] == [b["tokens"] for b in alone] and [len(b["tokens"]) for b in split] == [12, 16]


def test_a_second_turn_reuses_the_cache_as_one_process_does(two_ranks, one_process):
    turns, alone = two_ranks[0]["chat"]["turns"], one_process["chat"]["turns"]
    assert [(t["prompt"], t["cached"]) for t in turns] == [(t["prompt"], t["cached"]) for t in alone]
    assert turns[1]["cached"] > turns[0]["prompt"]  # the whole first turn came from the cache


def test_cancel_and_a_live_sampling_update_act_on_both_ranks(two_ranks):
    group, followed = two_ranks
    cancel = group["cancel"]
    assert cancel["finish"] == "cancelled" and 3 <= len(cancel["tokens"]) < 300
    update = group["update"]["tokens"]
    switched = update.index(group_driver.BIASED)
    assert switched >= 3 and update[switched:] == [group_driver.BIASED] * (16 - switched)
    assert update[:switched] == group["greedy"]["tokens"][:switched]
    assert [f for f in followed if f["request"] == "update"][0]["tokens"] == update


def test_a_python_tool_call_runs_once_on_rank_0(two_ranks):
    chat = two_ranks[0]["chat"]
    assert chat["tool_results"] == [["done", "42"]]
    assert [s["finish"] for s in chat["tool_steps"]] == ["tool_calls", "stop"]
    assert len(chat["ran"]) == 1  # one run: its file written once, by rank 0's sandbox


@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGSTOP], ids=["killed", "frozen"])
def test_losing_rank_1_mid_answer_gives_rank_0_a_clear_error_and_the_chat_goes_on(tiny_gpt_oss_dir, tmp_path, stop):
    """Killed: its link closes. Frozen (SIGSTOP): the link stays open and only rank 0's stall watch can tell."""
    procs = start_ranks([str(DRIVER), "kill", str(tiny_gpt_oss_dir), str(tmp_path)], 2, tmp_path,
                        {"MLX_HARMONY_STALL_TIMEOUT": "10"})
    try:
        deadline = time.monotonic() + 180
        while not (tmp_path / "generating").exists():
            assert time.monotonic() < deadline and procs[0].poll() is None, (tmp_path / "rank-0.log").read_text()
            time.sleep(0.2)
        os.kill(procs[1].pid, stop)
        deadline = time.monotonic() + 30  # the bound: no hang
        while not (tmp_path / "failed.json").exists():
            assert time.monotonic() < deadline, "rank 0 did not notice within 30 s"
            time.sleep(0.2)
        codes = finish(procs[:1], timeout=120)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    note = json.loads((tmp_path / "after.json").read_text())
    assert codes[0] == 0, (tmp_path / "rank-0.log").read_text()
    assert note["ranks"] == 2
    assert note["saved_before"] == 2 and note["saved_after"] >= 2  # the finished turn is still in the log
    if stop == signal.SIGSTOP:
        assert note["error"].startswith("the group of 2 ranks stopped answering")
    if note["error"].startswith("the group of 2 ranks broke"):  # MLX reported the lost link: the model loads here alone
        assert "load it again to run it on this machine alone" in note["error"]
        assert note["ranks_after"] == 1 and note["answered"] == "length"
        assert note["saved_end"] == note["saved_after"] + 2
    else:  # MLX left its wait hanging: the stall watch spoke, and loading again says why it cannot
        assert note["error"].startswith("the group of 2 ranks stopped answering (no reply for ")
        assert note["reload_error"] == note["error"] and note["saved_end"] == note["saved_after"]


def test_the_default_model_splits_across_three_ranks_like_one_process(generator, tmp_path):
    """Its 9 attention heads and 3 KV heads divide by 3 (not by 2)."""
    procs = start_ranks([str(DRIVER), "greedy", "default", str(tmp_path / "out.json")], 3, tmp_path)
    assert finish(procs) == [0, 0, 0], (tmp_path / "rank-0.log").read_text()
    split = json.loads((tmp_path / "out.json").read_text())
    alone = list(generator.generate(messages=group_driver.FRANCE, max_tokens=4, temperature=0))
    assert split["ranks"] == 3 and split["tokens"] == alone
    assert generator.tokenizer.decode(alone) == "The capital of France"


def test_a_model_that_cannot_split_across_two_ranks_is_one_clear_error(default_model_dir, tmp_path):
    procs = start_ranks(["-m", "mlx_harmony_tui.cli.generate", "--prompt", "Hello"], 2, tmp_path)
    assert finish(procs) == [2, 0]
    rank0, rank1 = ((tmp_path / f"rank-{rank}.log").read_text() for rank in range(2))
    assert rank0.strip() == ("error: SmolLM2-135M-Instruct cannot run on 2 ranks: num_attention_heads is 9, which does "
                             "not divide by 2 ranks: run it on a number of ranks that divides 9 and 3")
    assert rank1 == ""


def test_a_rank_that_never_joins_stops_rank_0_with_one_clear_line(tiny_gpt_oss_dir, tmp_path):
    """MLX holds the interpreter while it waits for the group: a watchdog process ends the wait, before any front end."""
    hostfile = tmp_path / "hosts.json"
    hostfile.write_text(json.dumps([[f"127.0.0.1:{port}"] for port in free_ports(2)]))
    done = subprocess.run([sys.executable, "-m", "mlx_harmony_tui.cli.generate", "--model", str(tiny_gpt_oss_dir),
                           "--prompt", "Hello"], env=rank_env(0, hostfile, {"MLX_HARMONY_JOIN_TIMEOUT": "3"}), cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == -signal.SIGKILL and done.stdout == ""
    assert done.stderr.strip() == ("mlx-harmony rank 0: the ring group of 2 ranks did not form within 3 s (a rank never "
                                   "started or cannot reach the others; MLX_HARMONY_JOIN_TIMEOUT sets the wait): stopped. "
                                   "Without mlx.launch the model runs on this machine alone.")


def test_doctor_under_the_launcher_shows_the_group_from_rank_0(tmp_path):
    procs = start_ranks(["-m", "mlx_harmony_tui.cli.main", "doctor"], 2, tmp_path)
    assert finish(procs) == [0, 0]
    rank0, rank1 = ((tmp_path / f"rank-{rank}.log").read_text() for rank in range(2))
    line = next(line for line in rank0.splitlines() if line.startswith("distributed"))
    assert "ring, 2 ranks, this is rank 0, hosts 127.0.0.1:" in line and "all 2 ranks answered (0: " in line
    assert rank1 == ""


def test_a_model_split_by_layers_decodes_like_one_process(default_model_dir, tmp_path):
    """--shard pipeline: each rank runs half the layers and hands the activations on."""
    from tests.support.tiny_pipeline import build_tiny_pipeline_model

    model = build_tiny_pipeline_model(tmp_path / "tiny-ministral3", default_model_dir)
    procs = start_ranks([str(DRIVER), "greedy", str(model), str(tmp_path / "split.json")], 2, tmp_path,
                        {"MLX_HARMONY_SHARD": "pipeline"})
    assert finish(procs) == [0, 0], (tmp_path / "rank-0.log").read_text()
    alone = subprocess.run([sys.executable, str(DRIVER), "greedy", str(model), str(tmp_path / "alone.json")], cwd=ROOT,
                           capture_output=True, text=True, timeout=120)
    assert alone.returncode == 0, alone.stderr
    split, one = (json.loads((tmp_path / name).read_text()) for name in ("split.json", "alone.json"))
    assert (split["ranks"], one["ranks"]) == (2, 1)
    assert split["tokens"] == one["tokens"] and len(set(one["tokens"])) > 1

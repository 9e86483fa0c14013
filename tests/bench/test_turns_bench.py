"""``mlx-harmony bench turns``: both servers and the engine ran every turn; ``--resume`` reopens a chat from disk.

Also the bench's model, the tiny GPT-OSS whose answers are analysis: its chat
template renders exactly what openai-harmony renders, and the tests' random
tiny model, now built by the package, is byte for byte what it was. Timings
are never asserted.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

CHANNEL, MESSAGE = 200005, 200008
THREE_TURNS = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello! How can I help?"},
    {"role": "user", "content": "Tell me about tides, in detail. " * 8},
    {"role": "assistant", "content": ""},  # an answer that was all analysis: the client sends no content
    {"role": "user", "content": "And rivers?"},
]


def run_bench(*args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "mlx_harmony_tui.cli.main", "bench", "turns", *args]
    return subprocess.run(cmd, env=os.environ.copy(), capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def analysis_dir() -> Path:
    from mlx_harmony_tui.harmony.vocab import ensure_vocab
    from mlx_harmony_tui.models.analysis_gpt_oss import ensure_analysis_gpt_oss

    return ensure_analysis_gpt_oss(ensure_vocab())


def test_bench_turns_runs_the_chat_on_both_servers_and_the_engine(analysis_dir):
    from mlx_harmony_tui.bench.turns_bench import TurnsBenchResult, format_table

    done = run_bench("--turns", "3", "--user-tokens", "48", "--max-tokens", "32", "--rounds", "2", "--json")
    assert done.returncode == 0, done.stderr
    (line,) = done.stdout.strip().splitlines()
    result = json.loads(line)
    assert result["model"] == "tiny-gpt-oss-analysis" and result["turns"] == 3 and result["rounds"] == 2
    prompts = result["prompt_tokens"]
    assert prompts[0] + 32 > 128 and prompts[0] < prompts[1] < prompts[2]  # prompt and answer pass the sliding window
    # The answers were all analysis, which the next prompt drops: every turn reuses the previous prompt but its last token.
    assert result["cached_tokens"] == [0, prompts[0] - 1, prompts[1] - 1]
    servers = result["servers"]
    assert set(servers) == {"mlx-harmony", "mlx_lm.server"}
    for name, side in servers.items():
        assert side["prompt_tokens"] == prompts, name  # both read the same prompts as the engine
        assert side["completion_tokens"] == [32, 32, 32], name  # every answer ran to the end
        assert all(isinstance(c, int) for c in side["cached_tokens"]), name  # both report usage's cached tokens
        assert [len(chat) for chat in side["ttft_s_rounds"]] == [3, 3], name  # both chats, every turn
        assert all(t > 0 for chat in side["ttft_s_rounds"] for t in chat), name
    assert servers["mlx-harmony"]["cached_tokens"][1:] == [prompts[0] - 1, prompts[1] - 1]
    assert all(t > 0 for t in result["ttft_reuse_s"] + result["ttft_cold_s"]) and result["ttft_server_ratio"] > 0

    lines = [line for line in format_table(TurnsBenchResult(**result)).splitlines() if not line.startswith("warning: ")]
    assert lines[0].startswith("model tiny-gpt-oss-analysis on ")
    assert [row.split()[:2] for row in lines[4:7]] == [["1", str(prompts[0])], ["2", str(prompts[1])], ["3", str(prompts[2])]]
    assert lines[-1].startswith("median TTFT of turns 2-3: mlx_lm.server / mlx-harmony server = ")


def test_bench_turns_resume_reads_the_saved_chat_from_disk(analysis_dir):
    from mlx_harmony_tui.bench.resume_bench import format_table

    done = run_bench("--resume", "--turns", "3", "--user-tokens", "48", "--max-tokens", "16", "--rounds", "2", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["model"] == "tiny-gpt-oss-analysis" and result["turns"] == 3
    assert result["prompt_tokens"] > 128 and result["disk_cache_bytes"] > 0
    assert 0 < result["cached_tokens_disk"] < result["prompt_tokens"]
    assert result["cached_tokens_cold"] == 0
    assert result["same_answer"] is True  # the cache from disk changed nothing in the answer
    assert len(result["ttft_disk_s_rounds"]) == len(result["ttft_cold_s_rounds"]) == 2
    assert all(t > 0 for t in result["ttft_disk_s_rounds"] + result["ttft_cold_s_rounds"]) and result["ttft_ratio"] > 0
    lines = [line for line in format_table(result).splitlines() if not line.startswith("warning: ")]  # busy machine
    assert lines[3].split()[-3:-1] == [str(result["prompt_tokens"]), str(result["cached_tokens_disk"])]
    assert lines[4].split()[1:3] == [str(result["prompt_tokens"]), "0"]


def test_bench_turns_rejects_bad_counts():
    done = run_bench("--turns", "0")
    assert done.returncode == 2
    assert done.stderr.strip() == "error: --turns: must be at least 1"


def test_the_analysis_model_answers_with_analysis_to_max_tokens(analysis_dir):
    from mlx_harmony_tui import TokenGenerator
    from mlx_harmony_tui.engine.events import Done, TextDelta
    from mlx_harmony_tui.models.analysis_gpt_oss import is_built
    from mlx_harmony_tui.models.tiny_gpt_oss import build_info

    assert is_built(analysis_dir)
    chain = build_info(analysis_dir)["chain_head"]
    with TokenGenerator(str(analysis_dir)) as generator:
        events = list(generator.stream(messages=THREE_TURNS, max_tokens=40, temperature=0.0))
    done = events[-1]
    assert isinstance(done, Done) and done.finish_reason == "length" and done.repairs == ()
    assert list(done.token_ids[:7]) == chain[1:8] and done.token_ids[:3] == (CHANNEL, chain[2], MESSAGE)
    texts = [e for e in events if isinstance(e, TextDelta) and e.text]
    assert texts and {e.channel for e in texts} == {"analysis"}


def test_the_chat_template_renders_what_harmony_renders_token_for_token(analysis_dir):
    from mlx_lm.utils import load_tokenizer

    from mlx_harmony_tui import TokenGenerator
    from mlx_harmony_tui.chat.prompt import build_prompt
    from mlx_harmony_tui.config.resolve import RunSettings
    from mlx_harmony_tui.config.sampling import SamplingParams
    from mlx_harmony_tui.engine.events import Done

    settings = RunSettings(model=str(analysis_dir), sampling=SamplingParams())  # the server's defaults: a chat dated today
    with TokenGenerator(str(analysis_dir)) as generator:
        ours = []
        for turns in (2, 4, 6):  # 1, 2 and 3 user turns
            prompt = build_prompt(settings, True, THREE_TURNS[:turns])
            (done,) = [e for e in generator.stream(messages=prompt.messages, harmony=prompt.harmony, max_tokens=1,
                                                   temperature=0.0, reuse_cache=False) if isinstance(e, Done)]
            ours.append(list(done.prompt_ids))
    tokenizer = load_tokenizer(analysis_dir)  # as mlx_lm.server loads it, and renders a chat request
    theirs = [list(tokenizer.apply_chat_template([dict(m) for m in THREE_TURNS[:turns]], add_generation_prompt=True, tools=None))
              for turns in (2, 4, 6)]
    assert ours == theirs
    assert len(ours[2]) > 128 and ours[2][-2:] == [200006, tokenizer.convert_tokens_to_ids("assistant")]


def _digests(folder: Path) -> dict[str, str]:
    names = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")
    return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in names}


def test_the_package_builds_the_tests_tiny_model_byte_for_byte(tiny_gpt_oss_dir, tmp_path):
    from tests.support.tiny_gpt_oss import build_tiny_gpt_oss, is_built

    rebuilt = build_tiny_gpt_oss(tmp_path / "tiny-gpt-oss")
    assert is_built(rebuilt) and _digests(rebuilt) == _digests(tiny_gpt_oss_dir)


def test_parameter_shapes_are_mlx_lm_gpt_oss_shapes():
    from mlx.utils import tree_flatten
    from mlx_lm.models import gpt_oss

    from mlx_harmony_tui.models.tiny_gpt_oss import CONFIG, parameter_shapes

    other = {**CONFIG, "hidden_size": 48, "intermediate_size": 80, "head_dim": 8, "num_attention_heads": 6,
             "num_key_value_heads": 3, "num_local_experts": 3, "num_hidden_layers": 4, "vocab_size": 300,
             "layer_types": ["sliding_attention", "full_attention"] * 2}
    for config in (CONFIG, other):
        model = gpt_oss.Model(gpt_oss.ModelArgs.from_dict(config))
        assert parameter_shapes(config) == {name: tuple(v.shape) for name, v in tree_flatten(model.parameters())}

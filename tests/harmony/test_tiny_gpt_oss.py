"""A tiny random-weight GPT-OSS model: harmony's token ids, mlx-lm's gpt_oss model, the real engine.

The folder is built once (a few seconds, offline) into the test cache and reused
while its build stamp matches; see :mod:`tests.support.tiny_gpt_oss`.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tests.support.tiny_gpt_oss import CONFIG, EOS_IDS, VOCAB_SIZE, is_built, special_tokens

TEXTS = [
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog. DON'T SHOUT; it's fine, we'll see.",
    "def add(a, b):\n    return a + b  # sum\n\n\nclass Foo:\n\tpass\r\n",
    'if (x >= 10 && y != "str") { console.log(`${x}`); }',
    "日本語のテキストと中文文本，还有한국어 문장。",
    "Emoji: 😀👍🏽 🇫🇷 👨‍👩‍👧‍👦 ✓ ünïcödé café naïve e\u0301",
    "Numbers: 0 7 42 123 1234 12345678901234567890 3.14159 -2.5e-10 1,000,000",
    "   leading spaces, trailing spaces   ",
    "tabs\t\tand\n\n\nnewlines \n \n  mixed   \t  runs      end",
    "Привет, мир! مرحبا بالعالم שלום עולם नमस्ते",
    "URL: https://example.com/path?q=1&r=two#frag user@example.org",
    "",
    " ",
    "\n",
    "<|not a special token|> <| |> |>",
]

SPECIAL_TEXT = "<|start|>assistant<|channel|>final<|message|>hi<|end|>"


@pytest.fixture(scope="module")
def tiny_dir(tiny_gpt_oss_dir: Path) -> Path:
    return tiny_gpt_oss_dir


@pytest.fixture(scope="module")
def loaded(tiny_dir: Path):
    from mlx_harmony_tui.engine import lm

    return lm.load(tiny_dir)


def harmony_prompt(enc) -> list[int]:
    from openai_harmony import Conversation, Message, Role

    convo = Conversation.from_messages([Message.from_role_and_content(Role.USER, "hi")])
    return list(enc.render_conversation_for_completion(convo, Role.ASSISTANT))


def test_the_folder_is_a_finished_build(tiny_dir: Path):
    assert is_built(tiny_dir)
    names = {p.name for p in tiny_dir.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} <= names
    assert not list(tiny_dir.parent.glob(".tiny-gpt-oss.*"))  # no leftover temporary folder


def test_the_weights_are_deterministic_float32():
    import hashlib

    from tests.support.tiny_gpt_oss import random_weights

    small = {**CONFIG, "vocab_size": 512}  # same draws per parameter, without the 201088-row matrices
    first = random_weights(small, 0)
    again = random_weights(small, 0)
    other = random_weights(small, 1)
    digest = lambda w: hashlib.sha256(b"".join(bytes(memoryview(w[k])) for k in sorted(w))).hexdigest()  # noqa: E731
    assert digest(first) == digest(again) != digest(other)
    assert all(v.dtype == first["lm_head.weight"].dtype for v in first.values())
    assert str(first["lm_head.weight"].dtype) == "mlx.core.float32"


@pytest.mark.parametrize("text", TEXTS)
def test_tokenizer_matches_harmony(loaded, enc, text: str):
    ids = list(loaded.tokenizer.encode(text))
    assert ids == enc.encode(text, allowed_special="all")
    assert loaded.tokenizer.decode(ids) == text


def test_tokenizer_matches_harmony_on_source_code(loaded, enc):
    import mlx_harmony_tui.engine.inference as module

    text = Path(module.__file__).read_text(encoding="utf-8")
    ids = list(loaded.tokenizer.encode(text))
    assert ids == enc.encode(text, allowed_special="all")
    assert loaded.tokenizer.decode(ids) == text


def test_special_tokens_match_harmony(loaded, enc):
    ids = list(loaded.tokenizer.encode(SPECIAL_TEXT))
    assert ids == enc.encode(SPECIAL_TEXT, allowed_special="all")
    assert ids[0] == 200006 and ids[-1] == 200007
    assert loaded.tokenizer.decode(ids) == SPECIAL_TEXT
    named = {"<|return|>": 200002, "<|constrain|>": 200003, "<|channel|>": 200005, "<|call|>": 200012}
    assert {t: loaded.tokenizer.convert_tokens_to_ids(t) for t in named} == named
    for token_id, token in enumerate(special_tokens(), start=199998):
        assert enc.encode(token, allowed_special="all") == [token_id]
        assert list(loaded.tokenizer.encode(token)) == [token_id]
    assert set(special_tokens()) == set(enc.special_tokens_set) - {f"<|reserved_{VOCAB_SIZE}|>"}


def test_harmony_rendered_prompt_decodes_the_same(loaded, enc):
    prompt = harmony_prompt(enc)
    text = loaded.tokenizer.decode(prompt)
    assert text == enc.decode(prompt)
    assert list(loaded.tokenizer.encode(text)) == prompt


def test_eos_tokens_are_return_and_call(loaded, enc):
    assert loaded.eos_token_ids == set(EOS_IDS) == set(enc.stop_tokens_for_assistant_actions())


def test_resolves_as_gpt_oss(tiny_dir: Path):
    from mlx_harmony_tui.models.resolve import resolve_model

    resolved = resolve_model(str(tiny_dir), "quantized")
    assert resolved.is_gpt_oss
    assert resolved.source == "folder"


def test_forward_pass_gives_finite_logits(loaded, enc):
    from mlx_harmony_tui.engine import lm
    from mlx_harmony_tui.runtime import mlx_core

    mx = mlx_core()
    prompt = harmony_prompt(enc)
    cache = lm.new_cache(loaded)
    logits = lm.forward(loaded, mx.array(prompt), cache)
    mx.eval(logits)
    assert logits.shape == (1, VOCAB_SIZE)
    assert logits.dtype == mx.float32
    assert mx.all(mx.isfinite(logits)).item()
    std = mx.std(logits).item()
    assert math.isfinite(std) and 0.3 < std < 30  # neither flat nor exploding
    # One more token through the cache works too.
    step = lm.forward(loaded, mx.array([int(mx.argmax(logits).item())]), cache)
    assert step.shape == (1, VOCAB_SIZE) and mx.all(mx.isfinite(step)).item()


def test_cache_has_a_rotating_sliding_layer_and_a_full_layer(loaded):
    from mlx_lm.models.cache import KVCache, RotatingKVCache

    from mlx_harmony_tui.engine import lm

    cache = lm.new_cache(loaded)
    assert [type(c) for c in cache] == [RotatingKVCache, KVCache]
    assert cache[0].max_size == CONFIG["sliding_window"]


def test_engine_generates_end_to_end(tiny_dir: Path, loaded, enc):
    from mlx_harmony_tui import TokenGenerator
    from mlx_harmony_tui.engine import lm

    prompt = harmony_prompt(enc)
    with TokenGenerator(str(tiny_dir)) as gen:
        assert gen.info.is_gpt_oss
        ids = list(gen.generate(prompt=prompt, max_tokens=8, temperature=0))
        again = list(gen.generate(prompt=prompt, max_tokens=8, temperature=0))
    assert 1 <= len(ids) <= 8 and ids == again
    assert all(0 <= t < VOCAB_SIZE and t not in EOS_IDS for t in ids)
    # Greedy decoding agrees with mlx-lm's own loop, up to its first end token.
    reference = []
    for token, _ in lm.mlx_lm_generate_step(loaded, prompt, max_tokens=8):
        if int(token) in EOS_IDS:
            break
        reference.append(int(token))
    lm.finish_pending_work()
    assert ids == reference

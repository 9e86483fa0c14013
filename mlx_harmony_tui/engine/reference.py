"""Raw mlx-lm on the engine's loaded model: the reference every benchmark compares with.

It runs mlx-lm's own ``generate_step`` on the inference thread, with nothing
of ours around it, and records when each token arrived.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from ..errors import UserError
from ..runtime import mlx_core


@dataclass(frozen=True)
class RawRun:
    """One raw mlx-lm generation: when it began, (arrival time, token id) per token, peak memory,
    and whether its last token was an end-of-sequence token."""

    start: float
    arrivals: list[tuple[float, int]]
    peak_memory_gb: float
    ended: bool = False


def raw_mlx_lm(generator: Any, prompt: list[int], max_tokens: int, stop_at_end: bool = True) -> RawRun:
    """Greedy ``generate_step`` over ``prompt`` on ``generator``'s model (a TokenGenerator), after its queued work.

    With ``stop_at_end`` it stops after an end-of-sequence token, as a chat would.
    Not for a model split across ranks: raw mlx-lm would run on rank 0 alone.
    """
    if generator.info.ranks > 1:
        raise UserError(f"raw mlx-lm cannot run a model split across {generator.info.ranks} ranks; compare with one process")

    def run(loaded) -> RawRun:
        from . import lm

        mx = mlx_core()
        ends = loaded.eos_token_ids
        mx.reset_peak_memory()
        start = time.perf_counter()
        arrivals: list[tuple[float, int]] = []
        ended = False
        for token, _ in lm.mlx_lm_generate_step(loaded, prompt, max_tokens):
            arrivals.append((time.perf_counter(), int(token)))
            if stop_at_end and token in ends:
                ended = True
                break
        lm.finish_pending_work()
        return RawRun(start, arrivals, mx.get_peak_memory() / 1e9, ended)

    return generator.call(run)


@dataclass(frozen=True)
class MaskReplay:
    """The structured-output constraint alone: a known JSON answer replayed token by token through it, no model
    around it. Times are per token (host: following the grammar and computing the mask; apply: evaluating
    the masked logits); ``vocabulary_s`` builds the vocabulary once, ``compile_s`` compiles the schema."""

    vocabulary: str
    vocab_size: int
    tokens: int
    vocabulary_s: float
    compile_s: float
    host_us_mean: float
    host_us_median: float
    apply_us_median: float


def mask_replay(generator: Any, schema: Any, text: str, harmony_vocabulary: bool, rounds: int = 3) -> MaskReplay:
    """Replay ``text`` (JSON valid for ``schema``, a ResponseSchema) through the constraint ``rounds`` times, on the
    loaded model's vocabulary or on the GPT-OSS one (o200k with Harmony's special tokens)."""

    def run(loaded) -> MaskReplay:
        import statistics

        from ..harmony.vocab import load_encoding
        from . import structured

        mx = mlx_core()
        began = time.perf_counter()
        if harmony_vocabulary:
            from ..models.tiny_gpt_oss import VOCAB_SIZE

            vocabulary, size, stops = structured.harmony_vocabulary(), VOCAB_SIZE, [structured.RETURN, structured.CALL]
            tokens = load_encoding().encode(text, allowed_special=set())
        else:
            stops = sorted(loaded.eos_token_ids)
            vocabulary, size = structured.model_vocabulary(loaded, stops), loaded.vocab_size
            from . import lm

            tokens = lm.encode(loaded, text)
        built = time.perf_counter()
        grammars = structured.JsonGrammars(lambda: vocabulary, size, stops)
        grammars.matcher(schema)
        compiled = time.perf_counter()
        logits = mx.zeros((1, size))
        mx.eval(logits)
        host, apply = [], []
        for _ in range(rounds):
            processor = structured.ConstrainedOutput(structured.WholeAnswer(grammars.region(schema, stops[:1])))
            history = [0]
            for token in tokens:
                a = time.perf_counter()
                masked = processor(history, logits)
                b = time.perf_counter()
                mx.eval(masked)
                host.append(b - a)
                apply.append(time.perf_counter() - b)
                history.append(token)
        name = "o200k + Harmony" if harmony_vocabulary else generator.info.name
        return MaskReplay(name, size, len(tokens), built - began, compiled - built, statistics.mean(host) * 1e6,
                          statistics.median(host) * 1e6, statistics.median(apply) * 1e6)

    return generator.call(run)

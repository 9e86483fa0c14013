"""The mask itself: llguidance's bits become exactly the tokens left in the logits, on any MLX backend."""

from __future__ import annotations

import numpy as np

from mlx_harmony_tui.engine.structured import apply_bitmask
from mlx_harmony_tui.runtime import mlx_core

mx = mlx_core()


def test_apply_bitmask_keeps_exactly_the_allowed_tokens():
    vocab = 70  # not a multiple of 32: the last word's high bits are past the vocabulary
    allowed = [0, 5, 31, 32, 63, 69]  # bit 31 of a word is the sign bit of the int32 llguidance writes
    words = np.zeros(3, dtype=np.uint32)
    for token in allowed:
        words[token // 32] |= np.uint32(1 << (token % 32))
    words[2] |= np.uint32(1 << 31)  # token 95 does not exist: it must not widen the logits
    logits = mx.arange(vocab, dtype=mx.float32)[None]
    masked = np.array(apply_bitmask(logits, words))
    assert masked.shape == (1, vocab)
    kept = [i for i in range(vocab) if np.isfinite(masked[0, i])]
    assert kept == allowed and all(masked[0, i] == i for i in kept)


def test_a_constrained_row_batches_with_a_free_one_and_takes_live_sampling_changes(generator):
    import json
    import threading

    import jsonschema

    from mlx_harmony_tui.config.response_schema import OutputConstraint, ResponseSchema
    from mlx_harmony_tui.engine.events import Done, TextDelta
    from tests.conftest import FRANCE
    from tests.support.schemas import MOVIE

    def free() -> str:
        events = generator.stream(messages=FRANCE, max_tokens=12, temperature=0.0, conversation="free", reuse_cache=False)
        return "".join(e.text for e in events if isinstance(e, TextDelta))

    alone = free()
    answer: dict = {}

    def constrained() -> None:
        text, changed = "", False
        for event in generator.stream(messages=[{"role": "user", "content": "Tell me about the movie Titanic."}], max_tokens=120,
                                      temperature=0.0, output=OutputConstraint(ResponseSchema(schema=MOVIE)),
                                      conversation="json", request_id="json-row"):
            if isinstance(event, TextDelta):
                text += event.text
                if not changed:  # from its next token on, this row samples hot: the schema still holds
                    generator.update_sampling("json-row", temperature=1.0, seed=5)
                    changed = True
            elif isinstance(event, Done):
                answer.update(text=text, done=event)

    thread = threading.Thread(target=constrained)
    thread.start()
    beside = free()
    thread.join()
    assert beside == alone  # the constrained neighbour changed nothing in the free row
    assert answer["done"].finish_reason == "stop" and answer["done"].stats.masked_tokens > 0
    jsonschema.validate(json.loads(answer["text"]), MOVIE)

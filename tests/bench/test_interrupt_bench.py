"""``bench interrupt``'s measurement against a real server: a short request sent while a long prompt is read."""

from __future__ import annotations

from mlx_harmony_tui.bench.interrupt_bench import _long_messages, _measure, long_text
from mlx_harmony_tui.server.app import create_app
from mlx_harmony_tui.server.catalog import ModelCatalog
from tests.server.conftest import DEFAULT_MODEL, running


def test_long_text_has_the_length_asked_and_differs_by_seed(generator):
    count = lambda text: len(generator.tokenizer.encode(text))  # noqa: E731
    first, second = long_text(count, 600, 1), long_text(count, 600, 2)
    assert 600 <= count(first) <= 640 and first != second


def test_the_short_request_is_answered_before_the_long_prompt(generator):
    count = lambda text: len(generator.tokenizer.encode(text))  # noqa: E731
    longs = (_long_messages(long_text(count, 1200, 3), "t1"), _long_messages(long_text(count, 1200, 4), "t1"))
    bias = {t: -100.0 for t in generator.tokenizer.eos_token_ids}
    with running(create_app(ModelCatalog.for_model(None), generator=generator)) as live:
        figures = _measure(live.url, DEFAULT_MODEL, longs, 1.0, 4, bias)
    assert figures["long_prompt_tokens"] > 1200 and figures["long_cached_tokens"][1] < 50  # the long ones were computed
    # The short request was sent 1 s after the long one, and its first token came before the long one's.
    assert 1.0 + figures["short_together_ttft_s"] < figures["long_together_ttft_s"]
    assert figures["short_ratio"] == figures["short_together_ttft_s"] / figures["short_idle_ttft_s"]
    assert figures["long_ratio"] == figures["long_together_ttft_s"] / figures["long_alone_ttft_s"]

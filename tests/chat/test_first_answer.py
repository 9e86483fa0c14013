"""A newcomer's first question gets a right answer (issue 28, item 6): at the old default temperature, 0.7, the
default model answered "What is the capital of France?" with French-flavoured nonsense for seeds 1 and 4. The default
was chosen by measurement (docs/measure/default_temperature.py, figures in the README's "The default model")."""

from __future__ import annotations

import pytest

from mlx_harmony_tui.chat.session import ChatSession
from mlx_harmony_tui.config.resolve import resolve_run_settings


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_the_default_settings_answer_the_first_question_right(generator, seed):
    session = ChatSession(resolve_run_settings(), generator=generator)  # no profile, no flags: what a newcomer meets
    for _ in session.send("What is the capital of France?", seed=seed, max_tokens=24):
        pass
    answer = session.history[-1]["content"]
    assert "Paris" in answer, (session.sampling.temperature, answer)

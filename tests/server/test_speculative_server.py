"""Prompt-lookup drafts through the server: per request or for the whole server, the same answers, counted in usage."""

from __future__ import annotations

import pytest

from mlx_harmony_tui.engine.lookup import DraftPace
from mlx_harmony_tui.server.catalog import ModelCatalog
from tests.server.conftest import DEFAULT_MODEL

CODE = "\n".join(f"def scale_{i}(x):\n    return x * {i} + {i * i}\n" for i in range(12))
COPY = [{"role": "system", "content": "You are a careful coding assistant."},
        {"role": "user", "content": "Repeat this code exactly, nothing else:\n\n" + CODE}]


@pytest.fixture
def always_draft(monkeypatch):
    """Check drafts at every step, whatever the measured pace (this is about answers, not speed)."""
    monkeypatch.setattr(DraftPace, "best_width", lambda self, rows, expected: max(expected, default=1))


def test_official_client_gets_the_same_answer_and_counts_the_kept_drafts(server, always_draft):
    client = server.client()
    answers = {mode: client.chat.completions.create(model=DEFAULT_MODEL, messages=COPY, temperature=0, max_tokens=80,
                                                    extra_body={"speculative": mode})
               for mode in ("off", "ngram")}
    assert answers["ngram"].choices[0].message.content == answers["off"].choices[0].message.content
    details = answers["ngram"].usage.completion_tokens_details
    assert details.accepted_prediction_tokens > 10 and details.rejected_prediction_tokens >= 0
    assert answers["off"].usage.completion_tokens_details.accepted_prediction_tokens == 0
    stream = client.chat.completions.create(model=DEFAULT_MODEL, messages=COPY, temperature=0, max_tokens=80, stream=True,
                                            stream_options={"include_usage": True}, extra_body={"speculative": "ngram"})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == answers["off"].choices[0].message.content
    assert chunks[-1].usage.completion_tokens_details.accepted_prediction_tokens > 10
    text_reply = client.completions.create(model=DEFAULT_MODEL, prompt=CODE + "\n" + CODE[:200], temperature=0, max_tokens=40,
                                           extra_body={"speculative": "ngram", "draft_tokens": 4})
    assert text_reply.usage.completion_tokens_details.accepted_prediction_tokens > 5


def test_a_bad_speculative_value_names_the_field(server):
    response = server.http().post("/v1/chat/completions", json={"model": DEFAULT_MODEL, "messages": COPY,
                                                               "speculative": "eagle"})
    assert response.status_code == 400 and "speculative" in response.text


def test_the_server_flag_turns_drafts_on_for_every_model_it_serves():
    catalog = ModelCatalog.for_model(None).with_sampling({"speculative": "ngram", "draft_tokens": 3})
    assert all(catalog.get(name).settings.sampling.speculative == "ngram" for name in catalog.ids())
    assert catalog.startup.settings.sampling.draft_tokens == 3

"""Chat and text completions on the default model, through the official openai client."""

from __future__ import annotations

from tests.server.conftest import DEFAULT_MODEL, FRANCE


def test_chat_completion_matches_the_engine(server, greedy_reference):
    reply = server.client().chat.completions.create(model=DEFAULT_MODEL, messages=FRANCE, temperature=0, max_tokens=6)
    choice = reply.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content == greedy_reference
    assert greedy_reference.startswith("The capital of France")
    assert choice.finish_reason == "length"
    assert reply.model == DEFAULT_MODEL and reply.object == "chat.completion" and reply.id.startswith("chatcmpl-")
    usage = reply.usage
    assert usage.completion_tokens == 6 and usage.prompt_tokens > 20
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert usage.prompt_tokens_details.cached_tokens >= 0


def test_second_turn_reuses_the_first_turns_tokens(server):
    client = server.client()
    first = client.chat.completions.create(model=DEFAULT_MODEL, messages=FRANCE, temperature=0, max_tokens=4)
    follow_up = FRANCE + [{"role": "assistant", "content": first.choices[0].message.content},
                          {"role": "user", "content": "And of Italy?"}]
    second = client.chat.completions.create(model=DEFAULT_MODEL, messages=follow_up, temperature=0, max_tokens=2)
    assert second.usage.prompt_tokens > first.usage.prompt_tokens
    assert second.usage.prompt_tokens_details.cached_tokens >= first.usage.prompt_tokens - 1


def test_stream_sends_a_chunk_per_token_while_generating(server, greedy_reference, no_end_bias):
    stream = server.client().chat.completions.create(
        model=DEFAULT_MODEL, messages=FRANCE, temperature=0, max_tokens=12, stream=True,
        stream_options={"include_usage": True}, logit_bias=no_end_bias,
    )
    chunks, generating_when_read = [], []
    for chunk in stream:
        chunks.append(chunk)
        if chunk.choices and chunk.choices[0].delta.content and len(generating_when_read) < 3:
            generating_when_read.append(server.health()["generating"])
    # The first texts reached the client while the server was still generating: nothing was held back to the end.
    assert generating_when_read == [True] * 3
    texts = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(texts) >= 10  # one chunk per decoded token (a token may complete no character)
    assert "".join(texts).startswith(greedy_reference)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-2].choices[0].finish_reason == "length"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 12


def test_stream_without_usage_option_has_no_usage_chunk(server):
    stream = server.client().chat.completions.create(model=DEFAULT_MODEL, messages=FRANCE, temperature=0, max_tokens=3, stream=True)
    chunks = list(stream)
    assert all(c.choices for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "length"


def test_stop_sequence_ends_the_answer_before_it(server, greedy_reference):
    client = server.client()
    reply = client.chat.completions.create(model=DEFAULT_MODEL, messages=FRANCE, temperature=0, max_tokens=6, stop=[" of"])
    assert reply.choices[0].message.content == greedy_reference.split(" of")[0]
    assert reply.choices[0].finish_reason == "stop"
    streamed = client.chat.completions.create(model=DEFAULT_MODEL, messages=FRANCE, temperature=0, max_tokens=6, stop=" France",
                                              stream=True)
    chunks = list(streamed)
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text == greedy_reference.split(" France")[0]
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_content_parts_are_joined_text(server, greedy_reference):
    parts = [{"role": "user", "content": [{"type": "text", "text": FRANCE[0]["content"]}]}]
    reply = server.client().chat.completions.create(model=DEFAULT_MODEL, messages=parts, temperature=0, max_tokens=6)
    assert reply.choices[0].message.content == greedy_reference


def test_seed_makes_sampling_repeatable(server):
    client = server.client()
    answers = {
        client.chat.completions.create(model=DEFAULT_MODEL, messages=FRANCE, temperature=1.0, seed=7, max_tokens=5)
        .choices[0].message.content
        for _ in range(2)
    }
    assert len(answers) == 1


def test_penalties_and_sampling_fields_are_accepted(server):
    reply = server.client().chat.completions.create(
        model=DEFAULT_MODEL, messages=FRANCE, max_tokens=3, temperature=0.5, top_p=0.9, presence_penalty=1.0,
        frequency_penalty=0.5, seed=1, extra_body={"top_k": 20, "min_p": 0.05, "repetition_penalty": 1.1},
    )
    assert reply.usage.completion_tokens == 3


def test_text_completion_whole_and_streamed(server):
    client = server.client()
    whole = client.completions.create(model=DEFAULT_MODEL, prompt="Once upon a time", temperature=0, max_tokens=5)
    assert whole.object == "text_completion" and whole.choices[0].finish_reason == "length"
    assert whole.usage.completion_tokens == 5 and whole.choices[0].text.strip()
    chunks = list(client.completions.create(model=DEFAULT_MODEL, prompt="Once upon a time", temperature=0, max_tokens=5,
                                            stream=True, stream_options={"include_usage": True}))
    assert "".join(c.choices[0].text for c in chunks if c.choices) == whole.choices[0].text
    assert chunks[-1].usage.completion_tokens == 5


def test_models_and_health(server):
    client = server.client()
    assert [m.id for m in client.models.list().data] == [DEFAULT_MODEL]
    assert client.models.retrieve(DEFAULT_MODEL).owned_by == "mlx-harmony"
    health = server.health()
    assert health["status"] == "ok" and health["model"] == DEFAULT_MODEL
    assert health["generating"] is False and health["queued"] == 0

"""HarmonyStream on token sequences from openai-harmony itself, well-formed and malformed."""

from __future__ import annotations

import pytest
from openai_harmony import Role, StreamableParser

from mlx_harmony_tui.harmony.stream import CALL, RETURN, ChannelText, HarmonyStream, ToolCallParsed


def tokens(enc, text: str) -> list[int]:
    return enc.encode(text, allowed_special="all")


def run(enc, text: str, close: bool = False):
    stream = HarmonyStream(enc.decode)
    events = []
    for token in tokens(enc, text):
        events.extend(stream.feed(token))
    if close:
        events.extend(stream.close())
    return stream, events


def texts(events, channel):
    return "".join(e.text for e in events if isinstance(e, ChannelText) and e.channel == channel)


def calls(events):
    return [e for e in events if isinstance(e, ToolCallParsed)]


WELL_FORMED = [
    "<|channel|>analysis<|message|>User asks capital. Easy.<|end|><|start|>assistant<|channel|>final<|message|>Paris is the capital of France.<|return|>",
    "<|channel|>commentary<|message|>Let me check the weather.<|end|><|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{\"city\": \"Paris\"}<|call|>",
    "<|channel|>analysis<|message|>Need python.<|end|><|start|>assistant<|channel|>analysis to=python code<|message|>print(2**10)<|call|>",
    "<|channel|>final<|message|>日本語 🎉 déjà vu<|return|>",
]


@pytest.mark.parametrize("text", WELL_FORMED)
def test_matches_openai_harmony_on_well_formed_output(enc, text):
    stream, events = run(enc, text)
    reference = StreamableParser(enc, role=Role.ASSISTANT)
    for token in tokens(enc, text):
        reference.process(token)
    expected = [(m.channel, m.recipient, m.content[0].text) for m in reference.messages]
    assert [(m.channel, m.recipient, m.text) for m in stream.messages] == expected
    assert stream.finished and stream.stop_token in (RETURN, CALL)


def test_channels_stream_separately(enc):
    _, events = run(enc, WELL_FORMED[0])
    assert texts(events, "analysis") == "User asks capital. Easy."
    assert texts(events, "final") == "Paris is the capital of France."
    assert len([e for e in events if isinstance(e, ChannelText)]) > 2  # streamed in pieces, not at the end


def test_function_call_with_preamble(enc):
    stream, events = run(enc, WELL_FORMED[1])
    assert texts(events, "commentary") == "Let me check the weather."
    (call,) = calls(events)
    assert call.recipient == "functions.get_weather" and call.arguments == '{"city": "Paris"}'
    assert call.channel == "commentary" and call.content_type == "<|constrain|>json"
    assert stream.stop_token == CALL
    assert "to=" not in texts(events, "final") + texts(events, "commentary")


def test_recipient_in_role_position(enc):
    stream, events = run(enc, " to=functions.lookup<|channel|>commentary json<|message|>{\"q\": 1}<|call|>")
    (call,) = calls(events)
    assert call.recipient == "functions.lookup" and call.arguments == '{"q": 1}' and call.content_type == "json"


def test_browser_call_on_analysis(enc):
    _, events = run(enc, "<|channel|>analysis to=browser.search code<|message|>{\"query\": \"mlx\"}<|call|>")
    (call,) = calls(events)
    assert call.recipient == "browser.search" and call.channel == "analysis"


# Malformed outputs: each must end the turn cleanly with the text or tool call recovered.

def test_stop_token_after_end(enc):
    stream, events = run(enc, "<|channel|>final<|message|>Done.<|end|><|return|>")
    assert texts(events, "final") == "Done." and stream.finished


def test_doubled_start(enc):
    stream, events = run(enc, "<|channel|>analysis<|message|>Hmm.<|end|><|start|><|start|>assistant<|channel|>final<|message|>Yes.<|return|>")
    assert texts(events, "analysis") == "Hmm." and texts(events, "final") == "Yes." and stream.finished


def test_empty_channel_becomes_final(enc):
    stream, events = run(enc, "<|channel|><|message|>Plain answer.<|return|>")
    assert texts(events, "final") == "Plain answer." and stream.finished


def test_headerless_text_is_final(enc):
    stream, events = run(enc, "The capital is Paris.<|return|>")
    assert texts(events, "final") == "The capital is Paris." and stream.finished


def test_missing_end_before_next_message(enc):
    stream, events = run(enc, "<|channel|>analysis<|message|>Think<|start|>assistant<|channel|>final<|message|>Answer<|return|>")
    assert texts(events, "analysis") == "Think" and texts(events, "final") == "Answer"
    assert "<|" not in texts(events, "analysis") + texts(events, "final")


def test_missing_end_and_start(enc):
    _, events = run(enc, "<|channel|>analysis<|message|>Think<|channel|>final<|message|>Answer<|return|>")
    assert texts(events, "analysis") == "Think" and texts(events, "final") == "Answer"


def test_missing_message_before_call_keeps_the_recipient(enc):
    stream, events = run(enc, "<|channel|>commentary to=functions.get_weather <|constrain|>json{\"city\": \"Oslo\"}<|call|>")
    (call,) = calls(events)
    assert call.recipient == "functions.get_weather" and call.arguments == '{"city": "Oslo"}'
    assert stream.stop_token == CALL


def test_length_cut_mid_message_flushes_on_close(enc):
    stream, events = run(enc, "<|channel|>final<|message|>Partial answ", close=True)
    assert texts(events, "final") == "Partial answ" and stream.finished


def test_never_raises_on_random_tokens(enc):
    import random

    rng = random.Random(0)
    specials = [200002, 200003, 200005, 200006, 200007, 200008, 200012]
    for _ in range(200):
        stream = HarmonyStream(enc.decode)
        for _ in range(rng.randint(1, 40)):
            token = rng.choice(specials) if rng.random() < 0.3 else rng.randrange(0, 199998)
            for event in stream.feed(token):
                if isinstance(event, ChannelText):
                    assert "<|start|>" not in event.text and "<|message|>" not in event.text
        stream.close()
        assert stream.finished


def test_long_message_streams_whole(enc):
    ids = tokens(enc, "<|channel|>final<|message|>" + "word " * 2000 + "<|return|>")
    stream = HarmonyStream(enc.decode)
    pieces = [e.text for token in ids for e in stream.feed(token)]
    assert stream.finished and stream.messages[0].text.count("word") == 2000
    assert "".join(pieces) == "word " * 2000

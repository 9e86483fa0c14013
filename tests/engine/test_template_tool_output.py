"""Reading tool calls out of a chat template's format, token by token, with mlx-lm's own parser.

A one-character-per-token decoder stands in for a tokenizer here, so markers
arrive split at every place; tests/chat/test_template_tools.py runs the same
reader on a real model.
"""

from __future__ import annotations

from mlx_lm.tool_parsers.json_tools import parse_tool_call, tool_call_end, tool_call_start

from mlx_harmony_tui.engine.turn_output import TemplateToolOutput
from mlx_harmony_tui.harmony.output import ChannelText, ToolCallParsed

END = 0


def read(text: str):
    output = TemplateToolOutput(lambda ids: "".join(map(chr, ids)), {END}, tool_call_start, tool_call_end, parse_tool_call, ())
    items = []
    for char in text:
        items += output.feed(ord(char))[0]
    items += output.feed(END)[0]
    shown = "".join(i.text for i in items if isinstance(i, ChannelText))
    calls = [(c.recipient, c.arguments) for c in items if isinstance(c, ToolCallParsed)]
    return shown, calls, output


def test_text_around_calls_is_shown_and_each_call_parsed():
    shown, calls, output = read('Let me check.<tool_call>\n{"name": "notes__add", "arguments": {"a": 2, "b": 40}}\n</tool_call>'
                                '<tool_call>{"name": "browser_search", "arguments": {"query": "<tool"}}</tool_call>Done')
    assert shown == "Let me check.Done"
    assert calls == [("notes__add", '{"a": 2, "b": 40}'), ("browser_search", '{"query": "<tool"}')]
    assert output.finish_reason == "tool_calls" and output.repairs == []


def test_text_that_only_looks_like_a_marker_and_a_broken_call_stay_visible():
    shown, calls, output = read("a <toolbox> and <tool_call>{not json</tool_call>")
    assert calls == [] and output.finish_reason == "stop"
    assert shown == "a <toolbox> and <tool_call>{not json</tool_call>"
    assert output.repairs and "could not be read" in output.repairs[0]
    shown, calls, _ = read('<tool_call>{"name": "f", "arguments": {}}')  # cut off before its end marker
    assert (shown, calls) == ("", [("f", "{}")])

"""Tools for a model that is not GPT-OSS: declared through its chat template, its call parsed with mlx-lm's parser."""

from __future__ import annotations

import json

import pytest

from mlx_harmony_tui.chat.session import ChatSession
from mlx_harmony_tui.config.resolve import resolve_run_settings
from mlx_harmony_tui.engine.events import Done, Notice, ToolCall, ToolResult
from mlx_harmony_tui.tools.toolbox import ToolBox, ToolOptions
from tests.support.engine import ScriptedSteps
from tests.support.mcp_servers import stdio_server
from tests.support.tool_template_model import build_tool_template_model


@pytest.fixture(scope="module")
def tool_template_dir(default_model_dir, tmp_path_factory):
    return build_tool_template_model(default_model_dir, tmp_path_factory.mktemp("models") / "SmolLM2-tool-calls")


def test_a_template_models_call_runs_and_its_result_goes_back_through_the_template(tool_template_dir, tmp_path):
    tools = ToolBox(ToolOptions(apply_patch=True, workspace=tmp_path, mcp_servers={"notes": stdio_server()}, approval="auto"),
                    tmp_path / "python")
    session = ChatSession(resolve_run_settings(model=str(tool_template_dir)), tools=tools)
    try:
        assert session.info.tool_calling and not session.info.is_gpt_oss
        tokenizer = session.generator.tokenizer
        end = tokenizer.convert_tokens_to_ids("<|im_end|>")
        call = 'Let me add.<tool_call>\n{"name": "notes__add", "arguments": {"a": 2, "b": 40}}\n</tool_call>'
        steps = [tokenizer.encode(call) + [end], tokenizer.encode("The sum is 42.") + [end]]
        scripted = ScriptedSteps(session.generator, steps)

        events = list(session.send("What is 2 + 40? Use the tool."))
        first, second = (tokenizer.decode(p) for p in scripted.prompts)
        assert '"name": "notes__add"' in first and '"name": "apply_patch"' in first  # the tools, declared by the template
        calls = [e for e in events if isinstance(e, ToolCall)]
        assert [(c.recipient, json.loads(c.arguments)) for c in calls] == [("notes__add", {"a": 2, "b": 40})]
        assert [(r.status, r.output) for r in events if isinstance(r, ToolResult)] == [("done", "42")]
        assert any(isinstance(e, Notice) and "starting MCP server notes" in e.text for e in events)
        assert [e.finish_reason for e in events if isinstance(e, Done)] == ["tool_calls", "stop"]
        # The call and its result come back in the template's own shape.
        assert '<tool_call>\n{"name": "notes__add", "arguments": {"a": 2, "b": 40}}\n</tool_call>' in second
        assert "<tool_response>\n42\n</tool_response>" in second
        assert [m["role"] for m in session.history] == ["user", "assistant", "tool", "assistant"]
        assert session.history[1]["content"] == "Let me add." and session.history[-1]["content"] == "The sum is 42."
    finally:
        session.close()


def test_a_model_without_a_tool_template_says_it_cannot_call_tools(default_model_dir, tmp_path):
    from mlx_harmony_tui.chat.startup import StartOptions, start_chat
    from mlx_harmony_tui.config.settings import AppSettings

    options = StartOptions(model=str(default_model_dir), tools=ToolOptions(python=True), interactive=False)
    session, notes = start_chat(options, AppSettings())
    try:
        assert not session.info.tool_calling
        assert any("cannot call tools" in n and "(python)" in n for n in notes)
        assert session.prompt().tools == ()
    finally:
        session.close()

"""The tool loop end to end: the tiny GPT-OSS model, forced to call each tool, the tool really running,
and the model's next step reading its output."""

from __future__ import annotations

import json

import pytest

from mlx_harmony_tui.chat.session import ChatSession
from mlx_harmony_tui.config.resolve import resolve_run_settings
from mlx_harmony_tui.engine.events import Done, ToolCall, ToolResult
from mlx_harmony_tui.logs.store import ChatStore
from mlx_harmony_tui.tools.toolbox import ToolBox, ToolOptions
from tests.support.engine import ScriptedSteps

FINAL = "<|channel|>final<|message|>{}<|return|>"


@pytest.fixture(scope="module")
def tiny_session(tiny_gpt_oss_dir):
    session = ChatSession(resolve_run_settings(model=str(tiny_gpt_oss_dir)))
    yield session
    session.close()


def run_turn(session, enc, tools: ToolBox, question: str, steps: list[str]):
    """Send ``question`` with ``tools`` on; each generation step is forced to the next of ``steps``."""
    session.tools = tools
    session.new_conversation()
    session.start_log(ChatStore(tools.python_root.parent / "chats"))
    scripted = ScriptedSteps(session.generator, [enc.encode(s, allowed_special="all") for s in steps])
    try:
        events = list(session.send(question))
    finally:
        del session.generator.stream  # the class's own stream again
        tools.close()
    return events, [enc.decode(p) for p in scripted.prompts]


def test_python_runs_and_the_next_step_reads_its_output(tiny_session, enc, tmp_path):
    tools = ToolBox(ToolOptions(python=True, approval="auto"), tmp_path / "python")
    events, prompts = run_turn(tiny_session, enc, tools, "What is 6 times 7?", [
        "<|channel|>analysis<|message|>I will compute it.<|end|><|start|>assistant<|channel|>analysis to=python<|message|>print(6 * 7)<|call|>",
        FINAL.format("It is 42."),
    ])
    calls = [e for e in events if isinstance(e, ToolCall)]
    results = [e for e in events if isinstance(e, ToolResult)]
    assert [c.recipient for c in calls] == ["python"] and calls[0].arguments == "print(6 * 7)"
    assert len(results) == 1 and results[0].status == "done" and results[0].output.strip() == "42"
    assert "# Tools" in prompts[0] and "## python" in prompts[0]  # declared in the system message, as trained
    assert "to=python<|message|>print(6 * 7)<|call|>" in prompts[1]  # the call stays in the history
    assert "<|start|>python to=assistant<|channel|>analysis<|message|>42" in prompts[1]  # and the model reads the result
    assert [e.finish_reason for e in events if isinstance(e, Done)] == ["tool_calls", "stop"]
    assert tiny_session.history[-1]["content"] == "It is 42."
    saved = tiny_session.log.read().messages
    tool_message = [m for m in saved if m.role == "tool"][0]
    assert tool_message.name == "python" and tool_message.content.strip() == "42" and tool_message.finish_reason == "done"
    assert (tmp_path / "python" / tiny_session.log.chat_id).is_dir()  # the conversation's own working folder


def test_apply_patch_asks_first_then_edits_the_workspace(tiny_session, enc, tmp_path):
    workspace = tmp_path / "work"
    workspace.mkdir()
    asked = []

    def approve(request):
        asked.append(request)
        return True

    tools = ToolBox(ToolOptions(apply_patch=True, workspace=workspace), tmp_path / "python", approve=approve)
    patch = "*** Begin Patch\n*** Add File: hello.txt\n+hello from the model\n*** End Patch"
    events, prompts = run_turn(tiny_session, enc, tools, "Create hello.txt.", [
        "<|channel|>commentary to=functions.apply_patch <|constrain|>json<|message|>" + json.dumps({"input": patch}) + "<|call|>",
        FINAL.format("Done."),
    ])
    assert (workspace / "hello.txt").read_text() == "hello from the model\n"
    assert len(asked) == 1 and asked[0].tool == "apply_patch" and "+hello from the model" in asked[0].preview
    assert "namespace functions" in prompts[0] and "apply_patch" in prompts[0]
    result = [e for e in events if isinstance(e, ToolResult)][0]
    assert result.status == "done" and "hello.txt" in result.output
    assert "<|start|>functions.apply_patch to=assistant<|channel|>commentary<|message|>" in prompts[1]


def test_a_declined_call_changes_nothing_and_the_model_is_told(tiny_session, enc, tmp_path):
    workspace = tmp_path / "work"
    workspace.mkdir()
    tools = ToolBox(ToolOptions(apply_patch=True, workspace=workspace), tmp_path / "python", approve=lambda request: False)
    patch = "*** Begin Patch\n*** Add File: nope.txt\n+x\n*** End Patch"
    events, prompts = run_turn(tiny_session, enc, tools, "Create nope.txt.", [
        "<|channel|>commentary to=functions.apply_patch <|constrain|>json<|message|>" + json.dumps({"input": patch}) + "<|call|>",
        FINAL.format("I could not."),
    ])
    assert not (workspace / "nope.txt").exists()
    result = [e for e in events if isinstance(e, ToolResult)][0]
    assert result.status == "declined" and "declined" in prompts[1]


def test_browser_searches_local_documents_and_the_next_step_reads_the_page(tiny_session, enc, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "tomatoes.md").write_text("# Growing tomatoes\n\nTomatoes want full sun and deep watering.\n")
    (docs / "zebras.md").write_text("# Zebras\n\nZebras are striped.\n")
    tools = ToolBox(ToolOptions(browser=True, browser_docs=docs), tmp_path / "python")  # the browser never asks
    events, prompts = run_turn(tiny_session, enc, tools, "How do I grow tomatoes?", [
        '<|channel|>analysis to=browser.search<|message|>{"query": "grow tomatoes"}<|call|>',
        FINAL.format("Full sun."),
    ])
    result = [e for e in events if isinstance(e, ToolResult)][0]
    assert result.status == "done" and "Growing tomatoes" in result.output
    assert "## browser" in prompts[0]
    assert "<|start|>browser.search to=assistant<|channel|>analysis<|message|>" in prompts[1] and "Growing tomatoes" in prompts[1]


def test_the_turn_stops_at_the_step_limit(tiny_session, enc, tmp_path):
    tools = ToolBox(ToolOptions(python=True, approval="auto", max_steps=1), tmp_path / "python")
    call = "<|channel|>analysis to=python<|message|>print(1)<|call|>"
    events, prompts = run_turn(tiny_session, enc, tools, "Loop.", [call, call])
    assert len([e for e in events if isinstance(e, ToolResult)]) == 1
    assert [e.finish_reason for e in events if isinstance(e, Done)] == ["tool_calls", "tool_calls"] and len(prompts) == 2


def test_a_tool_that_is_off_is_reported_to_the_model(tiny_session, enc, tmp_path):
    tools = ToolBox(ToolOptions(browser=True, browser_docs=tmp_path), tmp_path / "python")
    events, prompts = run_turn(tiny_session, enc, tools, "Run code.", [
        "<|channel|>analysis to=python<|message|>import os<|call|>",
        FINAL.format("No python here."),
    ])
    result = [e for e in events if isinstance(e, ToolResult)][0]
    assert result.status == "error" and "not available" in result.output


def test_tools_on_a_model_that_cannot_call_them_are_reported(tmp_path):
    tools = ToolBox(ToolOptions(python=True), tmp_path / "python")
    assert tools.unused_note("SmolLM2-135M-Instruct", can_call_tools=False) == (
        "SmolLM2-135M-Instruct cannot call tools (it is not GPT-OSS and its chat template declares no tool calls); "
        "it answers without the tools that are on (python)"
    )
    assert tools.unused_note("gpt-oss-20b", can_call_tools=True) is None
    assert ToolBox(ToolOptions(), tmp_path).unused_note("SmolLM2-135M-Instruct", can_call_tools=False) is None

"""MCP servers written with the official SDK, over stdio and streamable HTTP on 127.0.0.1: listed, called, timed out."""

from __future__ import annotations

import json

import pytest

from mlx_harmony_tui.cli.main import main
from mlx_harmony_tui.config.mcp import McpServer
from mlx_harmony_tui.tools.toolbox import ToolBox, ToolOptions
from tests.support.mcp_servers import serve_http, stdio_command, stdio_server


@pytest.fixture(scope="module")
def http_url():
    process, url = serve_http()
    yield url
    process.terminate()
    process.wait(10)


@pytest.fixture
def config_dir(tmp_path, monkeypatch):
    folder = tmp_path / "config"
    folder.mkdir()
    monkeypatch.setenv("MLX_HARMONY_CONFIG_DIR", str(folder))
    return folder


def test_tools_list_shows_every_servers_tools_with_schemas(http_url, config_dir, capsys):
    (config_dir / "settings.json").write_text(json.dumps({"mcpServers": {"web": {"url": http_url},
                                                                         "off": {"command": "nowhere", "disabled": True}}}))
    assert main(["tools", "list", "--json", "--apply-patch", "--mcp", f"notes={stdio_command()}"]) == 0
    listed = {t["name"]: t for t in json.loads(capsys.readouterr().out)}
    assert set(listed) == {"apply_patch", "web__add", "web__lookup_note", "notes__add", "notes__lookup_note"}
    assert listed["notes__add"]["parameters"]["properties"].keys() == {"a", "b"}
    assert listed["web__lookup_note"]["description"] == "Look up the note about a topic."
    assert listed["web__lookup_note"]["server"] == "web"

    assert main(["tools", "list", "--browser"]) == 0  # the plain list: names, what other models call them, parameters
    out = capsys.readouterr().out
    assert "browser.open  (other models call it browser_open)" in out and "web__add  [MCP server web: add]" in out
    assert "parameters: a (integer, required), b (integer, required)" in out


def test_tools_call_runs_one_call_under_the_chat_approval_policy(http_url, config_dir, capsys):
    stdio = f"notes={stdio_command()}"
    assert main(["tools", "call", "notes__add", '{"a": 2, "b": 40}', "--mcp", stdio, "--auto-approve-tools"]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == "42" and "[notes__add: done in" in err

    url = f"web={http_url}"
    assert main(["tools", "call", "functions.web__lookup_note", '{"topic": "mlx"}', "--mcp", url, "--auto-approve-tools"]) == 0
    assert "MLX is an array framework" in capsys.readouterr().out

    # No terminal to ask on and no --auto-approve-tools: declined, as in a chat.
    assert main(["tools", "call", "web__add", '{"a": 1, "b": 1}', "--mcp", url]) == 1
    out, err = capsys.readouterr()
    assert "declined" in out and "pass --auto-approve-tools" in err
    # ...unless the settings say this server's tool runs without asking.
    (config_dir / "settings.json").write_text(json.dumps({"mcpServers": {"web": {"url": http_url, "alwaysAllow": ["add"]}}}))
    assert main(["tools", "call", "web__add", '{"a": 1, "b": 1}']) == 0
    assert capsys.readouterr().out.strip() == "2"

    assert main(["tools", "call", "web__add", "not json", "--mcp", url]) == 2
    assert "ARGUMENTS: not valid JSON" in capsys.readouterr().err
    assert main(["tools", "call", "web__nothing", "{}", "--mcp", url]) == 1
    assert "not available here" in capsys.readouterr().out


def test_bad_server_settings_are_one_clear_line(config_dir, capsys):
    (config_dir / "settings.json").write_text(json.dumps({"mcpServers": {"files": {"args": ["x"]}}}))
    assert main(["tools", "list"]) == 0  # the damaged settings give the defaults, and say why
    assert "mcpServers.files: give either command (a local server) or url" in capsys.readouterr().err
    assert main(["tools", "list", "--mcp", "two__parts=true"]) == 2
    assert "--mcp: MCP server name 'two__parts'" in capsys.readouterr().err


def test_servers_that_fail_or_hang_time_out_cleanly(tmp_path):
    broken = {"silent": stdio_server("silent"), "missing": McpServer(command="no-such-mcp-server")}
    tools = ToolBox(ToolOptions(mcp_servers=broken, mcp_start_timeout_s=2, approval="auto"), tmp_path / "python")
    try:
        assert tools.specs() == []
        notices = tools.take_notices()
        assert any("'silent'" in n and "did not start within 2 s; it was stopped" in n for n in notices)
        assert any("'missing'" in n and "command not found (no-such-mcp-server)" in n for n in notices)
    finally:
        tools.close()

    options = ToolOptions(mcp_servers={"napper": stdio_server("nap")}, mcp_start_timeout_s=120, mcp_call_timeout_s=2, approval="auto")
    tools = ToolBox(options, tmp_path / "python")
    try:
        assert [s.name for s in tools.specs()] == ["napper__add", "napper__lookup_note", "napper__nap", "napper__crash"]
        output, status, _ = tools.run("functions.napper__nap", "{}")
        assert status == "error" and "did not answer nap within 2 s" in output.text
        output, status, _ = tools.run("functions.napper__add", '{"a": 1, "b": 2}')  # the server still serves
        assert (status, output.text) == ("done", "3")
        output, status, _ = tools.run("functions.napper__crash", "{}")  # the server dies mid-call
        assert status == "error" and "'napper'" in output.text and "Connection closed" in output.text
        assert [s.name for s in tools.specs()] == []  # its tools are gone, and the user is told
        assert any("'napper'" in n and "crashing on purpose" in n for n in tools.take_notices())
    finally:
        tools.close()


def test_a_profiles_mcp_servers_join_the_settings_ones(http_url, config_dir, tmp_path, capsys):
    profiles = tmp_path / "profiles.json"
    profiles.write_text(json.dumps({"notes": {"tools": ["python"], "mcpServers": {"web": {"url": http_url}}}}))
    assert main(["tools", "list", "--json", "--profile", "notes", "--profiles-file", str(profiles)]) == 0
    assert [t["name"] for t in json.loads(capsys.readouterr().out)] == ["python", "web__add", "web__lookup_note"]
    profiles.write_text(json.dumps({"broken": {"mcpServers": {"web": {"url": "ftp://example.invalid"}}}}))
    assert main(["tools", "list", "--profile", "broken", "--profiles-file", str(profiles)]) == 2
    assert "broken.mcpServers.web.url: must be an http:// or https:// URL" in capsys.readouterr().err

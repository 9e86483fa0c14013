"""MCP lines a user meets run after run (issue 28, item 8): said once per setup, and a malformed setup refused first.

The console scripts run as subprocesses with their own data and config folders, as a user runs them: the line chat
on the tiny GPT-OSS model (it can call tools) and on the default model (it cannot), and ``mlx-harmony tools``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from mlx_harmony_tui.cli.main import main
from tests.cli.test_chat_cli import chat, chat_env
from tests.cli.test_generate_cli import write_json
from tests.support.mcp_servers import stdio_server

CRASH = {"command": sys.executable, "args": ["-c", "import sys; print('no tools today', file=sys.stderr); sys.exit(3)"]}


def settings(tmp_path: Path, servers: dict) -> Path:
    return write_json(tmp_path / "config" / "settings.json", {"mcpServers": servers})


def said(result) -> str:
    return result.stdout + result.stderr


def test_a_server_that_fails_to_start_is_reported_once_per_configuration(tiny_gpt_oss_dir, tmp_path, monkeypatch, capsys):
    settings(tmp_path, {"crashy": CRASH})
    run = ["--model", str(tiny_gpt_oss_dir), "--max-tokens", "2", "--temperature", "0"]
    first = chat(tmp_path, *run, stdin="Hi\nAgain\n")
    assert first.returncode == 0, first.stderr
    assert said(first).count("MCP server 'crashy'") == 1 and "no tools today" in said(first)
    assert "mlx-harmony tools list shows it again" in said(first)

    second = chat(tmp_path, *run, stdin="Hi\n")
    assert second.returncode == 0, second.stderr
    assert "crashy" not in said(second).replace("starting MCP server crashy", "")  # the failure is not said again

    for name, value in chat_env(tmp_path).items():  # mlx-harmony tools, where the user asks: said every time
        monkeypatch.setenv(name, value)
    assert main(["tools", "list"]) == 0
    assert "MCP server 'crashy'" in capsys.readouterr().err

    settings(tmp_path, {"crashy": {**CRASH, "env": {"CHANGED": "1"}}})  # a new configuration: news again
    third = chat(tmp_path, *run, stdin="Hi\n")
    assert said(third).count("MCP server 'crashy'") == 1


def test_the_default_model_says_once_that_it_cannot_call_the_settings_servers(default_model_dir, tmp_path):
    settings(tmp_path, {"notes": json.loads(stdio_server().model_dump_json(by_alias=True))})
    run = ["--max-tokens", "1", "--temperature", "0"]
    first = chat(tmp_path, *run, stdin="Hi\n")
    assert first.returncode == 0, first.stderr
    assert "cannot call tools" in said(first) and "(MCP notes)" in said(first)
    second = chat(tmp_path, *run, stdin="Hi\n")
    assert second.returncode == 0, second.stderr
    assert "cannot call tools" not in said(second)
    asked = chat(tmp_path, *run, "--python", stdin="Hi\n")  # tools asked for on this run: said every time
    assert "cannot call tools" in said(asked) and "(python, MCP notes)" in said(asked)


def test_a_malformed_server_setup_is_refused_before_any_server_starts(tmp_path, monkeypatch, capsys):
    for name, value in chat_env(tmp_path).items():
        monkeypatch.setenv(name, value)
    good = json.loads(stdio_server().model_dump_json(by_alias=True))
    servers = {"good": good, "files": {"command": "npx -y @modelcontextprotocol/server-filesystem"},
               "here": {"command": sys.executable, "cwd": str(tmp_path / "no-such-folder")}}
    path = settings(tmp_path, servers)
    assert main(["tools", "list"]) == 0  # a damaged settings file gives the defaults, and says why
    err = capsys.readouterr().err
    assert f"{path}: mcpServers: files.command: 'npx -y @modelcontextprotocol/server-filesystem' is not a program" in err
    assert "its arguments go in args" in err and "here.cwd:" in err and "is not a folder" in err  # every problem at once
    logs = tmp_path / "data" / "mcp-logs"
    assert not (logs / "good.log").exists()  # nothing was started

    profiles = write_json(tmp_path / "profiles.json", {"notes": {"mcpServers": servers}})
    assert main(["tools", "list", "--profile", "notes", "--profiles-file", str(profiles)]) == 2
    err = capsys.readouterr().err
    assert f"{profiles}: notes.mcpServers: files.command:" in err and "here.cwd:" in err
    assert main(["tools", "list", "--mcp", "x=no-such-program --port 3"]) == 2
    assert "--mcp x: command: 'no-such-program' is not a program that can be started (not found on PATH)" in capsys.readouterr().err
    assert not (logs / "good.log").exists()


def test_tool_call_arguments_are_checked_before_any_server_starts(tmp_path, monkeypatch, capsys):
    for name, value in chat_env(tmp_path).items():
        monkeypatch.setenv(name, value)
    settings(tmp_path, {"good": json.loads(stdio_server().model_dump_json(by_alias=True))})
    assert main(["tools", "call", "good__add", "not json"]) == 2
    assert "ARGUMENTS: not valid JSON" in capsys.readouterr().err
    assert not (tmp_path / "data" / "mcp-logs" / "good.log").exists()

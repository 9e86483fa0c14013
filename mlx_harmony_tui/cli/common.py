"""What every command-line front end shares: sampling flags, progress, errors."""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from pydantic import ValidationError

from ..chat.terminal_text import strip_controls
from ..config.mcp import parse_mcp_flag
from ..config.sampling import SamplingParams
from ..errors import UserError
from ..tools.browser.web_search import SearchEndpoint
from ..tools.toolbox import ToolOptions

SAMPLING_FLAGS: list[tuple[str, type, str]] = [
    ("temperature", float, "0 = greedy; 0-2"),
    ("top_p", float, "nucleus mass to keep, 0-1 (1 = off)"),
    ("top_k", int, "keep the k most likely tokens (0 = off)"),
    ("min_p", float, "drop tokens below this fraction of the top token's probability, 0-1"),
    ("min_tokens_to_keep", int, "top-p and min-p always keep at least this many tokens"),
    ("repetition_penalty", float, "> 1 discourages repeating recent tokens"),
    ("repetition_context_size", int, "how many recent tokens (prompt and answer) the penalty looks at"),
    ("presence_penalty", float, "-2 to 2: lowers tokens the answer already has (OpenAI's presence penalty)"),
    ("frequency_penalty", float, "-2 to 2: lowers tokens by how often the answer has them (OpenAI's frequency penalty)"),
    ("xtc_probability", float, "chance per token that XTC drops the top choices, 0-1"),
    ("xtc_threshold", float, "XTC drops tokens at least this likely, 0-0.5"),
    ("seed", int, "random seed for reproducible sampling (-1 = a new random seed, as in prompt configs)"),
    ("speculative", str, "ngram: draft tokens by prompt lookup and check them in one pass (same answers, faster copies); off"),
    ("draft_tokens", int, "most tokens drafted at a time with --speculative ngram, 1-16"),
]
DECODING_FLAGS = ("speculative", "draft_tokens")  # the sampling flags of commands whose sampling comes from profiles


def add_decoding_flags(parser: argparse.ArgumentParser) -> None:
    """``--speculative`` and ``--draft-tokens``, for the app and the server (their other sampling comes from profiles)."""
    group = parser.add_argument_group("decoding")
    for name, kind, help_text in SAMPLING_FLAGS:
        if name in DECODING_FLAGS:
            group.add_argument("--" + name.replace("_", "-"), dest=name, type=kind, default=None, help=help_text)


def add_model_flags(parser: argparse.ArgumentParser, kv_cache: bool = False) -> None:
    parser.add_argument("--model", "-m", help="mlx-lm folder, .gguf file or Hugging Face repo id (default: the embedded SmolLM2-135M-Instruct)")
    if not kv_cache:
        return
    parser.add_argument("--kv-bits", type=int, choices=(2, 3, 4, 6, 8), default=None, help="store the KV cache quantized to this many bits (not for GPT-OSS)")
    parser.add_argument("--kv-group-size", type=int, choices=(32, 64, 128), default=64, help="quantization group size for --kv-bits")


def add_sampling_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("sampling")
    for name, kind, help_text in SAMPLING_FLAGS:
        group.add_argument("--" + name.replace("_", "-"), dest=name, type=kind, default=None, help=help_text)
    group.add_argument("--max-tokens", dest="max_tokens", type=int, default=None, help="most tokens to generate")
    group.add_argument("--logit-bias", dest="logit_bias", default=None, help='token biases, e.g. "42=-100,7=2.5" or a JSON object')
    group.add_argument("--reseed-each-turn", dest="reseed_each_turn", action="store_true", default=None, help="apply --seed again at every turn")


def add_tool_flags(parser: argparse.ArgumentParser, keep_earlier: bool = False) -> None:
    """The tool flags, the same on every command that chats (GPT-OSS, and models whose chat template calls tools).

    ``keep_earlier`` (a subcommand's copy of the flags): a flag not given here
    leaves what the main command's flags set.
    """
    group = parser.add_argument_group("tools (GPT-OSS, and models whose chat template calls tools)")
    group.add_argument("--python", action="store_true", help="let the model run Python in a sandbox (asks before each run)")
    group.add_argument("--browser", action="store_true", help="let the model search and open pages (the web, or --browser-docs)")
    group.add_argument("--apply-patch", action="store_true", help="let the model edit files in --workspace with patches (asks first)")
    group.add_argument("--workspace", metavar="DIR", help="the only folder apply_patch may change (default: the current folder)")
    group.add_argument("--browser-docs", metavar="DIR", help="browse this folder of Markdown, text and HTML files instead of the web")
    search = group.add_mutually_exclusive_group()
    search.add_argument("--search-url", metavar="URL", help="the web search endpoint for the browser, with {query} in it")
    search.add_argument("--searxng-url", metavar="URL", help="search with the SearXNG instance at this URL (its JSON API; no key)")
    group.add_argument("--browser-allow-private", action="store_true",
                       help="let the browser open this machine's and the local network's addresses (refused by default)")
    group.add_argument("--mcp", action="append", default=[], metavar="NAME=COMMAND",
                       help="an MCP server's tools: NAME=COMMAND ARGS (started locally, stdio) or NAME=URL (streamable "
                            "HTTP); repeat for more; settings.json's mcpServers are on too")
    group.add_argument("--auto-approve-tools", action="store_true", help="run python, apply_patch and MCP calls without asking")
    group.add_argument("--max-tool-steps", type=int, default=8, metavar="N", help="tool calls allowed in one turn (default 8)")
    if keep_earlier:
        for action in group._group_actions:
            action.default = argparse.SUPPRESS


def tool_options(args: argparse.Namespace) -> ToolOptions:
    """ToolOptions from the tool flags, checked: a bad folder or count is one clear error."""
    workspace = Path(args.workspace).expanduser() if args.workspace else Path.cwd()
    if not workspace.is_dir():
        raise UserError(f"--workspace: {workspace} is not a folder")
    docs = Path(args.browser_docs).expanduser() if args.browser_docs else None
    if docs is not None and not docs.is_dir():
        raise UserError(f"--browser-docs: {docs} is not a folder")
    if args.search_url and "{query}" not in args.search_url:
        raise UserError("--search-url: must contain {query}")
    if args.search_url:
        SearchEndpoint.from_template(args.search_url, "--search-url")
    if args.searxng_url:
        SearchEndpoint.searxng(args.searxng_url, "--searxng-url")
    if args.max_tool_steps < 1:
        raise UserError("--max-tool-steps: must be at least 1")
    mcp = dict(parse_mcp_flag(text) for text in getattr(args, "mcp", None) or [])
    return ToolOptions(
        python=args.python,
        browser=args.browser or docs is not None,
        apply_patch=args.apply_patch,
        workspace=workspace.resolve(),
        browser_docs=docs.resolve() if docs else None,
        search_url=args.search_url,
        searxng_url=args.searxng_url,
        browser_allow_private=args.browser_allow_private,
        approval="auto" if args.auto_approve_tools else "ask",
        max_steps=args.max_tool_steps,
        mcp_servers=mcp,
    )


def ask_on_terminal(request) -> bool:
    """Approval for python, apply_patch and MCP tools: asked on the terminal, declined when there is none."""
    print(strip_controls(f"\nThe model wants to {request.what()} ({request.recipient}):\n{request.preview}"), file=sys.stderr)
    if not sys.stdin.isatty():
        print("[declined: no terminal to ask on; pass --auto-approve-tools to allow]", file=sys.stderr)
        return False
    print("Run it? [y/N]: ", end="", file=sys.stderr, flush=True)
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def parse_logit_bias(text: str) -> dict[int, float]:
    """Parse ``"42=-100,7=2.5"`` or ``{"42": -100}``; UserError naming the bad entry."""
    text = text.strip()
    try:
        if text.startswith("{"):
            return {int(k): float(v) for k, v in json.loads(text).items()}
        pairs = [p for p in text.split(",") if p.strip()]
        return {int(k): float(v) for k, v in (p.split("=", 1) for p in pairs)}
    except (ValueError, TypeError, AttributeError):
        raise UserError(f"--logit-bias: cannot read {text!r}; expected TOKEN=BIAS pairs like 42=-100,7=2.5") from None


def sampling_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The sampling values the user gave on the command line (and only those)."""
    names = [n for n, _, _ in SAMPLING_FLAGS] + ["max_tokens", "reseed_each_turn"]
    values = {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}
    if values.get("seed") == -1:
        values["seed"] = None  # the seed tool's "random", which also overrides a profile's fixed seed
    if getattr(args, "logit_bias", None):
        values["logit_bias"] = parse_logit_bias(args.logit_bias)
    return values


def validated_sampling(base: SamplingParams, overrides: dict[str, Any]) -> SamplingParams:
    """Merge ``overrides`` into ``base`` SamplingParams; UserError naming the flag at fault."""
    try:
        return base.with_changes(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        flag = "--" + field.split(".")[0].replace("_", "-")
        raise UserError(f"{flag}: {first['msg']} (got {first.get('input')!r})") from None


def checked_sampling(args: argparse.Namespace) -> dict[str, Any]:
    """The sampling flags given, each range-checked (UserError naming the flag)."""
    overrides = sampling_overrides(args)
    validated_sampling(SamplingParams(), overrides)
    return overrides


@contextmanager
def progress_display(enabled: bool) -> Iterator[Callable[[str, float], None]]:
    """A progress bar on stderr for model preparation (silent when not a terminal)."""
    if not enabled:
        last: list[str] = []

        def plain(stage: str, fraction: float) -> None:
            # Without a terminal, say only the slow first-time steps, once each.
            if stage.startswith(("downloading", "converting", "extracting")) and stage.split(":")[0] not in last:
                last.append(stage.split(":")[0])
                print(f"mlx-harmony: {stage.split(':')[0]}", file=sys.stderr)

        yield plain
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=Console(stderr=True), transient=True
    ) as bar:
        task = bar.add_task("preparing model", total=1.0)

        def update(stage: str, fraction: float) -> None:
            bar.update(task, description=stage, completed=fraction)

        yield update


def stats_line(done: Any) -> str:
    """One line of figures for a finished generation (a ``Done`` event)."""
    s = done.stats
    return (
        f"[{done.finish_reason}] prompt {s.prompt_tokens} tok ({s.cached_tokens} cached), {s.completion_tokens} generated, "
        f"TTFT {s.ttft_s:.2f}s, prefill {s.prefill_tps:.1f} tok/s, decode {s.decode_tps:.1f} tok/s, "
        f"peak memory {s.peak_memory_gb:.2f} GB"
        + (f", drafts kept {s.accepted_tokens}/{s.drafted_tokens}" if s.drafted_tokens else "")
    )


def fail(message: str) -> int:
    print(strip_controls(f"error: {message}"), file=sys.stderr)
    return 2


def _warning_line(message, category, filename, lineno, line=None) -> str:
    return f"warning: {message}\n"


def run_main(body: Callable[[], int]) -> int:
    """Run a command: user errors print one line and exit 2; Ctrl-C exits 130."""
    warnings.formatwarning = _warning_line
    try:
        return body()
    except UserError as exc:
        return fail(str(exc))
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0

"""``mlx-harmony-generate``: answer one prompt, streaming to stdout."""

from __future__ import annotations

import argparse
import sys

from ..chat.completion import complete_text
from ..chat.session import ChatSession
from ..chat.startup import StartOptions, load_app_settings, make_toolbox, run_settings, unused_tools_note
from ..chat.terminal_text import ControlStripper, strip_controls
from ..config.response_schema import load_schema_file
from ..engine.events import Done, Notice, TextDelta, ToolResult
from ..engine.token_generator import TokenGenerator
from ..errors import UserError
from .common import (
    add_model_flags,
    add_sampling_flags,
    add_tool_flags,
    ask_on_terminal,
    checked_sampling,
    progress_display,
    run_main,
    stats_line,
    tool_options,
)
from .launch import add_group_flags, grouped


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mlx-harmony-generate", description="Answer one prompt with a local MLX model, streaming the answer to stdout.")
    add_model_flags(parser, kv_cache=True)
    add_group_flags(parser)
    parser.add_argument("--prompt", "-p", help="the question; '-' or omitted reads standard input")
    parser.add_argument("--system", help="a system message to send before the prompt")
    parser.add_argument("--raw", action="store_true", help="send the prompt as raw text, without the chat template")
    parser.add_argument("--prompt-config", help="a prompt config JSON file (system text and sampling defaults)")
    parser.add_argument("--profile", help="a profile name (model + prompt config + sampling)")
    parser.add_argument("--profiles-file", help="the profiles JSON file to read --profile from")
    parser.add_argument("--show-analysis", action="store_true", help="GPT-OSS: also print the reasoning (analysis channel) to stderr")
    parser.add_argument("--stats", action="store_true", help="print TTFT, tok/s and memory to stderr at the end")
    parser.add_argument("--json-schema", metavar="FILE",
                        help="a JSON schema file: the answer is JSON that follows it (GPT-OSS: the final answer; the reasoning stays free)")
    add_sampling_flags(parser)
    add_tool_flags(parser)
    return parser


def _read_prompt(args: argparse.Namespace) -> str:
    if args.prompt is not None and args.prompt != "-":
        prompt = args.prompt
    elif sys.stdin is not None and not sys.stdin.isatty():
        prompt = sys.stdin.read()
    else:
        raise UserError("--prompt: no prompt given (pass --prompt TEXT or pipe it on standard input)")
    if not prompt.strip():
        raise UserError("--prompt: the prompt is empty")
    return prompt


def _generate(args: argparse.Namespace) -> int:
    prompt = _read_prompt(args)
    if args.raw and args.system:
        raise UserError("--system: cannot be combined with --raw, which sends the prompt exactly as given")
    if args.raw and args.json_schema:
        raise UserError("--json-schema: cannot be combined with --raw; the schema is declared in the chat prompt")
    schema = load_schema_file(args.json_schema) if args.json_schema else None
    options = StartOptions(
        model=args.model, profile=args.profile, profiles_file=args.profiles_file, prompt_config=args.prompt_config,
        tools=tool_options(args), sampling=checked_sampling(args), system=args.system, interactive=False,
        response_schema=schema,
    )
    app_settings, problems = load_app_settings()  # a damaged settings file: the defaults (tools ask first) are the safe choice
    for problem in problems:
        print(strip_controls(f"warning: {problem}"), file=sys.stderr)
    settings = run_settings(options, app_settings)
    tools = make_toolbox(options.tools, app_settings, approve=ask_on_terminal)
    if args.raw and (tools.active or settings.tools):
        raise UserError("--raw: tools need the chat format; leave out --raw or the tool flags")
    with progress_display(sys.stderr.isatty()) as progress:
        generator = TokenGenerator(settings.model, sampling=settings.sampling, progress=progress, kv_bits=args.kv_bits,
                                   kv_group_size=args.kv_group_size)
    session = ChatSession(settings, generator=generator, system=args.system, tools=tools)
    try:
        unused = unused_tools_note(tools, session.info.name, session.info.tool_calling, app_settings)
        if unused:
            print(strip_controls(f"note: {unused}"), file=sys.stderr)
        stream = complete_text(generator, "raw", prompt, settings.sampling) if args.raw else session.send(prompt)
        done = None
        answer, reasoning = ControlStripper(), ControlStripper()
        for event in stream:
            if isinstance(event, TextDelta):
                if event.channel == "final":
                    sys.stdout.write(answer.feed(event.text))
                    sys.stdout.flush()
                elif args.show_analysis and event.text:
                    sys.stderr.write(reasoning.feed(event.text))
                    sys.stderr.flush()
            elif isinstance(event, Notice):
                print(strip_controls(f"[{event.text}]"), file=sys.stderr, flush=True)
            elif isinstance(event, ToolResult):
                print(strip_controls(f"\n[{event.recipient}: {event.status} in {event.duration_s:.2f} s]"), file=sys.stderr, flush=True)
            elif isinstance(event, Done):
                done = event
        sys.stderr.write(reasoning.end())
        sys.stdout.write(answer.end() + "\n")
        sys.stdout.flush()
        if args.stats and done is not None:
            print(stats_line(done), file=sys.stderr)
    finally:
        session.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_main(grouped(args, __spec__.name, argv, lambda: _generate(args)))


if __name__ == "__main__":
    sys.exit(main())

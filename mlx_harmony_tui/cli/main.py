"""``mlx-harmony``: the app's main command and its subcommands."""

from __future__ import annotations

import argparse
import json
import sys

from ..errors import UserError
from ..version import __version__
from .common import add_decoding_flags, add_model_flags, add_tool_flags, checked_sampling, progress_display, run_main, tool_options
from .launch import add_group_flags, grouped
from .logs import add_logs_parser, run_logs
from .tools import add_tools_parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlx-harmony", description="Chat with local MLX language models. With no command, opens the full-screen app."
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    parser.add_argument("--model", "-m", help="mlx-lm folder, .gguf file or Hugging Face repo id (default: the embedded model)")
    parser.add_argument("--profile", help="a profile name (model + prompt config + sampling)")
    parser.add_argument("--profiles-file", help="the profiles JSON file to read --profile from")
    parser.add_argument("--prompt-config", help="a prompt config JSON file")
    parser.add_argument("--chat", help="resume a saved chat (its id, a unique start of it, or a path)")
    add_tool_flags(parser)
    add_decoding_flags(parser)
    add_group_flags(parser)
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("doctor", help="show platform, MLX backend, BLAS, Harmony vocabulary, default model and folders")
    prepare = sub.add_parser("prepare", help="fetch and convert a model now (the default model when none is named)")
    add_model_flags(prepare)
    bench = sub.add_parser("bench", help="benchmarks against raw mlx-lm on the same model")
    bench_sub = bench.add_subparsers(dest="bench_command", required=True)
    engine = bench_sub.add_parser("engine", help="prefill/decode tok/s, TTFT and memory: this engine vs mlx-lm generate_step")
    add_model_flags(engine)
    add_group_flags(engine)
    engine.add_argument("--json", action="store_true", help="print one JSON line")
    engine.add_argument("--prompt-tokens", type=int, default=512)
    engine.add_argument("--max-tokens", type=int, default=128)
    engine.add_argument("--rounds", type=int, default=8, help="paired rounds after a warm-up (default 8)")
    turns = bench_sub.add_parser("turns", help="a growing chat turn by turn: this server against mlx_lm.server, cached tokens and TTFT")
    turns.add_argument("--model", "-m", help="a GPT-OSS mlx-lm folder, .gguf file or Hugging Face repo id "
                       "(default: a tiny GPT-OSS whose answers are analysis, built on first use)")
    turns.add_argument("--turns", type=int, help="how many turns (default 8; 20 with --resume)")
    turns.add_argument("--user-tokens", type=int, default=64, help="about how long each user message is (default 64)")
    turns.add_argument("--max-tokens", type=int, default=64, help="tokens per answer (default 64)")
    turns.add_argument("--rounds", type=int, default=3, help="chats (or reopenings) to take each turn's median over (default 3)")
    turns.add_argument("--resume", action="store_true",
                       help="instead: TTFT of the next turn of a saved chat in a new process, from the disk cache vs cold")
    turns.add_argument("--json", action="store_true", help="print one JSON line")
    logs_bench = bench_sub.add_parser("logs", help="listing 1,000 chat logs and opening a 2,000-message one")
    logs_bench.add_argument("--logs", type=int, default=1000, help="how many logs to list (default 1000)")
    logs_bench.add_argument("--messages", type=int, default=2000, help="messages in the long log (default 2000)")
    logs_bench.add_argument("--json", action="store_true", help="print one JSON line")
    tui_bench = bench_sub.add_parser("tui", help="the app's decode speed against the engine alone, key latency, first frame")
    tui_bench.add_argument("--max-tokens", type=int, default=128, help="tokens per answer (default 128)")
    tui_bench.add_argument("--rounds", type=int, default=3, help="answers per side (default 3)")
    tui_bench.add_argument("--json", action="store_true", help="print one JSON line")
    server_bench = bench_sub.add_parser("server", help="many clients at once: this server against mlx_lm.server on the same model")
    add_model_flags(server_bench)
    server_bench.add_argument("--clients", default="1,4,8", help="client counts, comma-separated (default 1,4,8)")
    server_bench.add_argument("--max-tokens", type=int, default=128, help="tokens per answer (default 128)")
    server_bench.add_argument("--rounds", type=int, default=2, help="answers each client streams, one after another (default 2)")
    server_bench.add_argument("--json", action="store_true", help="print one JSON line")
    http_bench = bench_sub.add_parser("http", help="TTFT and decode tok/s streamed over HTTP against the engine alone")
    add_model_flags(http_bench)
    http_bench.add_argument("--max-tokens", type=int, default=128, help="tokens per answer (default 128)")
    http_bench.add_argument("--rounds", type=int, default=3, help="answers per side (default 3)")
    http_bench.add_argument("--json", action="store_true", help="print one JSON line")
    speculative = bench_sub.add_parser("speculative", help="prompt-lookup drafts on code edits and prose: tok/s against "
                                       "raw mlx-lm and against drafts off, one stream and several")
    add_model_flags(speculative)
    speculative.add_argument("--max-tokens", type=int, default=256, help="tokens per answer (default 256)")
    speculative.add_argument("--rounds", type=int, default=2, help="answers per prompt and side (default 2)")
    speculative.add_argument("--streams", type=int, default=8, help="streams at once in the burst (default 8)")
    speculative.add_argument("--json", action="store_true", help="print one JSON line")
    agent = bench_sub.add_parser("agent", help="a coding agent's traffic (shared opening, tool loops, sessions at once): "
                                 "this server against mlx_lm.server")
    agent.add_argument("--model", "-m", help="mlx-lm folder, .gguf file or Hugging Face repo id (default: the embedded model; "
                       "with --api responses or messages, a tiny GPT-OSS built on first use)")
    agent.add_argument("--api", default="chat", metavar="API", help="chat (both servers, the default), responses or messages "
                       "(this server only, a GPT-OSS model)")
    agent.add_argument("--opening-tokens", type=int, default=5000, help="the shared system message's length (default 5000)")
    agent.add_argument("--steps", default="10-15", metavar="N|A-B", help="tool steps per session (default 10-15)")
    agent.add_argument("--answer-tokens", default="32-128", metavar="N|A-B", help="forced answer length per step (default 32-128)")
    agent.add_argument("--result-tokens", default="100-2000", metavar="N|A-B", help="tool result length per step (default 100-2000)")
    agent.add_argument("--tools", type=int, default=12, help="how many of the 12 tools to declare (default 12)")
    agent.add_argument("--seed", type=int, default=0, help="the trace's seed (default 0)")
    agent.add_argument("--rounds", type=int, default=1, help="replays per server, the first server alternating (default 1)")
    agent.add_argument("--first", default="ours", metavar="ours|theirs", help="the server going first in round 1 (default ours)")
    agent.add_argument("--json", action="store_true", help="print one JSON line")
    interrupt = bench_sub.add_parser("interrupt", help="a one-line request sent while a long prompt is read: its wait, on this "
                                     "server and mlx_lm.server")
    add_model_flags(interrupt)
    interrupt.add_argument("--long-tokens", type=int, default=5000, help="the long prompt's length (default 5000)")
    interrupt.add_argument("--delay", type=float, default=1.5, help="seconds between the long prompt and the short one (default 1.5)")
    interrupt.add_argument("--max-tokens", type=int, default=8, help="tokens per answer (default 8)")
    interrupt.add_argument("--json", action="store_true", help="print one JSON line")
    constrained = bench_sub.add_parser("constrained", help="decode tok/s with a JSON schema against without, and the mask's cost")
    add_model_flags(constrained)
    constrained.add_argument("--max-tokens", type=int, default=128, help="tokens per answer (default 128)")
    constrained.add_argument("--rounds", type=int, default=6, help="paired rounds (default 6)")
    constrained.add_argument("--json", action="store_true", help="print one JSON line")
    dataset = bench_sub.add_parser("dataset", help="the standard questions as one growing conversation: per-turn TTFT, tok/s, memory")
    add_model_flags(dataset)
    dataset.add_argument("--profile", help="use this profile's model, prompt config and sampling (default: greedy)")
    dataset.add_argument("--turns", type=int, default=20, help="how many questions, asked in order (default 20)")
    dataset.add_argument("--max-tokens", type=int, default=128, help="most tokens per answer (default 128)")
    dataset.add_argument("--max-context-tokens", type=int, help="drop the oldest turns beyond this many prompt tokens")
    dataset.add_argument("--questions", metavar="FILE", help="a questions JSON file shaped like the standard set")
    dataset.add_argument("--out", metavar="DIR", help="write dataset.csv and dataset.json into this folder")
    dataset.add_argument("--json", action="store_true", help="print one JSON line")
    blas = bench_sub.add_parser("blas", help="a float32 matmul with the BLAS in use against the one mlx bundles")
    blas.add_argument("--size", type=int, default=1024, help="matrix size (default 1024)")
    blas.add_argument("--json", action="store_true", help="print one JSON line")
    report = bench_sub.add_parser("report", help="run every benchmark; write report.md, report.json and SVG plots")
    add_model_flags(report)
    report.add_argument("--out", metavar="DIR", required=True, help="the folder to write the report into")
    report.add_argument("--quick", action="store_true", help="small sizes: a few minutes on a 2-core CPU")
    add_logs_parser(sub)
    add_tools_parser(sub)
    return parser


def _prepare(model: str | None) -> int:
    from ..engine.token_generator import TokenGenerator

    with progress_display(sys.stderr.isatty()) as progress:
        generator = TokenGenerator(model, progress=progress)
    print(f"{generator.info.name}: ready at {generator.info.path}")
    generator.close()
    return 0


def _check_counts(args: argparse.Namespace, flags: tuple[str, ...]) -> None:
    for flag in flags:
        if getattr(args, flag) < 1:
            raise UserError(f"--{flag.replace('_', '-')}: must be at least 1")


def _bench_engine(args: argparse.Namespace) -> int:
    from ..bench.engine_bench import format_table, run_engine_bench

    _check_counts(args, ("prompt_tokens", "max_tokens", "rounds"))
    with progress_display(sys.stderr.isatty()) as progress:
        result = run_engine_bench(args.model, args.prompt_tokens, args.max_tokens, args.rounds, progress)
    print(json.dumps(result.as_dict()) if args.json else format_table(result))
    return 0


def _bench_turns(args: argparse.Namespace) -> int:
    if args.turns is None:
        args.turns = 20 if args.resume else 8
    _check_counts(args, ("turns", "user_tokens", "max_tokens", "rounds"))
    if args.resume:
        from ..bench import resume_bench

        with progress_display(sys.stderr.isatty()) as progress:
            resumed = resume_bench.run_resume_bench(args.model, args.turns, args.user_tokens, args.max_tokens, progress, args.rounds)
        print(json.dumps(resumed) if args.json else resume_bench.format_table(resumed))
        return 0
    from ..bench.turns_bench import format_table, run_turns_bench

    with progress_display(sys.stderr.isatty()) as progress:
        result = run_turns_bench(args.model, args.turns, args.user_tokens, args.max_tokens, progress, args.rounds)
    print(json.dumps(result.as_dict()) if args.json else format_table(result))
    return 0


def _bench_logs(args: argparse.Namespace) -> int:
    from ..bench.logs_bench import format_table, run_logs_bench

    _check_counts(args, ("logs", "messages"))
    result = run_logs_bench(args.logs, args.messages)
    print(json.dumps(result) if args.json else format_table(result))
    return 0


def _bench_tui(args: argparse.Namespace) -> int:
    from ..bench.tui_bench import format_table, run_tui_bench

    _check_counts(args, ("max_tokens", "rounds"))
    result = run_tui_bench(args.max_tokens, args.rounds)
    print(json.dumps(result) if args.json else format_table(result))
    return 0


def _client_counts(text: str) -> tuple[int, ...]:
    try:
        counts = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        counts = ()
    if not counts or min(counts) < 1:
        raise UserError(f"--clients: expected client counts like 1,4,8 (got {text!r})")
    return counts


def _bench_server(args: argparse.Namespace) -> int:
    from ..bench.server_bench import format_table, run_server_bench

    _check_counts(args, ("max_tokens", "rounds"))
    clients = _client_counts(args.clients)
    with progress_display(sys.stderr.isatty()) as progress:
        result = run_server_bench(args.model, clients, args.max_tokens, args.rounds, progress)
    print(json.dumps(result) if args.json else format_table(result))
    return 0


def _bench_http(args: argparse.Namespace) -> int:
    from ..bench.http_bench import format_table, run_http_bench

    _check_counts(args, ("max_tokens", "rounds"))
    with progress_display(sys.stderr.isatty()) as progress:
        result = run_http_bench(args.model, args.max_tokens, args.rounds, progress)
    print(json.dumps(result) if args.json else format_table(result))
    return 0


def _token_range(flag: str, text: str) -> tuple[int, int]:
    low, _, high = text.partition("-")
    try:
        bounds = (int(low), int(high or low))
    except ValueError:
        bounds = (0, 0)
    if not 1 <= bounds[0] <= bounds[1]:
        raise UserError(f"--{flag}: expected a count or a range like 10-15, from 1 up (got {text!r})")
    return bounds


def _bench_interrupt(args: argparse.Namespace) -> int:
    from ..bench.interrupt_bench import format_table, run_interrupt_bench

    _check_counts(args, ("long_tokens", "max_tokens"))
    if args.delay < 0:
        raise UserError("--delay: must be 0 or more")
    with progress_display(sys.stderr.isatty()) as progress:
        result = run_interrupt_bench(args.model, args.long_tokens, args.delay, args.max_tokens, progress)
    print(json.dumps(result) if args.json else format_table(result))
    return 0


def _bench_speculative(args: argparse.Namespace) -> int:
    from ..bench.speculative_bench import format_table, run_speculative_bench

    _check_counts(args, ("max_tokens", "rounds", "streams"))
    with progress_display(sys.stderr.isatty()) as progress:
        result = run_speculative_bench(args.model, args.max_tokens, args.rounds, args.streams, progress)
    print(json.dumps(result) if args.json else format_table(result))
    return 0


def _bench_agent(args: argparse.Namespace) -> int:
    from ..bench.agent_bench import SERVERS, format_table, run_agent_bench
    from ..bench.agent_opening import TOOLS
    from ..bench.agent_requests import APIS
    from ..bench.agent_trace import TraceSizes

    _check_counts(args, ("opening_tokens", "tools", "rounds"))
    if args.api not in APIS:
        raise UserError(f"--api: expected chat, responses or messages (got {args.api!r})")
    if args.first not in ("ours", "theirs"):
        raise UserError(f"--first: expected ours or theirs (got {args.first!r})")
    if args.tools > len(TOOLS):
        raise UserError(f"--tools: the trace has {len(TOOLS)} tools (got {args.tools})")
    sizes = TraceSizes(args.opening_tokens, _token_range("steps", args.steps), _token_range("answer-tokens", args.answer_tokens),
                       _token_range("result-tokens", args.result_tokens), args.tools, args.seed)
    with progress_display(sys.stderr.isatty()) as progress:
        result = run_agent_bench(args.model, args.api, sizes, args.rounds, SERVERS[args.first == "theirs"], progress)
    print(json.dumps(result) if args.json else format_table(result))
    return 0


def _bench_constrained(args: argparse.Namespace) -> int:
    from ..bench.constrained_bench import format_table, run_constrained_bench

    _check_counts(args, ("max_tokens", "rounds"))
    with progress_display(sys.stderr.isatty()) as progress:
        result = run_constrained_bench(args.model, args.max_tokens, args.rounds, progress)
    print(json.dumps(result.as_dict()) if args.json else format_table(result))
    return 0


def _bench_dataset(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..bench.dataset_bench import format_table, run_dataset_bench, write_dataset_tables

    _check_counts(args, ("turns", "max_tokens") + (("max_context_tokens",) if args.max_context_tokens is not None else ()))
    with progress_display(sys.stderr.isatty()) as progress:
        result = run_dataset_bench(args.model, args.profile, args.turns, args.max_tokens, args.max_context_tokens,
                                   args.questions, args.profiles_file, progress)
    if args.out:
        write_dataset_tables(result, Path(args.out).expanduser())
    print(json.dumps(result.as_dict()) if args.json else format_table(result))
    return 0


def _bench_blas(args: argparse.Namespace) -> int:
    from ..bench.blas_bench import format_table, run_blas_bench

    _check_counts(args, ("size",))
    result = run_blas_bench(args.size)
    print(json.dumps(result) if args.json else format_table(result))
    return 0


def _bench_report(args: argparse.Namespace) -> int:
    from ..bench.report import QUICK, STANDARD, run_report
    from ..bench.report_text import headline

    data = run_report(args.out, args.model, QUICK if args.quick else STANDARD, "quick" if args.quick else "standard")
    print(headline(data))
    print(f"report written to {args.out}/report.md")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        print(f"mlx-harmony {__version__}")
        return 0
    if args.command == "doctor":
        from .doctor import run_doctor

        return run_main(run_doctor)
    if args.command == "prepare":
        return run_main(lambda: _prepare(args.model))
    if args.command == "bench":
        bench = {"turns": _bench_turns, "logs": _bench_logs, "tui": _bench_tui, "server": _bench_server,
                 "dataset": _bench_dataset, "report": _bench_report, "blas": _bench_blas, "http": _bench_http,
                 "constrained": _bench_constrained, "agent": _bench_agent, "interrupt": _bench_interrupt,
                 "speculative": _bench_speculative}.get(args.bench_command)
        if bench is None:
            return run_main(grouped(args, __spec__.name, argv, lambda: _bench_engine(args)))
        return run_main(lambda: bench(args))
    if args.command == "logs":
        return run_main(lambda: run_logs(args))
    if args.command == "tools":
        from .tools import run_tools

        return run_main(lambda: run_tools(args))
    from ..tui.app import StartOptions, run_app

    def start() -> int:
        options = StartOptions(args.model, args.profile, args.profiles_file, args.prompt_config, args.chat, tool_options(args),
                               sampling=checked_sampling(args))
        return run_app(options)

    return run_main(grouped(args, __spec__.name, argv, start, full_screen=True))


if __name__ == "__main__":
    sys.exit(main())

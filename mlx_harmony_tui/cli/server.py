"""``mlx-harmony-server``: serve a local model over OpenAI's and Anthropic's HTTP APIs."""

from __future__ import annotations

import argparse
import os
import signal
import sys

from ..chat.startup import cache_budget, disk_cache, load_app_settings
from ..errors import UserError
from ..server.app import create_app
from ..server.background import listen
from ..server.body_limit import DEFAULT_MAX_REQUEST_MB, MB
from ..server.catalog import ModelCatalog
from .common import add_decoding_flags, add_model_flags, checked_sampling, progress_display, run_main
from .launch import add_group_flags, grouped

API_KEY_ENV = "MLX_HARMONY_API_KEY"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlx-harmony-server",
        description="Serve a local MLX model over an OpenAI-compatible HTTP API (/v1/chat/completions, /v1/completions, "
        "/v1/responses, /v1/models, /health) and Anthropic's Messages API (/v1/messages), streaming token by token.",
    )
    add_model_flags(parser)
    add_decoding_flags(parser)
    add_group_flags(parser)
    parser.add_argument("--profile", help="start with this profile (model + prompt config + sampling)")
    parser.add_argument("--profiles-file", help="the profiles JSON file; every profile in it is served under its name")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000; 0 picks a free one)")
    parser.add_argument("--api-key", default=os.environ.get(API_KEY_ENV),
                        help=f"require 'Authorization: Bearer KEY' or 'x-api-key: KEY' on /v1 (default: ${API_KEY_ENV}; none = open)")
    parser.add_argument("--allowed-origins", default="", help="comma-separated origins allowed by CORS, e.g. http://localhost:3000")
    parser.add_argument("--preload", action="store_true", help="load the model at start instead of on the first request")
    parser.add_argument("--max-concurrency", type=int, default=8,
                        help="generations that run at once, decoding together (default 8)")
    parser.add_argument("--max-queue", type=int, default=16,
                        help="requests that may wait beyond those (default 16; more get 429)")
    parser.add_argument("--max-request-mb", type=float, default=DEFAULT_MAX_REQUEST_MB,
                        help=f"largest request body taken, in MB (default {DEFAULT_MAX_REQUEST_MB:g}); larger ones get 413")
    parser.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"), help="server log detail")
    return parser


def _origins(text: str) -> list[str]:
    origins = [o.strip() for o in text.split(",") if o.strip()]
    for origin in origins:
        if origin != "*" and not origin.startswith(("http://", "https://")):
            raise UserError(f"--allowed-origins: {origin!r} is not an origin like http://localhost:3000 (or *)")
    return origins


def serve(args: argparse.Namespace) -> int:
    import uvicorn  # only when serving: the command's --help stays quick


    if args.max_queue < 0:
        raise UserError("--max-queue: must be 0 or more")
    if args.max_concurrency < 1:
        raise UserError("--max-concurrency: must be at least 1")
    if not 0 < args.max_request_mb * MB < 2**63:  # also refuses nan
        raise UserError("--max-request-mb: must be a number more than 0")
    if args.api_key is not None and not args.api_key.strip():
        raise UserError("--api-key: must not be empty")
    origins = _origins(args.allowed_origins)
    catalog = ModelCatalog.from_flags(args.model, args.profile, args.profiles_file).with_sampling(checked_sampling(args))
    sock = listen(args.host, args.port)
    settings, problems = load_app_settings()
    for problem in problems:
        print(f"warning: {problem}", file=sys.stderr)
    app = create_app(catalog, api_key=args.api_key, allowed_origins=origins, max_queue=args.max_queue,
                     cache_budget_bytes=cache_budget(settings), max_concurrency=args.max_concurrency,
                     disk_cache=disk_cache(settings), max_request_bytes=max(1, int(args.max_request_mb * MB)))
    if args.preload:
        with progress_display(sys.stderr.isatty()) as progress:
            app.state.slot.preload(catalog.startup.settings.model, progress)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    print(f"mlx-harmony-server: serving {', '.join(catalog.ids())} at http://{shown}:{port}/v1", file=sys.stderr, flush=True)
    sys.setswitchinterval(0.001)  # the event loop gets each token from the slot threads without waiting 5 ms for the GIL
    config = uvicorn.Config(app, log_level=args.log_level, timeout_graceful_shutdown=5)
    if _serve_until_stopped(uvicorn, config, sock):
        raise KeyboardInterrupt  # exit 130, as every command stopped with Ctrl-C
    return 0


def _serve_until_stopped(uvicorn, config, sock) -> bool:
    """Run uvicorn until a signal stops it; True when that was Ctrl-C.

    uvicorn re-raises the SIGINT it caught once it has shut down, but that did
    not always come back here as KeyboardInterrupt (once in a fresh clone's
    suite the server exited 0): remember it here instead.
    """
    interrupted: list[int] = []

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame) -> None:
            if sig == signal.SIGINT:
                interrupted.append(sig)
            super().handle_exit(sig, frame)

    Server(config).run(sockets=[sock])
    return bool(interrupted)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_main(grouped(args, __spec__.name, argv, lambda: serve(args)))


if __name__ == "__main__":
    sys.exit(main())

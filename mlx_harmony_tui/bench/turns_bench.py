"""``mlx-harmony bench turns``: growing chats, turn by turn, on this server and on ``mlx_lm.server``.

A chat: a system message, then ``turns`` user messages of about
``user_tokens`` tokens. Every request carries the whole conversation, earlier
answers as an OpenAI client sends them back (their content only, no
reasoning); greedy, ``max_tokens`` tokens (end tokens biased away). There are
``rounds`` such chats, each its own; every figure is a turn's median over them.

The default model is a tiny GPT-OSS whose every answer is analysis text
(:mod:`mlx_harmony_tui.models.analysis_gpt_oss`, built on first use).
Harmony drops earlier turns' analysis from the next prompt, so what a server
cached (prompt and answer) stops being a prefix of the next prompt, and
sliding-window caches past their 128-token window cannot be cut back to the
shared part: a server reuses it only if it kept a copy from before the answer
(this engine snapshots the prompt but its last token; ``mlx_lm.server``
0.32.2, measured, does the same). ``model`` may name a real GPT-OSS folder.

1. This engine, in this process, answers each turn twice: reusing the
   conversation's cache and cold, prefilling the whole prompt (the "engine"
   columns, TTFT from the call to the first text). Its answers make the
   conversation both servers are sent.
2. Both servers are started by the bench on 127.0.0.1, on the same model
   folder with the same BLAS, warmed up with another chat that has the same
   system message (as a server in use has served), and sent the same
   requests, taking turns going first. Per turn: prompt and cached
   tokens as the server's usage reports them
   (``prompt_tokens_details.cached_tokens``, which both report), and TTFT: from sending the
   request to the first streamed text of the answer's message.
   ``mlx_lm.server`` streams the Harmony header (``<|channel|>analysis<|message|>``)
   as text; its TTFT is taken at the first text after it, so both servers
   count the same tokens.

Each chat's first user message (and the warm-up's) carries a tag of its own,
so no earlier chat's prompt cache, in memory or on disk, serves it whole.
"""

from __future__ import annotations

import secrets
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import httpx

from ..chat.prompt import build_prompt
from ..config.resolve import RunSettings
from ..config.sampling import SamplingParams
from ..engine.events import Done, TextDelta
from ..engine.token_generator import TokenGenerator
from .server_bench import _ours, _theirs
from .sse import stream_chunks
from .where import machine_now, run_place, table_opening

Progress = Callable[[str, float], None]
SERVERS = ("mlx-harmony", "mlx_lm.server")
SYSTEM = "You are a helpful assistant. Answer carefully and completely."
HEADER_END = "<|message|>"  # where the Harmony header mlx_lm.server streams as text ends
TOPICS = (
    "the tides", "bread baking", "bridge design", "bird migration", "glass making", "river deltas",
    "clock mechanisms", "paper folding", "volcanoes", "map projections", "beekeeping", "sailing knots",
)
FILLER = (
    "Please consider the history, the main principles, the common mistakes beginners make, the tools "
    "professionals rely on, and how the practice differs between countries and centuries. "
)


@dataclass
class TurnsBenchResult:
    model: str
    backend: str
    blas: str
    platform: str
    turns: int
    user_tokens: int
    max_tokens: int
    rounds: int  # chats; each per-turn figure is the median over them
    prompt_tokens: list[int]  # the engine's, in process
    cached_tokens: list[int]
    cached_fraction: list[float]
    ttft_reuse_s: list[float]
    ttft_cold_s: list[float]
    last_over_first_reuse: float
    last_over_first_cold: float
    servers: dict[str, dict[str, list]] = field(default_factory=dict)  # per server: per-turn lists
    ttft_server_ratio: float = 0.0  # median TTFT of turns 2..N, mlx_lm.server / mlx-harmony
    cores: int = 0  # the machine's cores and its load average when the run began (see where.machine_now)
    load: float = -1.0

    def as_dict(self) -> dict:
        return asdict(self)


def user_message(turn: int, user_tokens: int, encode: Callable[[str], list], tag: str = "") -> str:
    """A question about a topic, padded to about ``user_tokens`` tokens (``tag`` opens the first one)."""
    question = (f"Chat {tag}. " if tag and turn == 0 else "") + f"Turn {turn + 1}: tell me about {TOPICS[turn % len(TOPICS)]}. "
    per_filler = max(len(encode(FILLER)), 1)
    repeats = max((user_tokens - len(encode(question))) // per_filler, 0)
    return question + FILLER * repeats


def warm_up_chat(tag: str) -> list[dict]:
    """Another chat with the same system message, tagged with this run so no cache on disk serves it."""
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": f"Warm-up {tag}: name three colours."}]


def bench_model(model: str | None) -> str:
    """``model``, or the tiny analysis-speaking GPT-OSS folder (built on first use) when None."""
    if model is not None:
        return model
    from ..harmony.vocab import ensure_vocab
    from ..models.analysis_gpt_oss import ensure_analysis_gpt_oss

    return str(ensure_analysis_gpt_oss(ensure_vocab()))


def _engine_turns(generator: TokenGenerator, users: list[str], max_tokens: int, bias: dict[int, float],
                  tag: str) -> tuple[list[dict], list[tuple[int, int, float, float]]]:
    """The conversation this engine answers, and per turn (prompt, cached, TTFT reusing, TTFT cold).

    TTFT here is what a caller of ``TokenGenerator.stream`` sees: from the call to the first text.
    """
    info = generator.info
    settings = RunSettings(model=None, sampling=SamplingParams(temperature=0.0, max_tokens=max_tokens))

    def answer(conversation: list[dict], reuse_cache: bool = True) -> tuple[str, float, Done]:
        prompt = build_prompt(settings, info.is_gpt_oss, conversation)
        content, first, done = [], None, None
        start = time.perf_counter()
        for event in generator.stream(messages=prompt.messages, harmony=prompt.harmony, max_tokens=max_tokens,
                                      temperature=0.0, logit_bias=bias, reuse_cache=reuse_cache):
            if isinstance(event, TextDelta) and event.text:
                first = first or time.perf_counter()
                if event.channel == "final":
                    content.append(event.text)
            elif isinstance(event, Done):
                done = event
        if first is None or done is None:
            raise RuntimeError("an answer had no text")
        return "".join(content), first - start, done

    answer(warm_up_chat(tag), reuse_cache=False)  # kernels and allocator, so turn 1 is not charged for them
    conversation: list[dict] = [{"role": "system", "content": SYSTEM}]
    rows = []
    for text in users:
        conversation.append({"role": "user", "content": text})
        content, reuse_ttft, done = answer(conversation)
        _, cold_ttft, _ = answer(conversation, reuse_cache=False)
        rows.append((done.stats.prompt_tokens, done.stats.cached_tokens, reuse_ttft, cold_ttft))
        conversation.append({"role": "assistant", "content": content})
    return conversation, rows


def stream_turn(client: httpx.Client, model: str, messages: list[dict], max_tokens: int, bias: dict[int, float]) -> dict:
    """One streamed chat request: TTFT, usage's prompt, cached and completion tokens, and whether any text came.

    TTFT runs to the message's first text (content or reasoning past a raw Harmony header) or, failing that, its
    first tool call; an answer with neither (a random-weight model may say anything) is timed to its last chunk and
    has ``no_text`` set, so a bench can count such answers. An error in the stream raises with its text.
    """
    body = {"model": model, "messages": messages, "max_tokens": max_tokens, "temperature": 0, "stream": True,
            "stream_options": {"include_usage": True}, "logit_bias": {str(t): b for t, b in bias.items()}}
    start = time.perf_counter()
    first, last, seen, usage = None, None, "", {}
    for chunk in stream_chunks(client, body):
        if chunk.get("error"):
            raise RuntimeError(f"the server's stream ended in an error: {chunk['error']}")
        last = time.perf_counter()
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            piece = delta.get("content") or delta.get("reasoning_content") or delta.get("reasoning") or ""
            seen += piece
            if first is None and piece and (not seen.startswith("<|channel|>") or seen.partition(HEADER_END)[2]):
                first = time.perf_counter()
            if first is None and delta.get("tool_calls"):
                first = time.perf_counter()
        usage = chunk.get("usage") or usage
    if last is None or not usage:
        raise RuntimeError("the answer's stream carried no chunk with usage")
    details = usage.get("prompt_tokens_details") or {}
    return {"ttft_s": (first or last) - start, "prompt_tokens": usage.get("prompt_tokens"),
            "cached_tokens": details.get("cached_tokens"), "completion_tokens": usage.get("completion_tokens"),
            "no_text": first is None}


def _median_turns(rounds: list[list], pick: Callable = statistics.median) -> list:
    """Per turn, ``pick`` of that turn's value over the rounds."""
    return [pick(values) for values in zip(*rounds)]


def _median_low(values: list):
    """The lower median; None when a server did not report the figure."""
    return None if any(v is None for v in values) else statistics.median_low(values)


def _servers(folder: Path, chats: list[list[dict]], max_tokens: int, bias: dict[int, float], tag: str,
             report: Progress) -> dict[str, dict[str, list]]:
    """Both servers, started at once, sent each chat turn by turn (each request: the chat up to that user message).

    The servers take turns going first, turn by turn, so a busy moment of the machine falls on both alike.
    Per server: per-turn lists over the rounds (``*_rounds``) and their medians.
    """
    keys = ("prompt_tokens", "cached_tokens", "ttft_s", "completion_tokens")
    raw = {name: {key: [[] for _ in chats] for key in keys} for name in SERVERS}
    turns = sum(m["role"] == "user" for m in chats[0])
    with tempfile.TemporaryDirectory(prefix="mlx-harmony-bench-turns-") as logs:
        report("starting both servers", 0.4)
        with (
            _ours(folder, Path(logs) / "ours.log", 1) as ours,
            _theirs(folder, Path(logs) / "theirs.log") as theirs,
            httpx.Client(base_url=ours, timeout=1800) as ours_client,
            httpx.Client(base_url=theirs, timeout=1800) as theirs_client,
        ):
            served = ours_client.get("/v1/models").json()["data"][0]["id"]
            sides = {SERVERS[0]: (ours_client, served), SERVERS[1]: (theirs_client, str(folder))}
            for client, model in sides.values():  # load, compile, allocate; leaves the system message's start cached
                stream_turn(client, model, warm_up_chat(tag), 4, bias)
            for r, chat in enumerate(chats):
                users = [i for i, m in enumerate(chat) if m["role"] == "user"]
                for t, index in enumerate(users):
                    step = r * turns + t
                    report(f"servers, chat {r + 1}/{len(chats)}, turn {t + 1}/{turns}", 0.45 + 0.55 * step / (len(chats) * turns))
                    order = SERVERS if step % 2 == 0 else SERVERS[::-1]
                    for name in order:
                        client, model = sides[name]
                        figures = stream_turn(client, model, chat[: index + 1], max_tokens, bias)
                        for key in keys:
                            raw[name][key][r].append(figures[key])
    servers = {}
    for name, lists in raw.items():
        counts = {key: _median_turns(lists[key], _median_low) for key in keys if key != "ttft_s"}
        servers[name] = {**counts, "ttft_s": _median_turns(lists["ttft_s"]), "ttft_s_rounds": lists["ttft_s"]}
    return servers


def run_turns_bench(model: str | None = None, turns: int = 8, user_tokens: int = 64, max_tokens: int = 64,
                    progress: Progress | None = None, rounds: int = 3) -> TurnsBenchResult:
    """Run ``rounds`` chats on this engine, then on both servers; see the module's docstring."""
    report = progress or (lambda _m, _f: None)
    machine = machine_now()
    spec = bench_model(model)
    tags = [f"{secrets.randbelow(10**8):08d}" for _ in range(rounds + 1)]  # fixed width: the same token count every run
    with TokenGenerator(spec, progress=report) as generator:
        folder, place = Path(generator.info.path), run_place(generator.info.name, machine)
        bias = {t: -100.0 for t in generator.tokenizer.eos_token_ids}
        chats, engine = [], []
        for r, tag in enumerate(tags[1:]):
            report(f"engine, chat {r + 1}/{rounds}", 0.05 + 0.35 * r / rounds)
            users = [user_message(turn, user_tokens, generator.tokenizer.encode, tag) for turn in range(turns)]
            chat, rows = _engine_turns(generator, users, max_tokens, bias, tags[0])
            chats.append(chat)
            engine.append(rows)
    servers = _servers(folder, chats, max_tokens, bias, tags[0], report)
    report("done", 1.0)
    prompts = _median_turns([[row[0] for row in rows] for rows in engine], statistics.median_low)
    cached = _median_turns([[row[1] for row in rows] for rows in engine], statistics.median_low)
    reuse = _median_turns([[row[2] for row in rows] for rows in engine])
    cold = _median_turns([[row[3] for row in rows] for rows in engine])
    ours, theirs = (servers[name]["ttft_s"][1:] or servers[name]["ttft_s"] for name in SERVERS)
    return TurnsBenchResult(
        **place,
        turns=turns,
        user_tokens=user_tokens,
        max_tokens=max_tokens,
        rounds=rounds,
        prompt_tokens=prompts,
        cached_tokens=cached,
        cached_fraction=[c / p for c, p in zip(cached, prompts)],
        ttft_reuse_s=reuse,
        ttft_cold_s=cold,
        last_over_first_reuse=reuse[-1] / reuse[0] if reuse[0] else 0.0,
        last_over_first_cold=cold[-1] / cold[0] if cold[0] else 0.0,
        servers=servers,
        ttft_server_ratio=statistics.median(theirs) / statistics.median(ours) if statistics.median(ours) else 0.0,
    )


def _cell(value, width: int, digits: int = 0) -> str:
    if value is None:
        return f"{'-':>{width}}"
    return f"{value:>{width}.{digits}f}" if digits else f"{value:>{width}}"


def format_table(result: TurnsBenchResult) -> str:
    ours, theirs = (result.servers[name] for name in SERVERS)
    lines = [
        *table_opening(vars(result)),
        f"a system message and {result.turns} user messages of about {result.user_tokens} tokens, answers of "
        f"{result.max_tokens} tokens, greedy; each request carries the whole chat, earlier answers as content only; "
        f"medians of {result.rounds} chat{'s' if result.rounds > 1 else ''}",
        f"{'':>4} {'':>6} | {'mlx-harmony server':^20} | {'mlx_lm.server':^20} | {'engine in process':^20}",
        f"{'turn':>4} {'prompt':>6} | {'cached':>7} {'TTFT s':>12} | {'cached':>7} {'TTFT s':>12} | "
        f"{'reuse s':>9} {'cold s':>10}",
    ]
    for i in range(result.turns):
        lines.append(
            f"{i + 1:>4} {_cell(ours['prompt_tokens'][i], 6)} | {_cell(ours['cached_tokens'][i], 7)} "
            f"{_cell(ours['ttft_s'][i], 12, 4)} | {_cell(theirs['cached_tokens'][i], 7)} {_cell(theirs['ttft_s'][i], 12, 4)} | "
            f"{result.ttft_reuse_s[i]:>9.4f} {result.ttft_cold_s[i]:>10.4f}"
        )
    if theirs["prompt_tokens"] != ours["prompt_tokens"]:
        lines.append(f"mlx_lm.server read other prompt lengths: {theirs['prompt_tokens']}")
    if any(c is None for c in theirs["cached_tokens"]):
        lines.append("mlx_lm.server did not report cached tokens for every turn ('-'): compare TTFT there")
    turns = f"turns 2-{result.turns}" if result.turns > 1 else "turn 1"
    lines.append(f"median TTFT of {turns}: mlx_lm.server / mlx-harmony server = {result.ttft_server_ratio:.2f}x")
    return "\n".join(lines)

"""``mlx-harmony bench turns``: one growing conversation, with and without cache reuse.

Each turn adds a user message of about ``user_tokens`` tokens and is answered
twice on the same loaded model: in the conversation, reusing its cache, and
cold, prefilling the whole prompt in a fresh cache (what mlx-lm's server does
for GPT-OSS, whose sliding-window cache it cannot trim). The conversation
goes on with the first answer's final text. GPT-OSS runs with its built-in
tools (browser, python) described in the system message, as in the app,
unless ``tools=False``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable

from ..chat.prompt import build_prompt
from ..config.resolve import RunSettings
from ..config.sampling import SamplingParams
from ..engine.events import Done, TextDelta
from ..engine.token_generator import TokenGenerator
from ..tools.toolbox import ToolBox, ToolOptions
from .where import run_place

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
    tools: bool
    prompt_tokens: list[int]
    cached_tokens: list[int]
    cached_fraction: list[float]
    ttft_reuse_s: list[float]
    ttft_cold_s: list[float]
    last_over_first_reuse: float
    last_over_first_cold: float

    def as_dict(self) -> dict:
        return asdict(self)


def user_message(turn: int, user_tokens: int, encode: Callable[[str], list]) -> str:
    """A question about a topic, padded to about ``user_tokens`` tokens."""
    question = f"Turn {turn + 1}: tell me about {TOPICS[turn % len(TOPICS)]}. "
    per_filler = max(len(encode(FILLER)), 1)
    repeats = max((user_tokens - len(encode(question))) // per_filler, 0)
    return question + FILLER * repeats


def run_turns_bench(
    model: str | None,
    turns: int = 10,
    user_tokens: int = 64,
    max_tokens: int = 64,
    tools: bool = True,
    progress: Callable[[str, float], None] | None = None,
) -> TurnsBenchResult:
    report = progress or (lambda _m, _f: None)
    rows: list[tuple[int, int, float, float]] = []
    with TokenGenerator(model, progress=report) as generator:
        info = generator.info
        encode = generator.tokenizer.encode
        tools = tools and info.is_gpt_oss
        settings = RunSettings(model=model, sampling=SamplingParams(temperature=0.0, max_tokens=max_tokens))
        toolbox = ToolBox(ToolOptions(python=tools, browser=tools))  # declared to the model, never run here

        def prompt(conversation: list[dict]) -> dict:
            messages, harmony, _ = build_prompt(settings, info.is_gpt_oss, conversation, **({"toolbox": toolbox} if info.is_gpt_oss else {}))
            return {"messages": messages, "harmony": harmony}

        # Warm kernels and allocator up on a throwaway prompt, so turn 1 is not charged for it.
        for _ in generator.stream(**prompt([{"role": "user", "content": user_message(99, user_tokens, encode)}]),
                                  max_tokens=4, temperature=0.0, reuse_cache=False):
            pass
        conversation: list[dict] = []
        for turn in range(turns):
            report(f"turn {turn + 1}/{turns}", turn / turns)
            conversation.append({"role": "user", "content": user_message(turn, user_tokens, encode)})
            final: list[str] = []
            warm = cold = None
            for event in generator.stream(**prompt(conversation), max_tokens=max_tokens, temperature=0.0):
                if isinstance(event, TextDelta) and event.channel == "final":
                    final.append(event.text)
                elif isinstance(event, Done):
                    warm = event.stats
            for event in generator.stream(**prompt(conversation), max_tokens=max_tokens, temperature=0.0, reuse_cache=False):
                if isinstance(event, Done):
                    cold = event.stats
            assert warm is not None and cold is not None  # stream always ends with Done or raises
            rows.append((warm.prompt_tokens, warm.cached_tokens, warm.ttft_s, cold.ttft_s))
            conversation.append({"role": "assistant", "content": "".join(final).strip()})
        report("done", 1.0)
    reuse = [r[2] for r in rows]
    cold_ttft = [r[3] for r in rows]
    return TurnsBenchResult(
        **run_place(info.name),
        turns=turns,
        user_tokens=user_tokens,
        max_tokens=max_tokens,
        tools=tools,
        prompt_tokens=[r[0] for r in rows],
        cached_tokens=[r[1] for r in rows],
        cached_fraction=[r[1] / r[0] for r in rows],
        ttft_reuse_s=reuse,
        ttft_cold_s=cold_ttft,
        last_over_first_reuse=reuse[-1] / reuse[0] if reuse[0] else 0.0,
        last_over_first_cold=cold_ttft[-1] / cold_ttft[0] if cold_ttft[0] else 0.0,
    )


def format_table(result: TurnsBenchResult) -> str:
    lines = [
        f"model {result.model} on {result.backend} ({result.blas}), {result.platform}",
        f"user messages of about {result.user_tokens} tokens, answers of up to {result.max_tokens}"
        + (", built-in tools described" if result.tools else ""),
        f"{'turn':>4} {'prompt':>7} {'cached':>7} {'fraction':>8} {'TTFT reuse s':>13} {'TTFT cold s':>12}",
    ]
    for i in range(result.turns):
        lines.append(
            f"{i + 1:>4} {result.prompt_tokens[i]:>7} {result.cached_tokens[i]:>7} {result.cached_fraction[i]:>8.3f} "
            f"{result.ttft_reuse_s[i]:>13.4f} {result.ttft_cold_s[i]:>12.4f}"
        )
    lines.append(
        f"last turn / first turn TTFT: {result.last_over_first_reuse:.2f}x with reuse, {result.last_over_first_cold:.2f}x cold"
    )
    return "\n".join(lines)

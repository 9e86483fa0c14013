"""``mlx-harmony bench dataset``: the standard questions, asked as one growing conversation.

The questions in ``questions.json`` (writing, coding, maths, facts, advice,
multi-step; some refer back to earlier answers) are sent in order through a
real :class:`~mlx_harmony_tui.chat.session.ChatSession`, the path the app
and the line chat use: each answer joins the conversation, so every prompt
holds the turns before it and the engine reuses their cache, as in a real
chat. ``max_context_tokens`` drops the oldest turns once the conversation
outgrows it. Sampling is greedy, unless a profile is named: then the
profile's sampling is used (``max_tokens`` still comes from here).

The per-turn table holds what the engine reported for each answer.
"""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

from pydantic import BaseModel, Field, ValidationError

from .where import machine_now, run_place, table_opening

QUESTIONS_FILE = Path(__file__).with_name("questions.json")
COLUMNS = (
    "turn", "question_id", "category", "prompt_tokens", "cached_tokens", "dropped_turns", "ttft_s", "prefill_tps",
    "decode_tps", "completion_tokens", "peak_memory_gb", "finish_reason", "turn_s",
)
WARM_UP = [{"role": "user", "content": "Say hello."}]


class Question(BaseModel):
    """One instruction of the set; ``refers_to`` names the earlier question a follow-up depends on."""

    id: int
    category: str = Field(min_length=1)
    text: str = Field(min_length=1)
    refers_to: int | None = None


class QuestionSet(BaseModel):
    description: str = ""
    questions: list[Question] = Field(min_length=1)


def load_questions(path: Path | None = None) -> list[Question]:
    """The questions of ``path`` (default: the standard set), in order; UserError naming the file and field."""
    from ..errors import UserError

    path = Path(path).expanduser() if path else QUESTIONS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UserError(f"{path}: cannot read the questions: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: not valid JSON: {exc}") from None
    try:
        questions = QuestionSet.model_validate(data).questions
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise UserError(f"{path}: {where}: {first['msg']}") from None
    ids = [q.id for q in questions]
    for q in questions:
        if ids.count(q.id) > 1:
            raise UserError(f"{path}: question {q.id}: the id is used more than once")
        if q.refers_to is not None and q.refers_to not in ids[: ids.index(q.id)]:
            raise UserError(f"{path}: question {q.id}: refers_to {q.refers_to} is not an earlier question's id")
    return questions


@dataclass
class DatasetTurn:
    """One answer's figures, as the engine reported them (``turn_s``: the whole turn, by the wall clock)."""

    turn: int
    question_id: int
    category: str
    prompt_tokens: int
    cached_tokens: int
    dropped_turns: int
    ttft_s: float
    prefill_tps: float
    decode_tps: float
    completion_tokens: int
    peak_memory_gb: float
    finish_reason: str
    turn_s: float


@dataclass
class DatasetBenchResult:
    model: str
    backend: str
    blas: str
    platform: str
    profile: str | None
    questions_file: str
    turns: int
    max_tokens: int
    max_context_tokens: int | None
    greedy: bool
    rows: list[DatasetTurn] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)
    cores: int = 0  # the machine's cores and its load average when the run began (see where.machine_now)
    load: float = -1.0

    def as_dict(self) -> dict:
        return asdict(self)


def run_dataset_bench(
    model: str | None = None,
    profile: str | None = None,
    turns: int = 20,
    max_tokens: int = 128,
    max_context_tokens: int | None = None,
    questions_file: Path | None = None,
    profiles_file: str | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> DatasetBenchResult:
    """Ask the first ``turns`` questions as one conversation; one row of figures per answer."""
    import time

    from ..chat.session import ChatSession
    from ..config.resolve import resolve_run_settings
    from ..engine.events import Done
    from ..errors import UserError

    report = progress or (lambda _m, _f: None)
    machine = machine_now()
    questions = load_questions(questions_file)
    if turns > len(questions):
        raise UserError(f"--turns: at most {len(questions)}, the number of questions in {questions_file or QUESTIONS_FILE}")
    settings = resolve_run_settings(model=model, profile=profile, profiles_file=profiles_file)
    if max_context_tokens is not None:
        settings = replace(settings, max_context_tokens=max_context_tokens)
    sampling: dict = {"max_tokens": max_tokens}
    if profile is None:
        sampling["temperature"] = 0.0
    session = ChatSession(settings, progress=report)
    try:
        info = session.info
        # Warm kernels and the allocator up outside the conversation, so turn 1 is not charged for it.
        for _ in session.generator.stream(messages=WARM_UP, max_tokens=4, temperature=0.0, reuse_cache=False):
            pass
        rows: list[DatasetTurn] = []
        answers: list[str] = []
        for turn, question in enumerate(questions[:turns], 1):
            report(f"turn {turn}/{turns}", (turn - 1) / turns)
            start = time.perf_counter()
            done = None
            for event in session.send(question.text, **sampling):
                if isinstance(event, Done):
                    done = event
            assert done is not None  # a turn always ends with Done or raises
            s = done.stats
            rows.append(DatasetTurn(
                turn=turn, question_id=question.id, category=question.category, prompt_tokens=s.prompt_tokens,
                cached_tokens=s.cached_tokens, dropped_turns=s.dropped_turns, ttft_s=s.ttft_s, prefill_tps=s.prefill_tps,
                decode_tps=s.decode_tps, completion_tokens=s.completion_tokens, peak_memory_gb=s.peak_memory_gb,
                finish_reason=done.finish_reason, turn_s=time.perf_counter() - start,
            ))
            answers.append(session.history[-1]["content"])
        report("done", 1.0)
    finally:
        session.generator.close()
    return DatasetBenchResult(
        **run_place(info.name, machine),
        profile=profile,
        questions_file=str(questions_file or QUESTIONS_FILE),
        turns=turns,
        max_tokens=max_tokens,
        max_context_tokens=settings.max_context_tokens,
        greedy=profile is None,
        rows=rows,
        answers=answers,
    )


def write_dataset_tables(result: DatasetBenchResult, folder: Path) -> tuple[Path, Path]:
    """Write ``dataset.csv`` (one row per turn, :data:`COLUMNS`) and ``dataset.json`` (all of it) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    csv_path, json_path = folder / "dataset.csv", folder / "dataset.json"
    with csv_path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        for row in result.rows:
            writer.writerow(asdict(row))
    json_path.write_text(json.dumps(result.as_dict(), indent=1) + "\n", encoding="utf-8")
    return csv_path, json_path


def format_table(result: DatasetBenchResult) -> str:
    lines = [
        *table_opening(vars(result)),
        f"{result.turns} questions as one conversation, answers of up to {result.max_tokens} tokens, "
        + ("greedy" if result.greedy else f"profile {result.profile}'s sampling")
        + (f", context limit {result.max_context_tokens} tokens" if result.max_context_tokens else ""),
        f"{'turn':>4} {'category':<10} {'prompt':>7} {'cached':>7} {'TTFT s':>7} {'prefill/s':>9} {'decode/s':>8} "
        f"{'tokens':>6} {'peak GB':>7} finish",
    ]
    for r in result.rows:
        lines.append(
            f"{r.turn:>4} {r.category:<10} {r.prompt_tokens:>7} {r.cached_tokens:>7} {r.ttft_s:>7.3f} {r.prefill_tps:>9.1f} "
            f"{r.decode_tps:>8.2f} {r.completion_tokens:>6} {r.peak_memory_gb:>7.3f} {r.finish_reason}"
        )
    return "\n".join(lines)

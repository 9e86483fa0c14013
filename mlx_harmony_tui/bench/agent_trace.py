"""A coding agent's traffic as plain data: one opening, three sessions and two subagents, each a loop of tool steps.

Every session and subagent opens with the same system message (the agent's
instructions, its tools as JSON schemas, a map of the repository: about
``opening_tokens`` tokens) and then its own task. A step is one request: the
client sends the whole conversation so far; the server's answer is forced to
the step's ``answer_tokens``; then the trace appends its own assistant message
(a sentence or two of intent and a tool call, about as long as that answer)
and the tool's result (``result_tokens``: file contents, test output, grep
hits...). Sessions overlap by what has been answered, not by the clock:
session 1 starts at once, session 2 after session 1's step 1, session 3
after its step 2, subagent A after its step 4 (its midpoint when it has
fewer than 8 steps), subagent B after session 2's step 3 (its last when it
has fewer).

Sizes are tokens of the served model, measured with ``count`` (the length
its tokenizer gives a text); without one a token is approximated as a word
or a punctuation mark. Texts are built line by line and each line measured
alone, so a text comes out at its target or a line above it. The same
sizes, seed and ``count`` give the same trace.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, replace
from typing import Callable, Iterator

from .agent_opening import INSTRUCTIONS, TOOLS, TOOLS_HEADING

Count = Callable[[str], int]
NAMES = ("session 1", "session 2", "session 3", "subagent A", "subagent B")
READ_ONLY = ("read_file", "list_dir", "grep", "run_tests", "shell", "git_diff", "git_log", "web_search")
WEIGHTS = {"read_file": 6, "grep": 4, "list_dir": 2, "apply_patch": 4, "run_tests": 3, "shell": 2, "git_diff": 1,
           "git_log": 1, "write_file": 1, "web_search": 1, "update_plan": 1, "spawn_subagent": 1}
FOLDERS = ("importers", "reports", "storage", "rules", "api", "cli", "models", "sync")
MODULES = ("csv_reader", "ofx_reader", "currency", "rounding", "journal", "balance", "schema", "migrations", "session",
           "routes", "handlers", "cache", "settings", "scheduler", "budget", "forecast", "accounts", "tags", "export_pdf",
           "ledger_file", "payees", "matcher", "totals", "calendar")
VERBS = ("load", "parse", "adjust", "merge", "check", "render", "split", "sort", "round", "group", "save", "resolve")
NOUNS = ("posting", "account", "rule", "amount", "payee", "period", "budget", "rate", "row", "record", "balance", "tag")
TYPES = ("Posting", "Account", "Decimal", "str", "int", "list[Posting]", "dict[str, Decimal]", "Period", "Rule | None")
TASKS = (
    "The CSV importer drops rows whose last field is empty (bank exports from Nordbank end every row with a comma). "
    "Find the cause, fix it, add a regression test and run the importer tests.",
    "Monthly reports round each category before summing, so totals are off by a cent now and then. Make the report sum "
    "exact amounts and round once, keep the output format, and run the report tests.",
    "Add a --since DATE option to the `ledger export` command that leaves out entries before that date, with a test, "
    "and document it in docs/cli.md.",
)
SUBTASKS = (
    "Read-only question from the main session: list every place where the settings file is read or written, with the "
    "path and line, and say which of them bypass settings.load(). Do not change any file.",
    "Read-only question from the main session: how do the sync module's retries work today (which errors, how many "
    "tries, what delays)? Answer with the functions involved and their paths. Do not change any file.",
)
OPENERS = ("Next I'll", "Let me", "Now I'll", "I'll", "To be sure, I'll", "Before changing anything, I'll")
WORD = re.compile(r"\w+|[^\w\s]")


@dataclass(frozen=True)
class TraceSizes:
    """How big a trace is: every size in tokens of the served model, each range drawn from per step.

    The opening holds at least the instructions' first paragraph and the
    ``tools`` first tools (about 1,600 tokens with all twelve): a smaller
    ``opening_tokens`` gives that much.
    """

    opening_tokens: int = 5000
    steps: tuple[int, int] = (10, 15)
    answer_tokens: tuple[int, int] = (32, 128)
    result_tokens: tuple[int, int] = (100, 2000)
    tools: int = len(TOOLS)
    seed: int = 0


@dataclass(frozen=True)
class ToolCall:
    call_id: str
    name: str
    arguments: dict

    def text(self) -> str:
        """The call as the instructions ask a model to write it."""
        return f"<tool_call>{json.dumps({'name': self.name, 'arguments': self.arguments})}</tool_call>"


@dataclass(frozen=True)
class Step:
    answer_tokens: int  # the forced length of the server's answer to this step's request
    thought: str  # what the trace's own assistant message says before its call
    call: ToolCall
    result: str  # the tool's output, sent after the call


@dataclass(frozen=True)
class Session:
    name: str
    task: str
    steps: tuple[Step, ...]
    starts_after: tuple[int, int] | None  # (session index, step number from 1) whose answer starts this one; None: at once


@dataclass(frozen=True)
class AgentTrace:
    instructions: str  # the instructions and the repository map, without the tools
    tools: tuple[dict, ...]  # name, description, parameters (a JSON schema)
    sessions: tuple[Session, ...]

    @property
    def system(self) -> str:
        """The opening as one system message: the instructions, then each tool's JSON on a line of its own."""
        return "\n\n".join([self.instructions, TOOLS_HEADING, "\n".join(json.dumps(tool) for tool in self.tools)])

    @property
    def requests(self) -> int:
        return sum(len(s.steps) for s in self.sessions)

    def tagged(self, tag: str) -> "AgentTrace":
        """The same trace, its opening led by ``tag`` so that no cache of an earlier run serves any of it."""
        return replace(self, instructions=f"Workspace {tag}. {self.instructions}")


def word_count(text: str) -> int:
    """The approximation used without a tokenizer: words and punctuation marks."""
    return len(WORD.findall(text))


def _fill(lines: Iterator[str], budget: int, count: Count) -> str:
    """Lines from ``lines`` until their measured tokens, and the newlines between them, reach ``budget``."""
    taken, total, newline = [], 0, count("\n")
    for line in lines:
        taken.append(line)
        total += count(line) + newline
        if total >= budget:
            break
    return "\n".join(taken)


class Repository:
    """A made-up project's files and code, drawn from one seeded generator."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.files = sorted({f"src/ledger/{rng.choice(FOLDERS)}/{module}.py" for module in MODULES})
        self.tests = [f"tests/{path.split('/')[2]}/test_{path.rsplit('/', 1)[1]}" for path in self.files]

    def path(self) -> str:
        return self.rng.choice(self.files)

    def name(self) -> str:
        return f"{self.rng.choice(VERBS)}_{self.rng.choice(NOUNS)}"

    def code(self) -> Iterator[str]:
        """Python source, a function at a time, endlessly."""
        rng = self.rng
        while True:
            noun, arg, kind = rng.choice(NOUNS), rng.choice(NOUNS), rng.choice(TYPES)
            yield f"    def {self.name()}(self, {arg}: {rng.choice(TYPES)}) -> {kind}:"
            yield f'        """{rng.choice(VERBS).capitalize()} the {noun} of one {arg}, or raise LedgerError."""'
            yield f"        found = self._{noun}s.get({arg}.key)"
            yield "        if found is None:"
            yield f'            raise LedgerError(f"no {noun} for {{{arg}.key!r}}")'
            if rng.random() < 0.6:
                yield f"        for item in found.{rng.choice(NOUNS)}s:"
                yield f"            total += item.amount.quantize(CENT, rounding={rng.choice(('ROUND_HALF_UP', 'ROUND_HALF_EVEN'))})"
            yield f"        return {rng.choice(('found', 'total', f'{kind.split()[0]}(found)'))}"
            yield ""

    def lines(self, tool: str, arguments: dict) -> Iterator[str]:
        """What ``tool`` prints for ``arguments``, line by line, as long as asked."""
        rng = self.rng
        if tool == "read_file":
            for number, line in enumerate(self.code(), start=arguments.get("start_line", 1)):
                yield f"{number:>5}  {line}"
        elif tool == "grep":
            while True:
                yield f"{self.path()}:{rng.randint(1, 900)}:        {self.name()}({rng.choice(NOUNS)}, strict={rng.choice((True, False))})"
        elif tool == "list_dir":
            while True:
                yield f"{rng.choice(self.files + self.tests):<48} {rng.randint(1, 40) * 1024 + rng.randint(0, 999):>8} bytes"
        elif tool in ("run_tests", "shell"):
            yield f"============ test session starts: {len(self.tests) * 12} items ============"
            while True:
                test = rng.choice(self.tests)
                status = "FAILED" if rng.random() < 0.08 else "PASSED"
                yield f"{test}::test_{self.name()} {status} [{rng.randint(1, 99):>3}%]"
                if status == "FAILED":
                    got, want = f"{rng.randint(10, 999)}.{rng.randint(10, 99)}", f"{rng.randint(10, 999)}.00"
                    yield f"E       AssertionError: assert Decimal('{got}') == Decimal('{want}')"
        elif tool in ("apply_patch", "git_diff", "write_file"):
            path = arguments.get("path", self.path())
            yield {"apply_patch": f"Success. Updated the following files:\nM {path}", "git_diff": f"diff --git a/{path} b/{path}",
                   "write_file": f"Wrote {path}; the linter found nothing. It now reads:"}[tool]
            for line in self.code():
                yield rng.choice(("+", "-", " ", " ")) + line
        elif tool == "git_log":
            while True:
                yield f"commit {rng.getrandbits(160):040x}\nAuthor: {rng.choice(('Ana Ruiz', 'Tom Berg', 'Li Wei'))} <dev@ledger.test>"
                yield f"    {rng.choice(VERBS).capitalize()} the {rng.choice(NOUNS)} in {self.path()} before the {rng.choice(NOUNS)}\n"
        else:  # web_search, update_plan, spawn_subagent: prose
            while True:
                noun = rng.choice(NOUNS)
                yield (f"- {rng.choice(VERBS).capitalize()} {noun}s: the {rng.choice(NOUNS)} is read by "
                       f"{self.name()}() in {self.path()}, which calls {self.name()}() once per {rng.choice(NOUNS)}.")

    def arguments(self, tool: str) -> dict:
        rng = self.rng
        start = rng.randint(1, 300)
        return {
            "read_file": {"path": self.path(), "start_line": start, "end_line": start + 200},
            "grep": {"pattern": rf"def {self.name()}\b", "glob": "*.py"},
            "list_dir": {"path": self.path().rsplit("/", 1)[0], "depth": 2},
            "apply_patch": {"patch": f"--- a/{(p := self.path())}\n+++ b/{p}\n@@ -{start},3 +{start},3 @@\n-        return total\n"
                                     "+        return total.quantize(CENT)"},
            "run_tests": {"target": rng.choice(self.tests), "fail_fast": False},
            "shell": {"command": ["python", "-m", "pytest", "-q", rng.choice(self.tests)]},
            "git_diff": {"path": self.path()},
            "git_log": {"path": self.path(), "limit": 10},
            "write_file": {"path": rng.choice(self.tests), "content": "from ledger import LedgerError\n"},
            "web_search": {"query": f"python decimal {rng.choice(NOUNS)} rounding {rng.choice(VERBS)} half even"},
            "update_plan": {"plan": [{"step": f"{rng.choice(VERBS).capitalize()} the {rng.choice(NOUNS)}", "status": "in_progress"}]},
            "spawn_subagent": {"task": f"Where is {self.name()} called?", "read_only": True},
        }[tool]


def _thought(repo: Repository, call: ToolCall, budget: int, count: Count) -> str:
    """Sentences of intent, as many as it takes for them and the call to come to about ``budget`` tokens (none for a long call)."""
    sentences: list[str] = []
    while count(" ".join(sentences) + "\n" + call.text()) < budget:
        sentences.append(f"{repo.rng.choice(OPENERS)} use {call.name} on {repo.name()} in {repo.path()}.")
    return " ".join(sentences)


def _steps(repo: Repository, sizes: TraceSizes, tools: list[str], count: Count) -> tuple[Step, ...]:
    rng = repo.rng
    steps = []
    for _ in range(rng.randint(*sizes.steps)):
        name = rng.choices(tools, weights=[WEIGHTS[t] for t in tools])[0]
        call = ToolCall(f"call_{rng.getrandbits(48):012x}", name, repo.arguments(name))
        answer = rng.randint(*sizes.answer_tokens)
        head = f"exit status {rng.choice((0, 0, 1))}" if name == "shell" else f"{name} finished"
        result = _fill(repo.lines(name, call.arguments), rng.randint(*sizes.result_tokens) - count(head + "\n"), count)
        steps.append(Step(answer, _thought(repo, call, answer, count), call, f"{head}\n{result}"))
    return tuple(steps)


def _starts(steps: list[int]) -> tuple[tuple[int, int] | None, ...]:
    """Which (session, step) answer starts each session: see the module's docstring."""
    first, second = steps[0], steps[1]
    midpoint = 4 if first >= 8 else max(1, (first + 1) // 2)
    return None, (0, min(1, first)), (0, min(2, first)), (0, midpoint), (1, min(3, second))


def _instructions(repo: Repository, budget: int, count: Count) -> str:
    """The instructions that fit in ``budget`` (the first always), then a repository map filling the rest."""
    parts, gap = [INSTRUCTIONS[0]], count("\n\n")
    used = count(parts[0])
    for paragraph in INSTRUCTIONS[1:]:
        if used + gap + count(paragraph) > budget:
            break
        parts.append(paragraph)
        used += gap + count(paragraph)
    heading = "# Repository\n\nThe workspace is a checkout of ledger, a double-entry bookkeeping tool. Its files:"
    if used + count(heading) < budget:
        rng = repo.rng

        def entries() -> Iterator[str]:
            while True:
                path = rng.choice(repo.files + repo.tests)
                yield f"- {path}: {rng.choice(VERBS)}s {rng.choice(NOUNS)}s and {rng.choice(NOUNS)}s ({rng.randint(40, 900)} lines)"

        parts.append(heading + "\n" + _fill(entries(), budget - used - gap - count(heading + "\n"), count))
    return "\n\n".join(parts)


def build_trace(sizes: TraceSizes = TraceSizes(), count: Count | None = None) -> AgentTrace:
    """The trace for ``sizes``, its texts measured with ``count`` (default: :func:`word_count`)."""
    count = count or word_count
    repo = Repository(random.Random(f"agent-trace-{sizes.seed}"))
    tools = TOOLS[: sizes.tools]
    tool_text = count("\n\n".join([TOOLS_HEADING, "\n".join(json.dumps(tool) for tool in tools)]))
    instructions = _instructions(repo, sizes.opening_tokens - tool_text - count("\n\n"), count)
    names = [tool["name"] for tool in tools]
    sessions = []
    for index, name in enumerate(NAMES):
        allowed = [t for t in names if t in READ_ONLY] if index >= len(TASKS) else names
        task = TASKS[index] if index < len(TASKS) else SUBTASKS[index - len(TASKS)]
        sessions.append((name, task, _steps(repo, sizes, allowed or names, count)))
    starts = _starts([len(steps) for _, _, steps in sessions])
    return AgentTrace(instructions, tuple(tools), tuple(Session(n, t, s, start) for (n, t, s), start in zip(sessions, starts)))

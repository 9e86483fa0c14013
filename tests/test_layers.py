"""The package's shape, read from its source: layers import downward only, no circles, no file too long.

Every ``import`` counts, those inside functions too. The layers, lowest first:

- ``errors``, ``paths``, ``detokenizer``, ``runtime``: what everything may use;
- ``config``, ``harmony``, ``models``: plain data and formats;
- ``logs``, ``tools``: saved chats and the model's tools;
- ``engine``: the model, on its inference thread;
- ``chat``: the one conversation layer;
- ``tui``, ``server``; then ``bench``; then ``cli``: the front ends.

Packages in one layer do not import each other. Above ``chat`` nothing imports
MLX, mlx-lm or openai-harmony, and only the engine's public modules are used.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "mlx_harmony_tui"
LAYERS = [
    {"version", "errors", "paths", "detokenizer", "runtime"},
    {"config", "harmony", "models"},
    {"logs", "tools"},
    {"engine"},
    {"chat"},
    {"tui", "server"},
    {"bench"},
    {"cli"},
    {"__init__"},  # the package itself: the Python API's names, imported lazily from where they live
]
LEVEL = {name: level for level, names in enumerate(LAYERS) for name in names}
CHAT = LEVEL["chat"]
ENGINE_PUBLIC = {"events", "token_generator"}  # what the front ends may take from the engine
ENGINE_FOR_BENCH_AND_CLI = {"reference", "machine"}  # raw mlx-lm to compare with; the machine report
HEAVY = ("mlx", "mlx_lm", "openai_harmony")
MAX_LINES = 500


def modules() -> dict[str, Path]:
    """Every module by its dotted name (a package by its own name, for its ``__init__.py``)."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports_of(name: str, path: Path) -> list[tuple[str, bool]]:
    """(imported module, whether at module level) for every import in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, id(node) in top) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if node.module is None or node.level and not node.module:
                found += [(f"{target}.{alias.name}", id(node) in top) for alias in node.names]
            else:
                found.append((target, id(node) in top))
    return found


def part(module: str) -> str:
    """The top-level package of ours a module belongs to (``mlx_harmony_tui.chat.session`` -> ``chat``)."""
    pieces = module.split(".")
    return pieces[1] if len(pieces) > 1 else "__init__"


def own(module: str, known: dict[str, Path]) -> str | None:
    """The module of ours that ``module`` names (``from .x import name`` may name a function in x)."""
    if not module.startswith("mlx_harmony_tui"):
        return None
    while module not in known and "." in module:
        module = module.rsplit(".", 1)[0]
    return module if module in known else None


def test_every_file_is_under_the_line_limit():
    long = {name: n for name, path in modules().items() if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}, f"files over {MAX_LINES} lines: {long}"


def test_layers_import_downward_only():
    known = modules()
    wrong = []
    for name, path in known.items():
        mine = part(name)
        for target, _ in imports_of(name, path):
            theirs = own(target, known)
            if theirs is None or part(theirs) == mine:
                continue
            if LEVEL[part(theirs)] >= LEVEL[mine]:
                wrong.append(f"{name} -> {theirs}")
    assert wrong == [], "imports that run sideways or upward:\n" + "\n".join(wrong)


def test_nothing_above_chat_imports_mlx_or_harmony_or_engine_internals():
    known = modules()
    wrong = []
    for name, path in known.items():
        mine = part(name)
        if LEVEL[mine] < CHAT:
            continue
        for target, _ in imports_of(name, path):
            if target.split(".")[0] in HEAVY:
                wrong.append(f"{name} imports {target}")
            theirs = own(target, known)
            if theirs is not None and part(theirs) == "engine" and mine != "chat":
                module = theirs.split(".")[2] if theirs.count(".") >= 2 else "__init__"
                allowed = ENGINE_PUBLIC | (ENGINE_FOR_BENCH_AND_CLI if mine in ("bench", "cli") else set())
                if module not in allowed:
                    wrong.append(f"{name} reaches into {theirs}")
    assert wrong == [], "\n".join(wrong)


def test_no_import_circles():
    known = modules()
    graph: dict[str, set[str]] = {name: set() for name in known}
    for name, path in known.items():
        for target, _ in imports_of(name, path):
            theirs = own(target, known)
            if theirs is not None and theirs != name:
                graph[name].add(theirs)
    # Tarjan's strongly connected components: any with more than one module is a circle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    assert circles == [], f"import circles: {circles}"


def test_the_checks_see_real_imports():
    """The reader finds relative, absolute and in-function imports (so the checks above can fail)."""
    known = modules()
    session = imports_of("mlx_harmony_tui.chat.session", known["mlx_harmony_tui.chat.session"])
    assert ("mlx_harmony_tui.engine.token_generator", True) in session
    lm = imports_of("mlx_harmony_tui.engine.lm", known["mlx_harmony_tui.engine.lm"])
    assert ("mlx_lm", True) in lm
    reference = imports_of("mlx_harmony_tui.engine.reference", known["mlx_harmony_tui.engine.reference"])
    assert ("mlx_harmony_tui.engine.lm", False) in reference  # the lazy import inside run()

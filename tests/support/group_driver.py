"""Run on every rank of a group (tests/support/ranks.py): rank 0 drives the Python API and the chat layer, and writes
what it saw to a JSON file; on the other ranks the first ``TokenGenerator`` serves rank 0 and ends the process.

    python group_driver.py engine MODEL OUT.json    greedy, seeded, multi-turn, cancel, live update, a python tool call
    python group_driver.py kill MODEL OUT_FOLDER    a long generation; rank 1 is killed by the test; then a local load
    python group_driver.py greedy MODEL OUT.json    one greedy answer (MODEL "default": the embedded default model)
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from mlx_harmony_tui import TokenGenerator  # noqa: E402
from mlx_harmony_tui.engine.events import Done, TextDelta, ToolResult  # noqa: E402
from mlx_harmony_tui.errors import UserError  # noqa: E402

FRANCE = [{"role": "user", "content": "What is the capital of France? Answer in one sentence."}]
BIASED = 1000  # the token a live logit_bias update forces


def finished(events: list) -> dict:
    done = [e for e in events if isinstance(e, Done)][-1]
    return {"request": done.request_id, "tokens": list(done.token_ids), "finish": done.finish_reason,
            "cached": done.stats.cached_tokens, "prompt": done.stats.prompt_tokens}


def engine_scenarios(model: str, out: Path) -> None:
    gen = TokenGenerator(model)
    result: dict = {"ranks": gen.info.ranks, "rank_memory_gb": list(gen.info.rank_memory_gb)}
    result["greedy"] = finished(list(gen.stream(messages=FRANCE, max_tokens=12, temperature=0, conversation="g",
                                                request_id="greedy")))
    result["seeded"] = finished(list(gen.stream(messages=FRANCE, max_tokens=12, temperature=1.0, seed=7, conversation="s",
                                                request_id="seeded")))
    events = []
    for event in gen.stream(messages=FRANCE, max_tokens=300, temperature=0, conversation="c", request_id="cancel"):
        events.append(event)
        if sum(len(e.token_ids) for e in events if isinstance(e, TextDelta)) == 3:
            gen.cancel("cancel")
    result["cancel"] = finished(events)
    events = []
    for event in gen.stream(messages=FRANCE, max_tokens=16, temperature=0, conversation="u", request_id="update"):
        events.append(event)
        if sum(len(e.token_ids) for e in events if isinstance(e, TextDelta)) == 3:
            gen.update_sampling("update", logit_bias={BIASED: 100.0})
    result["update"] = finished(events)
    result["batched"] = batched(gen)
    result["chat"] = chat_scenarios(gen, model, out.parent)
    gen.close()
    out.write_text(json.dumps(result))


def batched(gen: TokenGenerator) -> list[dict]:
    """Two answers at once (they decode together in one batch), each from its own thread."""
    import threading

    questions = ["Name a colour.", "Name a river, then a mountain."]
    found: dict[int, dict] = {}

    def ask(i: int) -> None:
        found[i] = finished(list(gen.stream(messages=[{"role": "user", "content": questions[i]}], max_tokens=12 + 4 * i,
                                            temperature=0, conversation=f"batch-{i}", request_id=f"batch-{i}")))

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [found[0], found[1]]


def chat_scenarios(gen: TokenGenerator, model: str, folder: Path) -> dict:
    """A two-turn chat (cached tokens at the second turn) and a python tool call, through the chat layer."""
    from mlx_harmony_tui.chat.session import ChatSession
    from mlx_harmony_tui.config.resolve import resolve_run_settings
    from mlx_harmony_tui.harmony.vocab import load_encoding
    from mlx_harmony_tui.logs.store import ChatStore
    from mlx_harmony_tui.tools.toolbox import ToolBox, ToolOptions
    from tests.support.engine import ScriptedSteps

    enc = load_encoding()
    session = ChatSession(resolve_run_settings(model=model), generator=gen)
    final = "<|channel|>final<|message|>{}<|return|>"
    steps = [final.format("Paris."), final.format("Lyon."),
             "<|channel|>analysis to=python<|message|>open('ran.txt', 'a').write('ran\\n'); print(6 * 7)<|call|>",
             final.format("It is 42.")]
    ScriptedSteps(session.generator, [enc.encode(s, allowed_special="all") for s in steps])
    turns = [finished(list(session.send(text))) for text in ("Capital of France?", "And its second city?")]
    session.new_conversation()
    tools = ToolBox(ToolOptions(python=True, approval="auto"), folder / "python")
    session.tools = tools
    session.start_log(ChatStore(folder / "chats"))
    events = list(session.send("What is 6 times 7?"))
    tools.close()
    results = [e for e in events if isinstance(e, ToolResult)]
    return {"turns": turns, "tool_results": [(r.status, r.output.strip()) for r in results],
            "tool_steps": [finished([e]) for e in events if isinstance(e, Done)],
            "ran": sorted(str(p.relative_to(folder)) for p in (folder / "python").rglob("ran.txt"))}


def kill_scenario(model: str, folder: Path) -> None:
    """Rank 0: a long answer; the test kills rank 1 once it has begun. Note the error, then load the model locally."""
    from mlx_harmony_tui.chat.session import ChatSession, TurnFailed
    from mlx_harmony_tui.config.resolve import resolve_run_settings
    from mlx_harmony_tui.logs.store import ChatStore

    session = ChatSession(resolve_run_settings(model=model))
    session.start_log(ChatStore(folder / "chats"))
    list(session.send("First question.", max_tokens=4, temperature=0))
    note = {"ranks": session.info.ranks, "saved_before": len(session.log.read().messages)}
    started = None
    try:
        for event in session.send("Second question, a long answer.", max_tokens=100000, temperature=0):
            if started is None and isinstance(event, TextDelta):
                started = time.monotonic()
                (folder / "generating").write_text("")
    except TurnFailed as exc:
        note["error"] = str(exc)
    note["saved_after"] = len(session.log.read().messages)
    (folder / "failed.json").write_text(json.dumps(note))
    try:
        session.switch_model(model)
        answer = [e for e in session.send("Third question.", max_tokens=4, temperature=0) if isinstance(e, Done)]
        note.update(ranks_after=session.info.ranks, answered=answer[-1].finish_reason)
    except UserError as exc:
        note["reload_error"] = str(exc)
    note["saved_end"] = len(session.log.read().messages)
    session.close()
    (folder / "after.json").write_text(json.dumps(note))


if __name__ == "__main__":
    import faulthandler
    import signal

    faulthandler.enable()  # a rank that crashes shows where
    faulthandler.register(signal.SIGUSR1)  # a stuck rank shows where it waits
    scenario, model, target = sys.argv[1:4]
    if scenario == "engine":
        engine_scenarios(model, Path(target))
    elif scenario == "greedy":
        with TokenGenerator(None if model == "default" else model) as gen:
            done = finished(list(gen.stream(messages=FRANCE, max_tokens=4, temperature=0)))
            Path(target).write_text(json.dumps({"ranks": gen.info.ranks, **done}))
    else:
        kill_scenario(model, Path(target))

"""``mlx-harmony bench tui``: the app's cost on top of the engine, measured headless.

- Decode tok/s of the same greedy prompt, streamed into the app (Markdown
  streaming, events, status updates) and run through the engine alone on the
  same loaded model, taking turns; the medians are compared.
- Key-press to repaint latency while an answer streams: a key typed into the
  input box, timed until the box shows it and the screen has been refreshed.
- Time to first frame: a fresh process, from before it starts until the app's
  first screen is mounted.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from .where import busy_lines, machine_now, relative_spread

PROMPT = "Write a detailed, numbered guide to growing tomatoes at home, with at least ten steps."

FIRST_FRAME = """
import time, sys
from mlx_harmony_tui.tui.app import HarmonyApp, StartOptions
from mlx_harmony_tui.config.settings import AppSettings

class Probe(HarmonyApp):
    def start_session(self):
        pass  # only the first frame is timed here

    def on_mount(self):
        super().on_mount()
        self.call_after_refresh(self._done)

    def _done(self):
        print(time.time(), flush=True)
        self.exit()

async def main():
    app = Probe(StartOptions(), AppSettings())
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause(0.2)

import asyncio
asyncio.run(main())
"""


def time_to_first_frame() -> float:
    start = time.time()
    done = subprocess.run([sys.executable, "-c", FIRST_FRAME], capture_output=True, text=True, timeout=120, env=os.environ.copy())
    if done.returncode != 0:
        raise RuntimeError(done.stderr)
    return float(done.stdout.strip().splitlines()[0]) - start


async def _measure(max_tokens: int, rounds: int, keys: int) -> dict:
    from ..config.settings import AppSettings
    from ..engine.events import Done
    from ..tui.app import HarmonyApp, StartOptions
    from ..tui.widgets import AssistantTurn, ChatInput, StatusBar

    app = HarmonyApp(StartOptions(), AppSettings())
    engine_tps: list[float] = []
    app_tps: list[float] = []
    latencies: list[float] = []
    async with app.run_test(size=(130, 40)) as pilot:
        while app.session is None or app.query_one(StatusBar).state != "ready":
            await pilot.pause(0.1)
        session = app.session
        session.update_sampling(temperature=0.0, max_tokens=max_tokens)
        messages = [{"role": "user", "content": PROMPT}]

        def engine_alone() -> float:
            done = [e for e in session.generator.stream(messages=messages, reuse_cache=False) if isinstance(e, Done)][-1]
            return done.stats.decode_tps

        engine_alone()  # warm-up
        for round_ in range(rounds):
            engine_tps.append(await asyncio.to_thread(engine_alone))
            await app.action_new_chat()
            while app.busy or app.query_one(StatusBar).state != "ready":
                await pilot.pause(0.05)
            box = app.query_one(ChatInput)
            box.text = PROMPT
            answered = session.last_done
            box.post_message(ChatInput.Submitted(PROMPT))  # what Enter does, without the pilot waiting for the app to go idle
            while not app.busy and session.last_done is answered:
                await asyncio.sleep(0.005)
            typed = ""
            while app.busy:
                answers = app.query(AssistantTurn)
                if round_ == 0 and len(typed) < keys and answers and answers.last().answer_text:
                    latencies.append(await _key_to_repaint(app, box, typed + "x"))
                    typed += "x"
                    await asyncio.sleep(0.1)
                else:
                    await asyncio.sleep(0.05)
            app_tps.append(session.last_done.stats.decode_tps)
            box.text = ""
    latencies.sort()
    return {
        "max_tokens": max_tokens,
        "rounds": rounds,
        "decode_tps_engine": statistics.median(engine_tps),
        "decode_tps_app": statistics.median(app_tps),
        "decode_ratio": statistics.median(app_tps) / statistics.median(engine_tps),
        "decode_tps_app_rounds": app_tps,
        "key_presses": len(latencies),
        "key_latency_p50_ms": 1000 * latencies[len(latencies) // 2] if latencies else 0.0,
        "key_latency_p95_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.95))] if latencies else 0.0,
    }


async def _key_to_repaint(app, box, expected: str) -> float:
    """Seconds from a key event entering the app until the screen has been refreshed showing it."""
    from textual import events

    repainted = asyncio.Event()
    box.focus()
    start = time.perf_counter()
    app.post_message(events.Key(expected[-1], expected[-1]))
    while box.text != expected:
        await asyncio.sleep(0.001)
    app.call_after_refresh(repainted.set)
    await repainted.wait()
    return time.perf_counter() - start


def run_tui_bench(max_tokens: int = 128, rounds: int = 3, keys: int = 20) -> dict:
    machine = machine_now()
    sys.setswitchinterval(0.001)  # as run_app does
    with tempfile.TemporaryDirectory(prefix="mlx-harmony-bench-tui-") as data:
        os.environ["MLX_HARMONY_DATA_DIR"] = data  # the bench's chats are not the user's
        result = asyncio.run(_measure(max_tokens, rounds, keys))
    result["first_frame_s"] = time_to_first_frame()
    return {**machine, **result}


def format_table(result: dict) -> str:
    return "\n".join(
        [
            *busy_lines(result, relative_spread(result.get("decode_tps_app_rounds", ()))),
            f"decode tok/s, median of {result['rounds']}: engine alone {result['decode_tps_engine']:.2f}, "
            f"in the app {result['decode_tps_app']:.2f} (ratio {result['decode_ratio']:.3f})",
            f"key press to repaint while streaming ({result['key_presses']} presses): "
            f"p50 {result['key_latency_p50_ms']:.1f} ms, p95 {result['key_latency_p95_ms']:.1f} ms",
            f"time to first frame: {result['first_frame_s']:.2f} s",
        ]
    )


if __name__ == "__main__":
    print(json.dumps(run_tui_bench()))

"""A short request that arrives while a long prompt is being prefilled is answered before that prefill ends."""

from __future__ import annotations

import threading
import time

from mlx_harmony_tui.engine.events import Done, StatsUpdate, TextDelta

WORDS = "harbor lantern keeper storm beacon tide reef gull mast rope signal fog".split()


def test_a_short_request_is_answered_while_a_long_prompt_is_prefilled(generator):
    long_text = " ".join(WORDS[(i * 5) % len(WORDS)] + str(i % 97) for i in range(700))  # about 2,000 tokens
    arrivals: list[tuple[str, str]] = []
    lock = threading.Lock()

    def run(name: str, content: str) -> None:
        for event in generator.stream(messages=[{"role": "user", "content": content}], conversation=generator.new_conversation_id(),
                                      temperature=0.0, max_tokens=4):
            if isinstance(event, (StatsUpdate, TextDelta, Done)):
                with lock:
                    arrivals.append((name, type(event).__name__))

    long = threading.Thread(target=run, args=("long", long_text))
    long.start()
    deadline = time.monotonic() + 60
    while generator.running == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)  # its prefill is under way (about 20 s of it on a 2-core CPU)
    run("short", "Say hello.")
    long.join()
    first_of_long = arrivals.index(next(a for a in arrivals if a[0] == "long"))
    # The long prompt's first figures come when its prefill is done: the short answer was complete before.
    assert ("short", "Done") in arrivals[:first_of_long]
    assert arrivals[-1] == ("long", "Done")

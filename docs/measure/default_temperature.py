"""The default temperature, chosen by measurement: the default model answers the bench's factual questions.

Each question of ``mlx_harmony_tui/bench/questions.json`` in category ``facts`` (follow-ups left out: they refer to
an earlier answer), plus "What is the capital of France?", is asked as a new chat the way a newcomer meets the app:
the default model, no profile, the default sampling with only ``temperature`` and ``seed`` changed (``--profile``:
that profile's model, prompt config and sampling instead). An answer counts as right when it holds every word group
of the question's key below (any one word of a group); the keys were written before any answer was seen. Prints, per
temperature, the right answers per seed and in all, and the load average before and after (the figures are counts of
right answers, not timings: a busy machine slows the run, it does not change them).

    python docs/measure/default_temperature.py [--temperatures 0,0.2,0.4,0.7] [--seeds 1,2,3] [--max-tokens 80]
        [--profile default] [--show]
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile

# Each key: word groups that must all appear (any one word of a group), lower case, as word starts.
KEYS = {
    "What is the capital of France?": [["paris"]],
    3: [["tilt", "tilted", "axis"]],
    9: [["long-term", "long term", "longer", "over time", "average", "years"]],
    15: [["saturn"]],
    20: [["austen"]],
    26: [["deoxyribonucleic"]],
    32: [["scatter"]],
    38: [["206"], ["femur", "thigh"]],
    44: [["moon"]],
    50: [["light", "sun"], ["sugar", "glucose", "food", "energy"]],
    57: [["antarctic"]],
    63: [["cell", "living", "alive", "host"]],
    70: [["content", "happy", "relax", "communicat", "calm", "heal", "vibrat", "comfort", "pleasure"]],
    76: [["300,000", "300 000", "300000", "299,792", "299 792", "299792", "3 x 10", "3×10", "3 × 10"]],
    81: [["defen", "protect", "invasion", "invader", "raid", "attack"]],
    87: [["lower"], ["pressure"]],
    94: [["pacific"]],
    100: [["moon"], ["sun"], ["shadow", "block", "between"]],
    107: [["filter", "waste", "urine"]],
}


def right(answer: str, key: list[list[str]]) -> bool:
    text = answer.lower()
    return all(any(re.search(r"(?<![a-z])" + re.escape(word), text) for word in group) for group in key)


def questions() -> list[tuple[str, list[list[str]]]]:
    from mlx_harmony_tui.bench.dataset_bench import load_questions

    asked = [(q.text, KEYS[q.id]) for q in load_questions() if q.category == "facts" and q.refers_to is None]
    return [("What is the capital of France?", KEYS["What is the capital of France?"])] + asked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--temperatures", default="0,0.2,0.4,0.7")
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--max-tokens", type=int, default=80)
    parser.add_argument("--profile", help="measure this profile's setup (configs/profiles.example.json has 'default')")
    parser.add_argument("--show", action="store_true", help="print every answer")
    args = parser.parse_args()
    os.environ.setdefault("MLX_HARMONY_DATA_DIR", tempfile.mkdtemp())  # no chat logs in the user's folder

    from mlx_harmony_tui.chat.session import ChatSession
    from mlx_harmony_tui.config.resolve import resolve_run_settings

    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores", flush=True)
    asked = questions()
    session = ChatSession(resolve_run_settings(profile=args.profile))
    shown = session.sampling.model_dump(include={"temperature", "top_p", "top_k", "min_p", "repetition_penalty"})
    print(f"model {session.info.name}, profile {args.profile or '(none)'}, sampling {shown}", flush=True)
    try:
        for temperature in [float(t) for t in args.temperatures.split(",")]:
            seeds = [0] if temperature == 0 else [int(s) for s in args.seeds.split(",")]  # greedy: one run says it all
            per_seed = []
            for seed in seeds:
                score = 0
                for text, key in asked:
                    session.new_conversation()
                    for _ in session.send(text, temperature=temperature, seed=seed, max_tokens=args.max_tokens):
                        pass
                    answer = session.history[-1]["content"]
                    score += right(answer, key)
                    if args.show:
                        print(f"  T={temperature} seed={seed} {'RIGHT' if right(answer, key) else 'wrong'}: {text}\n    "
                              + answer.replace("\n", " ")[:300], flush=True)
                per_seed.append(score)
            total = sum(per_seed)
            print(f"temperature {temperature}: right per seed {per_seed} of {len(asked)}; "
                  f"{total}/{len(asked) * len(seeds)} = {total / (len(asked) * len(seeds)):.0%}", flush=True)
    finally:
        session.close()
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)


if __name__ == "__main__":
    sys.exit(main())

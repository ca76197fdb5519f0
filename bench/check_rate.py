"""Benchmark: `opsref check` events per second on a generated 1,000,000-event trace,
and `opsref simulate` accepted transitions per second (figures go in the README; target
>= 100,000 events/s). Not a test: nothing here asserts a time.

The trace is what a conforming implementation would record: random calls over a
sliding window of ids (fresh ids keep arriving, as real op ids do), with the spec's
own answers as the observed results, so the check replays every event to the end.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from opsref.conformance.calls import RegistryConfig
from opsref.conformance.calls import alphabet
from opsref.conformance.oracle import Oracle
from opsref.conformance.trace import Header

EVENTS = int(os.environ.get("OPSREF_BENCH_EVENTS", "1000000"))
OPSREF = str(Path(sys.executable).with_name("opsref"))


def generate(path: Path, events: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    config = RegistryConfig(64, 32)
    oracle = Oracle("reference", config)
    window = [f"op{n}" for n in range(4)]
    minted = len(window)
    with path.open("w") as out:
        out.write(json.dumps(Header("ops_lifecycle", config).to_json()) + "\n")
        for _ in range(events):
            if rng.random() < 0.08:
                window = window[1:] + [f"op{minted}"]
                minted += 1
            name, args = rng.choice(alphabet(window))
            if name == "feed":  # a consumer reads from its cursor, not the whole buffer
                args = {"after": max(0, oracle.number("next_seq") - rng.randint(0, 3))}
            out.write(json.dumps({"call": name, "args": args, "result": oracle.call(name, args)}) + "\n")


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return elapsed


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        trace = Path(tmp) / "trace.jsonl"
        started = time.perf_counter()
        generate(trace, EVENTS)
        print(f"generated {EVENTS:,} events ({trace.stat().st_size / 1e6:.0f} MB) in "
              f"{time.perf_counter() - started:.1f} s", flush=True)
        runs = [timed([OPSREF, "check", str(trace)]) for _ in range(3)]
        best, median = min(runs), sorted(runs)[1]
        print(f"opsref check: {EVENTS:,} events, median {median:.2f} s = {EVENTS / median:,.0f} events/s "
              f"(best {EVENTS / best:,.0f}/s, wall time of the whole command, 3 runs)")
    runs_, steps = 100, 2000
    walls = [timed([OPSREF, "simulate", "--runs", str(runs_), "--steps", str(steps), "--seed", str(s)])
             for s in range(3)]
    median = sorted(walls)[1]
    print(f"opsref simulate: {runs_ * steps:,} accepted transitions with every invariant checked, median "
          f"{median:.2f} s = {runs_ * steps / median:,.0f} transitions/s (wall time of the whole command, 3 seeds)")


if __name__ == "__main__":
    main()

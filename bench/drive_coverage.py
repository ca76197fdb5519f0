"""Benchmark: what `opsref drive`'s default random run reaches on each machine, and how long
it takes against `opsref serve`.

Coverage is counted in (call, refusing guard or "ok", phase the call was made from) cells,
the unit the driver steers by. They are compared with the cells a breadth-first search over
the spec's own states finds with the same ids and calls (up to SEARCH_STATES states per
configuration: the registry's and the mob adapter's state spaces are unbounded, so there the
search is a sample too, and random mode reaches cells it does not). "Known" is the union;
"missed" what the search found and random mode did not. Figures go in the README; nothing
here asserts a time.
"""

from __future__ import annotations

import itertools
import random
import re
import subprocess
import sys
from collections import deque
from pathlib import Path
from typing import Any

from opsref.conformance.drive import RANDOM_DEFAULTS, Cell, Plan, id_names, random_sequences, state_key, step_cell
from opsref.spec.registry import MACHINES

OPSREF = str(Path(sys.executable).with_name("opsref"))
SEARCH_STATES = 10_000
SUMMARY = re.compile(r"conforms[^:]*: (?P<sequences>\d+) sequences, (?P<requests>\d+) requests in "
                     r"(?P<seconds>[\d.]+) s .*?; (?P<cells>\d+) \(call, guard, phase\) cells reached")


def reachable_cells(machine: str) -> tuple[set[Cell], bool]:
    """The cells breadth-first search over the spec reaches; whether it explored every state."""
    plan = Plan.of(machine)
    ids = id_names(RANDOM_DEFAULTS.id_count)
    calls = [c for c in plan.alphabet(ids) if c[0] not in plan.proto.reads]
    id_args = plan.proto.id_args()
    cells: set[Cell] = set()
    complete = True
    for config in plan.configs:
        root = plan.proto.oracle("reference", config)
        seen = {state_key(root)}
        frontier: deque[Any] = deque([root])
        while frontier:
            oracle = frontier.popleft()
            for call in calls:
                after = oracle.clone()
                cells.add(step_cell(after, call, id_args))
                key = state_key(after)
                if key not in seen:
                    if len(seen) >= SEARCH_STATES:
                        complete = False
                        continue
                    seen.add(key)
                    frontier.append(after)
    return cells, complete


def main() -> None:
    for machine in MACHINES:
        done = subprocess.run([OPSREF, "drive", "--machine", machine, "--no-cache", "--",
                               OPSREF, "serve", "--machine", machine],
                              capture_output=True, text=True)
        match = SUMMARY.search(done.stdout)
        if done.returncode != 0 or match is None:
            raise SystemExit(f"opsref drive --machine {machine} did not conform ({done.returncode}):\n"
                             f"{done.stdout}{done.stderr}")
        d = RANDOM_DEFAULTS
        reached: set[Cell] = set()  # the generator computes the cells, so the same seed reaches the same ones
        for _ in itertools.islice(random_sequences(random.Random(d.seed), id_names(d.id_count), d.depth, machine,
                                                   reached=reached), d.runs):
            pass
        assert len(reached) == int(match["cells"]), (len(reached), match["cells"])
        found, complete = reachable_cells(machine)
        bound = "all states" if complete else f"first {SEARCH_STATES:,} states per configuration"
        print(f"{machine}: default random drive reached {len(reached)} of {len(found | reached)} known cells "
              f"(the spec's search, {bound}, finds {len(found)}; random misses {len(found - reached)} of them); "
              f"{match['sequences']} sequences, {int(match['requests']):,} requests in {match['seconds']} s")


if __name__ == "__main__":
    main()

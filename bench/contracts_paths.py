"""Benchmark: the paths `make contracts` walks, one search per function (tests/contracts_check.py)
against `crosshair check`'s one search per condition, on every contract of the registry and
the spec model. Figures go in the README.

Both runs use `make contracts`' options, given as arguments (`make bench` passes
CROSSHAIR_OPTS), with `--verbose`; each search's paths are read off it as the sequence of
verification statuses its iterations end with. For each function
it prints the paths of its searches per condition (fewest, most) and of its one search,
and whether every search per condition walked a prefix of the paths the one search walked
(the same paths in the same order, so every condition was evaluated on every path it was
evaluated on before). Where not, it says from which path on the one search walks others,
and whether the searches alone already part ways with each other there (a function whose
conditions branch on their own). It exits 1 when a function's one search walked fewer
paths than one of its searches alone.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
USAGE = "usage: python bench/contracts_paths.py CROSSHAIR_OPTIONS (make bench passes make contracts' CROSSHAIR_OPTS)"
TARGETS = ["opsref.impl.registry", "opsref.spec.model"]

SEARCH = re.compile(r'Analyzing postcondition: " ?(.*?) ?"$')
STATUS = re.compile(r"Verification status: (\w+)")


def start(command: list[str]) -> tuple[subprocess.Popen[str], IO[str]]:
    """The run, its debug output to a file. A fixed hash seed: CrossHair takes a class's
    methods in set order, and both runs must search the functions in the same order."""
    log = tempfile.TemporaryFile("w+")
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
                            env={**os.environ, "PYTHONHASHSEED": "0"}), log


def searches(started: tuple[subprocess.Popen[str], IO[str]]) -> list[tuple[str, list[str]]]:
    """(postcondition text, statuses of its iterations) per search, in order."""
    run, log = started
    run.wait()
    log.seek(0)
    out: list[tuple[str, list[str]]] = []
    for line in log:
        if match := SEARCH.search(line.rstrip("\n")):
            out.append((match.group(1), []))
        elif (match := STATUS.search(line)) and out:
            out[-1][1].append(match.group(1))
    return out


def main() -> int:
    if len(sys.argv) < 2:
        print(USAGE, file=sys.stderr)
        return 2
    options = [*sys.argv[1:], "--verbose"]
    # side by side, one per core: the budgets are CPU seconds (process_time), not wall
    started = time.perf_counter()
    alone = start([str(BIN / "crosshair"), "check", *options, *TARGETS])
    together = start([sys.executable, "-m", "tests.contracts_check", *options, *TARGETS])
    per_function = searches(together)
    t1 = time.perf_counter()
    per_condition = searches(alone)
    t2 = time.perf_counter()
    print(f"crosshair check: {len(per_condition)} searches in {t2 - started:.0f} s; "
          f"tests.contracts_check: {len(per_function)} searches in {t1 - started:.0f} s (with --verbose, side by side)")
    fewer = same = 0
    rest = iter(per_condition)
    for text, paths in per_function:
        count = text.count(") and (") + 1 if text.startswith("(") else 1
        theirs = [p for _, p in (next(rest) for _ in range(count))]
        fewest, most = min(map(len, theirs)), max(map(len, theirs))
        prefix = all(paths[:len(p)] == p for p in theirs)
        fewer += len(paths) < most
        same += prefix
        note = ""
        if not prefix:  # where the one search leaves each search's paths, and whether those agree among themselves
            first = sorted({next((n for n, (a, b) in enumerate(zip(paths, p)) if a != b), len(p)) + 1
                            for p in theirs if paths[:len(p)] != p})
            agree = all(a[:min(len(a), len(b))] == b[:min(len(a), len(b))] for a in theirs for b in theirs)
            note = (f"; other paths from path {', '.join(map(str, first))} on (the searches alone "
                    f"{'agree' if agree else 'differ among themselves there too: their conditions branch'})")
        print(f"  {'ok ' if len(paths) >= most else 'FEWER'} {count} condition(s): {fewest}-{most} paths in each "
              f"search alone, {len(paths)} in the one search{note}: {text[:50]}")
    print(f"{len(per_function) - fewer}/{len(per_function)} functions: the one search walked at least as many paths "
          f"as each search alone; {same} of them first the very paths each search alone walked, in order")
    return 1 if fewer else 0


if __name__ == "__main__":
    sys.exit(main())

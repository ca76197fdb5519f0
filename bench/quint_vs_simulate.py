"""Benchmark: accepted transitions per second of Quint's simulator (TypeScript backend) on
the exported ops_lifecycle (reference) against `opsref simulate` on the same machine, the
same number of walks of the same length, every invariant checked after every step in both.
Not a test: nothing here asserts a time. Needs Quint (`make quint` installs it).

What is counted, honestly:
- Quint: a step of `step` is always an accepted transition (an action whose guards fail is
  disabled, so Quint picks another); transitions = walks × (average trace length − 1), read
  off Quint's "Trace length statistics". Its own timing (the "(N ms at …)" it prints) covers
  the simulation only; the wall time adds parsing and type checking the module (most of it).
- opsref simulate: every step of a walk is an accepted transition too, drawn uniformly
  among the enabled candidates (refused draws are retried, and counted apart); a
  deadlocked walk starts again from Init. Its configurations are drawn at random within
  the assumptions; Quint's are the machine's four check configurations. Its ids are a pool
  of 3, as Quint's `IDS` (the pool keeps one fresh id; Quint's ids run out). Its own time
  leaves out compiling the walker, as Quint's leaves out parsing and type checking; the
  line "w/ compile" adds it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from opsref.conformance.simulate import simulate
from opsref.interop.quint import export, invariant_names
from opsref.spec.compiled import compile_walker
from opsref.spec.registry import MACHINES

ROOT = Path(__file__).resolve().parent.parent
QUINT = ROOT / "tools" / "quint" / "node_modules" / ".bin" / "quint"
WALKS = int(os.environ.get("OPSREF_BENCH_WALKS", "200"))
LENGTH = int(os.environ.get("OPSREF_BENCH_LENGTH", "20"))


def quint(module: Path, invariants: list[str]) -> tuple[float, float, float]:
    """(wall seconds, Quint's own simulation seconds, accepted transitions)."""
    started = time.perf_counter()
    run = subprocess.run([str(QUINT), "run", str(module), "--backend=typescript", f"--max-samples={WALKS}",
                          f"--max-steps={LENGTH}", "--seed=1", "--invariants", *invariants],
                         capture_output=True, text=True, timeout=1800)
    wall = time.perf_counter() - started
    if run.returncode != 0:
        sys.exit(f"quint run failed (exit {run.returncode}):\n{run.stdout[-2000:]}{run.stderr[-2000:]}")
    own = re.search(r"No violation found \((\d+)ms", run.stdout)
    lengths = re.search(r"average=([0-9.]+)", run.stdout)
    if own is None or lengths is None:
        sys.exit(f"cannot read quint's output:\n{run.stdout[-2000:]}")
    return wall, int(own.group(1)) / 1000, WALKS * (float(lengths.group(1)) - 1)


def main() -> None:
    if not QUINT.exists():
        sys.exit(f"{QUINT} is missing: run `make quint` first")
    machine = MACHINES["ops_lifecycle"]("reference")
    names = invariant_names(machine)
    with tempfile.TemporaryDirectory() as tmp:
        module = Path(tmp) / "ops_lifecycle.qnt"
        module.write_text(export(machine))
        wall, own, transitions = quint(module, [names[inv.name] for inv in machine.invariants])
    compiling = time.perf_counter()
    compile_walker(machine)  # Quint's own timing leaves out parsing and type checking: this is ours
    compiling = time.perf_counter() - compiling
    result = simulate(machine, WALKS, LENGTH, seed=1, id_count=3)  # Quint's IDS has 3 ids
    if result.violation is not None:
        sys.exit(f"opsref simulate found a violation: {result.violation.invariants}")
    print(f"ops_lifecycle (reference), {WALKS} walks x {LENGTH} steps, all {len(machine.invariants)} invariants "
          "checked after every step")
    print(f"{'':28}{'transitions':>12}{'seconds':>10}{'transitions/s':>15}")
    print(f"{'quint run (simulation only)':28}{transitions:>12,.0f}{own:>10.2f}{transitions / own:>15,.0f}")
    print(f"{'quint run (wall, w/ startup)':28}{transitions:>12,.0f}{wall:>10.2f}{transitions / wall:>15,.0f}")
    print(f"{'opsref simulate':28}{result.steps:>12,}{result.seconds:>10.2f}{result.rate:>15,.0f}"
          f"   ({result.refused:,} refused draws on the way)")
    total = result.seconds + compiling
    print(f"{'opsref simulate (w/ compile)':28}{result.steps:>12,}{total:>10.2f}{result.steps / total:>15,.0f}")
    print(f"per accepted transition: {result.rate / (transitions / own):.1f}x Quint's simulation, "
          f"{(result.steps / total) / (transitions / wall):.1f}x counting both start-ups; "
          f"load {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()

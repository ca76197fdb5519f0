"""Benchmark: `opsref simulate` on ops_lifecycle (reference), every invariant checked after
every accepted transition. Figures go in the README; nothing here asserts a time.

Three measurements, each printed with the load average next to it (the machine has 2
cores and is shared; CPU seconds of this process are printed beside wall seconds, as
they suffer less from other jobs):

1. the rate: 100 walks x 2,000 accepted transitions (the same as `opsref simulate --runs
   100 --steps 2000`), the median of three seeds;
2. per-step cost against walk length: 100 walks of 10**3 transitions and one walk of
   10**6 (OPSREF_BENCH_LONG to change the latter);
3. exploration: the (action, guard, phase) cells the draws reach within each budget of
   accepted transitions (`opsref simulate --coverage`), 100 walks x 1,000.
"""

from __future__ import annotations

import os
import statistics
import time

from opsref.conformance.simulate import SimulationResult, simulate
from opsref.spec.compiled import compile_walker
from opsref.spec.registry import MACHINES

LONG = int(os.environ.get("OPSREF_BENCH_LONG", "1000000"))
MACHINE = MACHINES["ops_lifecycle"]("reference")
compile_walker(MACHINE)  # once, before any timing (simulate finds it cached)


def load() -> str:
    return "load " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def timed(runs: int, steps: int, seed: int, coverage: bool = False) -> tuple[SimulationResult, float, float]:
    """The result, wall seconds and CPU seconds of one simulation."""
    cpu, wall = time.process_time(), time.perf_counter()
    result = simulate(MACHINE, runs, steps, seed, coverage=coverage)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    if result.violation is not None:
        raise SystemExit(f"violation: {result.violation.invariants}")
    return result, wall, cpu


def line(label: str, result: SimulationResult, wall: float, cpu: float) -> str:
    return (f"{label:34}{result.steps:>11,} transitions  {wall:7.2f} s wall = {result.steps / wall:>9,.0f}/s"
            f"  {cpu:7.2f} s CPU = {result.steps / cpu:>9,.0f}/s  "
            f"({result.refused / result.steps:.1f} refused draws per transition; {load()})")


def main() -> None:
    print("ops_lifecycle (reference), every invariant checked after every accepted transition")
    runs = [timed(100, 2000, seed) for seed in range(3)]
    for seed, (result, wall, cpu) in enumerate(runs):
        print(line(f"100 walks x 2,000, seed {seed}", result, wall, cpu))
    median = statistics.median(r.steps / wall for r, wall, _ in runs)
    median_cpu = statistics.median(r.steps / cpu for r, _, cpu in runs)
    print(f"{'median':34}{median:>52,.0f}/s {median_cpu:>27,.0f}/s")

    short, short_wall, short_cpu = timed(100, 1000, 1)  # 100 walks of 10**3: one alone is too short to time
    long, long_wall, long_cpu = timed(1, LONG, 1)
    print(line("100 walks x 1,000", short, short_wall, short_cpu))
    print(line(f"1 walk x {LONG:,}", long, long_wall, long_cpu))
    print(f"per-step cost, long walk / short walks: {(long_wall / LONG) / (short_wall / short.steps):.2f} (wall), "
          f"{(long_cpu / LONG) / (short_cpu / short.steps):.2f} (CPU)")

    covered, wall, cpu = timed(100, 1000, 1, coverage=True)
    assert covered.coverage is not None
    print(line("100 walks x 1,000, --coverage", covered, wall, cpu))
    for budget, cells in covered.coverage.budgets(covered.steps):
        accepted = sum(1 for cell, at in covered.coverage.reached.items() if at < budget and cell[1] == "ok")
        print(f"  within {budget:>9,} transitions: {cells:>4} cells, {accepted:>4} of them accepted steps")


if __name__ == "__main__":
    main()

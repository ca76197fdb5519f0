"""Benchmark: `opsref prove`'s edit–prove loop with the proof cache (not a test).

Reference profile, every machine, two workers, a fresh cache folder: a cold run (every
obligation proved), a warm run (nothing changed: every result read), and a run after a
one-action edit (one guard of ops_lifecycle's `report_progress` dropped): what depends
on that action is proved again (its steps, BMC, reachability), the rest is read; BMC
asks Z3 again only about the edited action's one-step closure (its other actions'
closures are kept facts). CPU seconds (this process and its workers) are printed next
to the wall time: on a shared two-core machine the wall time depends on the load.
"""

from __future__ import annotations

import os
import resource
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from opsref.proofs.cache import ProofCache
from opsref.proofs.run import prove
from opsref.spec.machine import Machine
from opsref.spec.registry import build_all

JOBS = min(os.cpu_count() or 1, 2)


def cpu() -> float:
    """CPU seconds of this process and of its finished workers (user + system)."""
    own, workers = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + workers.ru_utime + workers.ru_stime


def timed(machines: list[Machine], folder: Path) -> tuple[float, float, int, int]:
    store = ProofCache(folder)
    t0, c0 = time.perf_counter(), cpu()
    report = prove(machines, "reference", jobs=JOBS, store=store)
    total = sum(len(m.obligations) for m in report.machines)
    return time.perf_counter() - t0, cpu() - c0, store.hits, total


def edited(machines: list[Machine]) -> list[Machine]:
    out = []
    for m in machines:
        if m.name == "ops_lifecycle":
            action = m.action("report_progress")
            m = m.with_action(replace(action, guards=action.guards[1:]))
        out.append(m)
    return out


def main() -> None:
    machines = build_all("reference", None)
    print(f"`opsref prove` with the proof cache: reference profile, {len(machines)} machines, {JOBS} worker(s)")
    print("| run | wall s | CPU s | load (1 min) | results from the cache | proved afresh |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        for label, ms in (("cold (empty cache)", machines), ("warm (no change)", machines),
                          ("one action edited", edited(machines))):
            load = os.getloadavg()[0]
            seconds, busy, hits, total = timed(ms, Path(folder))
            print(f"| {label} | {seconds:.1f} | {busy:.1f} | {load:.1f} | {hits} of {total} | {total - hits} |",
                  flush=True)


if __name__ == "__main__":
    main()

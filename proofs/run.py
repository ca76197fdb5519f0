"""Running every obligation of a machine, split into independent jobs.

A job is a unit that needs no Z3 state from another: the unbounded proofs, one
BMC configuration each, and reachability. With `jobs > 1` they run in separate
processes (spawned, so no Z3 context is shared), which is what makes the full
run fit the CI budget on two cores. The report lists obligations in a fixed
order whatever finished first.
"""

from __future__ import annotations

import sys
import time
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Callable

from opsref.proofs.bmc import bounded_check, reachability
from opsref.proofs.inductive import prove_unbounded
from opsref.proofs.report import MachineReport, Obligation, Report
from opsref.spec.machine import CheckConfig, Machine

Progress = Callable[[str], None]

DEPTH = 10
TIMEOUT_MS = 60000


@dataclass(frozen=True)
class Job:
    kind: str                     # unbounded | bmc | reachability
    config: CheckConfig | None = None  # for bmc

    @property
    def label(self) -> str:
        return f"bmc {self.config.tag}" if self.config else self.kind


def plan(machine: Machine) -> list[Job]:
    """Every job, costliest first so two workers finish close together."""
    return [Job("bmc", c) for c in machine.configs()] + [Job("unbounded"), Job("reachability")]


def run_job(machine: Machine, job: Job, depth: int, timeout_ms: int, verbose: bool) -> list[Obligation]:
    progress = _stderr if verbose else None
    if job.kind == "unbounded":
        return prove_unbounded(machine, timeout_ms)
    if job.kind == "bmc":
        assert job.config is not None
        return bounded_check(machine, depth, timeout_ms, (job.config,), progress)
    return reachability(machine, depth, timeout_ms, progress)


def _stderr(message: str) -> None:
    print(f"  … {message}", file=sys.stderr, flush=True)


def prove_machine(machine: Machine, *, depth: int = DEPTH, timeout_ms: int = TIMEOUT_MS, jobs: int = 1,
                  progress: Progress | None = None, verbose: bool = False) -> MachineReport:
    todo = plan(machine)
    results: dict[Job, list[Obligation]] = {}

    def done(job: Job, obligations: list[Obligation], started: float) -> None:
        results[job] = obligations
        if progress:
            bad = sum(o.result != "proved" for o in obligations)
            tail = f", {bad} not proved" if bad else ""
            progress(f"{machine.name}: {job.label} done — {len(obligations)} obligations{tail} "
                     f"({time.perf_counter() - started:.1f} s)")

    t0 = time.perf_counter()
    if jobs <= 1:
        for job in todo:
            started = time.perf_counter()
            done(job, run_job(machine, job, depth, timeout_ms, verbose), started)
    else:
        with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
            futures: dict[Future[list[Obligation]], Job] = {
                pool.submit(run_job, machine, job, depth, timeout_ms, verbose): job for job in todo}
            for future in as_completed(futures):
                done(futures[future], future.result(), t0)
    ordered = [o for kind in ("unbounded", "bmc", "reachability")
               for job in todo if job.kind == kind for o in results[job]]
    return MachineReport(machine.name, ordered, machine.digest, time.perf_counter() - t0)


def prove(machines: list[Machine], profile: str, *, depth: int = DEPTH, timeout_ms: int = TIMEOUT_MS,
          jobs: int = 1, progress: Progress | None = None, verbose: bool = False) -> Report:
    t0 = time.perf_counter()
    reports = [prove_machine(m, depth=depth, timeout_ms=timeout_ms, jobs=jobs, progress=progress, verbose=verbose)
               for m in machines]
    return Report(profile, reports, time.perf_counter() - t0)

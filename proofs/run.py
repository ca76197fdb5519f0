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
from dataclasses import dataclass, replace
from multiprocessing import get_context
from typing import Callable

from opsref.proofs import cache
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
    actions: tuple[str, ...] = ()      # for unbounded: the actions whose steps are proved
    initiation: bool = True            # for unbounded: whether Init is proved too
    invariants: frozenset[str] | None = None  # only these invariants' obligations (Focus)

    @property
    def label(self) -> str:
        return f"bmc {self.config.tag}" if self.config else self.kind


@dataclass(frozen=True)
class Unit:
    """A piece of the results the cache keeps whole: Init, one action's steps, one BMC
    configuration, or reachability (see proofs/cache.py for what each depends on)."""

    kind: str                     # initiation | step | bmc | reachability
    name: str                     # the action or configuration tag ("" otherwise)

    def key(self, machine: Machine, depth: int) -> str:
        """The cache key of this unit of `machine` (proofs/cache.py)."""
        if self.kind == "initiation":
            return cache.initiation_key(machine)
        if self.kind == "step":
            return cache.step_key(machine, machine.action(self.name))
        if self.kind == "bmc":
            return cache.bmc_key(machine, next(c for c in machine.configs() if c.tag == self.name), depth)
        return cache.reachability_key(machine, depth)


@dataclass(frozen=True)
class Focus:
    """A narrower run, for a spec author's loop or a quick test: only the obligations of
    these invariants (Init, steps, ranking, BMC; reachability, which is about actions and
    errors, is skipped) and/or only these BMC configurations (by tag). The unbounded
    proofs still assume every invariant, so a focused result is the full run's result
    for the same obligation. A focused run reads and writes no cache."""

    invariants: frozenset[str] | None = None
    configs: frozenset[str] | None = None

    def narrow(self, machine: Machine) -> Machine:
        """The machine with only the focused configurations."""
        if self.configs is None:
            return machine
        return replace(machine, check_configs=tuple(c for c in machine.configs() if c.tag in self.configs))

    def unknown_names(self, machine: Machine) -> list[str]:
        """Names in the focus that `machine` does not have."""
        bad = sorted((self.invariants or frozenset()) - {i.name for i in machine.invariants})
        bad += sorted((self.configs or frozenset()) - {c.tag for c in machine.configs()})
        return bad


def units(machine: Machine) -> list[Unit]:
    """Every unit of the machine's report, in report order."""
    return ([Unit("initiation", "")] + [Unit("step", a.name) for a in machine.actions]
            + [Unit("bmc", c.tag) for c in machine.configs()] + [Unit("reachability", "")])


def plan(machine: Machine, missing: list[Unit] | None = None) -> list[Job]:
    """The jobs that compute the `missing` units (all by default), costliest first so two
    workers finish close together."""
    if missing is None:
        missing = units(machine)
    kinds = {u.kind for u in missing}
    steps = tuple(u.name for u in missing if u.kind == "step")
    configs = {u.name for u in missing if u.kind == "bmc"}
    return ([Job("bmc", c) for c in machine.configs() if c.tag in configs]
            + ([Job("unbounded", actions=steps, initiation="initiation" in kinds)]
               if steps or "initiation" in kinds else [])
            + ([Job("reachability")] if "reachability" in kinds else []))


def run_job(machine: Machine, job: Job, depth: int, timeout_ms: int, verbose: bool) -> list[Obligation]:
    progress = _stderr if verbose else None
    if job.kind == "unbounded":
        return prove_unbounded(machine, timeout_ms, actions=job.actions, initiation=job.initiation,
                               invariants=job.invariants)
    if job.invariants is not None:  # BMC assumes nothing: checking fewer invariants is checking those
        machine = replace(machine, invariants=tuple(i for i in machine.invariants if i.name in job.invariants))
    if job.kind == "bmc":
        assert job.config is not None
        return bounded_check(machine, depth, timeout_ms, (job.config,), progress)
    return reachability(machine, depth, timeout_ms, progress)


def _stderr(message: str) -> None:
    print(f"  … {message}", file=sys.stderr, flush=True)


def _unit_of(o: Obligation, u: Unit) -> bool:
    if u.kind in ("initiation", "reachability"):
        return o.kind == u.kind
    if u.kind == "step":
        return o.kind in ("inductive", "ranking") and o.action == u.name
    return o.kind == "bmc" and o.id.endswith(f"/bmc/{u.name}")


def prove_machine(machine: Machine, *, depth: int = DEPTH, timeout_ms: int = TIMEOUT_MS, jobs: int = 1,
                  progress: Progress | None = None, verbose: bool = False,
                  store: cache.ProofCache | None = None, focus: Focus | None = None) -> MachineReport:
    """Every obligation of `machine` (or of its `focus`); with a `store`, units whose key
    it holds are read from it and only the others are proved (and then stored)."""
    if focus is not None:
        store = None
        machine = focus.narrow(machine)
    everything = [u for u in units(machine)
                  if not (focus is not None and focus.invariants is not None and u.kind == "reachability")]
    keys = {u: u.key(machine, depth) for u in everything} if store is not None else {}  # no cache, no keys
    kept = {u: store.get(keys[u]) for u in everything} if store is not None else {}
    missing = [u for u in everything if kept.get(u) is None]
    only = None if focus is None else focus.invariants
    todo = [replace(job, invariants=only) for job in plan(machine, missing)]
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
    fresh = [o for job in todo for o in results[job]]
    ordered: list[Obligation] = []
    for u in everything:
        found = kept.get(u)
        if found is None:
            found = [o for o in fresh if _unit_of(o, u)]
            if store is not None:
                store.put(keys[u], found)
        ordered += found
    return MachineReport(machine.name, ordered, machine.digest, time.perf_counter() - t0)


def prove(machines: list[Machine], profile: str, *, depth: int = DEPTH, timeout_ms: int = TIMEOUT_MS,
          jobs: int = 1, progress: Progress | None = None, verbose: bool = False,
          store: cache.ProofCache | None = None, focus: Focus | None = None) -> Report:
    t0 = time.perf_counter()
    reports = [prove_machine(m, depth=depth, timeout_ms=timeout_ms, jobs=jobs, progress=progress, verbose=verbose,
                             store=store, focus=focus)
               for m in machines]
    return Report(profile, reports, time.perf_counter() - t0)

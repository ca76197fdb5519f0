"""Running every obligation of every machine, split into independent jobs.

A job is one unit of the report (see `Unit`): Init, one action's steps, one BMC
configuration, or reachability, of one machine. Every machine's jobs go to one pool
of worker processes (spawned, so no Z3 context is shared; each is handed the
machines once, when it starts), costliest first, so the two cores finish close
together: a machine whose unbounded proof is one long job no longer leaves a core
idle, and no machine waits for another's last job. Within a worker the provers of a
machine (and their encoded hypotheses) are built once and serve every step job of it.
The report lists obligations in a fixed order whatever finished first.
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
from opsref.proofs.inductive import Prover, prove_unbounded, provers_for
from opsref.proofs.report import MachineReport, Obligation, Report
from opsref.spec.machine import Action, CheckConfig, Machine

Progress = Callable[[str], None]

DEPTH = 10
TIMEOUT_MS = 60000


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


@dataclass(frozen=True)
class Job:
    """One unit of the machine at `machine` (an index into the run's machines)."""

    machine: int
    unit: Unit
    invariants: frozenset[str] | None = None  # only these invariants' obligations (Focus)

    @property
    def label(self) -> str:
        return {"initiation": "init", "step": f"step {self.unit.name}", "bmc": f"bmc {self.unit.name}",
                "reachability": "reachability"}[self.unit.kind]


#: the order jobs start in: the few long ones first (a BMC configuration, reachability:
#: unrollings of every action), the many short ones (one action's steps) last, where
#: they fill whatever time the other worker still needs
_FIRST = {"bmc": 0, "reachability": 1, "step": 2, "initiation": 3}


def schedule(machines: list[Machine], jobs: list[Job]) -> list[Job]:
    """`jobs` costliest first (longest-processing-time-first): by kind, then by the size of
    the machine's transition relation (its actions' guards and effects times its
    invariants), which is what each query of the job grows with."""
    def size(m: Machine) -> int:
        return sum(1 + len(a.guards) + len(a.effects) for a in m.actions) * (1 + len(m.invariants))
    return sorted(jobs, key=lambda j: (_FIRST[j.unit.kind], -size(machines[j.machine])))


# ------------------------------------------------------------------ worker side

_MACHINES: list[Machine] = []
_PROVERS: dict[tuple[int, int], tuple[Prover, Prover]] = {}


def _start_worker(machines: list[Machine]) -> None:
    global _MACHINES
    _MACHINES = machines
    _PROVERS.clear()


@dataclass(frozen=True)
class Facts:
    """The closure facts of one machine's BMC, kept in the proof cache (bmc.ClosureFacts)."""

    store: cache.ProofCache
    machine: Machine
    depth: int

    def known(self, config: CheckConfig, action: Action, invariants: tuple[str, ...]) -> bool:
        return self.store.holds(cache.closure_key(self.machine, config, action, self.depth, invariants))

    def put(self, config: CheckConfig, action: Action, invariants: tuple[str, ...]) -> None:
        self.store.put_fact(cache.closure_key(self.machine, config, action, self.depth, invariants))


def run_job(machine: Machine, job: Job, depth: int, timeout_ms: int, verbose: bool,
            store: cache.ProofCache | None = None) -> list[Obligation]:
    """The obligations of one job's unit (`machine` is the one `job.machine` names);
    with a `store`, a BMC job reads and keeps its closure facts there."""
    progress = _stderr if verbose else None
    unit = job.unit
    if unit.kind in ("initiation", "step"):
        key = (id(machine), timeout_ms)
        if key not in _PROVERS or _PROVERS[key][0].m is not machine:
            _PROVERS[key] = provers_for(machine, timeout_ms)
        return prove_unbounded(machine, timeout_ms, actions=(unit.name,) if unit.kind == "step" else (),
                               initiation=unit.kind == "initiation", invariants=job.invariants,
                               provers=_PROVERS[key])
    if job.invariants is not None:  # BMC assumes nothing: checking fewer invariants is checking those
        machine = replace(machine, invariants=tuple(i for i in machine.invariants if i.name in job.invariants))
    if unit.kind == "bmc":
        config = next(c for c in machine.configs() if c.tag == unit.name)
        facts = Facts(store, machine, depth) if store is not None else None
        return bounded_check(machine, depth, timeout_ms, (config,), progress, facts)
    return reachability(machine, depth, timeout_ms, progress)


def _run_in_worker(job: Job, depth: int, timeout_ms: int, verbose: bool,
                   store: cache.ProofCache | None) -> tuple[list[Obligation], float]:
    t0 = time.perf_counter()
    found = run_job(_MACHINES[job.machine], job, depth, timeout_ms, verbose, store)
    return found, time.perf_counter() - t0


def _stderr(message: str) -> None:
    print(f"  … {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------ the run


def prove_machines(machines: list[Machine], *, depth: int = DEPTH, timeout_ms: int = TIMEOUT_MS, jobs: int = 1,
                   progress: Progress | None = None, verbose: bool = False,
                   store: cache.ProofCache | None = None, focus: Focus | None = None) -> list[MachineReport]:
    """Every obligation of each machine (or of its `focus`), one report per machine; with
    a `store`, units whose key it holds are read from it and only the others are proved
    (and then stored)."""
    if focus is not None:
        store = None
        machines = [focus.narrow(m) for m in machines]
    only = None if focus is None else focus.invariants
    everything = [[u for u in units(m) if not (only is not None and u.kind == "reachability")] for m in machines]
    keys = [{u: u.key(m, depth) for u in us} if store is not None else {}  # no cache, no keys
            for m, us in zip(machines, everything)]
    kept: list[dict[Unit, list[Obligation] | None]] = [
        {u: store.get(k[u]) for u in us} if store is not None else {} for us, k in zip(everything, keys)]
    todo = schedule(machines, [Job(n, u, only) for n, us in enumerate(everything) for u in us
                               if kept[n].get(u) is None])
    results: dict[Job, list[Obligation]] = {}
    left = [sum(j.machine == n for j in todo) for n in range(len(machines))]
    finished = [0.0] * len(machines)
    t0 = time.perf_counter()

    def done(job: Job, obligations: list[Obligation], seconds: float) -> None:
        results[job] = obligations
        left[job.machine] -= 1
        finished[job.machine] = time.perf_counter() - t0
        if progress and (verbose or not left[job.machine] or job.unit.kind in ("bmc", "reachability")):
            bad = sum(o.result != "proved" for o in obligations)
            tail = f", {bad} not proved" if bad else ""
            what = f"{job.label} done" + ("" if left[job.machine] else ", the last of its jobs")
            progress(f"{machines[job.machine].name}: {what} — {len(obligations)} obligations{tail} "
                     f"({seconds:.1f} s; {time.perf_counter() - t0:.1f} s since the start)")

    if jobs <= 1 or len(todo) <= 1:
        for job in todo:
            started = time.perf_counter()
            done(job, run_job(machines[job.machine], job, depth, timeout_ms, verbose, store),
                 time.perf_counter() - started)
    else:
        with ProcessPoolExecutor(max_workers=min(jobs, len(todo)), mp_context=get_context("spawn"),
                                 initializer=_start_worker, initargs=(machines,)) as pool:
            futures: dict[Future[tuple[list[Obligation], float]], Job] = {
                pool.submit(_run_in_worker, job, depth, timeout_ms, verbose, store): job for job in todo}
            for future in as_completed(futures):
                obligations, seconds = future.result()
                done(futures[future], obligations, seconds)
    fresh = {(j.machine, j.unit): found for j, found in results.items()}
    reports = []
    for n, m in enumerate(machines):
        ordered: list[Obligation] = []
        for u in everything[n]:
            found = kept[n].get(u)
            if found is None:
                found = fresh[(n, u)]
                if store is not None:
                    store.put(keys[n][u], found)
            ordered += found
        reports.append(MachineReport(m.name, ordered, m.digest, finished[n]))
    return reports


def prove_machine(machine: Machine, *, depth: int = DEPTH, timeout_ms: int = TIMEOUT_MS, jobs: int = 1,
                  progress: Progress | None = None, verbose: bool = False,
                  store: cache.ProofCache | None = None, focus: Focus | None = None) -> MachineReport:
    """Every obligation of one machine (see `prove_machines`)."""
    return prove_machines([machine], depth=depth, timeout_ms=timeout_ms, jobs=jobs, progress=progress,
                          verbose=verbose, store=store, focus=focus)[0]


def prove(machines: list[Machine], profile: str, *, depth: int = DEPTH, timeout_ms: int = TIMEOUT_MS,
          jobs: int = 1, progress: Progress | None = None, verbose: bool = False,
          store: cache.ProofCache | None = None, focus: Focus | None = None) -> Report:
    t0 = time.perf_counter()
    reports = prove_machines(machines, depth=depth, timeout_ms=timeout_ms, jobs=jobs, progress=progress,
                             verbose=verbose, store=store, focus=focus)
    return Report(profile, reports, time.perf_counter() - t0)

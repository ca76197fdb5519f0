"""Spec mutation adequacy: is every small change to the spec caught by something?

Mutants are generated systematically from the machine's data, never by hand:

* drop each guard;
* widen and narrow each from-set (a guard of the form `phase[id] ∈ {…}`) by one phase;
* drop each effect;
* change each counter update (`x + k`, `x − k` with a literal k) by one, both ways;
* swap the errors of two guards of one action that raise different errors.

Each mutant goes through the killers, cheapest first, and the first that kills it
is recorded with what it found. The killers are passed in, so this module depends on
the spec alone; `opsref mutants` passes `conformance.killers.KILLERS`:

1. `simulation` — random walks of the mutant with every invariant checked after
   every step (a concrete trace from Init breaks the named invariants);
2. `differential` — the mutant's answers against `impl/` over the same cached
   random call sequences for every mutant, then exhaustive search over one id to
   the protocol's depth and over two ids to depth 3 (the lock-step tie between
   spec and implementation would fail);
3. `proof` — the unbounded inductive obligations (Z3 `sat`: a counterexample
   to induction for the named invariant and action); `by_proof` here, the only
   killer this layer defines.

A mutant no killer catches is a survivor: it must be listed, with a one-line
reason, in proofs/equivalent_mutants.txt, or it is a gap in the invariants.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterator

from opsref.proofs.inductive import prove_unbounded
from opsref.spec.machine import Action, Assign, AssignAll, AssignAt, Effect, Guard, Machine
from opsref.spec.model import evaluate, initial_state
from opsref.spec.terms import Apply, Lit, Param, Read, Sort, Term, expand, one_of, walk

EQUIVALENT_FILE = Path(__file__).with_name("equivalent_mutants.txt")


@dataclass(frozen=True)
class Mutant:
    id: str
    operator: str
    description: str
    machine: Machine


@dataclass
class Verdict:
    mutant: str
    operator: str
    description: str
    killed_by: str = ""          # simulation | differential | proof | "" (survived)
    evidence: list[str] = field(default_factory=list)  # invariants / obligations / the differing call
    equivalent: str = ""         # the justification, when listed as equivalent

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mutant": self.mutant, "operator": self.operator, "description": self.description,
                               "killed_by": self.killed_by or None, "evidence": self.evidence}
        if self.equivalent:
            out["equivalent"] = self.equivalent
        return out


# --------------------------------------------------------------------------- generation


def _with_action(machine: Machine, action: Action) -> Machine:
    return machine.with_action(action)


def _phase_set(g: Guard, phase: Read) -> tuple[str, ...] | None:
    """The phases a from-set guard allows, if `g` is exactly `phase ∈ {…}`."""
    atoms = g.holds.args if isinstance(g.holds, Apply) and g.holds.op == "or" else (g.holds,)
    allowed = []
    for atom in atoms:
        if not (isinstance(atom, Apply) and atom.op == "eq" and atom.args[0] == phase
                and isinstance(atom.args[1], Lit)):
            return None
        allowed.append(str(atom.args[1].value))
    return tuple(allowed)


def _phase_reads(machine: Machine, a: Action) -> list[tuple[Read, Sort]]:
    """The phase fields an action's guards may test: machine-wide ones, and per-id ones at its id."""
    key = next((p for p in a.params if p.sort.name == "id"), None)
    out = []
    for name in machine.phases:
        f = machine.field(name)
        if f.key is None:
            out.append((Read(name, None), f.sort))
        elif key is not None:
            out.append((Read(name, key), f.sort))
    return out


def _refused_earlier(machine: Machine, a: Action, n: int, phase: Read, value: str) -> bool:
    """An earlier guard of `a` reads nothing but `phase` and refuses `value`: a change to
    guard `n` about `value` cannot be observed (e.g. widening a from-set with `absent`
    after the guard that refuses untracked ids)."""
    config = {f.name: f.default.value for f in machine.fields if f.rigid}
    for g in a.guards[:n]:
        reads = [t for t in walk(g.holds) if isinstance(t, Read)]
        params = [t for t in walk(g.holds) if isinstance(t, Param)]
        if not reads or any(r != phase for r in reads) or any(p != phase.key for p in params):
            continue
        state = initial_state(machine, config)
        if phase.key is None:
            state.globals[phase.field] = value
        else:
            state.maps[phase.field]["x"] = value
        bound = {phase.key.name: "x"} if isinstance(phase.key, Param) else {}
        if evaluate(machine, g.holds, state, bound) is not True:
            return True
    return False


def _counter_variants(t: Term) -> Iterator[tuple[str, Term]]:
    """Every way of changing one literal step of an add/sub in `t` by one."""
    if isinstance(t, Apply):
        if t.op in ("add", "sub"):
            for n, arg in enumerate(t.args):
                if n > 0 and isinstance(arg, Lit) and isinstance(arg.value, int) and not isinstance(arg.value, bool):
                    for delta in (1, -1):
                        new = Lit(arg.value + delta, arg.sort)
                        yield (f"{t.op} {arg.value}→{arg.value + delta}",
                               Apply(t.op, t.args[:n] + (new,) + t.args[n + 1:]))
        for n, arg in enumerate(t.args):
            for label, variant in _counter_variants(arg):
                yield label, Apply(t.op, t.args[:n] + (variant,) + t.args[n + 1:])


def _effect_value(e: Effect) -> Term:
    """The value as it means (named definitions expanded), so a literal step inside a
    definition is mutated at each use."""
    return expand(e.value)


def _replace_value(e: Effect, value: Term) -> Effect:
    return replace(e, value=value)


def generate(machine: Machine) -> list[Mutant]:
    out: list[Mutant] = []
    for a in machine.actions:
        for n, g in enumerate(a.guards):
            out.append(Mutant(f"{a.name}/drop-guard/{g.name}", "drop-guard", f"{a.name} without guard {g.name}",
                              _with_action(machine, replace(a, guards=a.guards[:n] + a.guards[n + 1:]))))
            for phase_read, phase_sort in _phase_reads(machine, a):
                allowed = _phase_set(g, phase_read)
                if allowed is None:
                    continue
                for phase in phase_sort.members:
                    if _refused_earlier(machine, a, n, phase_read, phase):
                        continue
                    changed = tuple(p for p in allowed if p != phase) if phase in allowed else allowed + (phase,)
                    verb = "narrow" if phase in allowed else "widen"
                    guard = replace(g, holds=one_of(phase_read, phase_sort, changed))
                    out.append(Mutant(f"{a.name}/{verb}/{g.name}/{phase}", f"{verb}-from-set",
                                      f"{a.name}: {g.name} {'without' if verb == 'narrow' else 'with'} {phase}",
                                      _with_action(machine, replace(a, guards=a.guards[:n] + (guard,) + a.guards[n + 1:]))))
        for n, e in enumerate(a.effects):
            out.append(Mutant(f"{a.name}/drop-effect/{n + 1}", "drop-effect",
                              f"{a.name} without effect {n + 1} ({e.field})",
                              _with_action(machine, replace(a, body=a.effects[:n] + a.effects[n + 1:]))))
            for label, value in _counter_variants(_effect_value(e)):
                effects = a.effects[:n] + (_replace_value(e, value),) + a.effects[n + 1:]
                out.append(Mutant(f"{a.name}/counter/{n + 1}/{label.split()[1]}", "counter-by-one",
                                  f"{a.name}: effect {n + 1} ({e.field}) {label}",
                                  _with_action(machine, replace(a, body=effects))))
        for x in range(len(a.guards)):
            for y in range(x + 1, len(a.guards)):
                gx, gy = a.guards[x], a.guards[y]
                if gx.error == gy.error:
                    continue
                guards = list(a.guards)
                guards[x], guards[y] = replace(gx, error=gy.error), replace(gy, error=gx.error)
                out.append(Mutant(f"{a.name}/swap-errors/{gx.name}/{gy.name}", "swap-errors",
                                  f"{a.name}: {gx.name} raises {gy.error}, {gy.name} raises {gx.error}",
                                  _with_action(machine, replace(a, guards=tuple(guards)))))
    return out


# --------------------------------------------------------------------------- killers


def by_proof(mutant: Machine, timeout_ms: int = 10000) -> list[str]:
    # only a counterexample kills: an `unknown` (timeout) is no evidence either way
    return [o.id for o in prove_unbounded(mutant, timeout_ms) if o.result == "violated"]


#: a killer: the evidence it finds against a mutant machine (empty when it finds none)
Killer = Callable[[Machine], list[str]]
#: named killers, cheapest first; the command line passes simulation and differential
#: (conformance.killers) before `by_proof`, so this layer needs neither conformance nor impl
Killers = tuple[tuple[str, Killer], ...]


class EquivalentListError(ValueError):
    """A malformed line in the equivalent-mutant list (the message names file and line)."""


# --------------------------------------------------------------------------- the run


def load_equivalent(path: Path = EQUIVALENT_FILE) -> dict[str, str]:
    """`[machine:]mutant-id: one-line justification` per line (no machine: the registry);
    `#` starts a comment line."""
    out: dict[str, str] = {}
    if not path.exists():
        return out
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        mutant, sep, why = line.partition(": ")
        if not sep or not why.strip():
            raise EquivalentListError(f"{path}:{number}: expected 'mutant-id: justification'")
        out[mutant.strip()] = why.strip()
    return out


@dataclass
class MutationReport:
    machine: str
    verdicts: list[Verdict]
    seconds: float
    unknown_equivalents: list[str]  # listed as equivalent but not generated (stale entries)

    @property
    def killed(self) -> int:
        return sum(bool(v.killed_by) for v in self.verdicts)

    @property
    def equivalent(self) -> int:
        return sum(not v.killed_by and bool(v.equivalent) for v in self.verdicts)

    @property
    def survived(self) -> list[Verdict]:
        return [v for v in self.verdicts if not v.killed_by and not v.equivalent]


def judge(killers: Killers, m: Mutant) -> Verdict:
    """Run the killers on one mutant, cheapest first; the first that kills it decides."""
    verdict = Verdict(m.id, m.operator, m.description)
    for name, killer in killers:
        evidence = killer(m.machine)
        if evidence:
            verdict.killed_by, verdict.evidence = name, evidence
            break
    return verdict


def equivalent_for(equivalent: dict[str, str], machine: str) -> dict[str, str]:
    """The entries about `machine`: `machine:mutant-id`, or a bare id for the registry."""
    out = {}
    for key, why in equivalent.items():
        owner, _, id = key.rpartition(":")
        if (owner or "ops_lifecycle") == machine:
            out[id] = why
    return out


def run_mutants(machine: Machine, equivalent: dict[str, str], killers: Killers,
                progress: Callable[[str], None] | None = None, jobs: int = 1) -> MutationReport:
    started = time.perf_counter()
    equivalent = equivalent_for(equivalent, machine.name)
    mutants = generate(machine)
    verdicts: dict[str, Verdict] = {}

    def done(v: Verdict) -> None:
        if not v.killed_by:
            v.equivalent = equivalent.get(v.mutant, "")
        verdicts[v.mutant] = v
        n = len(verdicts)
        if progress is not None and (n % 25 == 0 or n == len(mutants)):
            progress(f"  {machine.name}: {n}/{len(mutants)} mutants, "
                     f"{sum(bool(x.killed_by) for x in verdicts.values())} killed, "
                     f"{time.perf_counter() - started:.0f} s")

    if jobs <= 1:
        for m in mutants:
            done(judge(killers, m))
    else:
        from concurrent.futures import ProcessPoolExecutor
        from multiprocessing import get_context
        with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
            for v in pool.map(partial(judge, killers), mutants, chunksize=4):
                done(v)
    # an entry is stale when its mutant is no longer generated, or a killer now catches it
    # (then the justification was wrong, or the spec changed under it)
    survivors = {v.mutant for v in verdicts.values() if not v.killed_by}
    stale = sorted(f"{machine.name}:{k}" for k in equivalent if k not in survivors)
    ordered = [verdicts[m.id] for m in mutants]
    return MutationReport(machine.name, ordered, time.perf_counter() - started, stale)


def report_json(reports: list[MutationReport]) -> dict[str, Any]:
    """`opsref mutants --json`: the counts over every machine, and each mutant's verdict."""
    verdicts = [v for r in reports for v in r.verdicts]
    return {"mutants": len(verdicts), "killed": sum(r.killed for r in reports),
            "equivalent": sum(r.equivalent for r in reports),
            "survived": [v.mutant for r in reports for v in r.survived],
            "stale_equivalents": [s for r in reports for s in r.unknown_equivalents],
            "seconds": round(sum(r.seconds for r in reports), 1), "matrix": [v.to_json() for v in verdicts]}

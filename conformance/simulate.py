"""`opsref simulate`: random walks of a spec machine, every invariant checked after every step.

A quick falsifier for spec authors: it needs no solver and finds a broken
invariant in seconds, with the walk that broke it. It is not a proof (that is
`opsref prove`); it explores what random choices reach. Nothing here is
machine-specific: parameters are drawn by sort, configuration fields at random
within the machine's assumptions.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Callable

from opsref.spec.compiled import compile_machine
from opsref.spec.machine import Machine
from opsref.spec.model import SpecError, State, Value, initial_state
from opsref.spec.terms import BOOL, ID, ID_SET, INT, Sort

Step = tuple[str, dict[str, Value]]


@dataclass
class Violation:
    run: int
    config: dict[str, Value]
    walk: list[Step]       # from Init, the last step is the one that broke it
    invariants: list[str]


@dataclass
class SimulationResult:
    machine: str
    profile: str
    runs: int = 0
    steps: int = 0
    accepted: int = 0
    seconds: float = 0.0
    violation: Violation | None = None
    actions_seen: dict[str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.steps / self.seconds if self.seconds > 0 else 0.0


def _draw(rng: random.Random, sort: Sort, ids: list[str]) -> Value:
    if sort == ID:
        return rng.choice(ids)
    if sort == ID_SET:
        return frozenset(rng.sample(ids, rng.randint(0, len(ids))))
    if sort == BOOL:
        return rng.random() < 0.15  # flags such as has_duplicate: mostly off, sometimes on
    if sort == INT:
        return rng.randint(0, 3)
    if sort.is_enum:
        return rng.choice(sort.members)
    raise SpecError(f"cannot draw a value of sort {sort}")


def _config(machine: Machine, rng: random.Random) -> tuple[dict[str, Value], State]:
    for _ in range(100):
        config = {f.name: _draw(rng, f.sort, []) if f.sort != BOOL else rng.random() < 0.5
                  for f in machine.fields if f.rigid}
        try:
            return config, initial_state(machine, config)
        except SpecError:
            continue
    raise SpecError(f"no configuration of {machine.name} satisfying its assumptions was drawn")


FRESH_ID_RATE = 0.05
#: a walk refused this many times in a row is stuck (e.g. its runtime was destroyed): it
#: starts again from Init, so the step budget goes to states where something can happen
STUCK = 40


def _name(n: int) -> str:
    return chr(ord("a") + n) if n < 26 else f"op{n}"


def simulate(machine: Machine, runs: int, steps: int, seed: int, id_count: int = 4,
             progress: Callable[[str], None] | None = None) -> SimulationResult:
    compiled = compile_machine(machine)
    rng = random.Random(seed)
    actions = machine.actions
    result = SimulationResult(machine.name, machine.profile)
    started = last_report = time.perf_counter()
    for run in range(runs):
        config, state = _config(machine, rng)
        walk: list[Step] = []
        # A sliding pool of ids: now and then the oldest is replaced by a fresh one, so
        # machines that never reuse an id keep finding fresh ones late in a walk.
        ids = [_name(n) for n in range(id_count)]
        minted = id_count
        refusals = 0
        for _ in range(steps):
            if refusals >= STUCK:
                config, state = _config(machine, rng)
                walk, refusals = [], 0
            if rng.random() < FRESH_ID_RATE:
                ids = ids[1:] + [_name(minted)]
                minted += 1
            action = rng.choice(actions)
            params = {p.name: _draw(rng, p.sort, ids) for p in action.params}
            pre = state.copy()
            refused = compiled.apply(state, action.name, params)
            result.steps += 1
            walk.append((action.name, params))
            if refused is not None:
                refusals += 1
                continue  # guards run before any effect: a refused step leaves the state as it was
            refusals = 0
            result.accepted += 1
            result.actions_seen[action.name] = result.actions_seen.get(action.name, 0) + 1
            bad = compiled.violated(state, pre, action.name, params)
            if bad:
                result.runs = run + 1
                result.seconds = time.perf_counter() - started
                result.violation = Violation(run, config, walk, [inv.name for inv in bad])
                return result
        result.runs = run + 1
        now = time.perf_counter()
        if progress is not None and now - last_report > 2:
            last_report = now
            progress(f"  {result.runs}/{runs} runs, {result.steps} steps, {result.steps / (now - started):,.0f} steps/s")
    result.seconds = time.perf_counter() - started
    return result


def render(result: SimulationResult, machine: Machine) -> str:
    head = (f"{result.machine}/{result.profile}: {result.runs} run(s), {result.steps:,} steps "
            f"({result.accepted:,} accepted), {result.rate:,.0f} steps/s with all "
            f"{len(machine.invariants)} invariants checked after every accepted step")
    if result.violation is None:
        never = [a.name for a in machine.actions if a.name not in result.actions_seen]
        tail = f"; never accepted: {', '.join(never)}" if never else ""
        return f"{head}: no violation{tail}"
    v = result.violation
    lines = [f"{head}: VIOLATED {', '.join(v.invariants)} in run {v.run} after {len(v.walk)} steps",
             f"  config: {v.config}"]
    for inv in v.invariants:
        lines.append(f"  {inv}: {machine.invariant(inv).sentence}")
    shown = v.walk[-12:]
    if len(v.walk) > len(shown):
        lines.append(f"  ... {len(v.walk) - len(shown)} earlier steps")
    for n, (action, params) in enumerate(shown, len(v.walk) - len(shown) + 1):
        text = ", ".join(f"{k}={sorted(x) if isinstance(x, frozenset) else x}" for k, x in params.items())
        lines.append(f"  {n:>5}. {action}({text})")
    return "\n".join(lines)

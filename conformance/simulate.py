"""`opsref simulate`: random walks of a spec machine, every invariant checked after every step.

A quick falsifier for spec authors: it needs no solver and finds a broken
invariant in seconds, with the walk that broke it. It is not a proof (that is
`opsref prove`); it explores what random choices reach. Nothing here is
machine-specific: parameters are drawn by sort, configuration fields at random
within the machine's assumptions.

Every step of a walk is an accepted transition, as in Quint's and TLC's simulators: an
action and its parameters are drawn at random until the guards accept one (guards run
before any effect, so a refused draw costs a guard evaluation and changes nothing).
After a few draws per action without one, every action is tried with every parameter
value in its domain; if none is enabled the walk is in a deadlock and starts again from
Init.
"""

from __future__ import annotations

import itertools
import random
import time
from dataclasses import dataclass, field
from typing import Callable

from opsref.spec.compiled import Compiled, compile_machine
from opsref.spec.machine import Action, Machine
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
    steps: int = 0          # accepted transitions: every step of a walk is one
    refused: int = 0        # parameter draws the guards refused on the way (no state change)
    deadlocks: int = 0      # walks that reached a state no action leaves, and started again
    seconds: float = 0.0
    violation: Violation | None = None
    actions_seen: dict[str, int] = field(default_factory=dict)

    @property
    def accepted(self) -> int:
        return self.steps

    @property
    def rate(self) -> float:
        """Accepted transitions per second, every invariant checked after each."""
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
#: random (action, parameters) draws per step, as many per action on average, before
#: every action is tried with every parameter value
DRAWS_PER_ACTION = 4


def _name(n: int) -> str:
    return chr(ord("a") + n) if n < 26 else f"op{n}"


def _domain(sort: Sort, ids: list[str]) -> list[Value]:
    """Every value `_draw` can give for `sort`."""
    if sort == ID:
        return list(ids)
    if sort == ID_SET:
        return [frozenset(c) for n in range(len(ids) + 1) for c in itertools.combinations(ids, n)]
    if sort == BOOL:
        return [False, True]
    if sort == INT:
        return [0, 1, 2, 3]
    if sort.is_enum:
        return list(sort.members)
    raise SpecError(f"cannot enumerate the values of sort {sort}")


def _enabled_step(compiled: Compiled, machine: Machine, state: State, rng: random.Random, ids: list[str],
                  result: SimulationResult) -> tuple[Action, dict[str, Value]] | None:
    """Apply an enabled action to `state` in place and return it with its parameters, or
    None when no action is enabled (every draw, then every parameter value, refused)."""
    for _ in range(DRAWS_PER_ACTION * len(machine.actions)):
        action = rng.choice(machine.actions)
        params = {p.name: _draw(rng, p.sort, ids) for p in action.params}
        if compiled.apply(state, action.name, params) is None:
            return action, params
        result.refused += 1
    for action in rng.sample(machine.actions, len(machine.actions)):
        names = [p.name for p in action.params]
        for values in itertools.product(*(_domain(p.sort, ids) for p in action.params)):
            params = dict(zip(names, values))
            if compiled.apply(state, action.name, params) is None:
                return action, params
            result.refused += 1
    return None


def simulate(machine: Machine, runs: int, steps: int, seed: int, id_count: int = 4,
             progress: Callable[[str], None] | None = None) -> SimulationResult:
    """`runs` walks of `steps` accepted transitions each (a deadlocked walk starts again
    from Init and goes on), every invariant checked after every step."""
    compiled = compile_machine(machine)
    rng = random.Random(seed)
    result = SimulationResult(machine.name, machine.profile)
    started = last_report = time.perf_counter()
    for run in range(runs):
        config, state = _config(machine, rng)
        walk: list[Step] = []
        # A sliding pool of ids: now and then the oldest is replaced by a fresh one, so
        # machines that never reuse an id keep finding fresh ones late in a walk.
        ids = [_name(n) for n in range(id_count)]
        minted = id_count
        for _ in range(steps):
            if rng.random() < FRESH_ID_RATE:
                ids = ids[1:] + [_name(minted)]
                minted += 1
            pre = state.copy()
            taken = _enabled_step(compiled, machine, state, rng, ids, result)
            if taken is None:
                result.deadlocks += 1
                config, state = _config(machine, rng)
                walk = []
                continue
            action, params = taken
            result.steps += 1
            walk.append((action.name, params))
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
            progress(f"  {result.runs}/{runs} runs, {result.steps:,} transitions, "
                     f"{result.steps / (now - started):,.0f} transitions/s")
    result.seconds = time.perf_counter() - started
    return result


def render(result: SimulationResult, machine: Machine) -> str:
    restarts = f", {result.deadlocks:,} deadlocked walk(s) restarted" if result.deadlocks else ""
    head = (f"{result.machine}/{result.profile}: {result.runs} run(s), {result.steps:,} accepted transitions "
            f"({result.refused:,} refused draws on the way{restarts}), {result.rate:,.0f} transitions/s with all "
            f"{len(machine.invariants)} invariants checked after every one")
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

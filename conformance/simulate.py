"""`opsref simulate`: random walks of a spec machine, every invariant checked after every step.

A quick falsifier for spec authors: it needs no solver and finds a broken
invariant in seconds, with the walk that broke it. It is not a proof (that is
`opsref prove`); it explores what random choices reach. Nothing here is
machine-specific: parameters range over their sorts' domains, configuration fields
are drawn at random within the machine's assumptions.

Every step of a walk is an accepted transition, as in Quint's and TLC's simulators. The
candidates are every action with every in-domain parameter value over a small pool of
ids (`_Pool`). A step draws one uniformly from those no one-value guard refuses in the
current state (`_Filter`: a guard that tests a single global, or a single entry at an id
parameter, of an enum or flag sort, decides from that value alone, so the candidates it
refuses are left out before the draw) and takes it if all the guards accept it (guards
run before any effect, so a refused draw costs a guard evaluation and changes nothing).
The candidates left out are refused, so each step is uniform among the enabled
candidates, as TLC picks among enabled successors. With `coverage` every draw is from
the whole table instead, as the refusals are cells too. After as many refused draws in
a row as there are candidates, every candidate is tried in a random order; if none is
enabled the walk is in a deadlock and starts again from Init, unless it is deadlocked at
Init itself (no step since), which ends the walk: restarting could then go on forever.
The pool always holds one fresh id (machines that never reuse an id keep registering),
replacing the oldest when a step names it.

Each step is a walker step function (`spec.compiled.compile_walker`): the action in
place, then every invariant re-evaluated where the step can have changed it, so the cost
of a step does not grow with the walk's history (ids ever used, sequence numbers ever
issued)."""

from __future__ import annotations

import gc
import itertools
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Sequence

from opsref.spec.compiled import Compiled, Walker, WalkerFn, compile_machine, compile_walker
from opsref.spec.machine import Guard, Machine
from opsref.spec.model import SpecError, State, Value, evaluate, initial_state
from opsref.spec.terms import (
    BOOL, CUR, ID, ID_SET, INT, Apply, Contains, Lit, Param, Quant, Read, Sort, Var, expand, walk,
)

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
    coverage: "Coverage | None" = None

    @property
    def accepted(self) -> int:
        return self.steps

    @property
    def rate(self) -> float:
        """Accepted transitions per second, every invariant checked after each."""
        return self.steps / self.seconds if self.seconds > 0 else 0.0


#: a coverage cell: (action, "ok" or the refusing guard, the phase(s) it was drawn from),
#: as `opsref drive` counts them for calls
Cell = tuple[str, str, tuple[str, ...]]


@dataclass
class Coverage:
    """The cells the draws of a simulation reached (accepted or refused), each with the
    number of accepted transitions taken before it was first reached."""

    machine: Machine
    reached: dict[Cell, int] = field(default_factory=dict)

    def phase(self, state: State, action: str, params: dict[str, Value]) -> tuple[str, ...]:
        """The machine's phase fields as the draw finds them: a global as it is, a per-id
        field at each id parameter (for a set of ids, the set of their phases)."""
        machine = self.machine
        out: list[str] = []
        for name in machine.phases:
            f = machine.field(name)
            if f.key is None:
                out.append(str(state.globals[name]))
                continue
            entries, default = state.maps[name], f.default.value
            for p in machine.action(action).params:
                value = params[p.name]
                if p.sort == ID:
                    out.append(str(entries.get(value, default)))
                elif p.sort == ID_SET and isinstance(value, frozenset):
                    out.append("{" + ",".join(sorted({str(entries.get(one, default)) for one in value})) + "}")
        return tuple(out) or ("-",)

    def within(self, budget: int) -> int:
        """Cells reached within `budget` accepted transitions."""
        return sum(1 for at in self.reached.values() if at < budget)

    def budgets(self, total: int) -> list[tuple[int, int]]:
        """(budget, cells reached within it) for every power of ten up to `total`, and `total`."""
        out: list[tuple[int, int]] = []
        budget = 100
        while budget < total:
            out.append((budget, self.within(budget)))
            budget *= 10
        return out + [(total, len(self.reached))]


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


def _config_value(rng: random.Random, sort: Sort) -> Value:
    """A configuration value: a limit or capacity is mostly 1 to 3 (a registry
    configured with 0 admits or keeps nothing, which a walk learns little from), and
    sometimes 0."""
    if sort == BOOL:
        return rng.random() < 0.5
    if sort == INT:
        return rng.randint(1, 3) if rng.random() < 0.875 else 0
    return _draw(rng, sort, [])


def _config(machine: Machine, rng: random.Random) -> tuple[dict[str, Value], State]:
    for _ in range(100):
        config = {f.name: _config_value(rng, f.sort) for f in machine.fields if f.rigid}
        try:
            return config, initial_state(machine, config)
        except SpecError:
            continue
    raise SpecError(f"no configuration of {machine.name} satisfying its assumptions was drawn")


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


#: An id-set parameter ranges over every subset of the pool up to this pool size, over
#: this many subsets drawn as `_draw` draws them beyond it
SUBSETS = 64
#: consecutive refused draws (per candidate in the table) before every candidate is tried
#: in a random order: none enabled is a deadlock
MISSES_PER_CANDIDATE = 1

#: a walker step function, its parameters (updated in place when the pool changes: a
#: walk records the candidate's number, `_Pool.steps` the calls), the action's name, and
#: the pool slots its parameters name
Candidate = tuple[WalkerFn, dict[str, Value], str, frozenset[int]]


def _never(machine: Machine, guard: Guard, params: dict[str, Value]) -> bool:
    """`guard` reads the parameters only and refuses these: the candidate is refused in
    every state, never enabled, and left out of the table (which leaves the draw among
    the enabled candidates as it was). Not for a guard that orders ids (`key_before`):
    the pool renames ids, and the order of the new names may differ."""
    for node in walk(guard.holds):
        if not isinstance(node, (Lit, Param, Apply, Contains)) or (isinstance(node, Apply) and node.op == "key_before"):
            return False
    return evaluate(machine, guard.holds, State({}, {}, frozenset()), params) is not True


def _entry_test(machine: Machine, guard: Guard) -> tuple[str, str | None, frozenset[Value]] | None:
    """(field, parameter or None, the values it accepts) when `guard` is a test of one
    value of a finite sort (an enum, a flag): of a global (None); of a map entry at an id
    parameter, read only as that key; or, `forall j: j in P -> test(f[j])`, of the entry
    at every member of an id-set parameter P. Its verdict is then a function of those
    values alone."""
    holds = expand(guard.holds)
    var: Var | None = None
    if isinstance(holds, Quant) and holds.kind == "forall":  # every member of a set parameter
        body = holds.body
        if not (isinstance(body, Apply) and body.op == "implies" and isinstance(body.args[0], Contains)
                and body.args[0].element == holds.var and isinstance(body.args[0].collection, Param)
                and body.args[0].collection.sort == ID_SET):
            return None
        var, over, holds = holds.var, body.args[0].collection.name, body.args[1]
    reads: set[tuple[str, str | None]] = set()
    keys = names = 0
    for node in walk(holds):
        if isinstance(node, Read):
            if node.state != CUR:
                return None
            if node.key is None:
                reads.add((node.field, None))
            elif var is None and isinstance(node.key, Param) and node.key.sort == ID:
                reads.add((node.field, node.key.name))
            elif var is not None and node.key == var:
                reads.add((node.field, over))
            else:
                return None
            keys += node.key is not None
        elif isinstance(node, (Param, Var)):
            names += 1
        elif not isinstance(node, (Lit, Apply)) or (isinstance(node, Apply) and node.op == "key_before"):
            return None
    if len(reads) != 1 or names != keys:  # a parameter or member only ever as the key read
        return None
    (name, param), = reads
    sort = machine.field(name).sort
    if not (sort.is_enum or sort == BOOL):
        return None
    domain = _domain(sort, [])

    def accepts(v: Value) -> bool:
        if param is None:
            return evaluate(machine, holds, State({name: v}, {}, frozenset())) is True
        bound = {var.name: "x"} if var is not None else {}
        return evaluate(machine, holds, State({}, {name: {"x": v}}, frozenset()), {param: "x"}, bound=bound) is True
    allowed = frozenset(v for v in domain if accepts(v))
    return None if allowed == frozenset(domain) else (name, param, allowed)


#: a value joins the key of `_Filter` only when it tests at least this many candidates per
#: read it costs (a global one read, a map entry one per slot): reading it must pay
TESTED_PER_READ = 3
#: kept keys (the candidates left under each) before the cache starts again
KEYS_KEPT = 1 << 16


class _Filter:
    """Which candidates can be enabled, by the values their one-value guards read
    (`_entry_test`): a candidate whose such guard refuses the value now is refused, so a
    step draws only from the others (a superset of the enabled candidates, so each step
    is still uniform among the enabled ones, with far fewer refused draws). The key is
    those values (globals, then each slot's entries); the candidates left are kept per
    key, as the same keys recur."""

    def __init__(self, machine: Machine, table: list["Candidate"], slots_of: list[dict[str, tuple[int, ...]]],
                 slots: int) -> None:
        tests = [(a.name, t) for a in machine.actions for g in a.guards if (t := _entry_test(machine, g)) is not None]
        tested: dict[tuple[str, bool], int] = {}
        for (_, _, action, _) in table:
            for a, (name, param, _) in tests:
                if a == action:
                    tested[(name, param is None)] = tested.get((name, param is None), 0) + 1
        worth = {k for k, n in tested.items() if n >= TESTED_PER_READ * (1 if k[1] else slots)}
        self.globals = sorted(name for name, is_global in worth if is_global)
        self.entries = sorted(name for name, is_global in worth if not is_global)
        width, base = len(self.entries), len(self.globals)
        self.free: list[int] = []
        self.tested: list[tuple[int, list[tuple[int, frozenset[Value]]]]] = []
        for i, ((_, _, action, _), slot_of) in enumerate(zip(table, slots_of)):
            at = [(self.globals.index(name), allowed) if param is None else
                  (base + slot * width + self.entries.index(name), allowed)
                  for a, (name, param, allowed) in tests if a == action and (name, param is None) in worth
                  for slot in ((0,) if param is None else slot_of[param])]
            if at:
                self.tested.append((i, at))
            else:
                self.free.append(i)
        # the key, read by generated code: the globals, then each slot's entries
        reads = [f"G[{f!r}]" for f in self.globals] + [
            f"M[{f!r}].get(ids[{slot}], {machine.defaults[f]!r})" for slot in range(slots) for f in self.entries]
        namespace: dict[str, Callable[[dict[str, Value], dict[str, dict[Value, Value]], list[str]], tuple[Value, ...]]] = {}
        exec(f"def key(G, M, ids):\n    return ({', '.join(reads)}{',' if len(reads) == 1 else ''})\n", namespace)
        self.key = namespace["key"]
        self.cache: dict[tuple[Value, ...], list[int]] = {}

    def build(self, key: tuple[Value, ...]) -> list[int]:
        """The candidates (table indices) no one-value guard refuses under `key`, kept."""
        if len(self.cache) >= KEYS_KEPT:
            self.cache.clear()
        found = self.free + [i for i, tests in self.tested if all(key[at] in allowed for at, allowed in tests)]
        self.cache[key] = found
        return found

    def candidates(self, state: State, ids: list[str]) -> list[int]:
        """The candidates no one-value guard refuses in `state` (`build`, or as kept)."""
        key = self.key(state.globals, state.maps, ids)
        return self.cache.get(key) or self.build(key)


class _Pool:
    """The ids parameters range over (slots), and the table of every (action, parameters)
    pair over them, in their domains: a step draws from the table uniformly.

    One slot holds a fresh id, one no accepted step has named. When a step names it, a
    new fresh id replaces the oldest id, in its slot and in the parameters of every
    candidate naming that slot (so machines that never reuse an id always find a fresh
    one, and the table is never rebuilt whole)."""

    def __init__(self, walker: Walker, machine: Machine, id_count: int, rng: random.Random) -> None:
        self.ids = [_name(n) for n in range(id_count)]
        self.minted = id_count
        self.fresh = id_count - 1  # the slot of the fresh id; the oldest is the next one
        self.table: list[Candidate] = []
        #: per candidate: the action and its parameters (a slot, a tuple of slots, or a value)
        self.templates: list[tuple[str, tuple[tuple[str, Value | tuple[int, ...]], ...]]] = []
        self.sorts = {(a.name, p.name): p.sort for a in machine.actions for p in a.params}
        self.minted_at: list[tuple[int, int, str]] = []  # (walk length, slot, new id) of this walk's mints
        #: per slot: the (parameters, name) of every id parameter naming it, and of every id-set
        #: parameter containing it by the set's slots (a set is built once per rename)
        self.naming: list[list[tuple[dict[str, Value], str]]] = [[] for _ in self.ids]
        slots_of: list[dict[str, tuple[int, ...]]] = []  # per candidate: the slots each id parameter names
        self.containing: list[dict[tuple[int, ...], list[tuple[dict[str, Value], str]]]] = [{} for _ in self.ids]
        slots = list(range(id_count))
        for action in machine.actions:
            names = [p.name for p in action.params]
            domains: list[Sequence[Value | tuple[int, ...]]] = []
            for p in action.params:
                if p.sort == ID:
                    domains.append(list(slots))
                elif p.sort == ID_SET:
                    if 2 ** id_count <= SUBSETS:
                        domains.append([tuple(c) for n in range(id_count + 1) for c in itertools.combinations(slots, n)])
                    else:
                        domains.append([tuple(sorted(rng.sample(slots, rng.randint(0, id_count))))
                                        for _ in range(SUBSETS)])
                else:
                    domains.append(_domain(p.sort, []))
            for values in itertools.product(*domains):
                template = (action.name, tuple(zip(names, values)))
                params: dict[str, Value] = {}
                named: set[int] = set()
                for p, v in zip(action.params, values):
                    if p.sort == ID:
                        assert isinstance(v, int)
                        params[p.name] = self.ids[v]
                        named.add(v)
                    elif p.sort == ID_SET:
                        assert isinstance(v, tuple)
                        params[p.name] = frozenset(self.ids[t] for t in v)
                        named.update(v)
                    else:
                        assert not isinstance(v, tuple)
                        params[p.name] = v
                if any(_never(machine, g, params) for g in action.guards):
                    continue
                self.table.append((walker.steps[action.name], params, action.name, frozenset(named)))
                self.templates.append(template)
                slot_of: dict[str, tuple[int, ...]] = {}
                for p, v in zip(action.params, values):
                    if p.sort == ID:
                        assert isinstance(v, int)
                        self.naming[v].append((params, p.name))
                        slot_of[p.name] = (v,)
                    elif p.sort == ID_SET:
                        assert isinstance(v, tuple)
                        for t in v:
                            self.containing[t].setdefault(v, []).append((params, p.name))
                        slot_of[p.name] = v
                slots_of.append(slot_of)
        if not self.table:
            raise SpecError(f"no action of {machine.name} can ever be taken")
        self.filter = _Filter(machine, self.table, slots_of, id_count)

    def mint(self, at: int) -> None:
        """A fresh id, after `at` steps of the walk."""
        slot = (self.fresh + 1) % len(self.ids)
        self.fresh = slot
        self.rename(slot, _name(self.minted))
        self.minted_at.append((at, slot, self.ids[slot]))
        self.minted += 1

    def steps(self, walk: list[int], start: int) -> list[Step]:
        """The steps of the walk (candidate indices) from `start`, with the ids they named."""
        ids = [_name(n) for n in range(len(self.ids))]
        mints = iter(self.minted_at)
        upcoming = next(mints, None)
        out: list[Step] = []
        for n, index in enumerate(walk):
            while upcoming is not None and upcoming[0] <= n:
                ids[upcoming[1]] = upcoming[2]
                upcoming = next(mints, None)
            if n < start:
                continue
            action, values = self.templates[index]
            params: dict[str, Value] = {}
            for name, v in values:
                sort = self.sorts[(action, name)]
                if sort == ID and isinstance(v, int):
                    params[name] = ids[v]
                elif sort == ID_SET and isinstance(v, tuple):
                    params[name] = frozenset(ids[t] for t in v)
                else:
                    assert not isinstance(v, tuple)
                    params[name] = v
            out.append((action, params))
        return out

    def rename(self, slot: int, new: str) -> None:
        swap = frozenset((self.ids[slot], new))  # the old name out, the new one in: one symmetric difference
        self.ids[slot] = new
        for params, name in self.naming[slot]:
            params[name] = new
        for places in self.containing[slot].values():
            first, first_name = places[0]
            before = first[first_name]
            assert isinstance(before, frozenset)
            value = before ^ swap  # the set's other members keep their names
            for params, name in places:
                params[name] = value

    def reset(self) -> None:
        """The ids of a new walk: the first names again, the last one fresh."""
        for slot in range(len(self.ids)):
            if self.ids[slot] != _name(slot):
                self.rename(slot, _name(slot))
        self.minted = len(self.ids)
        self.fresh = len(self.ids) - 1
        self.minted_at = []


def simulate(machine: Machine, runs: int, steps: int, seed: int, id_count: int = 4,
             progress: Callable[[str], None] | None = None, coverage: bool = False) -> SimulationResult:
    """`runs` walks of `steps` accepted transitions each (a deadlocked walk starts again
    from Init and goes on; one deadlocked at Init ends), every invariant checked after
    every step.

    A step draws an (action, parameters) candidate uniformly from the table of every
    action with every in-domain parameter value, and takes it if the guards accept it;
    a refused draw changes nothing and is drawn again. So each step is uniform among the
    enabled candidates, as TLC's simulator picks among enabled successors.

    With `coverage`, every draw also records its cell (`Coverage`); that costs a phase
    lookup per draw.

    Python's cycle collector is paused meanwhile (a walk allocates many small objects,
    none in a cycle: reference counting frees them; the collector's passes over the
    growing walk would only cost time), and resumed as it was."""
    paused = gc.isenabled()
    gc.disable()
    try:
        return _simulate(machine, runs, steps, seed, id_count, progress, coverage)
    finally:
        if paused:
            gc.enable()


def _simulate(machine: Machine, runs: int, steps: int, seed: int, id_count: int,
              progress: Callable[[str], None] | None, coverage: bool) -> SimulationResult:
    walker = compile_walker(machine)
    full = compile_machine(machine)
    at_init = full.violated
    cover = Coverage(machine) if coverage else None
    rng = random.Random(seed)
    rand = rng.random
    result = SimulationResult(machine.name, machine.profile, coverage=cover)
    seen: Counter[str] = Counter()
    started = last_report = time.perf_counter()
    pool = _Pool(walker, machine, id_count, rng)
    table = pool.table
    ids = pool.ids  # renamed in place by mints
    # the draws: from the candidates a one-entry guard does not refuse now (`_Filter`), or,
    # for coverage, from the whole table (the refusals are cells too)
    if cover is None:
        key, kept, build = pool.filter.key, pool.filter.cache, pool.filter.build
    else:
        everything = list(range(len(table)))
        key, kept, build = (lambda g, m, ids: ()), {(): everything}, (lambda key: everything)
    for run in range(runs):
        config, state = _config(machine, rng)
        if at_init(state):  # the walker's checks rely on every invariant holding where a walk begins
            return _at_init(result, run, config, state, full, started)
        pre = state.copy()  # the walker keeps it equal to `state` between steps
        pool.reset()
        fresh = pool.fresh
        walk: list[int] = []  # the candidates taken (their parameters: `_Pool.steps`)
        begun = 0  # where the walk from the last Init begins in `walk`
        misses = 0
        taken = 0
        cand: list[int] | None = None  # None: the state changed since the candidates were read
        while taken < steps:
            if cand is None:
                cand = kept.get(k := key(state.globals, state.maps, ids)) or build(k)
                size = len(cand)
                limit = MISSES_PER_CANDIDATE * size
            if misses < limit:
                index = cand[int(rand() * size)]
                fn, params, name, slots = table[index]
                if cover is not None:
                    phase = cover.phase(state, name, params)
                verdict = fn(state, pre, params)
                if cover is not None:
                    cell = (name, verdict.name if isinstance(verdict, Guard) else "ok", phase)
                    cover.reached.setdefault(cell, result.steps + taken)
                if verdict is not None and verdict.__class__ is not tuple:
                    misses += 1  # refused: nothing changed
                    continue
            else:
                result.refused += misses
                misses = 0
                found = _exhaustive(table, cand, state, pre, rng, result)
                if found is None:
                    result.deadlocks += 1
                    if begun == len(walk):
                        break  # deadlocked before a step since Init: restarting could loop forever
                    config, state = _config(machine, rng)
                    if at_init(state):
                        return _at_init(result, run, config, state, full, started)
                    pre = state.copy()
                    begun = len(walk)
                    cand = None
                    continue
                index, slots, verdict = found
            result.refused += misses
            misses = 0
            walk.append(index)
            taken += 1
            if verdict is not None:
                seen.update(pool.templates[i][0] for i in walk)
                result.steps += len(walk)
                result.actions_seen = dict(seen)
                result.runs = run + 1
                result.seconds = time.perf_counter() - started
                result.violation = Violation(run, config, pool.steps(walk, begun), list(verdict))
                return result
            if fresh in slots:
                pool.mint(taken)
                fresh = pool.fresh
            cand = None
        seen.update(pool.templates[i][0] for i in walk)
        result.steps += len(walk)
        result.runs = run + 1
        now = time.perf_counter()
        if progress is not None and now - last_report > 2:
            last_report = now
            progress(f"  {result.runs}/{runs} runs, {result.steps:,} transitions, "
                     f"{result.steps / (now - started):,.0f} transitions/s")
    result.actions_seen = dict(seen)
    result.seconds = time.perf_counter() - started
    return result


def _at_init(result: SimulationResult, run: int, config: dict[str, Value], state: State, full: Compiled,
             started: float) -> SimulationResult:
    result.runs = run + 1
    result.seconds = time.perf_counter() - started
    result.violation = Violation(run, config, [], [inv.name for inv in full.violated(state)])
    return result


def _exhaustive(table: list[Candidate], cand: list[int], state: State, pre: State, rng: random.Random,
                result: SimulationResult) -> tuple[int, frozenset[int], tuple[str, ...] | None] | None:
    """Try every candidate in `cand` in a random order; the first the guards accept is taken."""
    for index in rng.sample(cand, len(cand)):
        fn, params, _, slots = table[index]
        verdict = fn(state, pre, params)
        if verdict is None or isinstance(verdict, tuple):
            return index, slots, verdict
        result.refused += 1
    return None


def render(result: SimulationResult, machine: Machine) -> str:
    restarts = f", {result.deadlocks:,} deadlocked walk(s) restarted" if result.deadlocks else ""
    head = (f"{result.machine}/{result.profile}: {result.runs} run(s), {result.steps:,} accepted transitions "
            f"({result.refused:,} refused draws on the way{restarts}), {result.rate:,.0f} transitions/s with all "
            f"{len(machine.invariants)} invariants checked after every one")
    cover = result.coverage
    if cover is not None:
        ok = sum(1 for (_, guard, _) in cover.reached if guard == "ok")
        within = ", ".join(f"{budget:,}: {cells}" for budget, cells in cover.budgets(result.steps))
        head += (f"\n  coverage: {len(cover.reached)} (action, guard, phase) cells reached by the draws, {ok} of "
                 f"them accepted; cells within a budget of accepted transitions: {within}")
    if result.violation is None:
        never = [a.name for a in machine.actions if a.name not in result.actions_seen]
        tail = f"; never accepted: {', '.join(never)}" if never else ""
        return f"{head}: no violation{tail}" if cover is None else f"{head}\n  no violation{tail}"
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

"""The compiled model (spec.compiled) is the interpreter (spec.model), only faster.

On random walks of both profiles and of broken spec variants, every step is made
by both: the same acceptance or refusal, the same refusing guard, error and
payload, the same post-state, the same violated invariants. A refusal leaves the
state untouched, in place as well as through `step`.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Callable, TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opsref.conformance.simulate import _Pool, _config, _draw
from opsref.spec import model
from opsref.spec.compiled import Compiled, Walker, _fold, compile_machine, compile_walker
from opsref.spec.machine import AssignAt, Effect, Invariant, Machine
from opsref.spec.model import Accepted, Rejected, SpecError, State, StepResult, Value
from opsref.spec.ops_lifecycle import LIVE
from opsref.spec.registry import MACHINES as REGISTRY
from opsref.spec.terms import (
    BOOL, FALSE, ID, ID_SET, INT, TRUE, Param, Sort, Term, Var, add, and_, at_pre, eq, ge, gt, implies, lit, ne, or_, read,
)
from tests.spec_helpers import REFERENCE, SEED, fresh, run, with_effects, without_guard

Step = tuple[str, dict[str, Value]]
T = TypeVar("T")


def _joins_the_barrier(effects: tuple[Effect, ...]) -> tuple[Effect, ...]:
    """register_operation also makes the new op a member of the running barrier."""
    return effects + (AssignAt("member", Param("id", ID), TRUE),)


def _watcher_always_counts(effects: tuple[Effect, ...]) -> tuple[Effect, ...]:
    """register_watcher counts the watcher even on a terminal op."""
    return tuple(replace(e, value=add(read("watchers", e.key), lit(1))) if isinstance(e, AssignAt) else e
                 for e in effects)


def _forgets_the_outcome(effects: tuple[Effect, ...]) -> tuple[Effect, ...]:
    """complete_operation no longer records the outcome."""
    return tuple(e for e in effects if not (isinstance(e, AssignAt) and e.field == "outcome"))


#: variant name -> (machine, invariants a walk of it must see violated)
VARIANTS: dict[str, tuple[Machine, frozenset[str]]] = {
    "complete_from_any_status": (without_guard(REFERENCE, "complete_operation", "from_status_valid"),
                                 frozenset({"terminal_irreversibility"})),
    "fail_from_any_status": (without_guard(REFERENCE, "fail_operation", "from_status_valid"),
                             frozenset({"terminal_irreversibility"})),
    "peer_ready_for_any_kind": (without_guard(REFERENCE, "peer_ready", "kind_is_mob_member_child"),
                                frozenset({"peer_ready_only_for_mob_members"})),
    "register_joins_the_barrier": (with_effects(REFERENCE, "register_operation", _joins_the_barrier),
                                   frozenset({"barrier_satisfaction"})),
    "watcher_on_terminal_counts": (with_effects(REFERENCE, "register_watcher", _watcher_always_counts),
                                   frozenset({"watchers_empty_on_terminal"})),
    "complete_forgets_the_outcome": (with_effects(REFERENCE, "complete_operation", _forgets_the_outcome),
                                     frozenset({"terminal_irreversibility", "untracked_ids_hold_no_state"})),
    "seed_complete_from_any_status": (without_guard(SEED, "complete_operation", "from_status_valid"),
                                      frozenset({"terminal_irreversibility"})),
}

MACHINES: dict[str, Machine] = {"reference": REFERENCE, "seed": SEED,
                                **{name: machine for name, (machine, _) in VARIANTS.items()}}


@dataclass
class Tally:
    accepted: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)  # by guard name
    violated: Counter[str] = field(default_factory=Counter)
    spec_errors: int = 0


def _attempt(make: Callable[[], T]) -> T | SpecError:
    try:
        return make()
    except SpecError as err:
        return err


def _names(invariants: list[Invariant]) -> list[str]:
    return [inv.name for inv in invariants]


def agree(machine: Machine, compiled: Compiled, state: State, action: str, params: dict[str, Value],
          tally: Tally) -> State | None:
    """Make one step on both; fail on any difference. The post-state when accepted, else None."""
    where = f"{machine.profile} {action}({params}) on {state.globals} {state.maps}"
    before = state.copy()
    expected = _attempt(lambda: model.step(machine, state, action, params))
    got = _attempt(lambda: compiled.step(state, action, params))
    assert state == before, f"{where}: step modified its input state"
    if isinstance(expected, SpecError):
        assert isinstance(got, SpecError), f"{where}: the interpreter raises {expected}, the compiled model {got}"
        tally.spec_errors += 1
        return None
    assert not isinstance(got, SpecError), f"{where}: only the compiled model raises {got}"

    in_place = state.copy()
    refused = compiled.apply(in_place, action, params)
    if isinstance(expected, Rejected):
        assert isinstance(got, Rejected), f"{where}: refused by {expected.guard.name}, but compiled accepts"
        assert got.guard.name == expected.guard.name, where
        assert got.guard == expected.guard and got.error == expected.error, where
        assert got.fields == expected.fields, where
        assert refused == expected.guard, where
        assert in_place == state, f"{where}: a refused in-place apply changed the state"
        tally.refused[expected.guard.name] += 1
        return None
    assert isinstance(got, Accepted), f"{where}: accepted, but compiled refuses by {getattr(got, 'guard', None)}"
    assert got.state.globals == expected.state.globals, where
    assert got.state.maps == expected.state.maps, where
    assert refused is None and in_place == expected.state, where
    want = _names(model.violated_invariants(machine, expected.state, state, action, params))
    have = _names(compiled.violated(got.state, state, action, params))
    assert have == want, f"{where}: violated {have} (compiled) vs {want} (interpreter)"
    tally.accepted[action] += 1
    tally.violated.update(want)
    return expected.state


def agree_on_init(machine: Machine, compiled: Compiled, state: State) -> None:
    want = _names(model.violated_invariants(machine, state))
    assert _names(compiled.violated(state)) == want == []


# --------------------------------------------------------------------------- Hypothesis walks

IDS = ["a", "b", "c"]


def values(sort: Sort) -> st.SearchStrategy[Value]:
    if sort == ID:
        return st.sampled_from(IDS)
    if sort == ID_SET:
        return st.frozensets(st.sampled_from(IDS))
    if sort == BOOL:
        return st.booleans()
    if sort == INT:
        return st.integers(0, 3)
    if sort.is_enum:
        return st.sampled_from(sort.members)
    raise AssertionError(f"no strategy for sort {sort}")


def steps(machine: Machine) -> st.SearchStrategy[Step]:
    def one(name: str, params: dict[str, st.SearchStrategy[Value]]) -> st.SearchStrategy[Step]:
        return st.fixed_dictionaries(params).map(lambda drawn: (name, drawn))
    return st.one_of(*(one(a.name, {p.name: values(p.sort) for p in a.params}) for a in machine.actions))


def admissible(machine: Machine, config: dict[str, Value]) -> bool:
    """The configuration satisfies the machine's assumptions (e.g. a feed of at least one entry)."""
    try:
        model.initial_state(machine, config)
    except model.SpecError:
        return False
    return True


def configs(machine: Machine) -> st.SearchStrategy[dict[str, Value]]:
    return st.fixed_dictionaries({f.name: values(f.sort) for f in machine.fields if f.rigid}).filter(
        lambda config: admissible(machine, config))


def walk_strategy(machine: Machine) -> st.SearchStrategy[tuple[dict[str, Value], list[Step]]]:
    return st.tuples(configs(machine), st.lists(steps(machine), min_size=1, max_size=40))


# a quarter of the loaded profile's examples per machine: nine machines share the budget
WALK_EXAMPLES = max(settings().max_examples // 4, 20)


def hypothesis_walk(machine: Machine, config: dict[str, Value], walk: list[Step]) -> Tally:
    compiled = compile_machine(machine)
    state = model.initial_state(machine, config)
    agree_on_init(machine, compiled, state)
    tally = Tally()
    for action, params in walk:
        state = agree(machine, compiled, state, action, params, tally) or state
    return tally


@pytest.mark.parametrize("name", list(MACHINES))
@settings(max_examples=WALK_EXAMPLES)
@given(data=st.data())
def test_compiled_model_agrees_with_the_interpreter_on_hypothesis_walks(name: str, data: st.DataObject) -> None:
    machine = MACHINES[name]
    config, walk = data.draw(walk_strategy(machine), label="config, walk")
    hypothesis_walk(machine, config, walk)


# --------------------------------------------------------------------------- seeded guided walks


#: how often each action is drawn: the (almost) always accepted ones less, or they would fill
#: the walks; the ones that move an op towards running and beyond more, or few ops get there
WEIGHT = {"recover": 0.1, "collect_completed": 0.2, "wait_cancel": 0.2, "wait_poll": 0.2, "provisioning_succeeded": 3.0,
          "peer_ready": 2.0, "request_retire": 2.0, "mark_retired": 2.0, "complete_operation": 2.0,
          "report_progress": 2.0}
#: how often the oldest id of the pool is replaced by a fresh one (the reference never reuses ids)
FRESH_RATE = 0.15


def draw(rng: random.Random, sort: Sort, pool: list[str]) -> Value:
    """A value of `sort` as conformance.simulate draws it, but an id set is seldom empty
    (an empty wait resolves at once, and a walk would see few waiting barriers)."""
    if sort == ID_SET and pool and rng.random() < 0.8:
        return frozenset(rng.sample(pool, rng.randint(1, len(pool))))
    return _draw(rng, sort, pool)


def guided_walk(machine: Machine, seed: int, runs: int, length: int, id_count: int = 4) -> Tally:
    """Random walks over `id_count` ids (a fresh one now and then, as in conformance.simulate),
    parameters drawn by sort, ids mostly of live ops for calls on a tracked op. Each step
    compares up to four candidate calls from the same state and moves along the first one
    accepted, so walks get past the many refusals and reach deep states."""
    compiled = compile_machine(machine)
    rng = random.Random(seed)
    weights = [WEIGHT.get(a.name, 1.0) for a in machine.actions]
    tally = Tally()
    for _ in range(runs):
        config, state = _config(machine, rng)
        agree_on_init(machine, compiled, state)
        ids = [f"op{n}" for n in range(id_count)]
        minted = id_count
        for _ in range(length):
            if rng.random() < FRESH_RATE:
                ids = ids[1:] + [f"op{minted}"]
                minted += 1
            live = [i for i in ids if state.maps["status"].get(i, "absent") in LIVE]
            for _ in range(4):
                action = rng.choices(machine.actions, weights)[0]
                on_tracked = any(g.error == "NotFound" for g in action.guards)
                pool = live if on_tracked and live and rng.random() < 0.8 else ids
                params = {p.name: draw(rng, p.sort, pool) for p in action.params}
                after = agree(machine, compiled, state, action.name, params, tally)
                if after is not None:
                    state = after
                    break
    return tally


@pytest.mark.parametrize("profile", ["reference", "seed"])
def test_compiled_model_agrees_with_the_interpreter_on_long_walks_of_both_profiles(profile: str) -> None:
    machine = MACHINES[profile]
    tally = guided_walk(machine, seed=1, runs=40, length=150)
    # the walks are not vacuous: every action was accepted and every guard refused something
    assert set(tally.accepted) == {a.name for a in machine.actions}, tally.accepted
    assert {g.name for _, _, g in machine.guards()} <= set(tally.refused), tally.refused
    if profile == "reference":
        assert not tally.violated  # the reference is proved; no walk may break it
    else:  # the seed breaks exactly what the decisions fix
        assert set(tally.violated) == {name for d in machine.decisions for name in d.invariants}, tally.violated


@pytest.mark.parametrize("name", list(VARIANTS))
def test_compiled_model_agrees_with_the_interpreter_on_broken_variants(name: str) -> None:
    machine, expected = VARIANTS[name]
    tally = guided_walk(machine, seed=2, runs=16, length=150)
    assert sum(tally.violated.values()) > 0, f"{name}: no violation observed, so none was compared"
    assert expected <= set(tally.violated), tally.violated


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize("machine", [REFERENCE, SEED], ids=["reference", "seed"])
def test_a_refused_action_leaves_the_state_untouched(machine: Machine) -> None:
    compiled = compile_machine(machine)
    state = run(machine, fresh(machine, max_completed=1, max_concurrent=1), [
        ("register_operation", {"id": "a", "kind": "background_tool_op"}),
        ("register_watcher", {"id": "a"}),
        ("wait_request", {"ids": frozenset({"a"}), "has_duplicate": False}),
    ])
    refusals: list[tuple[Step, str]] = [
        (("complete_operation", {"id": "a"}), "from_status_valid"),
        (("complete_operation", {"id": "zz"}), "operation_tracked"),
        (("register_operation", {"id": "b", "kind": "mob_member_child"}), "within_concurrency_limit"),
        (("register_operation", {"id": "a", "kind": "mob_member_child"}), "not_already_registered"),
        (("peer_ready", {"id": "a"}), "kind_is_mob_member_child"),
        (("wait_request", {"ids": frozenset({"a"}), "has_duplicate": False}), "no_wait_active"),
    ]
    for (action, params), guard in refusals:
        before = state.copy()
        refused = compiled.apply(state, action, params)
        assert refused is not None and refused.name == guard, (action, params, refused)
        assert state == before, f"{action}({params}) refused by {guard} changed the state"
        result = compiled.step(state, action, params)
        assert isinstance(result, Rejected) and result.guard is refused
        assert state == before
    # and the same state still accepts what it should, in place
    assert compiled.apply(state, "provisioning_succeeded", {"id": "a"}) is None
    assert state.maps["status"]["a"] == "running"


# --------------------------------------------------------------------------- the walker
# `opsref simulate` checks each step with a walker step function (spec.compiled.Walker),
# which re-evaluates only what the step can have changed. Its verdict must be the full
# check's at every step: here both run on the same walks, the full check being
# `Compiled.violated` on a copied pre-state (itself held to the interpreter above).


@dataclass
class WalkerTally:
    accepted: Counter[str] = field(default_factory=Counter)
    violated: Counter[str] = field(default_factory=Counter)
    refused: int = 0


def walker_agrees(machine: Machine, walker: Walker, compiled: Compiled, state: State, pre: State,
                  action: str, params: dict[str, Value], tally: WalkerTally) -> bool:
    """One walker step on (state, pre), compared with the compiled step and the full
    check; True when accepted."""
    where = f"{machine.profile} {action}({params}) on {state.globals} {state.maps}"
    assert pre == state, f"{where}: the walker's pre-state fell behind"
    before = state.copy()
    expected = _attempt(lambda: compiled.step(before, action, params))
    got = _attempt(lambda: walker.steps[action](state, pre, params))
    if isinstance(expected, SpecError):
        assert isinstance(got, SpecError), f"{where}: the compiled step raises {expected}, the walker {got}"
        return False
    assert not isinstance(got, SpecError), f"{where}: only the walker raises {got}"
    if isinstance(expected, Rejected):
        assert got is expected.guard, f"{where}: refused by {expected.guard.name}, the walker answers {got}"
        assert state == before and pre == before, f"{where}: a refused walker step changed a state"
        tally.refused += 1
        return False
    assert isinstance(expected, Accepted) and (got is None or isinstance(got, tuple)), f"{where}: {got}"
    assert state == expected.state, f"{where}: the walker's post-state differs"
    assert pre == state, f"{where}: the walker did not bring its pre-state up to the step"
    full = _names(compiled.violated(state, before, action, params))
    assert list(got or ()) == full, f"{where}: the walker finds {got}, the full check {full}"
    tally.accepted[action] += 1
    tally.violated.update(full)
    return True


def walker_walk(machine: Machine, seed: int, runs: int, length: int, id_count: int = 4) -> WalkerTally:
    """guided_walk's draws, each step made by the walker and compared; a walk that broke an
    invariant starts again from Init (the walker assumes every invariant held before)."""
    compiled = compile_machine(machine)
    walker = compile_walker(machine)
    rng = random.Random(seed)
    weights = [WEIGHT.get(a.name, 1.0) for a in machine.actions]
    tally = WalkerTally()
    phase = machine.phases[0] if machine.phases and machine.field(machine.phases[0]).key == ID else None
    for _ in range(runs):
        _, state = _config(machine, rng)
        pre = state.copy()
        ids = [f"op{n}" for n in range(id_count)]
        minted = id_count
        for _ in range(length):
            if rng.random() < FRESH_RATE:
                ids = ids[1:] + [f"op{minted}"]
                minted += 1
            tracked = [i for i in ids if phase is not None and i in state.maps[phase]]
            for _ in range(4):
                action = rng.choices(machine.actions, weights)[0]
                pool = tracked if tracked and rng.random() < 0.8 else ids
                params = {p.name: draw(rng, p.sort, pool) for p in action.params}
                if walker_agrees(machine, walker, compiled, state, pre, action.name, params, tally):
                    break
            if compiled.violated(state):
                _, state = _config(machine, rng)
                pre = state.copy()
    return tally


@pytest.mark.parametrize("profile", ["reference", "seed"])
def test_walker_verdicts_are_the_full_checks_on_long_walks_of_both_profiles(profile: str) -> None:
    machine = MACHINES[profile]
    tally = walker_walk(machine, seed=3, runs=40, length=150)
    assert set(tally.accepted) == {a.name for a in machine.actions}, tally.accepted
    if profile == "reference":
        assert not tally.violated
    else:  # the seed's violations were compared too
        assert set(tally.violated) == {name for d in machine.decisions for name in d.invariants}, tally.violated


@pytest.mark.parametrize("name", list(VARIANTS))
def test_walker_verdicts_are_the_full_checks_on_broken_variants(name: str) -> None:
    machine, expected = VARIANTS[name]
    tally = walker_walk(machine, seed=4, runs=16, length=150)
    assert expected <= set(tally.violated), tally.violated


def pool_walk(machine: Machine, seed: int, runs: int, length: int) -> WalkerTally:
    """`opsref simulate`'s own draws (its candidate table and fresh ids), every draw made by
    the walker and compared."""
    compiled = compile_machine(machine)
    walker = compile_walker(machine)
    rng = random.Random(seed)
    tally = WalkerTally()
    for _ in range(runs):
        _, state = _config(machine, rng)
        pre = state.copy()
        pool = _Pool(walker, machine, 4, rng)
        misses = 0
        for _ in range(length * 10):
            _, params, action, slots = rng.choice(pool.table)
            accepted = walker_agrees(machine, walker, compiled, state, pre, action, dict(params), tally)
            misses = 0 if accepted else misses + 1
            if not accepted and misses < 3 * len(pool.table):
                continue
            if not accepted or compiled.violated(state):  # (most likely) in a deadlock, or broken
                misses = 0
                _, state = _config(machine, rng)
                pre = state.copy()
            elif pool.fresh in slots:
                pool.mint(0)
    return tally


@pytest.mark.parametrize("name", sorted(REGISTRY))
@pytest.mark.parametrize("profile", ["reference", "seed"])
def test_walker_verdicts_are_the_full_checks_on_every_machine(name: str, profile: str) -> None:
    machine = REGISTRY[name](profile)
    tally = pool_walk(machine, seed=5, runs=6, length=60)
    assert sum(tally.accepted.values()) > 50, tally.accepted  # runtime_control: destroy ends a walk soon


@pytest.mark.parametrize("name", sorted(REGISTRY))
@pytest.mark.parametrize("profile", ["reference", "seed"])
def test_the_draws_leave_out_only_candidates_the_guards_refuse(name: str, profile: str) -> None:
    """`opsref simulate` draws from the candidates no one-value guard refuses
    (conformance.simulate._Filter): at every state of walks of every machine, each
    candidate it leaves out is refused by the compiled step, and it does leave some out."""
    machine = REGISTRY[name](profile)
    compiled = compile_machine(machine)
    rng = random.Random(7)
    pool = _Pool(compile_walker(machine), machine, 4, rng)
    left_out = 0
    for _ in range(12):
        _, state = _config(machine, rng)
        for _ in range(40):
            kept = set(pool.filter.candidates(state, pool.ids))
            steps = {i: compiled.step(state, action, dict(params)) for i, (_, params, action, _) in enumerate(pool.table)}
            for i, result in steps.items():
                if i not in kept:
                    assert isinstance(result, Rejected), f"{pool.table[i][2]}{pool.table[i][1]} left out but enabled"
                    left_out += 1
            enabled = [i for i in kept if isinstance(steps[i], Accepted)]
            if not enabled:
                break
            taken = rng.choice(enabled)
            after = steps[taken]
            assert isinstance(after, Accepted)
            state = after.state
            if pool.fresh in pool.table[taken][3]:
                pool.mint(0)
    assert left_out > 0


def test_the_walker_skips_what_a_step_cannot_change() -> None:
    """Not vacuous: the rules do skip, and do narrow quantifiers to the written keys."""
    checks = compile_walker(REFERENCE).checks
    assert all(c.how == "skipped" for c in checks["wait_poll"])  # the reference's poll writes nothing
    progress = {(c.invariant, c.part): c.how for c in checks["report_progress"] if c.how != "skipped"}
    assert progress == {("sequences_monotone", "state"): "at written keys",
                        ("sequences_monotone", "step"): "at written keys",
                        ("untracked_ids_hold_no_state", "state"): "at written keys"}
    # every id ever registered: only the one the step wrote is looked at
    retired = [c.how for c in checks["register_operation"] if c.invariant == "retired_ids_stay_retired"]
    assert retired == ["at written keys", "at written keys"]
    # every sequence number ever issued: only the new one
    feed = [c.how for c in checks["complete_operation"] if c.invariant == "completion_feed_exact" and c.part == "step"]
    assert feed == ["in full", "at written keys"]  # feed_head >= pre, and the entries


@pytest.mark.parametrize(("formula", "true"), [
    (implies(and_(eq(read("status", Var("j")), lit(1)), ne(at_pre(read("status", Var("j"))), lit(1))), FALSE), True),
    (implies(and_(read("used", Var("j")), eq(read("status", Var("j")), lit(0))), eq(read("status", Var("j")), lit(0))), True),
    (ge(read("next_seq"), at_pre(read("next_seq"))), True),
    (gt(read("next_seq"), at_pre(read("next_seq"))), False),
    (implies(read("member", Var("j")), read("barrier_done", Var("j"))), False),
    (or_(eq(read("a"), lit(1)), eq(read("a"), lit(2))), False),
])
def test_a_step_formula_is_shown_true_on_an_unchanged_state_only_when_it_is(formula: Term, true: bool) -> None:
    assert (_fold(formula, "any", reflexive=True) == TRUE) is true


def test_a_machine_deadlocked_at_init_ends_its_walks_instead_of_restarting_forever() -> None:
    """Found by `opsref mutants`: a mutant whose only action out of Init can never be
    taken (runtime_control with register_runtime's guard narrowed to nothing) made
    `opsref simulate` restart from Init forever. A walk that deadlocks before its first
    step now ends; the deadlock is counted and no transition is made up."""
    from opsref.conformance.simulate import simulate
    machine = REGISTRY["runtime_control"]("reference")
    register = machine.action("register_runtime")
    never = replace(register, guards=tuple(replace(g, holds=FALSE) for g in register.guards))
    stuck = machine.with_action(never)
    result = simulate(stuck, 3, 50, 0)
    assert result.steps == 0 and result.violation is None
    assert result.runs == 3 and result.deadlocks == 3


@pytest.mark.parametrize("profile", ["reference", "seed"])
def test_a_joined_pairwise_invariant_gives_the_interpreters_verdict_on_states_that_break_it(profile: str) -> None:
    """mob_adapter's `one_live_operation_per_child_session` (forall k. forall k2. live(k)
    and live(k2) and the same child and registry -> k = k2) is compiled as a hash join
    (`_Source.join`). Walks rarely break it, so here it meets random states, many of
    which do, and its verdict must be the interpreter's on each."""
    machine = REGISTRY["mob_adapter"](profile)
    compiled = compile_machine(machine)
    assert "GROUP(" in compiled.source  # the join is what this tests
    rng = random.Random(9)
    live = ["provisioning", "running", "retiring"]
    choices: dict[str, list[Value]] = {"status": [*live, *live, *machine.field("status").sort.members],
                                       "child": ["", "s1", "s2"], "reg": [0, 1, 2]}
    broken = 0
    for _ in range(400):
        state = model.initial_state(machine, {})
        for n in range(rng.randint(0, 6)):
            for name, values in choices.items():
                value = rng.choice(values)
                if value != machine.defaults[name]:
                    state.maps[name][f"op{n}"] = value
        want = _names(model.violated_invariants(machine, state))
        assert _names(compiled.violated(state)) == want, f"{state.maps}"
        broken += "one_live_operation_per_child_session" in want
    assert 50 < broken < 350, broken

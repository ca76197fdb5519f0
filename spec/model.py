"""The spec model: a concrete interpreter of any `Machine`.

It evaluates the same guard/effect/invariant terms that the proofs translate to
Z3, so whatever the tests observe here is the machine the proofs are about.
A rejected action is an explicit `Rejected` (guard and error), never an exception.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, Union

from opsref.spec.machine import Action, Assign, AssignAll, AssignAt, Guard, Invariant, Machine
from opsref.spec.terms import (
    BINARY, ID, OPERATORS, key_before_value, ORDERED, ActionIs, Apply, Contains, Lit, Param, Quant, Range, Read, Term, Use, Var, PRE,
)

Value = Union[bool, int, str, frozenset[str]]

FRESH_ID = "\u2205fresh"  # stands for every id the state has never mentioned


class SpecError(Exception):
    """A malformed machine or call (a bug in a spec or its caller, not a rejection)."""


@dataclass
class State:
    """Globals plus keyed maps; a key missing from a map holds the field default."""

    globals: dict[str, Value]
    maps: dict[str, dict[Value, Value]]
    id_fields: frozenset[str]  # the maps keyed by operation id

    def copy(self) -> "State":
        return State(dict(self.globals), {k: dict(v) for k, v in self.maps.items()}, self.id_fields)

    def ids(self) -> set[str]:
        out: set[str] = set()
        for name in self.id_fields:
            out.update(str(k) for k in self.maps[name])
        return out

    def get(self, machine: Machine, field: str, key: Value | None = None) -> Value:
        if key is None:
            return self.globals[field]
        return self.maps[field].get(key, machine.defaults[field])


def initial_state(machine: Machine, config: Mapping[str, Value]) -> State:
    """Init: every field at its default, globals overridden by `init`, rigid
    configuration fields from `config` (checked against the machine's assumptions)."""
    globals_: dict[str, Value] = {}
    maps: dict[str, dict[Value, Value]] = {}
    for f in machine.fields:
        if f.key is None:
            globals_[f.name] = f.default.value
        else:
            maps[f.name] = {}
    state = State(globals_, maps, frozenset(f.name for f in machine.fields if f.key == ID))
    for name, term in machine.init:
        state.globals[name] = evaluate(machine, term, state)
    for name, value in config.items():
        f = machine.field(name)
        if not f.rigid:
            raise SpecError(f"{name} is not a configuration field of {machine.name}")
        state.globals[name] = value
    for assumption in machine.assumptions:
        if evaluate(machine, assumption, state) is not True:
            raise SpecError(f"configuration {dict(config)} violates an assumption of {machine.name}")
    return state


# --------------------------------------------------------------------------- evaluation
#
# The meaning of a term is a function from an environment (states, parameters, bound
# variables, the action) to a value, made from the meanings of its parts: one small
# function per kind of term below. `evaluate` builds a term's meaning once and keeps it,
# so the tests that hold the compiled model to this one (millions of nodes) do not pay
# for walking the tree at every node. Quantifiers range over every mentioned id.

Meaning = Callable[["Env"], Value]


@dataclass
class Env:
    machine: Machine
    cur: State
    pre: State | None
    params: Mapping[str, Value]
    bound: dict[str, Value]
    action: str | None
    universe: list[str] | None = None  # see _universe


def evaluate(
    machine: Machine,
    term: Term,
    state: State,
    params: Mapping[str, Value] | None = None,
    pre: State | None = None,
    action: str | None = None,
    bound: Mapping[str, Value] | None = None,
) -> Value:
    """The value of `term`; `bound` gives its free variables (by name)."""
    return meaning(term)(Env(machine, state, pre, params or {}, dict(bound or {}), action))


_KEPT: dict[int, tuple[Term, Meaning]] = {}  # by the term's id, with the term (so the id stays its own)


def meaning(t: Term) -> Meaning:
    """The meaning of `t`, built once per term object."""
    kept = _KEPT.get(id(t))
    if kept is not None and kept[0] is t:
        return kept[1]
    if len(_KEPT) >= 100_000:
        _KEPT.clear()
    built = _meaning(t)
    _KEPT[id(t)] = (t, built)
    return built


def _universe(env: Env) -> list[str]:
    """The ids a quantifier ranges over: every id the states, parameters and bound
    variables mention, then `FRESH_ID`. The states and parameters are those of the whole
    evaluation, and a quantifier binds an id or a range an integer, so unless a bound
    variable holds a set of ids (which a quantifier inside may shadow) it is the same for
    every quantifier of one evaluation, and is kept in the `Env`."""
    if env.universe is not None:
        return env.universe
    ids = env.cur.ids()
    if env.pre is not None:
        ids |= env.pre.ids()
    sets = [v for v in env.bound.values() if isinstance(v, frozenset)]
    for v in [*env.params.values(), *sets]:
        if isinstance(v, frozenset):
            ids |= set(v)
    for p, v in env.params.items():
        if isinstance(v, str):
            ids.add(v)
    universe = sorted(ids, key=str) + [FRESH_ID]
    if not sets:
        env.universe = universe
    return universe


def _failing(message: str) -> Meaning:
    """A malformed term fails when it is evaluated, not when its meaning is built: a
    part that is never evaluated, as in `or(true, bad)`, raises nothing."""
    return _raising(SpecError(message))


def _raising(error: Exception) -> Meaning:
    def fail(env: Env) -> Value:
        raise error
    return fail


def _meaning(t: Term) -> Meaning:
    try:
        return _build(t)
    except Exception as error:  # noqa: BLE001 - e.g. a use that captures a variable: raised where evaluated
        return _raising(error)


def _build(t: Term) -> Meaning:
    if isinstance(t, Lit):
        value = t.value
        return lambda env: value
    if isinstance(t, Param):
        return _param(t.name)
    if isinstance(t, Var):
        name = t.name
        return lambda env: env.bound[name]
    if isinstance(t, Read):
        return _read(t)
    if isinstance(t, Use):
        return _meaning(t.expansion)
    if isinstance(t, Apply):
        return _apply(t)
    if isinstance(t, Contains):
        return _contains(_meaning(t.collection), _meaning(t.element))
    if isinstance(t, ActionIs):
        action = t.action
        return lambda env: env.action == action
    if isinstance(t, Quant):
        return _quant(t.kind, t.var.name, _meaning(t.body))
    if isinstance(t, Range):
        return _range(t.var.name, _meaning(t.lo), _meaning(t.hi), _meaning(t.body))
    return _failing(f"unknown term {t!r}")


def _param(name: str) -> Meaning:
    def param(env: Env) -> Value:
        try:
            return env.params[name]
        except KeyError:
            raise SpecError(f"missing parameter {name!r}") from None
    return param


def _read(t: Read) -> Meaning:
    field, in_pre = t.field, t.state == PRE

    def state(env: Env) -> State:
        s = env.pre if in_pre else env.cur
        if s is None:
            raise SpecError(f"pre-state read of {field} outside a step formula")
        return s

    if t.key is None:
        return lambda env: state(env).globals[field]
    key = _meaning(t.key)
    return lambda env: state(env).maps[field].get(key(env), env.machine.defaults[field])


def _contains(collection: Meaning, element: Meaning) -> Meaning:
    def contains(env: Env) -> Value:
        coll = collection(env)
        if not isinstance(coll, frozenset):
            raise SpecError(f"membership in a non-set {coll!r}")
        return element(env) in coll
    return contains


def _binding(name: str, loop: Callable[[Env], Value]) -> Meaning:
    """`loop` with the variable `name` bound by it, and put back as it was after."""
    def bound(env: Env) -> Value:
        saved = env.bound.get(name)
        try:
            return loop(env)
        finally:
            if saved is None:
                env.bound.pop(name, None)
            else:
                env.bound[name] = saved
    return bound


def _every(name: str, domain: Callable[[Env], Iterable[Value]], body: Meaning) -> Meaning:
    """Whether `body` holds with `name` bound to each value of `domain` (a quantifier's ids,
    a range's integers)."""
    def every(env: Env) -> Value:
        for value in domain(env):
            env.bound[name] = value
            if body(env) is not True:
                return False
        return True
    return _binding(name, every)


def _quant(kind: str, name: str, body: Meaning) -> Meaning:
    if kind == "forall":
        return _every(name, _universe, body)

    def exists(env: Env) -> Value:
        for ident in _universe(env):
            env.bound[name] = ident
            if body(env) is True:
                return True
        return False

    def the(env: Env) -> Value:
        for ident in _universe(env):
            env.bound[name] = ident
            if ident != FRESH_ID and body(env) is True:
                return ident
        return ""

    def card(env: Env) -> Value:
        count, holds = 0, False
        for ident in _universe(env):
            env.bound[name] = ident
            holds = body(env) is True
            count += holds
        if holds:  # at the fresh id, last: it stands for every never-mentioned id, an infinite set
            raise SpecError("card over a predicate that holds for never-mentioned ids")
        return count

    return _binding(name, {"exists": exists, "the": the}.get(kind, card))


def _range(name: str, lo: Meaning, hi: Meaning, body: Meaning) -> Meaning:
    def bounds(env: Env) -> range:
        low, high = lo(env), hi(env)
        if not (isinstance(low, int) and isinstance(high, int)):
            raise SpecError(f"range bounds must be integers, got {low!r} and {high!r}")
        return range(low + 1, high + 1)
    return _every(name, bounds, body)


def _apply(t: Apply) -> Meaning:
    op = t.op
    arity = OPERATORS.get(op)
    if arity is None:
        return _failing(f"unknown operator {op}")
    if arity >= 0 and len(t.args) != arity:
        return _failing(f"{op} takes {arity} argument(s), got {len(t.args)}")
    args = [_meaning(a) for a in t.args]
    if op == "and":
        def and_(env: Env) -> Value:
            for a in args:
                if a(env) is not True:
                    return False
            return True
        return and_
    if op == "or":
        def or_(env: Env) -> Value:
            for a in args:
                if a(env) is True:
                    return True
            return False
        return or_
    if op == "implies":
        first, second = args
        return lambda env: first(env) is not True or second(env) is True
    if op == "not":
        only = args[0]
        return lambda env: only(env) is not True
    if op == "ite":
        cond, then, other = args
        return lambda env: then(env) if cond(env) is True else other(env)
    if op == "eq":
        left, right = args
        return lambda env: left(env) == right(env)
    if op == "ne":
        left, right = args
        return lambda env: left(env) != right(env)

    def arithmetic(env: Env) -> Value:
        vals = [a(env) for a in args]
        if op == "key_before":
            return key_before_value(vals[0], vals[1])
        if op in ORDERED or op == "add":
            if not all(isinstance(v, int) and not isinstance(v, bool) for v in vals):
                raise SpecError(f"{op} applied to non-integers {vals}")
        if op in BINARY:
            result: Value = BINARY[op](vals[0], vals[1])
            return result
        if op == "add":
            return sum(v for v in vals if isinstance(v, int))
        raise SpecError(f"unknown operator {op}")
    return arithmetic


# --------------------------------------------------------------------------- steps


@dataclass(frozen=True)
class Accepted:
    state: State


@dataclass(frozen=True)
class Rejected:
    """The action was refused by `guard`; the state is unchanged."""

    guard: Guard
    error: str
    fields: tuple[tuple[str, Value], ...]


StepResult = Accepted | Rejected


def first_failing_guard(machine: Machine, action: Action, state: State, params: Mapping[str, Value]) -> Guard | None:
    for g in action.guards:
        if evaluate(machine, g.holds, state, params) is not True:
            return g
    return None


def step(machine: Machine, state: State, action_name: str, params: Mapping[str, Value]) -> StepResult:
    """Apply one action: the first failing guard rejects it, else the effects run in order.

    Contracts (PEP 316, checked by `make contracts`). Each says what a step must do
    without calling `first_failing_guard` or `apply_effects`, so a broken body breaks one
    of them (tests/test_contracts.py breaks it and watches them fail): `state` is never
    changed; an accepted step leaves every field its action does not write as it was
    (the frame); a refusal names the first of the action's guards that is false, with
    that guard's error and fields.
    raises: SpecError, KeyError
    post: state == __old__.state
    post: isinstance(__return__, Accepted) == all(evaluate(machine, g.holds, state, params) is True for g in machine.action(action_name).guards)
    post: not isinstance(__return__, Accepted) or all(__return__.state.globals[f] == v for f, v in state.globals.items() if f not in {e.field for e in machine.action(action_name).effects})
    post: not isinstance(__return__, Accepted) or all(__return__.state.maps[f] == m for f, m in state.maps.items() if f not in {e.field for e in machine.action(action_name).effects})
    post: not isinstance(__return__, Rejected) or __return__.guard is next((g for g in machine.action(action_name).guards if evaluate(machine, g.holds, state, params) is not True), None)
    post: not isinstance(__return__, Rejected) or (__return__.error == __return__.guard.error and [n for n, _ in __return__.fields] == [n for n, _ in __return__.guard.fields])
    """
    action = machine.action(action_name)
    missing = {p.name for p in action.params} - set(params)
    if missing:
        raise SpecError(f"{action_name} needs parameters {sorted(missing)}")
    failing = first_failing_guard(machine, action, state, params)
    if failing is not None:
        payload = tuple((name, evaluate(machine, term, state, params)) for name, term in failing.fields)
        return Rejected(failing, failing.error, payload)
    return Accepted(apply_effects(machine, action, state, params))


def apply_effects(machine: Machine, action: Action, state: State, params: Mapping[str, Value]) -> State:
    new = state.copy()
    for effect in action.effects:
        if isinstance(effect, Assign):
            new.globals[effect.field] = evaluate(machine, effect.value, new, params)
        elif isinstance(effect, AssignAt):
            key = evaluate(machine, effect.key, new, params)
            _write(machine, new, effect.field, key, evaluate(machine, effect.value, new, params))
        elif isinstance(effect, AssignAll):
            env = Env(machine, new, None, params, {}, None)
            value_at = meaning(effect.value)
            updates = []
            for ident in _universe(env):
                env.bound[effect.var.name] = ident
                updates.append((ident, value_at(env)))
            for ident, value in updates:
                if ident == FRESH_ID:
                    if value != machine.field(effect.field).default.value:
                        raise SpecError(f"{action.name} writes {effect.field} of never-mentioned ids")
                    continue
                _write(machine, new, effect.field, ident, value)
    return new


def _write(machine: Machine, state: State, field: str, key: Value, value: Value) -> None:
    entries = state.maps[field]
    if value == machine.field(field).default.value:
        entries.pop(key, None)
    else:
        entries[key] = value


def violated_invariants(
    machine: Machine, state: State, pre: State | None = None, action: str | None = None,
    params: Mapping[str, Value] | None = None,
) -> list[Invariant]:
    """Every invariant whose state formula fails on `state` (and step formula on pre→state)."""
    bad = []
    for inv in machine.invariants:
        ok = inv.state is None or evaluate(machine, inv.state, state, params) is True
        if ok and pre is not None and inv.step is not None:
            ok = evaluate(machine, inv.step, state, params, pre=pre, action=action) is True
        if ok and pre is not None and inv.ranking is not None:
            ok = ranking_holds(machine, inv, pre, state, params or {})
        if not ok:
            bad.append(inv)
    return bad


def ranking_holds(machine: Machine, inv: Invariant, pre: State, post: State, params: Mapping[str, Value]) -> bool:
    r = inv.ranking
    assert r is not None
    if evaluate(machine, r.active, pre, params) is not True:
        return True
    if evaluate(machine, r.active, post, params) is not True:
        return True
    if evaluate(machine, r.same_episode, post, params, pre=pre) is not True:
        return True
    env = Env(machine, post, pre, params, {}, None)
    pending = meaning(r.pending)
    for ident in _universe(env):
        env.bound[r.var.name] = ident
        now = pending(env) is True
        before = pending(Env(machine, pre, None, params, {r.var.name: ident}, None)) is True
        if now and not before:
            return False
    return True


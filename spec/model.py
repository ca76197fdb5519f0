"""The spec model: a concrete interpreter of any `Machine`.

It evaluates the same guard/effect/invariant terms that the proofs translate to
Z3, so whatever the tests observe here is the machine the proofs are about.
A rejected action is an explicit `Rejected` (guard and error), never an exception.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Union

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
    return _eval(term, Env(machine, state, pre, params or {}, dict(bound or {}), action))


def _universe(env: Env) -> list[str]:
    """The ids a quantifier ranges over: every id the states, parameters and bound
    variables mention, then `FRESH_ID`. A quantifier binds only ids of this list (or a
    range's integers), so it is the same for every quantifier of one evaluation and is
    computed once per `Env`."""
    if env.universe is not None:
        return env.universe
    ids = env.cur.ids()
    if env.pre is not None:
        ids |= env.pre.ids()
    for v in list(env.params.values()) + list(env.bound.values()):
        if isinstance(v, frozenset):
            ids |= set(v)
    for p, v in env.params.items():
        if isinstance(v, str):
            ids.add(v)
    env.universe = sorted(ids, key=str) + [FRESH_ID]
    return env.universe


def _eval(t: Term, env: Env) -> Value:
    rule = _RULES.get(type(t))
    if rule is None:
        raise SpecError(f"unknown term {t!r}")
    return rule(t, env)


def _read(t: Read, env: Env) -> Value:
    state = env.pre if t.state == PRE else env.cur
    if state is None:
        raise SpecError(f"pre-state read of {t.field} outside a step formula")
    key = None if t.key is None else _eval(t.key, env)
    return state.get(env.machine, t.field, key)


def _param(t: Param, env: Env) -> Value:
    try:
        return env.params[t.name]
    except KeyError:
        raise SpecError(f"missing parameter {t.name!r}") from None


def _contains(t: Contains, env: Env) -> Value:
    coll = _eval(t.collection, env)
    if not isinstance(coll, frozenset):
        raise SpecError(f"membership in a non-set {coll!r}")
    return _eval(t.element, env) in coll


def _quant(t: Quant, env: Env) -> Value:
    saved = env.bound.get(t.var.name)
    try:
        if t.kind == "the":
            for ident in _universe(env):
                env.bound[t.var.name] = ident
                if ident != FRESH_ID and _eval(t.body, env) is True:
                    return ident
            return ""
        results = []
        for ident in _universe(env):
            env.bound[t.var.name] = ident
            results.append(_eval(t.body, env) is True)
            if t.kind == "forall" and not results[-1]:
                break
            if t.kind == "exists" and results[-1]:
                break
    finally:
        if saved is None:
            env.bound.pop(t.var.name, None)
        else:
            env.bound[t.var.name] = saved
    if t.kind == "forall":
        return all(results)
    if t.kind == "exists":
        return any(results)
    if results and results[-1]:  # the fresh id sorts last: the set would be infinite
        raise SpecError("card over a predicate that holds for never-mentioned ids")
    return sum(results)


def _range(t: Range, env: Env) -> Value:
    lo, hi = _eval(t.lo, env), _eval(t.hi, env)
    if not (isinstance(lo, int) and isinstance(hi, int)):
        raise SpecError(f"range bounds must be integers, got {lo!r} and {hi!r}")
    saved = env.bound.get(t.var.name)
    try:
        for index in range(lo + 1, hi + 1):
            env.bound[t.var.name] = index
            if _eval(t.body, env) is not True:
                return False
        return True
    finally:
        if saved is None:
            env.bound.pop(t.var.name, None)
        else:
            env.bound[t.var.name] = saved


def _apply(t: Apply, env: Env) -> Value:
    op = t.op
    arity = OPERATORS.get(op)
    if arity is None:
        raise SpecError(f"unknown operator {op}")
    if arity >= 0 and len(t.args) != arity:
        raise SpecError(f"{op} takes {arity} argument(s), got {len(t.args)}")
    if op == "and":  # loops, not all()/any() over a generator: the interpreter's hottest lines
        for a in t.args:
            if _eval(a, env) is not True:
                return False
        return True
    if op == "or":
        for a in t.args:
            if _eval(a, env) is True:
                return True
        return False
    if op == "implies":
        return (_eval(t.args[0], env) is not True) or _eval(t.args[1], env) is True
    if op == "ite":
        return _eval(t.args[1], env) if _eval(t.args[0], env) is True else _eval(t.args[2], env)
    if op == "not":
        return _eval(t.args[0], env) is not True
    if op == "eq":  # the most frequent comparisons, without building the operand list
        return _eval(t.args[0], env) == _eval(t.args[1], env)
    if op == "ne":
        return _eval(t.args[0], env) != _eval(t.args[1], env)
    vals = [_eval(a, env) for a in t.args]
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


#: how each kind of term is evaluated (a table, not a chain of isinstance tests: the
#: interpreter evaluates millions of nodes in the tests that hold the compiled model to it)
_RULES: dict[type, Callable[[Any, Env], Value]] = {
    Apply: _apply, Read: _read, Lit: lambda t, env: t.value, Param: _param,
    Var: lambda t, env: env.bound[t.name], Contains: _contains,
    ActionIs: lambda t, env: env.action == t.action, Use: lambda t, env: _eval(t.expansion, env),
    Quant: _quant, Range: _range,
}


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
            updates = []
            for ident in _universe(env):
                env.bound[effect.var.name] = ident
                updates.append((ident, _eval(effect.value, env)))
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
    for ident in _universe(env):
        env.bound[r.var.name] = ident
        now = _eval(r.pending, env) is True
        before = _eval(r.pending, Env(machine, pre, None, params, {r.var.name: ident}, None)) is True
        if now and not before:
            return False
    return True


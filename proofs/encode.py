"""Translate spec terms and actions to Z3.

The same `spec.terms` trees the model evaluates become Z3 expressions here; an
action becomes its guard conjunction plus post-state expressions built by
running its effects in order over the pre-state (Store for one entry, Lambda for
a pointwise rewrite). Unwritten fields keep their pre-state expression, so the
frame is derived, never stated.

Operation ids are an uninterpreted sort for unbounded proofs, or a finite
enumeration for bounded model checking; quantifiers over a finite sort are
expanded, and `card` becomes a sum.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping, TypeAlias

import z3

from opsref.spec.machine import Action, Assign, AssignAll, AssignAt, Machine
from opsref.spec.terms import (
    BINARY, BOOL, ID, ID_SET, INT, PRE, ActionIs, Apply, Contains, Lit, Param, Quant, Range, Read, Sort, Term, Var,
    about_another_action,
)

Expr: TypeAlias = z3.ExprRef


class Table:
    """A keyed field: a Z3 array (unbounded ids) or, over finitely many keys, one
    scalar per key, which keeps bounded runs free of array theory."""

    def __init__(self, array: Expr | None = None, keys: list[Expr] | None = None,
                 values: list[Expr] | None = None):
        self.array = array
        self.keys = keys or []
        self.values = values or []

    def select(self, key: Expr) -> Expr:
        if self.array is not None:
            return z3.Select(self.array, key)
        for k, v in zip(self.keys, self.values):
            if z3.eq(k, key):
                return v
        out = self.values[-1]
        for k, v in reversed(list(zip(self.keys[:-1], self.values[:-1]))):
            out = z3.If(key == k, v, out)
        return out

    def store(self, key: Expr, value: Expr) -> "Table":
        if self.array is not None:
            return Table(z3.Store(self.array, key, value))
        if any(z3.eq(k, key) for k in self.keys):
            return Table(None, self.keys, [value if z3.eq(k, key) else v for k, v in zip(self.keys, self.values)])
        return Table(None, self.keys, [z3.If(key == k, value, v) for k, v in zip(self.keys, self.values)])

    def equals(self, other: "Table") -> Expr:
        if self.array is not None and other.array is not None:
            return self.array == other.array
        return z3.And([a == b for a, b in zip(self.values, other.values)])


StateExprs = dict[str, "Expr | Table"]


@dataclass
class Universe:
    """The Z3 sorts of one encoding: ids unbounded (`size is None`) or finite."""

    size: int | None
    id_sort: z3.SortRef
    ids: list[Expr]
    enums: dict[str, tuple[z3.SortRef, dict[str, Expr]]]
    nobody: Expr
    int_bound: int | None = None  # bounded runs: integers in ranges stay within 0..int_bound

    @staticmethod
    def make(machine: Machine, size: int | None, int_bound: int | None = None) -> "Universe":
        tag = "u" if size is None else f"b{size}"
        enums = {}
        for sort in machine.sorts:
            z3sort, consts = _enum_sort(f"{sort.name}_{tag}", sort.members)
            enums[sort.name] = (z3sort, dict(zip(sort.members, consts)))
        if size is None:
            id_sort: z3.SortRef = z3.DeclareSort("OpId")
            ids: list[Expr] = []
            nobody = z3.Const("nobody", id_sort)
        else:
            # `nobody` (the default of id-valued maps) is just some id, as in the
            # unbounded sort, so quantifiers range over every element.
            id_sort, consts = _enum_sort(f"OpId{size}", tuple(f"op{n}" for n in range(size)))
            ids = list(consts)
            nobody = consts[0]
        return Universe(size, id_sort, ids, enums, nobody, int_bound)

    def unbounded_keys(self, sort: Sort) -> bool:
        """Whether a field keyed by `sort` is a Z3 array rather than one scalar per key."""
        return self.size is None or (sort == INT and self.int_bound is None)

    def keys(self, sort: Sort) -> list[Expr]:
        """The finite key set of a keyed field in a bounded run."""
        if sort == ID:
            return list(self.ids)
        assert sort == INT and self.int_bound is not None, "int-keyed fields need an int bound"
        return [z3.IntVal(n) for n in range(self.int_bound + 1)]

    def sort_of(self, sort: Sort) -> z3.SortRef:
        if sort == BOOL:
            return z3.BoolSort()
        if sort == INT:
            return z3.IntSort()
        if sort == ID:
            return self.id_sort
        if sort == ID_SET:
            return z3.ArraySort(self.id_sort, z3.BoolSort())
        return self.enums[sort.name][0]

    def literal(self, lit: Lit) -> Expr:
        if lit.sort == BOOL:
            return z3.BoolVal(bool(lit.value))
        if lit.sort == INT:
            return z3.IntVal(int(lit.value))
        if lit.sort == ID:
            if lit.value != "":
                raise ValueError("only the empty id literal (nobody) exists in specs")
            return self.nobody
        return self.enums[lit.sort.name][1][str(lit.value)]

    def key_before(self, a: Expr, b: Expr) -> Expr:
        """The seed's id order. Unbounded: an uninterpreted relation (the proofs assume
        nothing about it). Finite: the order of the names the traces use (op0 < op1 < …,
        as their JSON encodings sort), so that every trace replays on the spec model."""
        if self.size is None:
            return z3.Function("key_before", self.id_sort, self.id_sort, z3.BoolSort())(a, b)
        return z3.Or([z3.And(a == x, b == y) for n, x in enumerate(self.ids) for y in self.ids[n + 1:]])


_ENUM_CACHE: dict[tuple[str, tuple[str, ...]], tuple[z3.SortRef, list[Expr]]] = {}


def _enum_sort(name: str, members: tuple[str, ...]) -> tuple[z3.SortRef, list[Expr]]:
    """One Z3 sort per (name, members): two machines of one process (a worker proves
    jobs of every machine) may have a sort of the same name with other members."""
    if (name, members) not in _ENUM_CACHE:
        taken = sum(n == name for n, _ in _ENUM_CACHE)
        z3name = name if not taken else f"{name}_{taken}"
        sort, consts = z3.EnumSort(z3name, [f"{z3name}.{m}" for m in members])
        _ENUM_CACHE[(name, members)] = (sort, list(consts))
    return _ENUM_CACHE[(name, members)]


def state_symbols(machine: Machine, u: Universe, tag: str) -> StateExprs:
    """Fresh Z3 constants for one state; rigid fields share one name across states."""
    out: StateExprs = {}
    for f in machine.fields:
        name = f.name if f.rigid else f"{f.name}@{tag}"
        value_sort = u.sort_of(f.sort)
        if f.key is None:
            out[f.name] = z3.Const(name, value_sort)
        elif u.unbounded_keys(f.key):
            out[f.name] = Table(z3.Array(name, u.sort_of(f.key), value_sort))
        else:
            keys = u.keys(f.key)
            out[f.name] = Table(None, keys, [z3.Const(f"{name}[{k}]", value_sort) for k in keys])
    return out


def scalar(e: "Expr | Table") -> Expr:
    assert not isinstance(e, Table)
    return e


def table(e: "Expr | Table") -> Table:
    assert isinstance(e, Table)
    return e


def initial_constraints(machine: Machine, u: Universe, st: StateExprs) -> list[Expr]:
    """Init: keyed fields everywhere at their default, globals at default or `init`."""
    init = dict(machine.init)
    out: list[Expr] = []
    for f in machine.fields:
        if f.rigid:
            continue
        if f.key is None:
            value = to_z3(init[f.name], Env(machine, u, st)) if f.name in init else u.literal(f.default)
            out.append(scalar(st[f.name]) == value)
        elif u.unbounded_keys(f.key):
            out.append(table(st[f.name]).equals(Table(z3.K(u.sort_of(f.key), u.literal(f.default)))))
        else:
            out.extend(v == u.literal(f.default) for v in table(st[f.name]).values)
    out.extend(to_z3(a, Env(machine, u, st)) for a in machine.assumptions)
    return out


@dataclass
class Env:
    machine: Machine
    u: Universe
    cur: StateExprs
    pre: StateExprs | None = None
    params: Mapping[str, Expr] = field(default_factory=dict)
    bound: dict[str, Expr] = field(default_factory=dict)
    action: str | None = None
    cards: Callable[[Quant, "Env"], Expr] | None = None  # ghost cardinalities (unbounded proofs)
    sets: Mapping[str, Table] = field(default_factory=dict)  # set-valued parameters


def to_z3(t: Term, env: Env) -> Expr:
    u = env.u
    if isinstance(t, Lit):
        return u.literal(t)
    if isinstance(t, Param):
        return env.params[t.name]
    if isinstance(t, Var):
        return env.bound[t.name]
    if isinstance(t, Read):
        state = env.pre if t.state == PRE else env.cur
        if state is None:
            raise ValueError(f"pre-state read of {t.field} outside a step formula")
        base = state[t.field]
        return scalar(base) if t.key is None else table(base).select(to_z3(t.key, env))
    if isinstance(t, Contains):
        coll = t.collection
        assert isinstance(coll, Param), "only set-valued parameters are collections"
        return env.sets[coll.name].select(to_z3(t.element, env))
    if isinstance(t, ActionIs):
        return z3.BoolVal(env.action == t.action)
    if isinstance(t, Quant):
        return _quant(t, env)
    if isinstance(t, Range) and env.u.int_bound is not None:
        # Bounded runs expand the range; a range reaching past the bound makes the
        # formula false, so an unsound expansion shows up as a disagreement.
        lo, hi = to_z3(t.lo, env), to_z3(t.hi, env)
        parts = [z3.Implies(z3.And(lo < n, n <= hi), to_z3(t.body, _bind(env, t.var, z3.IntVal(n))))
                 for n in range(env.u.int_bound + 1)]
        return z3.And(hi <= env.u.int_bound, *parts)
    if isinstance(t, Range):
        x = z3.FreshInt(t.var.name)
        body = to_z3(t.body, _bind(env, t.var, x))
        return z3.ForAll([x], z3.Implies(z3.And(to_z3(t.lo, env) < x, x <= to_z3(t.hi, env)), body))
    if isinstance(t, Apply):
        return _apply(t, env)
    raise TypeError(f"unknown term {t!r}")


def _bind(env: Env, var: Var, value: Expr) -> Env:
    bound = dict(env.bound)
    bound[var.name] = value
    return Env(env.machine, env.u, env.cur, env.pre, env.params, bound, env.action, env.cards, env.sets)


def _quant(t: Quant, env: Env) -> Expr:
    u = env.u
    if u.size is not None:
        bodies = [to_z3(t.body, _bind(env, t.var, x)) for x in u.ids]
        if t.kind == "forall":
            return z3.And(bodies)
        if t.kind == "exists":
            return z3.Or(bodies)
        return z3.Sum([z3.If(b, 1, 0) for b in bodies])
    if t.kind == "card":
        if env.cards is None:
            raise ValueError("card over unbounded ids needs a ghost counter")
        return env.cards(t, env)
    x = z3.FreshConst(u.id_sort, t.var.name)
    body = to_z3(t.body, _bind(env, t.var, x))
    return z3.ForAll([x], body) if t.kind == "forall" else z3.Exists([x], body)


def _apply(t: Apply, env: Env) -> Expr:
    if t.op == "implies" and about_another_action(t.args[0], env.action):
        return z3.BoolVal(True)
    a = [to_z3(x, env) for x in t.args]
    op = t.op
    if op == "not":
        return z3.Not(a[0])
    if op == "and":
        return z3.And(a)
    if op == "or":
        return z3.Or(a)
    if op == "implies":
        return z3.Implies(a[0], a[1])
    if op in BINARY:
        return BINARY[op](a[0], a[1])
    if op == "add":
        return z3.Sum(a)
    if op == "sub":
        return a[0] - a[1]
    if op == "ite":
        return z3.If(a[0], a[1], a[2])
    if op == "key_before":
        return env.u.key_before(a[0], a[1])
    raise ValueError(f"unknown operator {op}")


def fresh_params(action: Action, u: Universe, tag: str) -> dict[str, Expr]:
    """Parameters as Z3 constants; a set of ids is an id -> bool array (see `set_tables`)."""
    return {p.name: z3.Const(f"{action.name}.{p.name}@{tag}", u.sort_of(p.sort)) for p in action.params}


def set_tables(u: Universe, params: Mapping[str, Expr]) -> dict[str, Table]:
    out = {}
    for name, e in params.items():
        if e.sort() == z3.ArraySort(u.id_sort, z3.BoolSort()):
            out[name] = Table(e) if u.size is None else Table(None, list(u.ids), [z3.Select(e, x) for x in u.ids])
    return out


@dataclass
class Transition:
    """One action from a pre-state: guards, post-state and the ids it wrote."""

    guards: list[Expr]
    post: StateExprs
    touched: list[Expr]   # keys of single-entry writes to per-id fields, in order
    pointwise: bool       # some per-id field was rewritten everywhere


def transition(machine: Machine, action: Action, u: Universe, pre: StateExprs, params: Mapping[str, Expr]) -> Transition:
    sets = set_tables(u, params)
    guards = [to_z3(g.holds, Env(machine, u, pre, params=params, sets=sets)) for g in action.guards]
    cur = dict(pre)
    touched: list[Expr] = []
    pointwise = False
    for effect in action.effects:
        env = Env(machine, u, cur, params=params, sets=sets)
        f = machine.field(effect.field)
        new: Expr | Table
        if isinstance(effect, Assign):
            new = to_z3(effect.value, env)
        elif isinstance(effect, AssignAt):
            key = to_z3(effect.key, env)
            if f.key == ID and not any(z3.eq(key, t) for t in touched):
                touched.append(key)
            new = table(cur[effect.field]).store(key, to_z3(effect.value, env))
        else:
            assert isinstance(effect, AssignAll)
            pointwise = True
            if u.size is not None:  # finitely many ids: one value per id, no lambda
                new = Table(None, list(u.ids), [to_z3(effect.value, _bind(env, effect.var, x)) for x in u.ids])
            else:
                x = z3.FreshConst(u.id_sort, effect.var.name)
                new = Table(z3.Lambda([x], to_z3(effect.value, _bind(env, effect.var, x))))
        cur = dict(cur)
        cur[effect.field] = new
    return Transition(guards, cur, touched, pointwise)



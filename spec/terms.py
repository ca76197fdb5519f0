"""A tiny backend-neutral term language for guards, effects and invariants.

Every guard, effect and invariant of a machine is a tree of these frozen nodes.
Three readers walk the same tree: `spec.model` evaluates it to Python values,
`proofs.encode` translates it to Z3 expressions, `spec.render` prints it for people.
Nothing here knows about any particular machine.
"""

from __future__ import annotations

import json
import operator
from dataclasses import dataclass
from typing import Any, Callable, Union


# --------------------------------------------------------------------------- sorts


#: Binary operators with the same meaning in every reader of a term: Python values
#: and Z3 expressions overload the same Python operators, so the spec model and
#: the Z3 encoding share this one table instead of restating it.
BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "eq": operator.eq, "ne": operator.ne, "lt": operator.lt, "le": operator.le,
    "gt": operator.gt, "ge": operator.ge, "sub": operator.sub,
}
ORDERED = frozenset({"lt", "le", "gt", "ge", "sub"})  # integer-only operators


def json_key(value: str) -> str:
    """An id as the seed's DSL keys its maps: its JSON encoding (serde_json escapes
    only quotes, backslashes and control characters); str order is then the
    BTreeMap's byte order, since code-point order and UTF-8 byte order agree."""
    return json.dumps(value, ensure_ascii=False)


def key_before_value(a: Any, b: Any) -> bool:
    """The value of `key_before(a, b)` on concrete ids."""
    return json_key(str(a)) < json_key(str(b))


@dataclass(frozen=True)
class Sort:
    """A value sort: `bool`, `int`, `id` (an operation id) or a named enumeration."""

    name: str
    members: tuple[str, ...] = ()

    @property
    def is_enum(self) -> bool:
        return bool(self.members)

    def __str__(self) -> str:
        return self.name


BOOL = Sort("bool")
INT = Sort("int")
ID = Sort("id")
ID_SET = Sort("id_set")  # a finite set of ids, only ever an action parameter


def enum(name: str, *members: str) -> Sort:
    return Sort(name, tuple(members))


# --------------------------------------------------------------------------- terms

PRE = "pre"
CUR = "cur"


@dataclass(frozen=True)
class Lit:
    value: bool | int | str
    sort: Sort


@dataclass(frozen=True)
class Param:
    """An action parameter (an op id, a kind, a set of ids, ...)."""

    name: str
    sort: Sort


@dataclass(frozen=True)
class Var:
    """A variable bound by `Forall`, `Exists` or `Card`, or by a pointwise effect."""

    name: str
    sort: Sort = ID


@dataclass(frozen=True)
class Read:
    """A state field: a global (`key is None`) or a keyed map entry.

    `state` is `cur` (the state being evaluated) or `pre` (the state before the
    action, only meaningful inside step invariants).
    """

    field: str
    key: "Term | None" = None
    state: str = CUR


@dataclass(frozen=True)
class Apply:
    """A built-in operator applied to arguments (see OPERATORS)."""

    op: str
    args: tuple["Term", ...]


@dataclass(frozen=True)
class Contains:
    """Membership of an id in a set-valued parameter."""

    collection: "Term"
    element: "Term"


@dataclass(frozen=True)
class Quant:
    """`forall` / `exists` over ids, `card`: the number of ids satisfying body, or `the`:
    the id satisfying body (returned values only)."""

    kind: str
    var: Var
    body: "Term"


@dataclass(frozen=True)
class Range:
    """For every integer `var` with lo < var <= hi, body holds (a bounded forall)."""

    var: Var
    lo: "Term"
    hi: "Term"
    body: "Term"


@dataclass(frozen=True)
class ActionIs:
    """True when the step being checked is the named action (step invariants only)."""

    action: str


Term = Union[Lit, Param, Var, Read, Apply, Contains, Quant, Range, ActionIs]

OPERATORS = {
    "not": 1, "and": -1, "or": -1, "implies": 2, "eq": 2, "ne": 2,
    "lt": 2, "le": 2, "gt": 2, "ge": 2, "add": -1, "sub": 2, "ite": 3, "key_before": 2,
}


# --------------------------------------------------------------------------- builders
# Small constructors so that spec files read like formulas.

TRUE = Lit(True, BOOL)
FALSE = Lit(False, BOOL)


def lit(value: int) -> Lit:
    return Lit(value, INT)


def sym(sort: Sort, member: str) -> Lit:
    if member not in sort.members:
        raise ValueError(f"{member!r} is not a member of {sort.name}")
    return Lit(member, sort)


def not_(a: Term) -> Term:
    return Apply("not", (a,))


def and_(*args: Term) -> Term:
    return args[0] if len(args) == 1 else Apply("and", tuple(args))


def or_(*args: Term) -> Term:
    return args[0] if len(args) == 1 else Apply("or", tuple(args))


def implies(a: Term, b: Term) -> Term:
    return Apply("implies", (a, b))


def eq(a: Term, b: Term) -> Term:
    return Apply("eq", (a, b))


def ne(a: Term, b: Term) -> Term:
    return Apply("ne", (a, b))


def lt(a: Term, b: Term) -> Term:
    return Apply("lt", (a, b))


def le(a: Term, b: Term) -> Term:
    return Apply("le", (a, b))


def gt(a: Term, b: Term) -> Term:
    return Apply("gt", (a, b))


def ge(a: Term, b: Term) -> Term:
    return Apply("ge", (a, b))


def add(*args: Term) -> Term:
    return Apply("add", tuple(args))


def sub(a: Term, b: Term) -> Term:
    return Apply("sub", (a, b))


def key_before(a: Term, b: Term) -> Term:
    """Id `a` sorts before id `b` by their JSON encodings (the seed's map key order)."""
    return Apply("key_before", (a, b))


def ite(c: Term, a: Term, b: Term) -> Term:
    return Apply("ite", (c, a, b))


def one_of(a: Term, sort: Sort, members: tuple[str, ...] | frozenset[str]) -> Term:
    """`a` is one of the listed enum members (written as a disjunction of equalities)."""
    ordered = [m for m in sort.members if m in members]
    if not ordered:
        return FALSE
    return or_(*(eq(a, sym(sort, m)) for m in ordered))


def forall(var: Var, body: Term) -> Term:
    return Quant("forall", var, body)


def exists(var: Var, body: Term) -> Term:
    return Quant("exists", var, body)


def card(var: Var, body: Term) -> Term:
    return Quant("card", var, body)


def the(var: Var, body: Term) -> Term:
    """The id for which `body` holds ("" when none does). Only for the values an action
    returns (`Action.returns`), which the interpreter evaluates and no proof reads."""
    return Quant("the", var, body)


def in_range(var: Var, lo: Term, hi: Term, body: Term) -> Term:
    return Range(var, lo, hi, body)


def read(field: str, key: Term | None = None) -> Read:
    return Read(field, key)


# --------------------------------------------------------------------------- traversal


def children(t: Term) -> tuple[Term, ...]:
    if isinstance(t, Read):
        return () if t.key is None else (t.key,)
    if isinstance(t, Apply):
        return t.args
    if isinstance(t, Contains):
        return (t.collection, t.element)
    if isinstance(t, Quant):
        return (t.body,)
    if isinstance(t, Range):
        return (t.lo, t.hi, t.body)
    return ()


def walk(t: Term) -> list[Term]:
    """Every node of `t`, parents before children."""
    out: list[Term] = []
    stack = [t]
    while stack:
        node = stack.pop()
        out.append(node)
        stack.extend(reversed(children(node)))
    return out


def about_another_action(t: Term, action: str | None) -> bool:
    """`action = X` (alone, as the first conjunct, or a disjunction of such) for actions
    other than `action`: an implication guarded by it is about their steps and may read
    their parameters, which a step of `action` does not have. The encoders that work one
    action at a time (Z3, Quint) read such an implication as true, untranslated."""
    if isinstance(t, Apply) and t.op == "and" and t.args:
        t = t.args[0]
    if isinstance(t, Apply) and t.op == "or" and t.args:
        return all(about_another_action(d, action) for d in t.args)
    return isinstance(t, ActionIs) and action != t.action


def at_pre(t: Term) -> Term:
    """The same term with every field read taken from the pre-state."""
    if isinstance(t, Read):
        key = None if t.key is None else at_pre(t.key)
        return Read(t.field, key, PRE)
    if isinstance(t, Apply):
        return Apply(t.op, tuple(at_pre(a) for a in t.args))
    if isinstance(t, Contains):
        return Contains(at_pre(t.collection), at_pre(t.element))
    if isinstance(t, Quant):
        return Quant(t.kind, t.var, at_pre(t.body))
    if isinstance(t, Range):
        return Range(t.var, at_pre(t.lo), at_pre(t.hi), at_pre(t.body))
    return t


def substitute(t: Term, var: Var, value: Term) -> Term:
    """Replace a bound variable by a term (used to instantiate definitions)."""
    if t == var:
        return value
    if isinstance(t, Read):
        return t if t.key is None else Read(t.field, substitute(t.key, var, value), t.state)
    if isinstance(t, Apply):
        return Apply(t.op, tuple(substitute(a, var, value) for a in t.args))
    if isinstance(t, Contains):
        return Contains(substitute(t.collection, var, value), substitute(t.element, var, value))
    if isinstance(t, Quant):
        return t if t.var == var else Quant(t.kind, t.var, substitute(t.body, var, value))
    if isinstance(t, Range):
        body = t.body if t.var == var else substitute(t.body, var, value)
        return Range(t.var, substitute(t.lo, var, value), substitute(t.hi, var, value), body)
    return t

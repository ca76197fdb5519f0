"""A tiny backend-neutral term language for guards, effects and invariants.

Every guard, effect and invariant of a machine is a tree of these frozen nodes.
Several readers walk the same tree: `spec.model` evaluates it to Python values,
`spec.compiled` to Python source, `proofs.encode` to Z3 expressions, `interop.quint`
to Quint, and `spec.render` prints it for people. Nothing here knows about any
particular machine.

A `Definition` names a formula once (`Terminal(x)`, `Finished(x)`), as Quint's `def`
does; a `Use` of it is a node whose meaning is the body with the arguments put in.
Readers that compute see through a use (`Use.expansion`); readers for people print
the name, and the definition once.
"""

from __future__ import annotations

import json
import operator
from dataclasses import dataclass
from functools import cached_property
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


@dataclass(frozen=True)
class Definition:
    """A named formula over its parameters (Quint's `def`): written once, used by name.

    The body may read state, quantify and use other definitions; its only free
    variables are its parameters."""

    name: str
    params: tuple["Var | Param", ...]
    body: "Term"
    doc: str = ""

    def __call__(self, *args: "Term") -> "Use":
        if len(args) != len(self.params):
            raise TypeError(f"{self.name} takes {len(self.params)} arguments, got {len(args)}")
        return Use(self, tuple(args))


@dataclass(frozen=True)
class Use:
    """A definition applied to arguments; `state` is `pre` when the use was moved to
    the pre-state by `at_pre` (every read of the body then reads the pre-state)."""

    definition: Definition
    args: tuple["Term", ...]
    state: str = "cur"

    @cached_property
    def expansion(self) -> "Term":
        """The body with the arguments in place of the parameters: what the use means."""
        body = instantiate(self.definition.params, self.args, self.definition.body)
        return at_pre(body) if self.state == PRE else body


Term = Union[Lit, Param, Var, Read, Apply, Contains, Quant, Range, ActionIs, Use]

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
    if isinstance(t, Use):
        return (t.expansion,)  # analyses see what a use means
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


def map_children(t: Term, f: Callable[[Term], Term]) -> Term:
    """The same node with `f` applied to each of its direct sub-terms (a use's
    arguments, not its expansion): the one traversal that rewriting functions share."""
    if isinstance(t, Read):
        return t if t.key is None else Read(t.field, f(t.key), t.state)
    if isinstance(t, Apply):
        return Apply(t.op, tuple(f(a) for a in t.args))
    if isinstance(t, Contains):
        return Contains(f(t.collection), f(t.element))
    if isinstance(t, Quant):
        return Quant(t.kind, t.var, f(t.body))
    if isinstance(t, Range):
        return Range(t.var, f(t.lo), f(t.hi), f(t.body))
    if isinstance(t, Use):
        return Use(t.definition, tuple(f(a) for a in t.args), t.state)
    return t


def in_state(t: Term, state: str) -> Term:
    """The same term with every field read (and every use) taken from `state`."""
    if isinstance(t, Read):
        return Read(t.field, None if t.key is None else in_state(t.key, state), state)
    if isinstance(t, Use):
        return Use(t.definition, tuple(in_state(a, state) for a in t.args), state)
    return map_children(t, lambda c: in_state(c, state))


def at_pre(t: Term) -> Term:
    """The same term with every field read taken from the pre-state."""
    return in_state(t, PRE)


def substitute(t: Term, var: Var | Param, value: Term) -> Term:
    """Replace a variable (or a parameter) by a term (used to instantiate definitions)."""
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
    if isinstance(t, Use):  # a definition's body is closed: only the arguments can mention var
        return Use(t.definition, tuple(substitute(a, var, value) for a in t.args), t.state)
    return t


def bound_vars(t: Term) -> set[Var]:
    """The variables bound somewhere inside `t` (by a quantifier or a range)."""
    return {n.var for n in walk(t) if isinstance(n, (Quant, Range))}


def free_vars(t: Term) -> set[Var]:
    """The variables of `t` not bound inside it."""
    if isinstance(t, Var):
        return {t}
    if isinstance(t, Quant):
        return free_vars(t.body) - {t.var}
    if isinstance(t, Range):
        return free_vars(t.lo) | free_vars(t.hi) | (free_vars(t.body) - {t.var})
    if isinstance(t, Use):  # a definition's body is closed
        return set().union(*(free_vars(a) for a in t.args))
    return set().union(*(free_vars(c) for c in children(t)))


def instantiate(params: tuple["Var | Param", ...], args: tuple[Term, ...], body: Term) -> Term:
    """`body` with each parameter replaced by its argument, all at once. Refuses an
    argument whose free variable the body binds (it would be captured)."""
    captured = bound_vars(body) & set().union(*(free_vars(a) for a in args))
    if captured:
        raise ValueError(f"an argument's variable {sorted(v.name for v in captured)} is bound in the body")
    # rename the parameters apart first, so that one argument cannot be rewritten by the next
    marks = [Var(f"\0{n}", p.sort) for n, p in enumerate(params)]
    for p, m in zip(params, marks):
        body = substitute(body, p, m)
    for m, a in zip(marks, args):
        body = substitute(body, m, a)
    return body


def expand(t: Term) -> Term:
    """`t` with every use replaced by its expansion, all the way down."""
    return expand(t.expansion) if isinstance(t, Use) else map_children(t, expand)


def uses(t: Term) -> list[Definition]:
    """The definitions `t` uses, directly or through other definitions, innermost first."""
    out: list[Definition] = []

    def visit(node: Term) -> None:
        if isinstance(node, Use):
            for a in node.args:
                visit(a)
            if node.definition not in out:
                visit(node.definition.body)
                out.append(node.definition)
            return
        for c in children(node):
            visit(c)
    visit(t)
    return out

"""Spec terms as Quint expressions: the term walker behind `interop.quint`.

Each term form is read as `spec.model` evaluates it (and `proofs.encode` translates it):
a field read is the variable (or the `val` an earlier effect bound), a keyed read goes
through the map (`getOr` with the field's default where the key may be missing), `forall` /
`exists` / `card` range over the finite id set `IDS`, a `Range` over `lo + 1 .. hi`, and
`action = X` is folded to a literal inside one action (or compared with the `act` argument of
a step definition). `the` (returned values only) has no translation.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field, replace
from typing import Mapping

from opsref.spec.machine import Machine
from opsref.spec.terms import (
    BOOL, ID, ID_SET, INT, PRE, ActionIs, Apply, Contains, Lit, Param, Quant, Range, Read, Sort, Term, Use, Var,
    about_another_action,
)

PARAM_PREFIX = "p_"


class ExportError(Exception):
    """A machine the translator cannot express in Quint (a term form it does not know)."""


def param_name(p: Param) -> str:
    return PARAM_PREFIX + p.name


def quint_type(sort: Sort) -> str:
    if sort == BOOL:
        return "bool"
    if sort == INT:
        return "int"
    if sort == ID_SET:
        return "Set[str]"
    return "str"  # ids and enumeration members


def field_type(machine: Machine, name: str) -> str:
    f = machine.field(name)
    value = quint_type(f.sort)
    return value if f.key is None else f"{quint_type(f.key)} -> {value}"


def literal(value: bool | int | str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(value)  # Quint string literals are JSON's for the names used here


@dataclass
class Env:
    """How a term's pieces are named in the Quint text being written."""

    machine: Machine
    cur: Mapping[str, str]              # field -> the Quint expression of its current value
    pre: Mapping[str, str] | None = None
    params: Mapping[str, str] = field(default_factory=dict)
    bound: dict[str, str] = field(default_factory=dict)
    action: str | None = None
    fresh: itertools.count[int] = field(default_factory=itertools.count)
    #: inside a step definition: `action = X` compares this argument instead of folding
    action_arg: str | None = None
    #: id parameters hold ids of IDS (true inside an action; a step definition may get "")
    picked: bool = True

    def bind(self, var: Var) -> tuple["Env", str]:
        name = f"{var.name}_{next(self.fresh)}"  # unique: Quint lambdas may not shadow
        bound = dict(self.bound)
        bound[var.name] = name
        return replace(self, bound=bound), name


_INFIX = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">=", "sub": "-", "add": "+",
          "and": "and", "or": "or", "implies": "implies"}


def term(t: Term, env: Env) -> str:
    if isinstance(t, Lit):
        return literal(t.value)
    if isinstance(t, Param):
        try:
            return env.params[t.name]
        except KeyError:
            raise ExportError(f"parameter {t.name} read outside its action") from None
    if isinstance(t, Var):
        return env.bound[t.name]
    if isinstance(t, Read):
        names = env.pre if t.state == PRE else env.cur
        if names is None:
            raise ExportError(f"pre-state read of {t.field} outside a step formula")
        base = names[t.field]
        if t.key is None:
            return base
        f = env.machine.field(t.field)
        key = term(t.key, env)
        if f.key == ID and (isinstance(t.key, Var) or (env.picked and isinstance(t.key, Param) and t.key.sort == ID)):
            # an id-keyed map holds every id of IDS, where bound variables and id parameters
            # come from; other keys (an id read from a field, nobody) may be missing
            return f"{base}.get({key})"
        return f"getOr({base}, {key}, {literal(f.default.value)})"
    if isinstance(t, Contains):
        return f"{term(t.collection, env)}.contains({term(t.element, env)})"
    if isinstance(t, Use):  # printed expanded: the export's names are per state, a definition's body is not
        return term(t.expansion, env)
    if isinstance(t, ActionIs):
        if env.action_arg is not None:
            return f"({env.action_arg} == {literal(t.action)})"
        if env.action is None:
            raise ExportError(f"action = {t.action} outside a step formula")
        return literal(env.action == t.action)
    if isinstance(t, Quant):
        inner, name = env.bind(t.var)
        body = term(t.body, inner)
        if t.kind == "forall":
            return f"IDS.forall({name} => {body})"
        if t.kind == "exists":
            return f"IDS.exists({name} => {body})"
        if t.kind == "card":
            return f"IDS.filter({name} => {body}).size()"
        raise ExportError(f"{t.kind} quantifier (only for returned values) in a guard, effect or invariant")
    if isinstance(t, Range):
        inner, name = env.bind(t.var)
        return f"({term(t.lo, env)} + 1).to({term(t.hi, env)}).forall({name} => {term(t.body, inner)})"
    if isinstance(t, Apply):
        return _apply(t, env)
    raise ExportError(f"unknown term {t!r}")


def _apply(t: Apply, env: Env) -> str:
    if t.op == "implies" and env.action is not None and about_another_action(t.args[0], env.action):
        return "true"
    args = [term(a, env) for a in t.args]
    folded = _fold(t.op, args)
    if folded is not None:
        return folded
    if t.op == "not":
        return f"not({args[0]})"
    if t.op == "ite":
        return f"(if ({args[0]}) {args[1]} else {args[2]})"
    if t.op == "key_before":
        return f"(getOr(KEY_RANK, {args[0]}, FRESH_RANK) < getOr(KEY_RANK, {args[1]}, FRESH_RANK))"
    if t.op in _INFIX:
        if len(args) == 1:
            return args[0]
        return "(" + f" {_INFIX[t.op]} ".join(args) + ")"
    raise ExportError(f"unknown operator {t.op}")


def _fold(op: str, args: list[str]) -> str | None:
    """Boolean connectives over the literals `action = X` becomes inside one action: the step
    formulas about other actions fold away instead of reaching Quint as `… implies true`
    (which makes the modules about half as long and their type checking as much faster)."""
    if op == "not" and args[0] in ("true", "false"):
        return "false" if args[0] == "true" else "true"
    if op in ("and", "or"):
        unit, zero = ("true", "false") if op == "and" else ("false", "true")
        if zero in args:
            return zero
        rest = [a for a in args if a != unit]
        if not rest:
            return unit
        if len(rest) < len(args):
            return rest[0] if len(rest) == 1 else "(" + f" {op} ".join(rest) + ")"
    if op == "implies":
        if args[0] == "false" or args[1] == "true":
            return "true"
        if args[0] == "true":
            return args[1]
    if op in ("eq", "ne", "le", "ge") and args[0] == args[1]:
        return "false" if op == "ne" else "true"  # the same value (a field no effect wrote, read before and after)
    if op == "ite" and args[0] in ("true", "false"):
        return args[1] if args[0] == "true" else args[2]
    return None

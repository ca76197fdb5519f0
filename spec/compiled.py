"""The spec model compiled to Python functions, for the oracle's hot paths.

`spec.model` is the definitional interpreter: short, obviously the meaning of a
term. Checking a million-event trace or random-walking the machine with every
invariant checked after every step needs more speed than a tree walk gives, so
this module translates the *same* terms once per machine into Python source
(one function per action, per error payload and per invariant) and runs those.
Nothing here is written per machine; the tests hold it to the interpreter's
results on random walks (tests/test_compiled.py).

Two things make it fast besides avoiding the tree walk:

* actions run **in place**: the guards are evaluated first, so a refused action
  leaves the state untouched, and the effects then mutate it in order, exactly
  the sequential semantics of `spec.machine.Action`;
* quantifiers iterate over an **anchored domain** when they can: in
  `forall j. member(j) -> ...` only ids with a non-default `member` entry can make
  the antecedent true, because an id whose entries are all default behaves like a
  never-mentioned one, for which the antecedent is false. The analysis below is
  syntactic and conservative; when it cannot anchor, the quantifier ranges over
  every mentioned id plus the fresh one, as the interpreter does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from opsref.spec.machine import Action, Assign, AssignAll, AssignAt, Guard, Invariant, Machine
from opsref.spec.model import FRESH_ID, Accepted, Rejected, SpecError, State, StepResult, Value
from opsref.spec.terms import (
    ID, PRE, ActionIs, Apply, Contains, Lit, Param, Quant, Range, Read, Term, Use, Var, at_pre, key_before_value, walk,
)

ActionFn = Callable[[State, Mapping[str, Value]], "Guard | None"]
FieldsFn = Callable[[State, Mapping[str, Value]], tuple[tuple[str, Value], ...]]
InvariantFn = Callable[[State, "State | None", "str | None", Mapping[str, Value]], bool]

_INFIX = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">=", "sub": "-"}


def _universe(ids_fields: tuple[str, ...], cur: State, pre: State | None, params: Mapping[str, Value]) -> set[Any]:
    """Every id the states or the parameters mention, plus the fresh id (as spec.model)."""
    ids: set[Any] = {FRESH_ID}
    for name in ids_fields:
        ids.update(cur.maps[name])
        if pre is not None:
            ids.update(pre.maps[name])
    for value in params.values():
        if isinstance(value, frozenset):
            ids |= value
        elif isinstance(value, str):
            ids.add(value)
    return ids


def _fresh_counted() -> bool:
    raise SpecError("card over a predicate that holds for never-mentioned ids")


class _Source:
    """Translates terms of one machine to Python expressions."""

    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self.maps = tuple(f.name for f in machine.fields if f.key is not None)
        self.id_maps = tuple(f.name for f in machine.fields if f.key == ID)
        self.defaults = {f.name: f.default.value for f in machine.fields}
        self.constants: dict[str, object] = {}

    # ------------------------------------------------------------ expressions

    def map_name(self, field: str, state: str) -> str:
        return f"{'p' if state == PRE else 'c'}_{field}"

    def expr(self, t: Term) -> str:
        if isinstance(t, Lit):
            return repr(t.value)
        if isinstance(t, Param):
            return f"a_{t.name}"
        if isinstance(t, Var):
            return f"v_{t.name}"
        if isinstance(t, Read):
            if t.key is None:
                return f"{'PG' if t.state == PRE else 'G'}[{t.field!r}]"
            return f"{self.map_name(t.field, t.state)}.get({self.expr(t.key)}, {self.defaults[t.field]!r})"
        if isinstance(t, Contains):
            return f"({self.expr(t.element)} in {self.expr(t.collection)})"
        if isinstance(t, ActionIs):
            return f"(A == {t.action!r})"
        if isinstance(t, Use):
            return self.expr(t.expansion)
        if isinstance(t, Quant):
            return self.quant(t)
        if isinstance(t, Range):
            return (f"all({self.expr(t.body)} for v_{t.var.name} in "
                    f"range({self.expr(t.lo)} + 1, {self.expr(t.hi)} + 1))")
        if isinstance(t, Apply):
            return self.apply(t)
        raise SpecError(f"unknown term {t!r}")

    def apply(self, t: Apply) -> str:
        args = [self.expr(a) for a in t.args]
        op = t.op
        if op == "and":
            return "(" + " and ".join(args) + ")"
        if op == "or":
            return "(" + " or ".join(args) + ")"
        if op == "implies":
            return f"((not {args[0]}) or {args[1]})"
        if op == "not":
            return f"(not {args[0]})"
        if op == "ite":
            return f"({args[1]} if {args[0]} else {args[2]})"
        if op == "add":
            return "(" + " + ".join(args) + ")"
        if op == "key_before":
            return f"KEY_BEFORE({args[0]}, {args[1]})"
        if op in _INFIX:
            return f"({args[0]} {_INFIX[op]} {args[1]})"
        raise SpecError(f"unknown operator {op}")

    def quant(self, t: Quant) -> str:
        v = f"v_{t.var.name}"
        body = t.body
        anchor = None
        if t.kind == "forall" and isinstance(body, Apply) and body.op == "implies":
            anchor = self.anchor(body.args[0], t.var)
        elif t.kind in ("exists", "card"):
            anchor = self.anchor(body, t.var)
        domain = anchor if anchor is not None else self.support(body, t.var)
        b = self.expr(body)
        if t.kind == "forall":
            return f"all({b} for {v} in {domain})"
        if t.kind == "exists":
            return f"any({b} for {v} in {domain})"
        if anchor is not None:
            return f"sum(1 for {v} in {domain} if {b})"
        return f"sum(1 for {v} in {domain} if {b} and ({v} != FRESH or fresh_counted()))"

    # ------------------------------------------------------------ anchoring

    def anchor(self, t: Term, var: Var) -> str | None:
        """A Python expression for a set of ids outside which `t` is false, or None."""
        if isinstance(t, Use):
            return self.anchor(t.expansion, var)
        if isinstance(t, Read) and t.key == var and self.defaults[t.field] is False:
            return f"{self.map_name(t.field, t.state)}.keys()"
        if isinstance(t, Contains) and t.element == var and isinstance(t.collection, Param):
            return f"a_{t.collection.name}"
        if isinstance(t, Apply):
            if t.op in ("eq", "ne"):
                read, other = t.args
                if not isinstance(read, Read):
                    read, other = other, read
                if isinstance(read, Read) and read.key == var and isinstance(other, Lit):
                    is_default = other.value == self.defaults[read.field]
                    if (t.op == "eq") != is_default:  # eq non-default, or ne default
                        return f"{self.map_name(read.field, read.state)}.keys()"
            if t.op == "and":
                for a in t.args:
                    found = self.anchor(a, var)
                    if found is not None:
                        return found
            if t.op == "or":
                parts = [self.anchor(a, var) for a in t.args]
                if all(p is not None for p in parts):
                    unique = list(dict.fromkeys(p for p in parts if p is not None))
                    return unique[0] if len(unique) == 1 else "(set(" + ") | set(".join(unique) + "))"
        return None

    def support(self, t: Term, var: Var) -> str:
        """The ids to try for a body that reads `var` only as a map key or set element:
        every id with a non-default entry in one of those maps or in one of those sets,
        plus the fresh id, which stands for all the others (their entries are all
        default, so the body has the same value on each). Otherwise every mentioned id."""
        sources: list[str] = []
        for node in walk(t):
            if isinstance(node, Read) and node.key == var:
                sources.append(f"{self.map_name(node.field, node.state)}.keys()")
            elif isinstance(node, Contains) and node.element == var and isinstance(node.collection, Param):
                sources.append(f"a_{node.collection.name}")
            elif isinstance(node, Quant) and node.var == var:
                return "U()"
        uses = sum(1 for node in walk(t) if node == var)
        if uses != len(sources):  # var also used as a value (e.g. compared with an id)
            return "U()"
        unique = list(dict.fromkeys(sources))
        return "{FRESH}.union(" + ", ".join(unique) + ")"

    def default_outside(self, t: Term, var: Var, default: Value) -> str | None:
        """A set of ids outside which the pointwise value `t` equals `default`, or None."""
        if isinstance(t, Use):
            return self.default_outside(t.expansion, var, default)
        if isinstance(t, Lit):
            return "()" if t.value == default else None
        if isinstance(t, Read) and t.key == var and self.defaults[t.field] == default:
            return f"{self.map_name(t.field, t.state)}.keys()"
        if isinstance(t, Apply) and t.op == "ite":
            parts = [self.default_outside(a, var, default) for a in t.args[1:]]
            if all(p is not None for p in parts):
                return "(set(" + ") | set(".join(p for p in parts if p is not None) + "))"
            return None
        if default is False:
            return self.anchor(t, var)
        return None

    # ------------------------------------------------------------ functions

    def prologue(self, params: tuple[str, ...], with_pre: bool) -> list[str]:
        lines = ["    G = S.globals", "    M = S.maps"]
        lines += [f"    c_{name} = M[{name!r}]" for name in self.maps]
        if with_pre:
            lines += ["    if PS is not None:", "        PG = PS.globals", "        PM = PS.maps"]
            lines += [f"        p_{name} = PM[{name!r}]" for name in self.maps]
        if params:
            lines.append("    try:")
            lines += [f"        a_{p} = P[{p!r}]" for p in params]
            lines.append("    except KeyError as missing:")
            lines.append("        raise SpecError(f'missing parameter {missing}') from None")
        pre = "PS" if with_pre else "None"
        lines.append(f"    U = lambda: universe(ID_MAPS, S, {pre}, P)")
        return lines

    def write(self, field: str, key: str, value: str, indent: str) -> list[str]:
        d = repr(self.defaults[field])
        return [f"{indent}_k = {key}", f"{indent}_v = {value}",
                f"{indent}if _v == {d}:", f"{indent}    c_{field}.pop(_k, None)",
                f"{indent}else:", f"{indent}    c_{field}[_k] = _v"]

    def action(self, index: int, a: Action) -> str:
        lines = [f"def action_{index}(S, P):"] + self.prologue(tuple(p.name for p in a.params), False)
        for n, g in enumerate(a.guards):
            self.constants[f"GUARD_{index}_{n}"] = g
            lines += [f"    if not {self.expr(g.holds)}:", f"        return GUARD_{index}_{n}"]
        for e in a.effects:
            if isinstance(e, Assign):
                lines.append(f"    G[{e.field!r}] = {self.expr(e.value)}")
            elif isinstance(e, AssignAt):
                lines += self.write(e.field, self.expr(e.key), self.expr(e.value), "    ")
            elif isinstance(e, AssignAll):
                v = f"v_{e.var.name}"
                outside = self.default_outside(e.value, e.var, self.defaults[e.field])
                domain = "U()" if outside is None else f"set({outside}) | set(c_{e.field}.keys())"
                lines.append(f"    _updates = [({v}, {self.expr(e.value)}) for {v} in {domain}]")
                lines.append("    for _k, _v in _updates:")
                lines.append("        if _k == FRESH:")
                lines.append(f"            if _v != {self.defaults[e.field]!r}:")
                lines.append(f"                raise SpecError({a.name + ' writes ' + e.field + ' of never-mentioned ids'!r})")
                lines.append("            continue")
                lines += self.write(e.field, "_k", "_v", "        ")[2:]
        lines.append("    return None")
        return "\n".join(lines)

    def fields(self, index: int, n: int, a: Action, g: Guard) -> str:
        lines = [f"def fields_{index}_{n}(S, P):"] + self.prologue(tuple(p.name for p in a.params), False)
        items = ", ".join(f"({name!r}, {self.expr(t)})" for name, t in g.fields)
        lines.append(f"    return ({items}{',' if len(g.fields) == 1 else ''})")
        return "\n".join(lines)

    def invariant(self, index: int, inv: Invariant, params: tuple[str, ...]) -> str:
        """True when `inv` holds on S (and on the step PS -> S when PS is given)."""
        lines = [f"def invariant_{index}(S, PS, A, P):"] + self.prologue((), True)
        lines += [f"    a_{p} = P.get({p!r})" for p in params]
        if inv.state is not None:
            lines += [f"    if not {self.expr(inv.state)}:", "        return False"]
        lines.append("    if PS is None:")
        lines.append("        return True")
        if inv.step is not None:
            lines += [f"    if not {self.expr(inv.step)}:", "        return False"]
        r = inv.ranking
        if r is not None:
            v = f"v_{r.var.name}"
            anchor = self.anchor(r.pending, r.var)
            domain = "U()" if anchor is None else anchor
            lines += [
                f"    if {self.expr(at_pre(r.active))} and {self.expr(r.active)} and {self.expr(r.same_episode)}:",
                f"        if any({self.expr(r.pending)} and not {self.expr(at_pre(r.pending))} for {v} in {domain}):",
                "            return False",
            ]
        lines.append("    return True")
        return "\n".join(lines)


@dataclass
class Compiled:
    """One machine's actions, error payloads and invariants as Python functions."""

    machine: Machine
    source: str
    actions: dict[str, ActionFn]
    fields: dict[tuple[str, str], FieldsFn]   # (action, guard) -> payload
    invariants: tuple[tuple[Invariant, InvariantFn], ...]

    def apply(self, state: State, action: str, params: Mapping[str, Value]) -> Guard | None:
        """Apply `action` to `state` in place; return the refusing guard (state untouched) or None."""
        try:
            fn = self.actions[action]
        except KeyError:
            raise SpecError(f"{self.machine.name} has no action {action!r}") from None
        return fn(state, params)

    def payload(self, action: str, guard: Guard, state: State, params: Mapping[str, Value]) -> tuple[tuple[str, Value], ...]:
        return self.fields[(action, guard.name)](state, params)

    def step(self, state: State, action: str, params: Mapping[str, Value]) -> StepResult:
        """`spec.model.step`, computed by the compiled functions (the state is not modified)."""
        new = state.copy()
        refused = self.apply(new, action, params)
        if refused is None:
            return Accepted(new)
        return Rejected(refused, refused.error, self.payload(action, refused, state, params))

    def violated(self, state: State, pre: State | None = None, action: str | None = None,
                 params: Mapping[str, Value] | None = None) -> list[Invariant]:
        """`spec.model.violated_invariants`, computed by the compiled functions."""
        p = params or {}
        return [inv for inv, holds in self.invariants if not holds(state, pre, action, p)]


_CACHE: dict[int, tuple[Machine, Compiled]] = {}


def compile_machine(machine: Machine) -> Compiled:
    """Translate `machine` (cached per machine object)."""
    cached = _CACHE.get(id(machine))
    if cached is not None and cached[0] is machine:
        return cached[1]
    src = _Source(machine)
    chunks: list[str] = []
    action_names: dict[str, str] = {}
    field_names: dict[tuple[str, str], str] = {}
    all_params: list[str] = []
    for index, a in enumerate(machine.actions):
        chunks.append(src.action(index, a))
        action_names[a.name] = f"action_{index}"
        for n, g in enumerate(a.guards):
            chunks.append(src.fields(index, n, a, g))
            field_names[(a.name, g.name)] = f"fields_{index}_{n}"
        all_params += [p.name for p in a.params if p.name not in all_params]
    for index, inv in enumerate(machine.invariants):
        chunks.append(src.invariant(index, inv, tuple(all_params)))
    source = "\n\n".join(chunks) + "\n"
    namespace: dict[str, Any] = {"FRESH": FRESH_ID, "SpecError": SpecError, "universe": _universe,
                                 "ID_MAPS": src.id_maps, "fresh_counted": _fresh_counted,
                                 "KEY_BEFORE": key_before_value, **src.constants}
    exec(compile(source, f"<compiled {machine.name}/{machine.profile}>", "exec"), namespace)
    compiled = Compiled(
        machine, source,
        {name: namespace[fn] for name, fn in action_names.items()},
        {key: namespace[fn] for key, fn in field_names.items()},
        tuple((inv, namespace[f"invariant_{index}"]) for index, inv in enumerate(machine.invariants)),
    )
    if len(_CACHE) >= 64:  # variants come and go in tests and mutation runs
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[id(machine)] = (machine, compiled)
    return compiled

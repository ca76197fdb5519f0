"""The spec model compiled to Python functions, for the oracle's hot paths.

`spec.model` is the definitional interpreter: short, obviously the meaning of a
term. Checking a million-event trace or random-walking the machine with every
invariant checked after every step needs more speed than the interpreter gives, so
this module translates the *same* terms once per machine into Python source
(one function per action, per error payload and per invariant) and runs those.
Nothing here is written per machine; the tests hold it to the interpreter's
results on random walks (tests/test_compiled.py).

Three things make it fast besides running straight-line Python:

* actions run **in place**: the guards are evaluated first, so a refused action
  leaves the state untouched, and the effects then mutate it in order, exactly
  the sequential semantics of `spec.machine.Action`;
* quantifiers iterate over an **anchored domain** when they can: in
  `forall j. member(j) -> ...` only ids with a non-default `member` entry can make
  the antecedent true, because an id whose entries are all default behaves like a
  never-mentioned one, for which the antecedent is false. The analysis below is
  syntactic and conservative; when it cannot anchor, the quantifier ranges over
  every mentioned id plus the fresh one, as the interpreter does;
* a pair of nested foralls does not try **every pair**: the antecedent's leading
  conjuncts that read only the outer variable are tested once per outer id
  (`_antecedent_first`), and equalities between an expression of each variable
  group the inner ids once, so that each outer id meets only its group (`join`).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping, TypeVar

from opsref.spec.machine import Action, Assign, AssignAll, AssignAt, Guard, Invariant, Machine
from opsref.spec.model import FRESH_ID, Accepted, Rejected, SpecError, State, StepResult, Value
from opsref.spec.terms import (
    BOOL, CUR, ID, PRE, ActionIs, Apply, Contains, Lit, Param, Quant, Range, Read, Term, Use, Var, at_pre, expand,
    free_vars, key_before_value, walk,
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


def _antecedent_first(t: Quant) -> Quant:
    """`forall v. forall w.. (A and B) -> C` as `forall v. A -> forall w.. B -> C`, where
    A, the leading conjuncts of the antecedent, reads none of the inner variables w..: the
    inner loops then run only for the v that satisfy A (for any other v the implication
    holds whatever w.. are), and A is evaluated once per v instead of once per (v, w..).
    Only leading conjuncts, so that what is still evaluated is evaluated in the
    interpreter's order. Anything else is returned as it is."""
    inner: list[Quant] = []
    body = t.body
    while t.kind == "forall" and isinstance(body, Quant) and body.kind == "forall":
        inner.append(body)
        body = body.body
    if not inner or not (isinstance(body, Apply) and body.op == "implies"):
        return t
    antecedent, consequent = body.args
    conjuncts = _conjuncts(antecedent)
    n = 0
    while n < len(conjuncts) and not any(_mentions(conjuncts[n], q.var) for q in inner):
        n += 1
    if n == 0:
        return t
    rest = conjuncts[n:]
    inside = consequent if not rest else Apply("implies", (rest[0] if len(rest) == 1 else Apply("and", tuple(rest)),
                                                           consequent))
    for q in reversed(inner):
        inside = Quant("forall", q.var, inside)
    leading = conjuncts[0] if n == 1 else Apply("and", tuple(conjuncts[:n]))
    return Quant("forall", t.var, Apply("implies", (leading, inside)))


def _plain(t: Term) -> bool:
    """Made of reads, literals, parameters and variables only: pure and total."""
    return all(isinstance(node, (Read, Lit, Param, Var)) for node in walk(expand(t)))


def _mentions(t: Term, var: Var) -> bool:
    """`var` occurs free in `t`."""
    return any(free.name == var.name for free in free_vars(t))


def _group(domain: Any, key: Callable[[Any], Any]) -> dict[Any, list[Any]]:
    """The values of `domain` by `key`, each group in the domain's order (for `join`)."""
    groups: dict[Any, list[Any]] = {}
    for value in domain:
        groups.setdefault(key(value), []).append(value)
    return groups


class _Source:
    """Translates terms of one machine to Python expressions."""

    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self.maps = tuple(f.name for f in machine.fields if f.key is not None)
        self.id_maps = tuple(f.name for f in machine.fields if f.key == ID)
        self.defaults = machine.defaults
        self.constants: dict[str, object] = {}
        self.u = "U"  # the name of the universe function in the code being generated
        self.joins = 0  # how many groups `join` has named (J0, J1, ..)

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
        op = t.op
        if op in ("or", "and"):
            return "(" + f" {op} ".join(self.memberships(t.args, "eq" if op == "or" else "ne")) + ")"
        args = [self.expr(a) for a in t.args]
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

    def memberships(self, args: tuple[Term, ...], test: str) -> list[str]:
        """The operands of a disjunction (test "eq") or conjunction (test "ne"), where the
        tests of one term against literals become one membership test: `Terminal(x)`'s six
        comparisons of x's status read the status once, `x in {...}` (a set literal Python
        compiles to a constant). Terms are pure and total, so the order does not matter."""
        groups: dict[Term, list[Value]] = {}
        for a in args:
            if isinstance(a, Apply) and a.op == test and isinstance(a.args[1], Lit):
                groups.setdefault(a.args[0], []).append(a.args[1].value)
        out: list[str] = []
        done: set[Term] = set()
        for a in args:
            if isinstance(a, Apply) and a.op == test and isinstance(a.args[1], Lit) and len(groups[a.args[0]]) > 1:
                if a.args[0] not in done:  # the group's test stands where its first member stood
                    done.add(a.args[0])
                    members = ", ".join(repr(v) for v in dict.fromkeys(groups[a.args[0]]))
                    out.append(f"({self.expr(a.args[0])} {'in' if test == 'eq' else 'not in'} {{{members}}})")
                continue
            out.append(self.expr(a))
        return out

    def domain(self, t: Quant) -> tuple[str, bool]:
        """The ids `t` ranges over, and whether that set is an anchor (outside it the
        body is true for forall, false for exists and card). A forall whose body is a
        chain of foralls ending in an implication is anchored by the antecedent too:
        outside the anchor the antecedent is false whatever the inner variables are."""
        body = t.body
        anchor = None
        if t.kind == "forall":
            while isinstance(body, Quant) and body.kind == "forall":
                body = body.body
            if isinstance(body, Apply) and body.op == "implies":
                anchor = self.anchor(body.args[0], t.var)
        elif t.kind in ("exists", "card"):
            anchor = self.anchor(body, t.var)
        return (anchor, True) if anchor is not None else (self.support(t.body, t.var), False)

    def quant(self, t: Quant) -> str:
        v = f"v_{t.var.name}"
        domain, anchored = self.domain(t)
        anchor = domain if anchored else None
        if t.kind == "forall":
            hoisted = _antecedent_first(t)
            return self.join(hoisted, domain) or f"all({self.expr(hoisted.body)} for {v} in {domain})"
        b = self.expr(t.body)
        if t.kind == "exists":
            return f"any({b} for {v} in {domain})"
        if anchor is not None:
            return f"sum(1 for {v} in {domain} if {b})"
        return f"sum(1 for {v} in {domain} if {b} and ({v} != FRESH or fresh_counted()))"

    def join(self, t: Quant, domain: str) -> str | None:
        """`forall v. [A ->] forall w. (.. and X = Y and ..) -> C`, where X reads no w and
        Y no v, as a hash join: the w are grouped once by Y, and each v meets only the w
        of its group X (for the others the antecedent is false). Both sides are reads,
        literals or variables, so evaluating Y for every w first changes nothing. None
        when `t` is not of that form."""
        guard, inner = (t.body.args[0], t.body.args[1]) if isinstance(t.body, Apply) and t.body.op == "implies" \
            else (None, t.body)
        if not (isinstance(inner, Quant) and inner.kind == "forall"
                and isinstance(inner.body, Apply) and inner.body.op == "implies"):
            return None
        keys = []  # (X, Y)
        for c in _conjuncts(expand(inner.body.args[0])):
            if isinstance(c, Apply) and c.op == "eq":
                for x, y in (c.args, c.args[::-1]):
                    if _plain(x) and _plain(y) and not _mentions(x, inner.var) and _mentions(y, inner.var) \
                            and not _mentions(y, t.var):
                        keys.append((x, y))
                        break
        if not keys:
            return None
        index = f"J{self.joins}"
        self.joins += 1
        w = f"v_{inner.var.name}"
        key_of_w = "(" + ", ".join(self.expr(y) for _, y in keys) + ",)"
        key_of_v = "(" + ", ".join(self.expr(x) for x, _ in keys) + ",)"
        pairs = f"all({self.expr(inner.body)} for {w} in {index}.get({key_of_v}, ()))"
        body = pairs if guard is None else f"((not {self.expr(guard)}) or {pairs})"
        return (f"(lambda {index}: all({body} for v_{t.var.name} in {domain}))"
                f"(GROUP({self.domain(inner)[0]}, lambda {w}: {key_of_w}))")

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
                return f"{self.u}()"
        uses = sum(1 for node in walk(t) if node == var)
        if uses != len(sources):  # var also used as a value (e.g. compared with an id)
            return f"{self.u}()"
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
            if parts[0] is None and parts[1] is not None:  # outside where the condition can hold, the else branch
                parts[0] = self.anchor(t.args[0], var)
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
        lines += self.guard_lines(index, a) + self.effect_lines(a)
        lines.append("    return None")
        return "\n".join(lines)

    def guard_lines(self, index: int, a: Action) -> list[str]:
        lines: list[str] = []
        for n, g in enumerate(a.guards):
            self.constants[f"GUARD_{index}_{n}"] = g
            holds = g.holds
            while isinstance(holds, Use):
                holds = holds.expansion
            if isinstance(holds, Quant) and holds.kind == "forall":  # a loop: no generator to resume per id
                domain, _ = self.domain(holds)
                lines += [f"    for v_{holds.var.name} in {domain}:", f"        if not {self.expr(holds.body)}:",
                          f"            return GUARD_{index}_{n}"]
                continue
            lines += [f"    if not {self.expr(g.holds)}:", f"        return GUARD_{index}_{n}"]
        return lines

    def effect_lines(self, a: Action, changed: bool = False) -> list[str]:
        """The effects in order, in place; effect n keeps the key it wrote in `_k<n>`
        (AssignAt) or every key it may have written in `_d<n>` (AssignAll: the keys
        outside it hold the default before and after), with `changed` only the keys whose
        entry it changed."""
        lines: list[str] = []
        # a key or condition an earlier effect computed, kept while no field it reads is written
        # since (FinalizeTerminal's eviction computes the evicted id and whether to evict once)
        kept: dict[str, tuple[str, frozenset[str]]] = {}

        def shared(t: Term) -> str:
            text, reads = self.expr(t), _plain_reads(t)
            if reads is None or not re.search(r"[\[(]", text):
                return text
            if text not in kept:
                kept[text] = (f"_e{n}_{len(kept)}", reads)
                lines.append(f"    {kept[text][0]} = {text}")
            return kept[text][0]

        for n, e in enumerate(a.effects):
            if n > 0:  # what the previous effect wrote is read afresh
                written = a.effects[n - 1].field
                kept = {text: k for text, k in kept.items() if written not in k[1]}
            if isinstance(e, Assign):
                lines.append(f"    G[{e.field!r}] = {self.expr(e.value)}")
            elif isinstance(e, AssignAt) and (when := self.forgetting(e.field, e.key, e.value)) is not None:
                # `f[k] := if c then default else f[k]`: the entry is dropped when c holds, else kept
                lines += [f"    _k = {shared(e.key)}"]
                lines += [f"    if {shared(when)}:", f"        c_{e.field}.pop(_k, None)", f"    _k{n} = _k"]
            elif isinstance(e, AssignAt) and isinstance(e.value, Lit):  # the constant's branch only
                pop = e.value.value == self.defaults[e.field]
                lines += [f"    _k = {shared(e.key)}"]
                lines += [f"    c_{e.field}.pop(_k, None)" if pop else f"    c_{e.field}[_k] = {e.value.value!r}",
                          f"    _k{n} = _k"]
            elif isinstance(e, AssignAt):
                lines += self.write(e.field, shared(e.key), self.expr(e.value), "    ")
                lines.append(f"    _k{n} = _k")
            elif isinstance(e, AssignAll) and isinstance(e.value, Lit) and e.value.value == self.defaults[e.field]:
                lines += [f"    _d{n} = list(c_{e.field})", f"    c_{e.field}.clear()"]  # every entry back to the default
            elif isinstance(e, AssignAll) and (when := self.forgetting(e.field, e.var, e.value)) is not None:
                # `forall j: f[j] := if c(j) then default else f[j]`: only the entries the
                # field holds can change (the others are the default either way)
                v = f"v_{e.var.name}"
                lines.append(f"    _d{n} = [{v} for {v} in c_{e.field} if {self.expr(when)}]")
                lines += [f"    for _k in _d{n}:", f"        del c_{e.field}[_k]"]
            elif isinstance(e, AssignAll):
                v = f"v_{e.var.name}"
                outside = self.default_outside(e.value, e.var, self.defaults[e.field])
                if outside is None:
                    domain = f"list({self.u}())"
                else:  # the keys of the field itself and of the maps in `outside`, once each
                    keys = [f"c_{e.field}.keys()"] + re.findall(r"[a-z]_\w+\.keys\(\)|a_\w+", outside)
                    unique = list(dict.fromkeys(k for k in keys))
                    if re.sub(r"[a-z]_\w+\.keys\(\)|a_\w+|set|[()| ]", "", outside):
                        domain = f"list(set({outside}) | set(c_{e.field}.keys()))"  # not only key sets: as it was
                    elif len(unique) == 1:
                        domain = f"list({unique[0][:-len('.keys()')] if unique[0].endswith('.keys()') else unique[0]})"
                    else:
                        domain = "list({" + ", ".join(f"*{k}" for k in unique) + "})"
                d = repr(self.defaults[e.field])
                lines.append(f"    _d{n} = {domain}")
                lines.append(f"    _updates = [({v}, {self.expr(e.value)}) for {v} in _d{n}]")
                if changed:
                    lines.append(f"    _d{n} = []")
                lines.append("    for _k, _v in _updates:")
                lines.append("        if _k == FRESH:")
                lines.append(f"            if _v != {d}:")
                lines.append(f"                raise SpecError({a.name + ' writes ' + e.field + ' of never-mentioned ids'!r})")
                lines.append("            continue")
                if changed:
                    lines.append(f"        if c_{e.field}.get(_k, {d}) == _v:")
                    lines.append("            continue")
                    lines.append(f"        _d{n}.append(_k)")
                lines += self.write(e.field, "_k", "_v", "        ")[2:]
        return lines

    def forgetting(self, field: str, key: Term, value: Term) -> Term | None:
        """The condition of an effect writing `value` to `field` at `key` that puts the
        entry back to its default where the condition holds and keeps it elsewhere, or None
        for any other effect."""
        while isinstance(value, Use):
            value = value.expansion
        if not (isinstance(value, Apply) and value.op == "ite"):
            return None
        when, then, otherwise = value.args
        keeps = Read(field, key, CUR)
        if isinstance(then, Lit) and then.value == self.defaults[field] and otherwise == keeps:
            return when
        return None

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


_Built = TypeVar("_Built")


def per_machine(build: Callable[[Machine], _Built]) -> Callable[[Machine], _Built]:
    """`build` cached per machine object (the entry keeps the machine, so its id is not
    reused while cached); the oldest of 64 goes, as variants come and go in tests and
    mutation runs."""
    cache: dict[int, tuple[Machine, _Built]] = {}

    @functools.wraps(build)
    def cached(machine: Machine) -> _Built:
        hit = cache.get(id(machine))
        if hit is not None and hit[0] is machine:
            return hit[1]
        built = build(machine)
        if len(cache) >= 64:
            cache.pop(next(iter(cache)))
        cache[id(machine)] = (machine, built)
        return built
    return cached


@per_machine
def compile_machine(machine: Machine) -> Compiled:
    """Translate `machine` (cached per machine object)."""
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
                                 "KEY_BEFORE": key_before_value, "GROUP": _group, **src.constants}
    exec(compile(source, f"<compiled {machine.name}/{machine.profile}>", "exec"), namespace)
    compiled = Compiled(
        machine, source,
        {name: namespace[fn] for name, fn in action_names.items()},
        {key: namespace[fn] for key, fn in field_names.items()},
        tuple((inv, namespace[f"invariant_{index}"]) for index, inv in enumerate(machine.invariants)),
    )
    return compiled


# --------------------------------------------------------------------------- the walker
#
# `opsref simulate` takes a step and checks every invariant after it, millions of times.
# A walker step function does both for one action, in place, and checks only what the
# step can have changed. Which parts of an invariant it re-evaluates is decided once per
# (action, invariant conjunct) from the terms, by four rules, each sound on its own:
#
# 1. A state conjunct that reads no field the action writes keeps its value; it held on
#    the pre-state (every invariant is checked after every step, from Init on), so it
#    holds. Not evaluated.
# 2. A state conjunct `forall j. B(j)` (or a chain `forall j. forall k. B`, or a range
#    `lo < s <= hi. B(s)` whose bounds read no written field) whose body reads written
#    maps only at its own variables (other maps at any key: none of their entries
#    changed), and globals the action does not write, can only have changed at the keys
#    the step wrote: B is evaluated there (every other key has the entries it had in the
#    pre-state, where B held).
# 3. A step conjunct C(pre, cur) whose every field is unwritten is evaluated on
#    pre = cur; if C with every pre-state read replaced by the same read on the current
#    state simplifies to true (`_fold(..., reflexive=True)`, `_simplify`: `x = x`,
#    `p -> p`, `p and not p`, ...), it holds. Not evaluated.
# 4. A step conjunct `forall j. B(pre, cur, j)` (or a range over sequence numbers, or
#    `A -> forall ...`) whose body reads written maps only at its own variables and
#    unwritten globals, and whose reflexive body simplifies to true, holds at every key
#    the step did not write (there pre[j] = cur[j]): B is evaluated at the written keys.
#
# Rules 1 and 2 need every invariant to hold where the walk begins: `opsref simulate`
# checks Init in full. Evaluating a body at more keys than were written is sound (it must
# hold at every key), so rules 2 and 4 may walk a superset (every key any AssignAll of
# the step wrote). Everything else is evaluated in full, as `Compiled.violated` does.
# `ActionIs` is a constant in a function for one action, folded before the rules apply. The walker keeps
# a second State, the pre-state, equal to the current one between steps: after the
# checks it copies exactly the entries the step wrote. tests/test_compiled.py holds the
# walker's verdicts to `Compiled.violated` (a full check on a copied pre-state) at every
# step of random walks of both profiles and of broken variants.
#
# The analysis knows the term nodes below; a term with any other node is evaluated in
# full (`_reads` answers None), so a new node costs speed, never soundness.

_KNOWN = (Lit, Param, Var, Read, Apply, Contains, Quant, Range, ActionIs)
_TRUE = Lit(True, BOOL)
_FALSE = Lit(False, BOOL)
WalkerFn = Callable[[State, State, Mapping[str, Value]], "Guard | tuple[str, ...] | None"]


def _plain_reads(t: Term) -> frozenset[str] | None:
    """The fields a term without binders reads (through its uses), or None for a term
    with a quantifier or anything else (whose domain may be every id map)."""
    t = expand(t)
    reads = _reads(t)
    if reads is None or any(isinstance(node, (Var, Quant, Range, ActionIs)) for node in walk(t)):
        return None
    return reads[0] | reads[1]


def _reads(t: Term) -> tuple[frozenset[str], frozenset[str]] | None:
    """(maps, globals) that `t` reads in either state, or None if it has a node the
    analysis does not know."""
    maps: set[str] = set()
    globals_: set[str] = set()
    for node in walk(t):
        if not isinstance(node, _KNOWN):
            return None
        if isinstance(node, Read):
            (globals_ if node.key is None else maps).add(node.field)
    return frozenset(maps), frozenset(globals_)


def _local_reads(body: Term, variables: tuple[Var, ...], written: set[str]) -> dict[Var, frozenset[str]] | None:
    """For a body without quantifiers that reads the maps in `written` only at
    `variables` (any other map it may read at any key: none of its entries changed),
    the written maps read at each variable; otherwise None."""
    at: dict[Var, set[str]] = {v: set() for v in variables}
    for node in walk(body):
        if not isinstance(node, _KNOWN) or isinstance(node, (Quant, Range)):
            return None
        if isinstance(node, Read) and node.key is not None and node.field in written:
            if not isinstance(node.key, Var) or node.key not in at:
                return None
            at[node.key].add(node.field)
    return {v: frozenset(fields) for v, fields in at.items()}


def _fold(t: Term, action: str, reflexive: bool) -> Term:
    """`t` in a step of `action` (`ActionIs` folded to a constant), simplified; with
    `reflexive`, every pre-state read is the same read on the current state (the value
    of a step formula on a step that changed nothing it reads)."""
    if isinstance(t, ActionIs):
        return _TRUE if t.action == action else _FALSE
    if isinstance(t, Use):  # the analysis sees what a definition means
        return _fold(t.expansion, action, reflexive)
    if isinstance(t, Read):
        key = None if t.key is None else _fold(t.key, action, reflexive)
        return Read(t.field, key, CUR if reflexive else t.state)
    if isinstance(t, Apply):
        return _simplify(t.op, tuple(_fold(a, action, reflexive) for a in t.args))
    if isinstance(t, Contains):
        return Contains(_fold(t.collection, action, reflexive), _fold(t.element, action, reflexive))
    if isinstance(t, Quant):
        body = _fold(t.body, action, reflexive)
        return _TRUE if t.kind == "forall" and body == _TRUE else Quant(t.kind, t.var, body)
    if isinstance(t, Range):
        body = _fold(t.body, action, reflexive)
        if body == _TRUE:
            return _TRUE
        return Range(t.var, _fold(t.lo, action, reflexive), _fold(t.hi, action, reflexive), body)
    return t  # Lit, Param, Var; an unknown node stays an opaque atom


def _conjuncts(t: Term) -> list[Term]:
    if isinstance(t, Apply) and t.op == "and":
        return [c for a in t.args for c in _conjuncts(a)]
    return [] if t == _TRUE else [t]


def _negation(a: Term, b: Term) -> bool:
    """`a` is `not b`, or `a` and `b` compare one term with one literal as eq and ne."""
    if isinstance(a, Apply) and a.op == "not" and a.args[0] == b:
        return True
    if isinstance(b, Apply) and b.op == "not" and b.args[0] == a:
        return True
    return (isinstance(a, Apply) and isinstance(b, Apply) and {a.op, b.op} == {"eq", "ne"}
            and a.args == b.args)


def _clash(a: Term, b: Term) -> bool:
    """`a and b` is false: a negation pair, or one term equal to two different literals."""
    if _negation(a, b):
        return True
    if isinstance(a, Apply) and isinstance(b, Apply) and a.op == b.op == "eq":
        x, y = a.args, b.args
        return x[0] == y[0] and isinstance(x[1], Lit) and isinstance(y[1], Lit) and x[1] != y[1]
    return False


def _simplify(op: str, args: tuple[Term, ...]) -> Term:
    """A few rewrites that hold for every value: enough to show a step formula true on a
    step that changed nothing it reads. What they cannot decide stays as it is."""
    if op in ("eq", "le", "ge") and args[0] == args[1]:
        return _TRUE
    if op in ("ne", "lt", "gt") and args[0] == args[1]:
        return _FALSE
    if op == "not" and isinstance(args[0], Lit):
        return _FALSE if args[0] == _TRUE else _TRUE
    if op == "and":
        parts = [c for a in args for c in _conjuncts(a)]
        if _FALSE in parts or any(_clash(x, y) for n, x in enumerate(parts) for y in parts[n + 1:]):
            return _FALSE
        return _TRUE if not parts else parts[0] if len(parts) == 1 else Apply("and", tuple(parts))
    if op == "or":
        if _TRUE in args or any(_negation(x, y) for n, x in enumerate(args) for y in args[n + 1:]):
            return _TRUE
        rest = [a for a in args if a != _FALSE]
        return _FALSE if not rest else rest[0] if len(rest) == 1 else Apply("or", tuple(rest))
    if op == "implies":
        a, b = args
        if a == _FALSE or b == _TRUE or a == b or b in _conjuncts(a):
            return _TRUE
        if a == _TRUE:
            return b
    if op == "ite" and isinstance(args[0], Lit) and args[0].sort == BOOL:
        return args[1] if args[0].value else args[2]
    return Apply(op, args)


def _chain(t: Term) -> tuple[Term | None, tuple[Quant, ...] | Range, Term]:
    """`t` as (guard, binders, body): `[guard ->] forall v1. ... forall vn. body`, or a
    range; binders () when `t` is neither."""
    guard = None
    if isinstance(t, Apply) and t.op == "implies":
        guard, t = t.args
    if isinstance(t, Range):
        return guard, t, t.body
    quants: list[Quant] = []
    while isinstance(t, Quant) and t.kind == "forall":
        quants.append(t)
        t = t.body
    return guard, tuple(quants), t


#: how a check is evaluated: ("expr", code), ("loop", for-clauses, body) (true when the
#: body holds on every iteration), ("all", pieces) or ("guarded", guard, pieces) (the
#: pieces hold where the guard does)
Piece = tuple[Any, ...]


def _emit(piece: Piece, indent: str) -> list[str]:
    """Statements that set `_ok` false when `piece` fails (loops as statements: no
    generator is created per check)."""
    kind = piece[0]
    if kind == "expr":
        return [f"{indent}if _ok and not ({piece[1]}):", f"{indent}    _ok = False"]
    if kind == "all":
        return [line for p in piece[1] for line in _emit(p, indent)]
    if kind == "guarded":
        inner = [line for p in piece[2] for line in _emit(p, indent + "    ")]
        return [f"{indent}if _ok and ({piece[1]}):"] + inner if inner else []
    clauses, body = piece[1], piece[2]
    lines = [f"{indent}if _ok:"]
    depth = indent + "    "
    for clause in clauses:
        lines.append(f"{depth}{clause}:")
        depth += "    "
    lines += [f"{depth}if not ({body}):", f"{depth}    _ok = False", f"{depth}    break"]
    for n in range(len(clauses) - 1, 0, -1):  # out of every enclosing loop too
        outer = indent + "    " * (n + 1)
        lines += [f"{outer}if not _ok:", f"{outer}    break"]
    return lines


@dataclass(frozen=True)
class Check:
    """How a walker step of one action checks one conjunct of one invariant."""

    invariant: str
    part: str      # state, step or ranking
    how: str       # "skipped" (rules 1, 3), "at written keys" (rules 2, 4) or "in full"
    term: Term


class _WalkerSource:
    """The walker step function of each action (see the comment above)."""

    def __init__(self, src: _Source) -> None:
        self.src = src
        self.machine = src.machine
        self.checks: dict[str, list[Check]] = {}
        self.unions: dict[str, str] = {}  # of the function being generated: key-list union -> local

    def written_keys(self, a: Action, fields: frozenset[str]) -> tuple[list[str], list[str]]:
        """The keys `a` wrote in `fields`: the locals of single keys (one per distinct key:
        two effects with the same key term and no write in between to what it reads wrote
        the same key) and the lists of AssignAll keys."""
        single: list[str] = []
        lists: list[str] = []
        for n, e in enumerate(a.effects):
            if e.field not in fields or isinstance(e, Assign):
                continue
            if isinstance(e, AssignAll):
                lists.append(f"_d{n}")
                continue
            first = n
            for m in range(n - 1, -1, -1):
                earlier = a.effects[m]
                reads = _reads(e.key)
                if reads is None or earlier.field in reads[0] | reads[1]:
                    break
                if isinstance(earlier, AssignAt) and earlier.key == e.key:
                    first = m
            if f"_k{first}" not in single:
                single.append(f"_k{first}")
        return single, lists

    def at_written_keys(self, a: Action, t: Term, state: bool) -> "Piece | None":
        """`t` evaluated only at the keys `a` wrote (rules 2 and 4), or None."""
        writes = set(a.writes)
        guard, binders, body = _chain(t)
        if not binders:
            return None
        if guard is not None and state:
            guard_reads = _reads(guard)
            if guard_reads is None or writes & (guard_reads[0] | guard_reads[1]):
                return None
        variables = (binders.var,) if isinstance(binders, Range) else tuple(q.var for q in binders)
        local = _local_reads(body, variables, writes)
        body_reads = _reads(body)
        if local is None or body_reads is None or writes & body_reads[1]:
            return None
        if not state and _fold(body, a.name, reflexive=True) != _TRUE:
            return None
        b = self.src.expr(body)

        def at(var: Var, key: str) -> str:  # the body with var bound to one key
            return re.sub(rf"\bv_{var.name}\b", key, b)

        def union(lists: list[str]) -> str:
            """One list, or the set of every key any AssignAll of `a` wrote, built once per
            step (a superset: evaluating the body at more keys is sound, it must hold there)."""
            if len(lists) == 1:
                return lists[0]
            every = [f"_d{n}" for n, e in enumerate(a.effects) if isinstance(e, AssignAll)]
            self.unions["{" + ", ".join(f"*{d}" for d in every) + "}"] = "_written"
            return "_written"

        pieces: list[Piece] = []
        if isinstance(binders, Range):
            if state:
                bounds = _reads(Apply("and", (binders.lo, binders.hi)))
                if bounds is None or writes & (bounds[0] | bounds[1]):
                    return None
            v = f"v_{binders.var.name}"
            lo, hi = self.src.expr(binders.lo), self.src.expr(binders.hi)
            single, lists = self.written_keys(a, local[binders.var])
            pieces += [("expr", f"(not ({lo} < {k} <= {hi})) or {at(binders.var, k)}") for k in single]
            if lists:
                pieces.append(("loop", (f"for {v} in {union(lists)}",), f"(not ({lo} < {v} <= {hi})) or {b}"))
        else:
            domains = [self.src.domain(q)[0] for q in binders]
            for n, q in enumerate(binders):
                single, lists = self.written_keys(a, local[q.var])
                others = tuple(f"for v_{r.var.name} in {domains[m]}" for m, r in enumerate(binders) if m != n)
                for k in single:
                    pieces.append(("loop", others, at(q.var, k)) if others else ("expr", at(q.var, k)))
                if lists:
                    pieces.append(("loop", tuple(f"for v_{r.var.name} in {union(lists) if m == n else domains[m]}"
                                                 for m, r in enumerate(binders)), b))
        if guard is None:
            return ("all", pieces)
        return ("guarded", self.src.expr(guard), pieces)

    def in_full(self, t: Term) -> "Piece":
        """`t` evaluated in full; a conjunct `[A ->] forall ...` as loops."""
        guard, binders, body = _chain(t)
        if isinstance(binders, Range):  # a loop over the range, as the interpreter's bounds
            r = binders
            loops: tuple[str, ...] = (f"for v_{r.var.name} in range({self.src.expr(r.lo)} + 1, {self.src.expr(r.hi)} + 1)",)
        elif not binders:
            return ("expr", self.src.expr(t))
        else:
            loops = tuple(f"for v_{q.var.name} in {self.src.domain(q)[0]}" for q in binders)
        loop: Piece = ("loop", loops, self.src.expr(body))
        return loop if guard is None else ("guarded", self.src.expr(guard), [loop])

    def conjunct(self, a: Action, inv: Invariant, part: str, t: Term) -> "Piece | None":
        reads = _reads(t)
        state = part == "state"
        untouched = reads is not None and not set(a.writes) & (reads[0] | reads[1])
        if untouched and (state or _fold(t, a.name, reflexive=True) == _TRUE):
            self.checks[a.name].append(Check(inv.name, part, "skipped", t))
            return None
        piece = self.at_written_keys(a, t, state)
        self.checks[a.name].append(Check(inv.name, part, "in full" if piece is None else "at written keys", t))
        return self.in_full(t) if piece is None else piece

    def invariant(self, a: Action, inv: Invariant) -> list[str]:
        """Statements that add `inv` to `_bad` when it fails after a step of `a`."""
        parts: list[tuple[str, Term]] = []
        if inv.state is not None:
            parts += [("state", c) for c in _conjuncts(_fold(inv.state, a.name, reflexive=False))]
        if inv.step is not None:
            parts += [("step", c) for c in _conjuncts(_fold(inv.step, a.name, reflexive=False))]
        r = inv.ranking
        if r is not None:  # while active in the same episode, pending never gains a member
            ranking = Apply("implies", (Apply("and", (at_pre(r.active), r.active, r.same_episode)),
                                        Quant("forall", r.var, Apply("implies", (r.pending, at_pre(r.pending))))))
            parts += [("ranking", c) for c in _conjuncts(_fold(ranking, a.name, reflexive=False))]
        pieces = [c for part, t in parts if (c := self.conjunct(a, inv, part, t)) is not None]
        if not pieces:
            return []
        lines = ["    _ok = True"] + _emit(("all", pieces), "    ")
        return lines + ["    if not _ok:", f"        _bad += ({inv.name!r},)"]

    def function(self, index: int, a: Action, params: tuple[str, ...]) -> str:
        """`walk_<index>(S, PS, P)`: refuse (the guard, S untouched) or take the step in
        place, check every invariant, bring PS up to S and answer the violated
        invariants (None when none is)."""
        self.checks[a.name] = []
        self.unions = {}
        self.src.u = "UA"  # guards and effects see the current state only, as spec.model
        guards = "\n".join(self.src.guard_lines(index, a))
        body = self.src.effect_lines(a, changed=True)
        self.src.u = "U"
        checks: list[str] = []
        for inv in self.machine.invariants:
            checks += self.invariant(a, inv)
        body += [f"    {name} = {keys}" for keys, name in self.unions.items()]
        reads, checks = _hoisted(checks)
        body += reads + ["    _bad = ()"] + checks
        for n, e in enumerate(a.effects):  # the pre-state catches up with the step
            if isinstance(e, Assign):
                body.append(f"    PG[{e.field!r}] = G[{e.field!r}]")
                continue
            keys = f"(_k{n},)" if isinstance(e, AssignAt) else f"_d{n}"
            body += [f"    for _k in {keys}:",
                     f"        _v = c_{e.field}.get(_k, MISSING)",
                     "        if _v is MISSING:",
                     f"            p_{e.field}.pop(_k, None)",
                     "        else:",
                     f"            p_{e.field}[_k] = _v"]
        body.append("    return _bad or None")
        text = "\n".join(body)
        # what the guards read is bound before them, the rest only once they accepted:
        # a refused draw costs little more than its guards
        own = {p.name for p in a.params}
        head = [f"def walk_{index}(S, PS, P):", "    G = S.globals", "    M = S.maps"]
        if "(A == " in guards + text:  # ActionIs is folded: only a term node the walker does not know reads A
            head.insert(1, f"    A = {a.name!r}")
        head += self.bindings(guards, params, own, bound=set())
        later = ["    PG = PS.globals", "    PM = PS.maps"] + self.bindings(text, params, own, bound=set(head))
        return "\n".join(head + ([guards] if guards else []) + later) + "\n" + text

    def bindings(self, text: str, params: tuple[str, ...], own: set[str], bound: set[str]) -> list[str]:
        def uses(name: str) -> bool:
            return re.search(rf"\b{name}\b", text) is not None

        lines = [f"    c_{m} = M[{m!r}]" for m in self.src.maps if uses(f"c_{m}")]
        lines += [f"    p_{m} = PM[{m!r}]" for m in self.src.maps if uses(f"p_{m}")]
        lines += [f"    a_{p} = P[{p!r}]" for p in params if p in own and uses(f"a_{p}")]
        lines += [f"    a_{p} = P.get({p!r})" for p in params if p not in own and uses(f"a_{p}")]
        if "UA()" in text:
            lines.append("    UA = lambda: universe(ID_MAPS, S, None, P)")
        if "U()" in text:
            lines.append("    U = lambda: universe(ID_MAPS, S, PS, P)")
        return [line for line in lines if line not in bound]


MISSING = object()


@dataclass
class Walker:
    """One machine's walker step functions, one per action, with what each checks how."""

    machine: Machine
    source: str
    steps: dict[str, WalkerFn]
    checks: dict[str, list[Check]]


#: a read the checks of one step may repeat: a global, or an entry at a key the step wrote
#: (`_k<n>`) or a parameter names
_REPEATABLE = re.compile(r"\b(?:[cp]_\w+\.get\((?:_k\d+|a_\w+), [^()]*\)|P?G\['\w+'\])")


def _hoisted(checks: list[str]) -> tuple[list[str], list[str]]:
    """Every read the checks make more than once, bound once before them (the checks
    only read: nothing changes the state between the binding and its uses), and the
    checks with those reads replaced by their names."""
    text = "\n".join(checks)
    counts: dict[str, int] = {}
    for found in _REPEATABLE.findall(text):
        counts[found] = counts.get(found, 0) + 1
    names = {read: f"_r{n}" for n, read in enumerate(r for r, count in counts.items() if count > 1)}
    text = _REPEATABLE.sub(lambda m: names.get(m.group(0), m.group(0)), text) if names else text
    return [f"    {name} = {read}" for read, name in names.items()], _hoisted_in_loops(text.split("\n"))


_LOOP = re.compile(r"^( *)for (v_\w+) in ")
_AT_VAR = re.compile(r"\b[cp]_\w+\.get\((v_\w+), [^()]*\)")


def _hoisted_in_loops(lines: list[str]) -> list[str]:
    """In a check's loop over ids, every read at a loop variable the test line repeats,
    bound once per iteration before it. Only variables of enclosing `for` statements,
    and not on a line that binds the same name again (a quantifier inside the test)."""
    out: list[str] = []
    loops: list[tuple[int, str]] = []  # (indentation, variable) of the enclosing for statements
    fresh = 0
    for line in lines:
        indent = len(line) - len(line.lstrip(" "))
        while loops and loops[-1][0] >= indent:
            loops.pop()
        counts: dict[str, int] = {}
        bound = {var for _, var in loops}
        for m in _AT_VAR.finditer(line):
            if m.group(1) in bound and f" for {m.group(1)} in " not in line:
                counts[m.group(0)] = counts.get(m.group(0), 0) + 1
        repeated = [read for read, count in counts.items() if count > 1]
        if repeated and line.lstrip().startswith("if "):
            names = {read: f"_s{fresh + n}" for n, read in enumerate(repeated)}
            fresh += len(repeated)
            out += [f"{' ' * indent}{name} = {read}" for read, name in names.items()]
            line = _AT_VAR.sub(lambda m: names.get(m.group(0), m.group(0)), line)
        out.append(line)
        loop = _LOOP.match(line)
        if loop is not None:
            loops.append((len(loop.group(1)), loop.group(2)))
    return out


@per_machine
def compile_walker(machine: Machine) -> Walker:
    """The walker of `machine` (cached per machine object)."""
    src = _Source(machine)
    gen = _WalkerSource(src)
    params: list[str] = []
    for a in machine.actions:
        params += [p.name for p in a.params if p.name not in params]
    chunks = [gen.function(index, a, tuple(params)) for index, a in enumerate(machine.actions)]
    source = "\n\n".join(chunks) + "\n"
    namespace: dict[str, Any] = {"FRESH": FRESH_ID, "SpecError": SpecError, "universe": _universe,
                                 "ID_MAPS": src.id_maps, "fresh_counted": _fresh_counted,
                                 "KEY_BEFORE": key_before_value, "GROUP": _group, "MISSING": MISSING, **src.constants}
    exec(compile(source, f"<walker {machine.name}/{machine.profile}>", "exec"), namespace)
    return Walker(machine, source, {a.name: namespace[f"walk_{index}"] for index, a in enumerate(machine.actions)},
                  gen.checks)

"""Terms as text for people: the third reader of the term language.

Used wherever the reference explains itself (a divergence found by `opsref check`,
the review pages): `status[id] ∈ {running, retiring}` rather than a Python repr.
"""

from __future__ import annotations

from dataclasses import dataclass

from opsref.spec.machine import Assign, AssignAll, AssignAt, Call, Effect, Guard, Procedure
from opsref.spec.terms import (
    PRE, ActionIs, Apply, Contains, Definition, Lit, Param, Quant, Range, Read, Term, Use, Var, walk,
)

_INFIX = {"eq": "=", "ne": "≠", "lt": "<", "le": "≤", "gt": ">", "ge": "≥", "sub": "−", "add": "+", "key_before": "≺",
          "and": "∧", "or": "∨", "implies": "→"}


def text(t: Term) -> str:
    if isinstance(t, Lit):
        if isinstance(t.value, bool):
            return "true" if t.value else "false"
        return repr(t.value) if t.value == "" else str(t.value)
    if isinstance(t, (Param, Var)):
        return t.name
    if isinstance(t, Read):
        name = t.field + ("⁻" if t.state == PRE else "")
        return name if t.key is None else f"{name}[{text(t.key)}]"
    if isinstance(t, Contains):
        return f"{text(t.element)} ∈ {text(t.collection)}"
    if isinstance(t, ActionIs):
        return f"action = {t.action}"
    if isinstance(t, Use):  # by name: the page prints the definition once
        name = t.definition.name + ("⁻" if t.state == PRE else "")
        return f"{name}({', '.join(text(a) for a in t.args)})" if t.args else name
    if isinstance(t, Quant):
        symbol = {"forall": "∀", "exists": "∃", "card": "#", "the": "ι"}[t.kind]
        return f"{symbol}{t.var.name}. {text(t.body)}" if t.kind != "card" else f"#{{{t.var.name} | {text(t.body)}}}"
    if isinstance(t, Range):
        return f"∀{t.var.name} ∈ ({text(t.lo)}, {text(t.hi)}]. {text(t.body)}"
    if isinstance(t, Apply):
        return _apply(t)
    raise TypeError(f"not a term: {t!r}")


def _member_set(t: Apply) -> str | None:
    """`x = a ∨ x = b` (how `one_of` is written) reads better as `x ∈ {a, b}`."""
    subject = None
    members = []
    for arg in t.args:
        if not (isinstance(arg, Apply) and arg.op == "eq" and isinstance(arg.args[1], Lit)):
            return None
        if subject is not None and arg.args[0] != subject:
            return None
        subject = arg.args[0]
        members.append(text(arg.args[1]))
    return None if subject is None else f"{text(subject)} ∈ {{{', '.join(members)}}}"


def _apply(t: Apply) -> str:
    if t.op == "or":
        as_set = _member_set(t)
        if as_set is not None:
            return as_set
    if t.op == "not":
        return f"¬{_wrap(t.args[0])}"
    if t.op == "ite":
        return f"if {text(t.args[0])} then {text(t.args[1])} else {text(t.args[2])}"
    return f" {_INFIX[t.op]} ".join(_wrap(a) for a in t.args)


def _wrap(t: Term) -> str:
    s = text(t)
    if isinstance(t, Apply) and t.op not in ("not",) and not (t.op == "or" and _member_set(t)):
        return f"({s})"
    if isinstance(t, Quant):
        return f"({s})"
    return s


def guard_text(g: Guard) -> str:
    return f"{g.name}: {text(g.holds)}, else {g.error}"


def effect_text(e: Effect | Call) -> str:
    if isinstance(e, Call):  # by name: the page prints the procedure once
        return f"{e.procedure.name}({', '.join(text(a) for a in e.args)})"
    if isinstance(e, Assign):
        return f"{e.field} := {text(e.value)}"
    if isinstance(e, AssignAt):
        return f"{e.field}[{text(e.key)}] := {text(e.value)}"
    if isinstance(e, AssignAll):
        return f"{e.field}[{e.var.name}] := {text(e.value)} for every {e.var.name}"
    raise TypeError(f"not an effect: {e!r}")


def signature(d: Definition | Procedure) -> str:
    """`Name(p: sort, …)`, how a definition or procedure is introduced."""
    params = ", ".join(f"{p.name}: {p.sort}" for p in d.params)
    return f"{d.name}({params})" if d.params else d.name


def definition_lines(d: Definition | Procedure) -> list[str]:
    """A definition as `Name(params) = formula`, or a procedure as its numbered effects."""
    if isinstance(d, Definition):
        return [f"{signature(d)} = {text(d.body)}"]
    if not d.effects:
        return [f"{signature(d)}: no effects"]
    return [f"{signature(d)}:"] + [f"  {line}" for line in effects_text(d.effects)]


@dataclass(frozen=True)
class CaseSplit:
    """A conjunction of implications that all test one subject against a value —
    `(status[j] = absent → outcome[j] = none) ∧ (status[j] = completed → …) ∧ …`, as a
    loop over an enumeration writes it — read as a table: one row per consequent, with
    the subject's values that lead to it. `column` names the field every consequent
    sets, when each is `column = value` (the cells are then the values alone)."""

    binders: tuple[str, ...]                    # the ∀ variables around it
    subject: str
    column: str | None
    rows: tuple[tuple[tuple[str, ...], str], ...]


#: fewer implications than this read well enough inline
CASE_SPLIT_MIN = 3


def case_split(t: Term) -> CaseSplit | None:
    """`t` (under any ∀) as a CaseSplit, or None when it is not one."""
    binders: list[str] = []
    while isinstance(t, Quant) and t.kind == "forall":
        binders.append(t.var.name)
        t = t.body
    if not (isinstance(t, Apply) and t.op == "and" and len(t.args) >= CASE_SPLIT_MIN):
        return None
    subject: Term | None = None
    cases: list[tuple[str, Term]] = []
    for arg in t.args:
        if not (isinstance(arg, Apply) and arg.op == "implies"):
            return None
        test, then = arg.args
        if not (isinstance(test, Apply) and test.op == "eq" and isinstance(test.args[1], Lit)):
            return None
        if subject is not None and test.args[0] != subject:
            return None
        subject = test.args[0]
        cases.append((text(test.args[1]), then))
    assert subject is not None
    targets = {c.args[0] for _, c in cases if isinstance(c, Apply) and c.op == "eq" and isinstance(c.args[1], Lit)}
    uniform = len(targets) == 1 and all(isinstance(c, Apply) and c.op == "eq" for _, c in cases)
    column = text(next(iter(targets))) if uniform else None
    rows: dict[str, list[str]] = {}
    for value, then in cases:
        cell = text(then.args[1]) if uniform and isinstance(then, Apply) else text(then)
        rows.setdefault(cell, []).append(value)
    return CaseSplit(tuple(binders), text(subject), column,
                     tuple((tuple(values), cell) for cell, values in rows.items()))


#: a run of at least this many conditional writes under one condition prints as one block
GROUP_MIN = 3
#: lines of a grouped block are wrapped at about this width
WIDTH = 100


def _conditional(e: Effect | Call) -> tuple[tuple[str, Term | None, Term], Term] | None:
    """A write that keeps the old value unless a condition holds — `f[k] := if c then v
    else f[k]` — as ((kind, key or var, condition), new value); else None."""
    if isinstance(e, Call) or not (isinstance(e.value, Apply) and e.value.op == "ite"):
        return None
    test, then, otherwise = e.value.args
    if isinstance(e, Assign) and otherwise == Read(e.field):
        return ("global", None, test), then
    if isinstance(e, AssignAt) and otherwise == Read(e.field, e.key):
        return ("at", e.key, test), then
    if isinstance(e, AssignAll) and otherwise == Read(e.field, e.var):
        return ("all", e.var, test), then
    return None


def _reads(*terms: Term | None) -> set[str]:
    return {n.field for t in terms if t is not None for n in walk(t) if isinstance(n, Read)}


def effects_text(effects: tuple[Effect | Call, ...]) -> list[str]:
    """Effects as lines, in order. A run of conditional writes under one condition (as a
    loop over fields writes them, e.g. forgetting an evicted op) prints as one block —
    `if c, at k = K:` (entries at one key K, and globals) or `for every j with c:` — and
    then the writes. It reads alike, because no write of the run but the last changes
    what the condition or the key reads."""
    lines: list[str] = []
    n = 0
    while n < len(effects):
        first = _conditional(effects[n])
        if first is None:
            lines.append(effect_text(effects[n]))
            n += 1
            continue
        (kind, where, test), _ = first
        run = 1
        while n + run < len(effects):
            nxt = _conditional(effects[n + run])
            if nxt is None or nxt[0][2] != test or (nxt[0][0] == "all") != (kind == "all"):
                break
            if kind == "all" and nxt[0][1] != where:
                break
            if kind != "all" and nxt[0][1] is not None:
                if where is not None and nxt[0][1] != where:
                    break
                where = nxt[0][1]
            previous = effects[n + run - 1]
            if isinstance(previous, Call) or previous.field in _reads(test, None if isinstance(where, Var) else where):
                break
            run += 1
        watched = _reads(test, None if isinstance(where, Var) else where)
        while run > 1 and any(isinstance(e, Call) or e.field in watched for e in effects[n:n + run - 1]):
            run -= 1  # a key found late reads a field an earlier write of the run changes
        if run < GROUP_MIN:
            lines.append(effect_text(effects[n]))
            n += 1
            continue
        lines += _block(tuple(e for e in effects[n:n + run] if not isinstance(e, Call)), kind, where, test)
        n += run
    return lines


def _block(run: tuple[Effect, ...], kind: str, where: Term | None, test: Term) -> list[str]:
    if kind == "all" and isinstance(where, Var):
        head, key = f"for every {where.name} with {text(test)}:", f"[{where.name}]"
    elif where is None or isinstance(where, (Param, Lit, Var)):
        head, key = f"if {text(test)}:", "" if where is None else f"[{text(where)}]"
    else:
        taken = {t.name for e in run for t in walk(e.value) if isinstance(t, (Param, Var))}
        name = next(c for c in ("k", "x", "y", "z", "k1", "k2", "k3") if c not in taken)
        head, key = f"if {text(test)}, at {name} = {text(where)}:", f"[{name}]"
    writes = []
    for e in run:
        found = _conditional(e)
        assert found is not None
        writes.append(f"{e.field}{key if not isinstance(e, Assign) else ''} := {text(found[1])}")
    lines = [head]
    line = ""
    for w in writes:
        if line and len(line) + len(w) + 2 > WIDTH:
            lines.append(f"    {line},")
            line = ""
        line = f"{line}, {w}" if line else w
    return lines + [f"    {line}"]

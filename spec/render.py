"""Terms as text for people: the third reader of the term language.

Used wherever the reference explains itself (a divergence found by `opsref check`,
the review pages): `status[id] ∈ {running, retiring}` rather than a Python repr.
"""

from __future__ import annotations

from opsref.spec.machine import Assign, AssignAll, AssignAt, Call, Effect, Guard, Procedure
from opsref.spec.terms import PRE, ActionIs, Definition, Apply, Contains, Lit, Param, Quant, Range, Read, Term, Use, Var

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
    return [f"{signature(d)}:"] + [f"  {n}. {effect_text(e)}" for n, e in enumerate(d.effects, 1)]

"""Proof obligations, their results and how they are shown (table or JSON).

A result is `proved` only when Z3 answered unsat for the negated claim (or, for a
reachability obligation, produced a witness trace that the spec model replays);
`unknown` and timeouts are failures.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable

import z3

from opsref.proofs.encode import StateExprs, Universe, scalar, table
from opsref.spec.machine import Machine
from opsref.spec.terms import BOOL, INT, ID

#: the part of an obligation's id that makes it a postcondition's: `<action>/ensures/<name>`
ENSURES = "ensures"


@dataclass
class Obligation:
    id: str
    invariant: str
    kind: str
    action: str | None
    result: str  # proved | violated | unknown
    seconds: float
    domain: str | dict[str, int]  # "unbounded" or {"ids": n, "depth": k}
    counterexample: dict[str, Any] | None = None
    note: str = ""

    @property
    def depth(self) -> int | None:
        """The bound of a bounded result (None when unbounded)."""
        return None if isinstance(self.domain, str) else self.domain["depth"]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id, "invariant": self.invariant, "kind": self.kind, "action": self.action,
            "result": self.result, "seconds": round(self.seconds, 3), "domain": self.domain,
        }
        if is_postcondition(self):
            out["section"] = "postcondition"
        if self.counterexample is not None:
            out["counterexample"] = self.counterexample
        if self.note:
            out["note"] = self.note
        return out


def is_postcondition(o: Obligation) -> bool:
    """A postcondition's obligation (`Action.ensures`): proved like an inductive step (kind
    `inductive`, one step of its action from any state satisfying the invariants) but
    about that action alone, so reported apart from the invariants. `invariant` holds the
    postcondition's name, the id says whose: `<action>/ensures/<name>` (no invariant's id
    has that shape, and it survives the proof cache, which keeps the JSON)."""
    return o.action is not None and o.id == f"{o.action}/{ENSURES}/{o.invariant}"


@dataclass
class MachineReport:
    machine: str
    obligations: list[Obligation] = field(default_factory=list)
    digest: str = ""  # Machine.digest of what was proved
    seconds: float = 0.0  # wall time of the machine's jobs (not in the JSON, which has each obligation's)

    def counts(self) -> dict[str, int]:
        c = {"proved": 0, "violated": 0, "unknown": 0}
        for o in self.obligations:
            c[o.result] += 1
        return c


@dataclass
class Report:
    profile: str
    machines: list[MachineReport]
    seconds: float

    def counts(self) -> dict[str, int]:
        c = {"proved": 0, "violated": 0, "unknown": 0}
        for m in self.machines:
            for result, n in m.counts().items():
                c[result] += n
        return c

    @property
    def ok(self) -> bool:
        c = self.counts()
        return c["violated"] == 0 and c["unknown"] == 0 and c["proved"] > 0

    def to_json(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "machines": [{"machine": m.machine, "digest": m.digest,
                          "obligations": [o.to_json() for o in m.obligations]}
                         for m in self.machines],
            "summary": {**self.counts(), "seconds": round(self.seconds, 3)},
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2)


# --------------------------------------------------------------------------- model values

#: a value read from a Z3 model: a bool, an integer, or a name (an enum member, an id)
ModelValue = bool | int | str


def py_value(model: z3.ModelRef, e: z3.ExprRef, u: Universe, names: dict[str, str]) -> ModelValue:
    v = model.eval(e, model_completion=True)
    if z3.is_true(v):
        return True
    if z3.is_false(v):
        return False
    if z3.is_int_value(v):
        n: int = v.as_long()
        return n
    text = str(v)
    if text in names:
        return names[text]
    if "." in text:
        return text.split(".", 1)[1]
    return text


def id_names(model: z3.ModelRef, u: Universe) -> dict[str, str]:
    """Readable names for the ids in a model: op0, op1, ..."""
    elems = model_ids(model, u)
    return {str(e): f"op{n}" for n, e in enumerate(elems)}


def model_ids(model: z3.ModelRef, u: Universe) -> list[z3.ExprRef]:
    return list(u.ids) if u.size is not None else list(model.get_universe(u.id_sort) or [])


def describe_state(machine: Machine, u: Universe, model: z3.ModelRef, st: StateExprs,
                   ids: list[z3.ExprRef], names: dict[str, str]) -> dict[str, Any]:
    """A state in domain words: globals, then each op's fields that differ from default."""
    out: dict[str, Any] = {}
    for f in machine.fields:
        if f.key is None:
            out[f.name] = py_value(model, scalar(st[f.name]), u, names)
    ops: dict[str, Any] = {}
    for ident in ids:
        name = py_value(model, ident, u, names)
        entry = {}
        for f in machine.fields:
            if f.key == ID:
                value = py_value(model, table(st[f.name]).select(ident), u, names)
                if value != f.default.value:
                    entry[f.name] = value
        ops[str(name)] = entry or {"status": "absent"}
    out["ops"] = ops
    for f in machine.fields:
        if f.key == INT and "next_seq" in st and "order_head" in st:
            lo = model.eval(scalar(st["order_head"]), model_completion=True).as_long()
            hi = model.eval(scalar(st["next_seq"]), model_completion=True).as_long()
            out[f.name] = {str(k): py_value(model, table(st[f.name]).select(z3.IntVal(k)), u, names)
                           for k in range(lo + 1, min(hi, lo + 8) + 1)}
    return out


def describe_params(model: z3.ModelRef, u: Universe, params: dict[str, z3.ExprRef],
                    ids: list[z3.ExprRef], names: dict[str, str]) -> dict[str, ModelValue | list[str]]:
    out: dict[str, ModelValue | list[str]] = {}
    for name, e in params.items():
        if e.sort() == z3.ArraySort(u.id_sort, z3.BoolSort()):
            members = [names.get(str(model.eval(x, model_completion=True)), str(x)) for x in ids
                       if z3.is_true(model.eval(z3.Select(e, x), model_completion=True))]
            out[name] = sorted(members)
        else:
            out[name] = py_value(model, e, u, names)
    return out


# --------------------------------------------------------------------------- text


def render_summary(report: Report) -> str:
    """The default report: per machine a heading, one line per invariant grouping its
    obligations, one line for reachability, then every failure in full."""
    lines = [f"opsref prove — profile {report.profile}",
             "per invariant: Init and every action's step, unbounded ids · ranking per action · "
             "BMC depth from Init per configuration"]
    for m in report.machines:
        lines.append("")
        lines.append(_machine_heading(m))
        groups: dict[str, list[Obligation]] = {}
        ensures = [o for o in m.obligations if is_postcondition(o)]
        for o in m.obligations:
            if not is_postcondition(o):
                groups.setdefault(o.invariant, []).append(o)
        reach = groups.pop("reachability", [])
        width = max((len(name) for name in groups), default=0)
        for name, obligations in groups.items():
            lines.append(f"  {_mark(obligations)} {name.ljust(width)}  {_invariant_line(obligations)}")
        if reach:
            lines.append(f"  {_mark(reach)} {'reachability'.ljust(width)}  {_reachability_line(reach)}")
        if ensures:
            lines.append(f"  postconditions — each action's own guarantee, one step from any state satisfying the "
                         f"invariants, unbounded: {_count(ensures, 'proved', lambda o: o.id)}")
            lines += [f"  {_mark([o])} {o.id}" + ("" if o.result == "proved" else f"  {o.result}") for o in ensures]
        lines += _failures(m, by_invariant=True)
    lines.append("")
    lines.append(_summary(report))
    return "\n".join(lines)


def render_table(report: Report) -> str:
    """The verbose report: every obligation on its own line, then every failure in full."""
    lines = [f"opsref prove — profile {report.profile}"]
    for m in report.machines:
        lines.append("")
        lines.append(f"machine {m.machine}")
        width = max((len(o.id) for o in m.obligations), default=10)
        lines.append(f"  {'obligation'.ljust(width)}  {'kind':13} {'result':8} {'seconds':>8}  domain")
        for o in sorted(m.obligations, key=is_postcondition):  # the postconditions last, apart
            domain = o.domain if isinstance(o.domain, str) else f"{o.domain['ids']} ids, depth {o.domain['depth']}"
            kind = "postcondition" if is_postcondition(o) else o.kind
            lines.append(f"  {o.id.ljust(width)}  {kind:13} {o.result:8} {o.seconds:8.2f}  {domain}")
        lines += _failures(m)
    lines.append("")
    lines.append(_summary(report))
    return "\n".join(lines)


def _summary(report: Report) -> str:
    c = report.counts()
    return (f"summary: {c['proved']} proved, {c['violated']} violated, {c['unknown']} unknown "
            f"in {report.seconds:.1f} s")


def _machine_heading(m: MachineReport) -> str:
    c = m.counts()
    total = len(m.obligations)
    verdict = "all proved" if c["proved"] == total else f"{c['proved']} proved, {c['violated']} violated, " \
                                                        f"{c['unknown']} unknown"
    took = f" in {m.seconds:.1f} s" if m.seconds else ""
    ensures = sum(is_postcondition(o) for o in m.obligations)
    of_which = f" ({ensures} of them postconditions)" if ensures else ""
    return f"machine {m.machine} — {total} obligations{of_which}, {verdict}{took}"


def _mark(obligations: list[Obligation]) -> str:
    return "✓" if all(o.result == "proved" for o in obligations) else "✗"


def _failed(obligations: list[Obligation], name: Callable[[Obligation], str]) -> str:
    """` (✗ a, b unknown)`: what did not hold, named when it is one or two (more are listed
    in full below the machine's lines, and would only make the line unreadably long)."""
    bad = [f"{name(o)}{'' if o.result == 'violated' else ' ' + o.result}" for o in obligations if o.result != "proved"]
    return f" (✗ {', '.join(bad)})" if 0 < len(bad) <= 2 else ""


def _count(obligations: list[Obligation], noun: str, name: Callable[[Obligation], str]) -> str:
    proved = sum(o.result == "proved" for o in obligations)
    return f"{proved}/{len(obligations)} {noun}{_failed(obligations, name)}"


def _invariant_line(obligations: list[Obligation]) -> str:
    def of(kind: str) -> list[Obligation]:
        return [o for o in obligations if o.kind == kind]

    def action(o: Obligation) -> str:
        return o.action or "init"

    parts = []
    unbounded = []
    init = of("initiation")
    if init:
        unbounded.append("Init" + ("" if init[0].result == "proved" else f" ✗ {init[0].result}"))
    if of("inductive"):
        unbounded.append(_count(of("inductive"), "actions", action))
    if unbounded:
        parts.append(" + ".join(unbounded) + ", unbounded")
    if of("ranking"):
        parts.append("ranking " + _count(of("ranking"), "actions", action))
    bmc = of("bmc")
    if bmc:
        depths = [o.depth for o in bmc if o.result == "proved" and o.depth is not None]
        if len(bmc) == 1 and depths:
            parts.append(f"bmc {depths[0]}")
        else:
            noun = "configs" if len(bmc) > 1 else "config"
            proved = f"{len(depths)}/{len(bmc)} {noun}"
            traces = [o.depth for o in bmc if o.result == "violated" and o.depth is not None]
            unknown = sum(o.result == "unknown" for o in bmc)
            why = ([f"shortest trace {min(traces)} steps"] if traces else []) + (
                [f"{unknown} unknown"] if unknown else [])
            parts.append(f"bmc {max(depths)}, {proved}" if depths else f"bmc {proved}")
            parts[-1] += f" (✗ {', '.join(why)})" if why else ""
    return " · ".join(parts)


def _reachability_line(obligations: list[Obligation]) -> str:
    groups = (("enabled/", "actions enabled"), ("raises/", "guards fail"), ("error/", "errors raised"))
    parts = []
    for prefix, noun in groups:
        chosen = [o for o in obligations if o.id.startswith(prefix)]
        if chosen:
            parts.append(_count(chosen, noun, lambda o: o.id[len(prefix):]))
    witnessed = [o.domain for o in obligations  # an error is raised by a guard witnessed above
                 if o.result == "proved" and isinstance(o.domain, dict) and not o.id.startswith("error/")]
    if witnessed:
        parts.append(f"witnesses within {max(d['depth'] for d in witnessed)} steps, {witnessed[0]['ids']} ids")
    return " · ".join(parts)


def _failures(m: MachineReport, by_invariant: bool = False) -> list[str]:
    """Every obligation not proved, with its counterexample; `by_invariant`: grouped per
    invariant, a BMC trace from Init first (the easiest to read), in the lines' order."""
    failed = [o for o in m.obligations if o.result != "proved"]
    if by_invariant:
        order = {name: n for n, name in enumerate(dict.fromkeys(o.invariant for o in m.obligations))}
        failed.sort(key=lambda o: (order[o.invariant], o.kind != "bmc"))
    lines = []
    for o in failed:
        lines.append("")
        lines.append(f"  ✗ {o.id}: {o.result}" + (f" — {o.note}" if o.note else ""))
        if o.counterexample:
            lines.extend("    " + line for line in format_counterexample(o.counterexample))
    return lines


def format_counterexample(cex: dict[str, Any]) -> list[str]:
    lines = []
    if "trace" in cex:
        lines.append(f"shortest trace ({len(cex['trace'])} steps) from Init, config {cex.get('config')}:")
        for n, stp in enumerate(cex["trace"], 1):
            lines.append(f"  {n}. {stp['action']}({_args(stp['params'])})")
        lines.append(f"  then: {cex.get('violation', '')}")
        lines.append(f"  final state: {json.dumps(cex['state'], sort_keys=True)}")
    elif "pre" not in cex:
        lines.append(f"initial state: {json.dumps(cex['state'], sort_keys=True)}")
    else:
        lines.append(f"pre-state:  {json.dumps(cex['pre'], sort_keys=True)}")
        lines.append(f"action:     {cex['action']}({_args(cex['params'])})")
        lines.append(f"post-state: {json.dumps(cex['post'], sort_keys=True)}")
    return lines


def _args(params: dict[str, object]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items())

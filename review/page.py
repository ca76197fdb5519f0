"""The review page of one machine (docs/spec/<machine>.md), generated from the spec.

Everything on the page is read off the machine's data (fields, guards, effects,
invariants) and off the committed proof reports (docs/proofs/<profile>.json);
nothing is written by hand, so the page cannot drift from what is proved.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from opsref.conformance.actions import calls_for
from opsref.spec.compiled import compile_machine
from opsref.spec.machine import Action, Assign, AssignAt, Guard, Machine
from opsref.spec.model import evaluate, initial_state
from opsref.spec.render import effect_text, text
from opsref.spec.terms import Lit, Param, Read, walk


def _cell(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def _code(s: str) -> str:
    return f"`{s}`" if "`" not in s else s


def default_config(machine: Machine) -> dict[str, Any]:
    return {f.name: f.default.value for f in machine.fields if f.rigid}


def _phase_read(machine: Machine, phase: str, action: Action) -> Read | None:
    """How `action` sees `phase`: the machine-wide field, or the per-id field at its own id."""
    f = machine.field(phase)
    if f.key is None:
        return Read(phase, None)
    key = next((p for p in action.params if p.sort.name == "id"), None)
    return Read(phase, key) if key is not None else None


def _phase_only(g: Guard, at: Read) -> bool:
    """The guard reads nothing but the phase as the action sees it (and the id it is read at)."""
    reads = [n for n in walk(g.holds) if isinstance(n, Read)]
    params = [n for n in walk(g.holds) if isinstance(n, Param)]
    return bool(reads) and all(r == at for r in reads) and all(p == at.key for p in params)


def _set_phase(machine: Machine, state: Any, phase: str, value: Any) -> None:
    f = machine.field(phase)
    if f.key is None:
        state.globals[phase] = value
    elif value != f.default.value:
        state.maps[phase]["x"] = value


def _get_phase(machine: Machine, state: Any, phase: str) -> Any:
    f = machine.field(phase)
    return state.globals[phase] if f.key is None else state.maps[phase].get("x", f.default.value)


def from_to(machine: Machine, action: Action) -> tuple[str, list[str], str | None] | None:
    """The first phase field the action tests or writes, the phases it is legal from (by
    its phase-only guards) and the phase it writes; None if it touches no phase."""
    for phase in machine.phases:
        at = _phase_read(machine, phase, action)
        if at is None:
            continue
        tests = [g for g in action.guards if _phase_only(g, at)]
        writes = [e for e in action.effects if isinstance(e, (Assign, AssignAt)) and e.field == phase
                  and (isinstance(e, Assign) or e.key == at.key)]
        if not tests and not writes:
            continue
        legal = []
        params = {at.key.name: "x"} if isinstance(at.key, Param) else {}
        for value in machine.field(phase).sort.members:
            state = initial_state(machine, default_config(machine))
            _set_phase(machine, state, phase, value)
            if all(evaluate(machine, g.holds, state, params) is True for g in tests):
                legal.append(value)
        to = next((str(e.value.value) for e in writes if isinstance(e.value, Lit)), None)
        return phase, legal, to
    return None


def _schema(machine: Machine) -> list[str]:
    lines = ["## State", "", "| field | sort | keyed by | default | meaning |", "|---|---|---|---|---|"]
    for f in machine.fields:
        sort = f.sort.name + (f" ({', '.join(f.sort.members)})" if f.sort.is_enum else "")
        key = f.key.name if f.key is not None else "—"
        meaning = f.doc + (" *(configuration: no action writes it)*" if f.rigid else "")
        lines.append(f"| `{f.name}` | {_cell(sort)} | {key} | `{text(f.default)}` | {_cell(meaning)} |")
    return lines + [""]


def _transitions(machine: Machine) -> list[str]:
    lines = ["## Transitions", "",
             "Guards are checked in order; the first that fails refuses the call with its error and "
             "changes nothing. Effects then run in order, each reading the state the previous one left.", "",
             "| action | from | to | errors, in guard order |", "|---|---|---|---|"]
    for a in machine.actions:
        moves = from_to(machine, a)
        src, to = "—", "—"
        if moves is not None:
            phase, legal, target = moves
            src = f"{phase}: {', '.join(legal)}" if len(machine.phases) > 1 else ", ".join(legal)
            to = target or "—"
        errors = ", ".join(f"{g.error} ({g.name})" for g in a.guards) or "never refused"
        lines.append(f"| [`{a.name}`](#{a.name}) | {src} | {to} | {_cell(errors)} |")
    lines.append("")
    for a in machine.actions:
        params = ", ".join(f"{p.name}: {p.sort.name}" for p in a.params)
        lines += [f"### {a.name}", "", f"`{a.name}({params})` — {a.doc}."
                  + (f" Reported as `{a.label}` in errors." if a.label else ""), ""]
        if a.guards:
            lines.append("Guards:")
            lines += [f"{n}. **{g.name}** — {_code(text(g.holds))}; otherwise **{g.error}**"
                      + (f" with {', '.join(name for name, _ in g.fields)}" if g.fields else "")
                      + f". *{g.reason}.*" for n, g in enumerate(a.guards, 1)]
            lines.append("")
        lines.append("Effects:" if a.effects else "Effects: none (the state does not change).")
        lines += [f"{n}. {_code(effect_text(e))}" for n, e in enumerate(a.effects, 1)]
        lines.append("")
        if a.returns:
            lines.append("Returns (on the state after the effects; a field marked ⁻ is read before them): "
                         + ", ".join(f"**{name}** = {_code(text(term))}" for name, term in a.returns) + ".")
            lines.append("")
        if a.ensures:
            lines.append("Ensures (postconditions of this action alone, each proved as `<action>/ensures/<name>`; "
                         "not invariants):")
            lines += [f"- **{p.name}** — {p.sentence}: {_code(text(p.holds))}" for p in a.ensures]
            lines.append("")
    return lines


def _values(sort: Any) -> list[Any]:
    if sort.name == "id":
        return ["x"]
    if sort.name == "id_set":
        return [frozenset(), frozenset({"x"})]
    if sort.name == "bool":
        return [False, True]
    if sort.name == "int":
        return [0, 1, 2]
    return list(sort.members)


#: breadth-first exploration of the one-id world stops at this depth or this many states
EXPLORE_DEPTH = 10
EXPLORE_STATES = 20000


def reachable_moves(machine: Machine, phase: str) -> tuple[dict[tuple[str, str], list[str]], int]:
    """(phase before, phase after) -> actions, for `phase` of a one-id world, over every
    state reachable from Init (up to EXPLORE_DEPTH steps or EXPLORE_STATES states) and every
    parameter choice from small domains: the diagram shows moves that happen, not what a
    guard allows. Also the depth explored."""
    from itertools import product

    compiled = compile_machine(machine)
    choices = [(a, dict(zip([p.name for p in a.params], combo)))
               for a in machine.actions for combo in product(*(_values(p.sort) for p in a.params))]
    start = initial_state(machine, default_config(machine))
    seen = {repr((start.globals, start.maps))}
    frontier = [start]
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    depth = 0
    while frontier and depth < EXPLORE_DEPTH and len(seen) < EXPLORE_STATES:
        depth += 1
        following = []
        for state in frontier:
            before = _get_phase(machine, state, phase)
            for action, params in choices:
                after_state = state.copy()
                if compiled.apply(after_state, action.name, params) is not None:
                    continue
                after = _get_phase(machine, after_state, phase)
                if after != before and action.name not in edges[(str(before), str(after))]:
                    edges[(str(before), str(after))].append(action.name)
                key = repr((after_state.globals, after_state.maps))
                if key not in seen:
                    seen.add(key)
                    following.append(after_state)
        frontier = following
    return edges, depth


def _diagram(machine: Machine) -> list[str]:
    lines: list[str] = []
    for phase in machine.phases:
        f = machine.field(phase)
        default = f.default.value
        edges, depth = reachable_moves(machine, phase)
        moving = {name for names in edges.values() for name in names}
        loops = [a.name for a in machine.actions if a.name not in moving]
        order = {p: n for n, p in enumerate(f.sort.members)}
        node = {p: "[*]" if p == default else p for p in f.sort.members}
        whose = "Each id's" if f.key is not None else "The machine's"
        lines += [f"## State diagram: `{phase}`", "", f"{whose} `{phase}` ({f.doc}); `[*]` is `{default}`.", "",
                  "```mermaid", "stateDiagram-v2"]
        for (src, dst), names in sorted(edges.items(), key=lambda e: (order[e[0][0]], order[e[0][1]])):
            lines.append(f"    {node[src]} --> {node[dst]}: {', '.join(names)}")
        lines += ["```", "",
                  f"Edges are the moves of `{phase}` seen in every state reachable from Init within {depth} steps "
                  f"(one id, small parameter domains)."]
        if loops:
            lines[-1] += " Never moving it: " + ", ".join(f"`{n}`" for n in loops) + "."
        lines.append("")
    return lines


def _protocol(machine: Machine) -> list[str]:
    """The action protocol's calls (conformance/PROTOCOL.md), for machines that speak it."""
    if machine.name == "ops_lifecycle":
        return ["## Protocol", "", "The registry's own protocol: see `conformance/PROTOCOL.md`.", ""]
    lines = ["## Protocol", "",
             "The action protocol (`conformance/PROTOCOL.md`): one call per action, answered `{\"ok\": null}` "
             "or the refusing guard's error; `observe` and `observe_globals` read the state.", "",
             "| call | args | `ok` value |", "|---|---|---|"]
    for spec in calls_for(machine).values():
        args = ", ".join(f"`{a.name}` " + ("one of " + " ".join(a.members) if a.kind == "enum" else
                                           {"id": "string", "bool": "bool", "count": "integer ≥ 0"}[a.kind])
                         for a in spec.args) or "—"
        lines.append(f"| `{spec.name}` | {_cell(args)} | {_cell('`' + spec.returns + '`')} |")
    return lines + [""]


def _invariants(machine: Machine) -> list[str]:
    lines = ["## Invariants", "",
             "Each is proved for any number of operations (see Proof results). `x⁻` is the value "
             "before the step.", ""]
    for inv in machine.invariants:
        lines += [f"### {inv.name}", "", inv.sentence[0].upper() + inv.sentence[1:] + ".", ""]
        if inv.state is not None:
            lines += ["- in every state: " + _code(text(inv.state))]
        if inv.step is not None:
            lines += ["- across every step: " + _code(text(inv.step))]
        r = inv.ranking
        if r is not None:
            lines += [f"- progress: while {_code(text(r.active))} holds in two consecutive states with "
                      f"{_code(text(r.same_episode))}, the set {{{r.var.name} | {text(r.pending)}}} never gains a member"]
        lines.append("")
    return lines


def _domain(d: Any) -> str:
    if d == "unbounded":
        return "any number of ids"
    if isinstance(d, dict):
        return f"{d.get('ids')} ids, depth {d.get('depth')}"
    return str(d)


def _proofs(machine: Machine, reports: dict[str, dict[str, Any]]) -> list[str]:
    lines = ["## Proof results", ""]
    for profile, report in reports.items():
        obligations = [o for m in report["machines"] if m["machine"] == machine.name for o in m["obligations"]]
        if not obligations:
            lines += [f"No `{profile}` results recorded for this machine.", ""]
            continue
        s = report["summary"]
        lines += [f"### {profile} profile", "",
                  f"`opsref prove --profile {profile}`: {s['proved']} proved, {s['violated']} violated, "
                  f"{s['unknown']} unknown, {s['seconds']:.1f} s (recorded in `docs/proofs/{profile}.json`).", "",
                  "| invariant | initiation | inductive (per action) | ranking | bmc | seconds (unbounded proofs) | domain |",
                  "|---|---|---|---|---|---|---|"]
        by_inv: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for o in obligations:
            if o["kind"] != "reachability":
                by_inv[o["invariant"]].append(o)
        for inv in machine.invariants:
            obs = by_inv.get(inv.name, [])
            cells = []
            for kind in ("initiation", "inductive", "ranking", "bmc"):
                of_kind = [o for o in obs if o["kind"] == kind]
                proved = sum(o["result"] == "proved" for o in of_kind)
                cells.append("—" if not of_kind else f"{proved}/{len(of_kind)}"
                             + ("" if proved == len(of_kind) else " **✗**"))
            seconds = sum(o["seconds"] for o in obs if o["kind"] != "bmc")
            domains = sorted({_domain(o["domain"]) for o in obs})
            lines.append(f"| {inv.name} | " + " | ".join(cells) + f" | {seconds:.2f} | {'; '.join(domains)} |")
        lines.append("")
        ensures = [o for o in obligations if o.get("section") == "postcondition"]
        if ensures:
            proved = sum(o["result"] == "proved" for o in ensures)
            lines += [f"Postconditions (each action's `ensures`, one step from any state satisfying the invariants, "
                      f"any number of ids): {proved}/{len(ensures)} proved.", ""]
        failed = [o for o in obligations if o["result"] != "proved"]
        if failed:
            lines.append("Not proved:")
            lines += [f"- `{o['id']}`: {o['result']}" + (f" — {o['note']}" if o.get("note") else "") for o in failed]
            lines.append("")
        reach = [o for o in obligations if o["kind"] == "reachability"]
        if reach:
            proved = sum(o["result"] == "proved" for o in reach)
            deepest = max((o["domain"].get("depth", 0) for o in reach
                           if isinstance(o["domain"], dict) and o["id"].startswith(("enabled", "raises"))), default=0)
            lines += [f"Reachability (non-vacuity): {proved}/{len(reach)} witnessed — every action enabled, every "
                      f"guard failing and every error raised in some state reachable from Init (witness traces "
                      f"of at most {deepest} steps, replayed on the spec model).", ""]
            depth = {o["id"]: (o["domain"].get("depth") if isinstance(o["domain"], dict) else None)
                     if o["result"] == "proved" else None for o in reach}
            lines += ["| action | enabled after | each guard seen failing after (steps from Init) |",
                      "|---|---|---|"]
            for a in machine.actions:
                enabled = depth.get(f"enabled/{a.name}")
                refusals = ", ".join(
                    f"{g.name}: {'✗ never' if depth.get(f'raises/{a.name}/{g.name}') is None else depth[f'raises/{a.name}/{g.name}']}"
                    for g in a.guards) or "—"
                lines.append(f"| {a.name} | {'✗ never' if enabled is None else enabled} | {refusals} |")
            lines.append("")
    return lines


def render(machine: Machine, reports: dict[str, dict[str, Any]]) -> str:
    first_paragraph = machine.doc.strip().split("\n\n")[0].replace("\n", " ")
    lines = [f"# {machine.name}", "",
             "<!-- generated by `opsref docs` from spec/ and docs/proofs/; do not edit -->", "",
             first_paragraph, "",
             f"The `{machine.profile}` profile is shown; the places where the seed differs are listed in "
             "[divergences.md](../divergences.md).", ""]
    lines += _schema(machine) + _diagram(machine) + _transitions(machine) + _protocol(machine) + _invariants(machine)
    lines += _proofs(machine, reports)
    return "\n".join(lines).rstrip() + "\n"

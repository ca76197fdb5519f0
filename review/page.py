"""The review page of one machine (docs/spec/<machine>.md), generated from the spec.

Everything on the page is read off the machine's data (fields, guards, effects,
invariants, decisions) and off the committed proof reports (docs/proofs/<profile>.json);
nothing is written by hand, so the page cannot drift from what is proved. The page is
meant to be read alone: an overview, the state and where it starts, a diagram, every
action in one place with the seed's version beside it where that differs, the
invariants as requirements and as strengthening, and the recorded proof results.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from opsref.conformance.actions import calls_for
from opsref.review import diagram
from opsref.review.seed import Difference, definition_differences, differences
from opsref.spec.machine import ROLES, Action, Assign, AssignAt, Guard, Invariant, Machine, Procedure
from opsref.spec.model import evaluate, initial_state
from opsref.spec.render import case_split, definition_lines, effects_text, text
from opsref.spec.terms import Definition, Lit, Param, Read, Term, walk


def _cell(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def _code(s: str) -> str:
    return f"`{s}`" if "`" not in s else s


def anchor(heading: str) -> str:
    """The fragment a Markdown renderer (GitHub's rule) gives a heading."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def decision_link(d: Any) -> str:
    """A decision by its title, linked to its entry in docs/divergences.md."""
    return f"[{d.title}](../divergences.md#{d.name})"


# --------------------------------------------------------------------------- from / to


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
            state = initial_state(machine, diagram.default_config(machine))
            _set_phase(machine, state, phase, value)
            if all(evaluate(machine, g.holds, state, params) is True for g in tests):
                legal.append(value)
        to = next((str(e.value.value) for e in writes if isinstance(e.value, Lit)), None)
        return phase, legal, to
    return None


# --------------------------------------------------------------------------- overview


def _obligations(reports: dict[str, dict[str, Any]], profile: str, machine: str) -> list[dict[str, Any]]:
    report = reports.get(profile, {"machines": []})
    return [o for m in report["machines"] if m["machine"] == machine for o in m["obligations"]]


def _counts(obligations: list[dict[str, Any]]) -> str:
    by: dict[str, int] = defaultdict(int)
    for o in obligations:
        by[o["result"]] += 1
    return ", ".join(f"{by[r]} {r}" for r in ("proved", "violated", "unknown") if by[r] or r == "proved")


def _roles(machine: Machine) -> dict[str, list[Invariant]]:
    return {role: [i for i in machine.invariants if i.role == role] for role in ROLES}


def _overview(machine: Machine, reports: dict[str, dict[str, Any]]) -> list[str]:
    first_paragraph = machine.doc.strip().split("\n\n")[0].replace("\n", " ")
    roles = _roles(machine)
    ghosts = [f for f in machine.fields if f.ghost]
    rigid = [f for f in machine.fields if f.rigid]
    shape = (f"{len(machine.fields)} state fields ({len(ghosts)} ghost, {len(rigid)} configuration), "
             f"{len(machine.actions)} actions and {len(machine.invariants)} invariants "
             f"({len(roles['requirement'])} requirements, {len(roles['strengthening'])} strengthening)")
    decided = (f"; the seed differs in {len(machine.decisions)} decision{'s' if len(machine.decisions) > 1 else ''}"
               if machine.decisions
               else "; the seed profile is the same machine (the seed leaves rules open instead: "
                    f"[the choices made]({'../divergences.md#' + anchor(f'`{machine.name}`')}))"
               if machine.choices else "")
    lines = [first_paragraph, "",
             f"This page shows the `{machine.profile}` profile: {shape}{decided}."]
    proved = []
    for profile in reports:
        obs = _obligations(reports, profile, machine.name)
        if not obs:
            continue
        failing = sorted({o["invariant"] for o in obs if o["result"] != "proved"},
                         key=[i.name for i in machine.invariants].index)
        proved.append(f"under `{profile}`, {len(obs)} obligations: {_counts(obs)}"
                      + (" (failing: " + ", ".join(f"`{n}`" for n in failing) + ")" if failing else ""))
    if proved:
        lines[-1] += " Recorded proofs: " + "; ".join(proved) + "."
    if machine.decisions:
        lines[-1] += (" Where the seed differs, a note at the action or invariant says so and shows the seed's "
                      "version; every decision, with a replayable seed trace, is in "
                      "[divergences.md](../divergences.md).")
    return lines + [""]


def _contents(headings: list[str]) -> list[str]:
    return ["## Contents", ""] + [f"- [{h}](#{anchor(h)})" for h in headings] + [""]


# --------------------------------------------------------------------------- state and init


def _schema(machine: Machine) -> list[str]:
    lines = ["## State", "",
             "A field marked *ghost* is proof bookkeeping: no implementation shows it and the conformance "
             "protocol never asks for it; it exists so that a claim can be stated or proved (a request id, a "
             "counter an invariant ties to the state, a value one effect leaves for the next). A *configuration* "
             "field is fixed for a run: no action writes it.", "",
             "| field | sort | keyed by | default | meaning |", "|---|---|---|---|---|"]
    for f in machine.fields:
        sort = f.sort.name + (f" ({', '.join(f.sort.members)})" if f.sort.is_enum else "")
        key = f.key.name if f.key is not None else "—"
        marks = [m for m, on in (("ghost", f.ghost), ("configuration", f.rigid)) if on]
        name = f"`{f.name}`" + "".join(f" *({m})*" for m in marks)
        lines.append(f"| {name} | {_cell(sort)} | {key} | `{text(f.default)}` | {_cell(f.doc)} |")
    return lines + [""]


def _init(machine: Machine) -> list[str]:
    init = dict(machine.init)
    keyed: dict[str, list[str]] = defaultdict(list)
    machine_wide = []
    for f in machine.fields:
        if f.rigid:
            continue
        if f.key is None:
            value = init.get(f.name, f.default)
            machine_wide.append(f"{f.name} = {text(value)}")
        else:
            keyed[f.key.name].append(f"{f.name}[{'k' if f.key.name == 'id' else 'n'}] = {text(f.default)}")
    lines = ["## Init and assumptions", "",
             "The initial state: every field holds its default"
             + (" except " + ", ".join(f"`{n}`" for n in init) + " (the machine's `init`)" if init else "")
             + ", for every key of a keyed field.", "", "```"]
    for key, values in keyed.items():
        lines.append(f"for every {key} {'k' if key == 'id' else 'n'}: " + ", ".join(values))
    if machine_wide:
        lines.append(", ".join(machine_wide))
    lines += ["```", ""]
    rigid = [f for f in machine.fields if f.rigid]
    if rigid:
        lines += ["Configuration (fixed for a run; a run may choose any values the assumptions allow; the default "
                  "is what a registry built without settings uses): "
                  + ", ".join(f"`{f.name}` (default `{text(f.default)}`)" for f in rigid) + ".", ""]
    if machine.assumptions:
        lines += ["Assumptions on the configuration, part of every proof: "
                  + ", ".join(_code(text(t)) for t in machine.assumptions) + ".", ""]
    else:
        lines += ["Assumptions: none (no configuration constrains the proofs).", ""]
    configs = machine.configs()
    lines += ["The bounded checks (BMC from Init and the reachability witnesses) run under "
              + ("this configuration" if len(configs) == 1 else f"these {len(configs)} configurations")
              + "; the unbounded proofs hold for any configuration the assumptions allow:", "",
              "| tag | configuration |", "|---|---|"]
    lines += [f"| `{c.tag}` | {_cell(c.label)} |" for c in configs]
    return lines + [""]


def definitions_section(machine: Machine) -> list[str]:
    """The spec's named definitions and procedures, each printed once: actions and
    invariants use them by name."""
    named = machine.named()
    if not named:
        return []
    lines = ["## Definitions", "",
             "Named formulas (`Name(args) = …`) and procedures (named blocks of effects, run in order) "
             "that the actions and invariants below use by name; a use means the body with the "
             "arguments in place of the parameters. A name marked ⁻ is read on the state before the step.", ""]
    seed = definition_differences(machine)
    formulas = [d for d in named if isinstance(d, Definition)]
    for d in formulas:  # one line each
        lines.append(f"- <a id=\"{d.name}\"></a>{_code(definition_lines(d)[0])}" + (f" — {d.doc}." if d.doc else ""))
        note = _seed_note(seed.get(d.name), "definition")
        lines += [f"  {line}" if line else "" for line in note[:-1]]
    lines.append("")
    for p in named:
        if isinstance(p, Procedure):
            lines += [f"### {p.name}", "", (p.doc[0].upper() + p.doc[1:] + "." if p.doc else ""), "",
                      "```", *definition_lines(p), "```", ""]
            lines += _seed_note(seed.get(p.name), "procedure")
    return lines


# --------------------------------------------------------------------------- transitions


def _seed_note(diff: Difference | None, what: str, same_as: str | None = None) -> list[str]:
    """The note under an action or invariant the seed does differently; `same_as` names an
    earlier one whose differing lines are the same (they are printed there)."""
    if diff is None:
        return []
    lines = ["> **Seed differs:** " + "; ".join(decision_link(d) for d in diff.decisions) + "."]
    if diff.lines and same_as is not None:
        lines[0] += f" The seed's {what}: as in [`{same_as}`](#{same_as})."
    elif diff.lines:
        lines[0] += f" The seed's {what} (`-` reference, `+` seed):"
        lines += [">", "> ```diff"] + [f"> {line}" for line in diff.lines] + ["> ```"]
    return lines + [""]


def _guard_line(n: int, g: Guard) -> str:
    error = g.error + (f"({', '.join(name for name, _ in g.fields)})" if g.fields else "")
    return f"{n}. **{g.name}** — {error} — {_code(text(g.holds))} — *{g.reason}.*"


def _transitions(machine: Machine, seed: dict[str, Difference]) -> list[str]:
    lines = ["## Transitions", "",
             "Guards are checked in order; the first that fails refuses the call with its error (and the fields "
             "it carries) and changes nothing. Effects then run in order, each reading the state the previous one "
             "left." + (" ⚑ marks an action the seed does differently." if seed else ""), "",
             "| action | from | to | errors, in guard order |", "|---|---|---|---|"]
    for a in machine.actions:
        moves = from_to(machine, a)
        src, to = "—", "—"
        if moves is not None:
            phase, legal, target = moves
            src = f"{phase}: {', '.join(legal)}" if len(machine.phases) > 1 else ", ".join(legal)
            to = target or "—"
        errors = ", ".join(f"{g.error} ({g.name})" for g in a.guards) or "never refused"
        flag = " ⚑" if a.name in seed else ""
        lines.append(f"| [`{a.name}`](#{a.name}){flag} | {src} | {to} | {_cell(errors)} |")
    lines.append("")
    shown: dict[tuple[str, ...], str] = {}   # differing lines -> the action they are printed at
    for a in machine.actions:
        params = ", ".join(f"{p.name}: {p.sort.name}" for p in a.params)
        lines += [f"### {a.name}", "", f"`{a.name}({params})` — {a.doc}."
                  + (f" Reported as `{a.label}` in errors." if a.label else ""), ""]
        lines += [_guard_line(n, g) for n, g in enumerate(a.guards, 1)] or ["Never refused."]
        lines.append("")
        if a.effects:
            lines += ["```", *effects_text(a.body), "```"]
        else:
            lines.append("No effect: the state does not change.")
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
        diff = seed.get(a.name)
        lines += _seed_note(diff, "guards and effects that differ", shown.get(diff.lines) if diff else None)
        if diff is not None:
            shown.setdefault(diff.lines, a.name)
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


# --------------------------------------------------------------------------- invariants

ROLE_HEADINGS = {"requirement": "Invariants: requirements", "strengthening": "Invariants: strengthening"}
ROLE_INTROS = {
    "requirement": "The properties the machine is meant to have: the seed's rules and the reference's decisions. "
                   "Each is proved for any number of ids (see Proof results); `x⁻` is a value before the step.",
    "strengthening": "These are not claims a user relies on: they tie ghost or derived fields to the rest of the "
                     "state, so that the requirements are inductive (every proof of a step assumes every invariant "
                     "on the state before it, and a requirement alone is often too weak to carry itself). They "
                     "are proved like the requirements.",
}


def _formula(label: str, t: Term) -> list[str]:
    split = case_split(t)
    if split is None:
        return [f"- {label}: " + _code(text(t))]
    binders = "".join(f"∀{b}. " for b in split.binders)
    lines = [f"- {label}: {_code(binders.strip())} {_code(split.subject)} decides "
             + (_code(split.column) if split.column else "what holds") + ":", "",
             f"  | {_cell(split.subject)} | {_cell(split.column or 'then')} |", "  |---|---|"]
    lines += [f"  | {_cell(', '.join(values))} | {_cell(_code(cell))} |" for values, cell in split.rows]
    return lines + [""]


def _invariant(inv: Invariant, seed: dict[str, Difference]) -> list[str]:
    lines = [f"### {inv.name}", "", inv.sentence[0].upper() + inv.sentence[1:] + ".", ""]
    if inv.state is not None:
        lines += _formula("in every state", inv.state)
    if inv.step is not None:
        lines += _formula("across every step", inv.step)
    r = inv.ranking
    if r is not None:
        lines += [f"- progress: while {_code(text(r.active))} holds in two consecutive states with "
                  f"{_code(text(r.same_episode))}, the set {{{r.var.name} | {text(r.pending)}}} never gains a member"]
    if lines[-1] != "":
        lines.append("")
    note = _seed_note(seed.get(inv.name), "formula")
    if note and not seed[inv.name].lines:
        note[0] = note[0].rstrip(".") + ": it does not hold for the seed (see Proof results)."
    return lines + note


def _invariants(machine: Machine, seed: dict[str, Difference]) -> list[str]:
    lines: list[str] = []
    for role, invariants in _roles(machine).items():
        if not invariants:
            continue
        lines += [f"## {ROLE_HEADINGS[role]}", "", ROLE_INTROS[role], ""]
        for inv in invariants:
            lines += _invariant(inv, seed)
    return lines


# --------------------------------------------------------------------------- proofs
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
            lines += ["Not proved, per invariant:"] + _failures(machine, failed) + [""]
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


def _failures(machine: Machine, failed: list[dict[str, Any]]) -> list[str]:
    """The obligations not proved, one line per invariant: which steps, rankings and
    bounded checks, and the recorded notes without their repetitions."""
    lines = []
    for inv in machine.invariants:
        parts = []
        for kind in ("initiation", "inductive", "ranking", "bmc"):
            for result in ("violated", "unknown"):
                obs = [o for o in failed if o["invariant"] == inv.name and o["kind"] == kind and o["result"] == result]
                if not obs:
                    continue
                if kind == "bmc":
                    by_note: dict[str, list[str]] = defaultdict(list)
                    for o in obs:
                        by_note[o.get("note", "")].append(f"`{o['id'].rsplit('/', 1)[-1]}`")
                    parts.append(f"bmc {result} under " + ", ".join(
                        ", ".join(tags) + (f" ({note})" if note else "") for note, tags in by_note.items()))
                    continue
                part = f"{kind} {result}" + (" by " + ", ".join(f"`{o['action']}`" for o in obs if o.get("action"))
                                             if any(o.get("action") for o in obs) else "")
                notes = [re.search(r"\(([^()]*)\)$", o.get("note", "")) for o in obs]
                asides = sorted({m.group(1) for m in notes if m})
                parts.append(part + "".join(f" ({a})" for a in asides))
        if parts:
            lines.append(f"- `{inv.name}`: " + "; ".join(parts) + ".")
    return lines


def render(machine: Machine, reports: dict[str, dict[str, Any]]) -> str:
    seed_actions, seed_invariants = differences(machine)
    sections = [
        ["## State", *_schema(machine)[1:]],
        _init(machine),
        *(diagram.section(machine, phase) for phase in machine.phases),
        definitions_section(machine),
        _transitions(machine, seed_actions),
        _protocol(machine),
        _invariants(machine, seed_invariants),
        _proofs(machine, reports),
    ]
    headings = [line[3:] for s in sections for line in s if line.startswith("## ")]
    lines = [f"# {machine.name}", "",
             "<!-- generated by `opsref docs` from spec/ and docs/proofs/; do not edit -->", ""]
    lines += _overview(machine, reports) + _contents(headings)
    for s in sections:
        lines += s
    return "\n".join(lines).rstrip() + "\n"

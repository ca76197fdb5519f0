"""Where the seed differs, at the action or invariant it differs in.

The review page shows the reference profile; a reviewer reading one action should
see there, not only in docs/divergences.md, that the seed does something else and
what. Both are read off the spec: a machine is built once per profile
(spec/registry.py), and once more per decision with only that decision dropped
(`reference-<decision>`), so each difference is attributed to the decisions that
cause it. An invariant is also affected by the decisions that name it
(`Decision.invariants`: the proofs that fail for the seed because of it).

Prose (an action's doc, a guard's reason) is not compared: a difference is one in
the guards, effects, returns or the action name reported in errors.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from opsref.spec.machine import Action, Decision, Invariant, Machine
from opsref.spec.registry import MACHINES
from opsref.spec.render import definition_lines, effect_text, text


@dataclass(frozen=True)
class Difference:
    """The decisions behind one difference, and the lines that differ: `- ` the
    reference's, `+ ` the seed's (empty when only a proof result differs)."""

    decisions: tuple[Decision, ...]
    lines: tuple[str, ...]


def action_lines(a: Action) -> list[str]:
    """An action's semantics as lines of text, in the page's words."""
    lines = [f"reported as {a.label} in errors"] if a.label else []
    lines += [f"guard {g.name}: {text(g.holds)}, else {g.error}" for g in a.guards]
    lines += [effect_text(e) for e in a.body]  # a procedure by name: its own differences are noted at it
    lines += [f"returns {name} = {text(term)}" for name, term in a.returns]
    return lines


def invariant_lines(inv: Invariant) -> list[str]:
    lines = []
    if inv.state is not None:
        lines.append(f"in every state: {text(inv.state)}")
    if inv.step is not None:
        lines.append(f"across every step: {text(inv.step)}")
    r = inv.ranking
    if r is not None:
        lines.append(f"progress: while {text(r.active)} with {text(r.same_episode)}, "
                     f"{{{r.var.name} | {text(r.pending)}}} never gains a member")
    return lines


def _changed(reference: list[str], seed: list[str]) -> tuple[str, ...]:
    """The lines that differ, reference first, in the order they appear."""
    out: list[str] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=reference, b=seed, autojunk=False).get_opcodes():
        if tag != "equal":
            out += [f"- {line}" for line in reference[i1:i2]] + [f"+ {line}" for line in seed[j1:j2]]
    return tuple(out)


def differences(machine: Machine) -> tuple[dict[str, Difference], dict[str, Difference]]:
    """Per action and per invariant of the reference `machine`, how the seed differs;
    nothing for a machine shown under another profile or without decisions."""
    if machine.profile != "reference" or not machine.decisions or machine.name not in MACHINES:
        return {}, {}
    build = MACHINES[machine.name]
    seed = build("seed")
    without = {d.name: build(f"reference-{d.name}") for d in machine.decisions}
    actions: dict[str, Difference] = {}
    for a in machine.actions:
        lines = _changed(action_lines(a), action_lines(seed.action(a.name)))
        if not lines:
            continue
        causes = tuple(d for d in machine.decisions
                       if action_lines(without[d.name].action(a.name)) != action_lines(a))
        actions[a.name] = Difference(causes or machine.decisions, lines)
    invariants: dict[str, Difference] = {}
    for inv in machine.invariants:
        lines = _changed(invariant_lines(inv), invariant_lines(seed.invariant(inv.name)))
        causes = tuple(d for d in machine.decisions if inv.name in d.invariants
                       or invariant_lines(without[d.name].invariant(inv.name)) != invariant_lines(inv))
        if causes or lines:
            invariants[inv.name] = Difference(causes or machine.decisions, lines)
    return actions, invariants


def definition_differences(machine: Machine) -> dict[str, Difference]:
    """Per named definition or procedure of the reference `machine`, how the seed's
    definition of the same name differs (or that the seed has none)."""
    if machine.profile != "reference" or not machine.decisions or machine.name not in MACHINES:
        return {}
    build = MACHINES[machine.name]

    def named(m: Machine) -> dict[str, list[str]]:
        return {d.name: definition_lines(d) for d in m.named()}

    reference, seed = named(machine), named(build("seed"))
    without = {d.name: named(build(f"reference-{d.name}")) for d in machine.decisions}
    out: dict[str, Difference] = {}
    for name, lines in reference.items():
        changed = _changed(lines, seed.get(name, ["(not in the seed's spec)"]))
        if changed:
            causes = tuple(d for d in machine.decisions if without[d.name].get(name) != lines)
            out[name] = Difference(causes or machine.decisions, changed)
    return out

"""The state diagram of one phase field, drawn so that it stays legible.

The moves are found, not declared: every state reachable from Init in a one-id
world is explored and each action's effect on the phase recorded
(`reachable_moves`). Drawing every (before, after) pair as its own edge gives a
tangle (ops_lifecycle: 30 edges), so the drawing summarises, by rules read off
the moves alone and the same for every machine:

* the *terminal* values — those no action leaves except back to the field's
  default (removal: eviction, collection, recovery) — are one cluster, and an edge
  into any of them is an edge into the cluster (which action reaches which value
  is listed under the diagram);
* the other values are a second cluster, and an action that moves the phase out of
  every one of them is one edge from that cluster;
* the actions with the same sources and the same target share one edge.

Every action that moves the phase still names an edge, and every action that never
does is listed, so no transition is lost.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from dataclasses import dataclass
from itertools import product
from types import MappingProxyType
from typing import Any, Mapping

from opsref.spec.compiled import compile_machine
from opsref.spec.machine import Machine
from opsref.spec.model import initial_state
from opsref.spec.terms import Sort

#: breadth-first exploration of the one-id world stops at this depth or this many states
EXPLORE_DEPTH = 10
EXPLORE_STATES = 20000

TERMINAL = "terminal"
OTHERS = "others"


def default_config(machine: Machine) -> dict[str, Any]:
    return {f.name: f.default.value for f in machine.fields if f.rigid}


def _values(sort: Sort) -> list[Any]:
    if sort.name == "id":
        return ["x"]
    if sort.name == "id_set":
        return [frozenset(), frozenset({"x"})]
    if sort.name == "bool":
        return [False, True]
    if sort.name == "int":
        return [0, 1, 2]
    return list(sort.members)


def _get_phase(machine: Machine, state: Any, phase: str) -> Any:
    f = machine.field(phase)
    return state.globals[phase] if f.key is None else state.maps[phase].get("x", f.default.value)


@functools.lru_cache(maxsize=64)  # machines are immutable; the docs and their checks ask again
def reachable_moves(machine: Machine, phase: str) -> tuple[Mapping[tuple[str, str], tuple[str, ...]], int]:
    """(phase before, phase after) -> actions, for `phase` of a one-id world, over every
    state reachable from Init (up to EXPLORE_DEPTH steps or EXPLORE_STATES states) and every
    parameter choice from small domains: the diagram shows moves that happen, not what a
    guard allows. Also the depth explored."""
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
            after_state = state.copy()
            for action, params in choices:
                if compiled.apply(after_state, action.name, params) is not None:
                    continue  # refused: the copy is untouched, and serves the next choice
                after = _get_phase(machine, after_state, phase)
                if after != before and action.name not in edges[(str(before), str(after))]:
                    edges[(str(before), str(after))].append(action.name)
                key = repr((after_state.globals, after_state.maps))
                if key not in seen:
                    seen.add(key)
                    following.append(after_state)
                after_state = state.copy()
        frontier = following
    return MappingProxyType({pair: tuple(names) for pair, names in edges.items()}), depth  # kept: read-only


@dataclass(frozen=True)
class Edge:
    """One drawn edge: from one or more nodes (a value or a cluster) to one, with the
    actions that make that move."""

    sources: tuple[str, ...]
    target: str
    actions: tuple[str, ...]


@dataclass(frozen=True)
class Diagram:
    phase: str
    default: str
    terminal: tuple[str, ...]           # the terminal cluster's values (empty: no cluster)
    others: tuple[str, ...]             # the other cluster's values (empty: no cluster)
    others_label: str                   # what the other cluster is called
    plain: tuple[str, ...]              # values drawn on their own
    edges: tuple[Edge, ...]
    reaching: tuple[tuple[str, tuple[str, ...]], ...]  # terminal value -> the actions moving into it
    still: tuple[str, ...]              # actions that never move the phase
    depth: int
    moves: int                          # the (before, after) pairs seen, before summarising

    @property
    def drawn(self) -> int:
        """Edges on the drawing (an edge from several sources counts once per source)."""
        return sum(len(e.sources) for e in self.edges)


def summarise(machine: Machine, phase: str) -> Diagram:
    """The diagram of `phase`, summarised as the module says."""
    f = machine.field(phase)
    default = str(f.default.value)
    moves, depth = reachable_moves(machine, phase)
    order = {str(v): n for n, v in enumerate(f.sort.members)}
    values = sorted({v for pair in moves for v in pair} - {default}, key=order.__getitem__)
    leaving = defaultdict(set)
    for src, dst in moves:
        leaving[src].add(dst)
    ends = [v for v in values if leaving[v] <= {default}]
    terminal = ends if len(ends) > 1 else []
    others = [v for v in values if v not in ends]
    cluster_of = {v: TERMINAL for v in terminal}

    sources_of: dict[tuple[str, str], set[str]] = defaultdict(set)   # (action, target) -> sources
    for (src, dst), actions in moves.items():
        for name in actions:
            sources_of[(name, cluster_of.get(dst, dst))].add(src)
    pairs: dict[tuple[str, str], list[str]] = defaultdict(list)     # (drawn source, target) -> actions
    for (name, target), sources in sources_of.items():
        for group, members in ((TERMINAL, terminal), (OTHERS, others if len(others) > 1 else [])):
            if members and set(members) <= sources:
                pairs[(group, target)].append(name)
                sources = sources - set(members)
        for src in sources:
            pairs[(src, target)].append(name)
    rank = {a.name: n for n, a in enumerate(machine.actions)}
    joined: dict[tuple[tuple[str, ...], str], list[str]] = defaultdict(list)  # same actions, same target
    for (src, target), names in pairs.items():
        joined[(tuple(sorted(set(names), key=rank.__getitem__)), target)].append(src)
    position = {default: -1, OTHERS: len(order), TERMINAL: len(order) + 1, **order}
    edges = sorted((Edge(tuple(sorted(srcs, key=position.__getitem__)), target, names)
                    for (names, target), srcs in joined.items()),
                   key=lambda e: (position[e.sources[0]], position[e.target], rank[e.actions[0]]))
    used_others = any(OTHERS in e.sources for e in edges)
    reaching = tuple((v, tuple(sorted({n for (src, dst), names in moves.items() if dst == v for n in names},
                                      key=rank.__getitem__))) for v in terminal)
    moving = {n for names in moves.values() for n in names}
    label = f"not {TERMINAL}" if ends else f"any but {default}"
    clustered = set(terminal) | (set(others) if used_others else set())
    return Diagram(phase, default, tuple(terminal), tuple(others) if used_others else (), label,
                   tuple(v for v in values if v not in clustered), tuple(edges), reaching,
                   tuple(a.name for a in machine.actions if a.name not in moving), depth, len(moves))


def _node(value: str) -> str:
    """A Mermaid id that no keyword (`end`, `graph`, ...) can collide with."""
    return {TERMINAL: "g_terminal", OTHERS: "g_others"}.get(value, f"v_{value}")


def mermaid(d: Diagram) -> list[str]:
    lines = ["```mermaid", "flowchart TD", f'    {_node(d.default)}(("{d.default}"))']
    for name, label, members in ((OTHERS, d.others_label, d.others),
                                 (TERMINAL, TERMINAL, d.terminal)):
        if members:
            lines.append(f'    subgraph {_node(name)} ["{label}"]')
            lines += [f'        {_node(v)}["{v}"]' for v in members]
            lines.append("    end")
    lines += [f'    {_node(v)}["{v}"]' for v in d.plain]
    for e in d.edges:
        lines.append(f"    {' & '.join(_node(s) for s in e.sources)} -->|\"{', '.join(e.actions)}\"| {_node(e.target)}")
    return lines + ["```"]


def section(machine: Machine, phase: str) -> list[str]:
    f = machine.field(phase)
    d = summarise(machine, phase)
    whose = "Each id's" if f.key is not None else "The machine's"
    lines = [f"## State diagram: `{phase}`", "",
             f"{whose} `{phase}` ({f.doc}), starting at `{d.default}`.", ""]
    lines += mermaid(d) + [""]
    notes = [f"Moves of `{phase}` seen in every state reachable from Init within {d.depth} steps (one id, small "
             f"parameter domains): {d.moves} (before, after) pairs, drawn as {d.drawn} edges."]
    if d.terminal:
        notes.append(f"*{TERMINAL}* groups the values no action leaves except back to `{d.default}`; an edge into it "
                     "reaches: " + "; ".join(f"`{v}` by {', '.join(names)}" for v, names in d.reaching) + ".")
    if d.others:
        notes.append(f"An edge from *{d.others_label}* leaves every one of "
                     + ", ".join(f"`{v}`" for v in d.others) + ".")
    if d.still:
        notes.append(f"Never moving `{phase}`: " + ", ".join(f"`{n}`" for n in d.still) + ".")
    return lines + [" ".join(notes), ""]

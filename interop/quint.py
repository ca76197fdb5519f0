"""A machine as a Quint module: the fourth reader of the term language.

The same guard, effect and invariant terms that `spec.model` evaluates, `proofs.encode`
hands to Z3 and `spec.render` prints become Quint here, so `quint typecheck` and
`quint run` (its random simulator) explore the machine the proofs are about; nothing
is copied by hand. What the module holds:

- one `var` per spec field (ghosts included): a global as its value; a field keyed by
  id as a map over the finite id set `IDS` (every id present, at the field's default
  until written); a field keyed by integer as a sparse map whose missing keys read as
  the default (`getOr`);
- the rigid configuration fields as variables `init` chooses among the machine's
  check configurations (`CONFIGS`) and no action writes;
- `init`, and one action per spec action: its guards in order (a failing guard disables
  the action, so a refused call never fires), then its effects in order, each a `val`
  that reads the values the previous effects left (the seed's sequential shell), then
  every variable assigned (the frame derived, as in the Z3 encoding);
- every invariant as a `val`. Quint checks state predicates only, so the step part of an
  invariant (pre/post formulas, `action = X`, rankings) is a `pure def step_<name>` over
  the fields it reads before and after a step, the action's name and the parameters; each
  action calls it on its pre- and post-state and records the verdict in the variable
  `step_ok` (invariant name → the last step kept it), which the invariant's `val` reads.
  `all_invariants` is their conjunction;
- `step`: `any` over the actions, each parameter a `nondet` pick (`p_<name>`) from a
  finite domain: ids from `IDS`, sets of ids from its powerset, enums from their
  members, integers from `0.to(INT_PARAM_MAX)` (as `opsref simulate` draws them).

Enumeration members are Quint strings (one machine's enums share member names, which
Quint sum types would not allow), ids are strings `op0`, `op1`, …, and the seed's id
order (`key_before`: the ids' JSON encodings, compared as strings, which Quint cannot
do) is a rank table computed here from the same `terms.json_key`.

Where Quint's finite `IDS` differs from the model: the model quantifies over the ids a
state mentions plus one never-mentioned id; Quint over `IDS`, which once every id is in
use has no fresh one left. `interop.itf` replays Quint's traces on the model, so a
disagreement this causes would show up there as a divergence.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Mapping

from opsref.interop.quint_terms import (
    PARAM_PREFIX, Env, ExportError, field_type, literal, param_name, quint_type, term,
)
from opsref.spec.machine import Action, Assign, AssignAll, AssignAt, Invariant, Machine
from opsref.spec.model import initial_state
from opsref.spec.terms import BOOL, ID, ID_SET, INT, Param, Read, Sort, Term, json_key, walk

__all__ = ["ALL_INVARIANTS", "PARAM_PREFIX", "STEP_OK", "ExportError", "action_names", "export", "id_names",
           "invariant_names", "step_invariants", "variables"]

INT_PARAM_MAX = 3
#: the variable recording, per invariant with a step part, whether the last step kept it
STEP_OK = "step_ok"
#: the conjunction of every invariant's `val`
ALL_INVARIANTS = "all_invariants"

_KEYWORDS = frozenset("""module import export from as const var def pure val nondet action temporal run assume type
if else all any and or iff implies not Set List Map match Bool Int Nat str true false init step""".split())


def id_names(count: int) -> list[str]:
    """The ids of the finite id set: `op0`, `op1`, …"""
    return [f"op{n}" for n in range(count)]


def step_invariants(machine: Machine) -> list[Invariant]:
    """The invariants with a step part (pre/post formula or ranking): `step_ok` keys."""
    return [inv for inv in machine.invariants if inv.step is not None or inv.ranking is not None]


# --------------------------------------------------------------------------- actions


def _action(machine: Machine, action: Action, variables: list[str], quint_name: str) -> list[str]:
    params = {p.name: param_name(p) for p in action.params}
    pre_names = {f.name: f.name for f in machine.fields}
    signature = ", ".join(f"{param_name(p)}: {quint_type(p.sort)}" for p in action.params)
    lines = [f"  /// {line}" for line in _doc_lines(action.doc)]
    head = f"{quint_name}({signature}): bool" if action.params else quint_name
    lines.append(f"  action {head} = all {{")
    guard_env = Env(machine, pre_names, params=params)
    for g in action.guards:
        lines.append(f"    // {g.name} (else {g.error}): {_one_line(g.reason)}")
        lines.append(f"    {term(g.holds, guard_env)},")
    cur = dict(pre_names)
    for n, effect in enumerate(action.effects, 1):
        env = Env(machine, cur, params=params, fresh=guard_env.fresh)
        new_name = f"{effect.field}_{n}"
        if isinstance(effect, Assign):
            value = term(effect.value, env)
        elif isinstance(effect, AssignAt):
            value = f"{cur[effect.field]}.put({term(effect.key, env)}, {term(effect.value, env)})"
        elif isinstance(effect, AssignAll):
            if machine.field(effect.field).key != ID:
                raise ExportError(f"{action.name}: pointwise write of {effect.field}, which is not keyed by id")
            inner, x = env.bind(effect.var)
            value = f"IDS.mapBy({x} => {term(effect.value, inner)})"
        else:  # pragma: no cover - Effect is a closed union
            raise ExportError(f"unknown effect {effect!r}")
        lines.append(f"    val {new_name} = {value}")
        cur[effect.field] = new_name
    lines.append("    all {")
    for name in variables:
        if name == STEP_OK:
            continue
        lines.append(f"      {name}' = {cur[name]},")
    lines.append(f"      {STEP_OK}' = {_step_ok(machine, action, pre_names, cur, params)},")
    lines.append("    }")
    lines.append("  }")
    return lines


def _step_fields(machine: Machine, inv: Invariant) -> list[str]:
    """The fields the step part of `inv` reads (before or after the step), in field order."""
    roots: list[Term] = [t for t in (inv.step,) if t is not None]
    if inv.ranking is not None:
        roots += [inv.ranking.active, inv.ranking.same_episode, inv.ranking.pending]
    read = {node.field for root in roots for node in walk(root) if isinstance(node, Read)}
    return [f.name for f in machine.fields if f.name in read]


def _step_params(machine: Machine) -> list[Param]:
    seen: dict[str, Param] = {}
    for a in machine.actions:
        for p in a.params:
            seen.setdefault(p.name, p)
    return list(seen.values())


def _step_definitions(machine: Machine) -> list[str]:
    """One `pure def` per invariant with a step part, over the fields it reads before (`pre_f`)
    and after (`post_f`) the step, the action (`act`) and the parameters (every action passes
    its own, the others a placeholder that only formulas about other actions could read)."""
    params = _step_params(machine)
    lines = ["  // ------------------------------------------------------------ step parts of invariants"]
    for inv in step_invariants(machine):
        names = _step_fields(machine, inv)
        args = (["act: str"] + [f"pre_{n}: {field_type(machine, n)}" for n in names]
                + [f"post_{n}: {field_type(machine, n)}" for n in names]
                + [f"{param_name(p)}: {quint_type(p.sort)}" for p in params])
        env = Env(machine, {n: f"post_{n}" for n in names}, {n: f"pre_{n}" for n in names},
                  {p.name: param_name(p) for p in params}, action_arg="act", picked=False)
        parts = []
        if inv.step is not None:
            parts.append(term(inv.step, env))
        if inv.ranking is not None:
            parts.append(_ranking(inv, env))
        lines.append(f"  /// the step part of {inv.name}")
        lines.append(f"  pure def step_{inv.name}({', '.join(args)}): bool =")
        lines.append("    " + (parts[0] if len(parts) == 1 else "(" + " and ".join(parts) + ")"))
    return lines


def _placeholder(sort: Sort) -> str:
    if sort == BOOL:
        return "false"
    if sort == INT:
        return "0"
    if sort == ID_SET:
        return "Set()"
    return literal(sort.members[0] if sort.is_enum else "")


def _step_ok(machine: Machine, action: Action, pre: Mapping[str, str], post: Mapping[str, str],
             params: Mapping[str, str]) -> str:
    entries = []
    for inv in step_invariants(machine):
        names = _step_fields(machine, inv)
        args = ([literal(action.name)] + [pre[n] for n in names] + [post[n] for n in names]
                + [params.get(p.name, _placeholder(p.sort)) for p in _step_params(machine)])
        entries.append(f"{literal(inv.name)} -> step_{inv.name}({', '.join(args)})")
    if not entries:
        return "Map()"
    return "Map(\n        " + ",\n        ".join(entries) + ")"


def _ranking(inv: Invariant, env: Env) -> str:
    """As `spec.model.ranking_holds`: while the request stays active and the same, its
    pending set gains no member."""
    r = inv.ranking
    assert r is not None and env.pre is not None
    pre_env = replace(env, cur=env.pre, pre=None)
    post_only = replace(env, pre=None)
    inner_post, x = post_only.bind(r.var)
    inner_pre = replace(pre_env, bound=dict(inner_post.bound))
    grows = f"IDS.forall({x} => ({term(r.pending, inner_post)} implies {term(r.pending, inner_pre)}))"
    return (f"(not({term(r.active, pre_env)}) or not({term(r.active, post_only)}) or "
            f"not({term(r.same_episode, env)}) or {grows})")


def _doc_lines(doc: str) -> list[str]:
    text = _one_line(doc)
    return [text] if text else []


def _one_line(text: str) -> str:
    return " ".join(text.split())


# --------------------------------------------------------------------------- module


def _clashes(machine: Machine) -> frozenset[str]:
    """Names a Quint action or invariant `val` cannot take: the variables and definitions."""
    return frozenset([f.name for f in machine.fields] + list(_DEFINITIONS) + list(_KEYWORDS - {"init", "step"})
                     + [f"{s.name.upper()}_VALUES" for s in machine.sorts])


_DEFINITIONS = (STEP_OK, ALL_INVARIANTS, "IDS", "CONFIGS", "KEY_RANK", "FRESH_RANK", "INT_PARAMS", "getOr",
                "init", "step")


def action_names(machine: Machine) -> dict[str, str]:
    """Spec action -> its Quint name: the same, or `do_<name>` where that is a variable
    (`peer_ready` is both an action and a field of the registry). `mbt::actionTaken`
    reports the Quint name; `interop.itf` maps it back with this table."""
    taken = _clashes(machine)
    out = {a.name: f"do_{a.name}" if a.name in taken else a.name for a in machine.actions}
    _unique(machine, list(out.values()) + list(invariant_names(machine).values()), taken)
    return out


def invariant_names(machine: Machine) -> dict[str, str]:
    """Spec invariant -> its Quint `val`: the same, or `inv_<name>` where that is taken."""
    taken = _clashes(machine) | {a.name for a in machine.actions}
    return {i.name: f"inv_{i.name}" if i.name in taken else i.name for i in machine.invariants}


def _unique(machine: Machine, names: list[str], taken: frozenset[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen or name in taken:
            raise ExportError(f"{machine.name}: the name {name!r} clashes in Quint")
        seen.add(name)


def _configs(machine: Machine) -> list[dict[str, bool | int | str]]:
    rigid = [f.name for f in machine.fields if f.rigid]
    if not rigid:
        return []
    out = []
    for config in machine.configs():
        values = config.as_dict()
        initial_state(machine, values)  # the assumptions hold (SpecError otherwise)
        out.append({name: values.get(name, machine.field(name).default.value) for name in rigid})
    return out


def variables(machine: Machine) -> list[str]:
    """The module's variables in order: the spec's fields, then `step_ok`."""
    return [f.name for f in machine.fields] + [STEP_OK]


def export(machine: Machine, ids: int = 3) -> str:
    """The Quint module of `machine` over `ids` operation ids."""
    if ids < 1:
        raise ExportError("the id set needs at least one id")
    actions = action_names(machine)
    names = id_names(ids)
    ranked = sorted(names + [""], key=json_key)
    config_rows = _configs(machine)
    out = [f"// Generated by `opsref export --quint` from the opsref spec: machine {machine.name}, "
           f"profile {machine.profile}, {ids} ids, digest {machine.digest}. Do not edit.",
           f"module {machine.name} {{"]
    out += [f"  /// {_one_line(machine.doc).split('. ')[0]}."] if machine.doc.strip() else []
    out += [
        "  // ------------------------------------------------------------ domains",
        f"  pure val IDS: Set[str] = Set({', '.join(literal(n) for n in names)})",
        "  /// the seed's id order (JSON encodings compared as strings); \"\" is nobody",
        "  pure val KEY_RANK: str -> int = Map(" + ", ".join(f"{literal(n)} -> {r}" for r, n in enumerate(ranked)) + ")",
        f"  pure val FRESH_RANK: int = {len(ranked)}",
        f"  pure val INT_PARAMS: Set[int] = 0.to({INT_PARAM_MAX})",
        "  pure def getOr(m: a -> b, k: a, d: b): b = if (m.keys().contains(k)) m.get(k) else d",
    ]
    for sort in machine.sorts:
        out.append(f"  pure val {sort.name.upper()}_VALUES: Set[str] = Set({', '.join(literal(m) for m in sort.members)})")
    if config_rows:
        rigid = [f.name for f in machine.fields if f.rigid]
        record_type = "{ " + ", ".join(f"{n}: {quint_type(machine.field(n).sort)}" for n in rigid) + " }"
        rows = ",\n    ".join("{ " + ", ".join(f"{k}: {literal(v)}" for k, v in row.items()) + " }" for row in config_rows)
        out.append(f"  /// the configurations the bounded checks run under ({', '.join(c.tag for c in machine.configs())})")
        out.append(f"  pure val CONFIGS: Set[{record_type}] = Set(\n    {rows})")
    out.append("")
    out.append("  // ------------------------------------------------------------ state")
    for f in machine.fields:
        notes = ", ".join(x for x in ("configuration" if f.rigid else "", "ghost" if f.ghost else "") if x)
        doc = _one_line(f.doc) + (f" ({notes})" if notes else "")
        out.append(f"  var {f.name}: {field_type(machine, f.name)}" + (f"  // {doc}" if doc.strip() else ""))
    out.append(f"  /// per invariant with a step part: whether the last step kept it")
    out.append(f"  var {STEP_OK}: str -> bool")
    out.append("")
    out += _init(machine, bool(config_rows))
    out += _step_definitions(machine)
    out.append("")
    order = variables(machine)
    for action in machine.actions:
        out.append("")
        out += _action(machine, action, order, actions[action.name])
    out.append("")
    out += _invariants(machine)
    out.append("")
    out += _step(machine)
    out.append("}")
    return "\n".join(out) + "\n"


def _init(machine: Machine, configured: bool) -> list[str]:
    init = dict(machine.init)
    env = Env(machine, {f.name: f"config.{f.name}" if f.rigid else literal(f.default.value) for f in machine.fields})
    lines = ["  action init = {"]
    indent = "    "
    if configured:
        lines.append("    nondet config = CONFIGS.oneOf()")
    lines.append(f"{indent}all {{")
    for f in machine.fields:
        if f.rigid:
            value = f"config.{f.name}"
        elif f.key == ID:
            value = f"IDS.mapBy(x => {literal(f.default.value)})"
        elif f.key is not None:
            value = "Map()"
        elif f.name in init:
            value = term(init[f.name], env)  # globals only: reads of configuration fields
        else:
            value = literal(f.default.value)
        lines.append(f"{indent}  {f.name}' = {value},")
    entries = ", ".join(f"{literal(inv.name)} -> true" for inv in step_invariants(machine))
    lines.append(f"{indent}  {STEP_OK}' = Map({entries}),")
    lines.append(f"{indent}}}")
    lines.append("  }")
    return lines


def _invariants(machine: Machine) -> list[str]:
    env = Env(machine, {f.name: f.name for f in machine.fields})
    stepped = {inv.name for inv in step_invariants(machine)}
    names = invariant_names(machine)
    lines = ["  // ------------------------------------------------------------ invariants (Z3-proved in opsref)"]
    for inv in machine.invariants:
        parts = []
        if inv.state is not None:
            parts.append(term(inv.state, env))
        if inv.name in stepped:
            parts.append(f"{STEP_OK}.get({literal(inv.name)})")
        lines.append(f"  /// {_one_line(inv.sentence)}")
        lines.append(f"  val {names[inv.name]} = " + (" and ".join(parts) if parts else "true"))
    lines.append(f"  val {ALL_INVARIANTS} = and {{ {', '.join(names[inv.name] for inv in machine.invariants)} }}")
    return lines


def _domain(sort: Sort) -> str:
    if sort == ID:
        return "IDS"
    if sort == ID_SET:
        return "IDS.powerset()"
    if sort == BOOL:
        return "Set(false, true)"
    if sort == INT:
        return "INT_PARAMS"
    if sort.is_enum:
        return f"{sort.name.upper()}_VALUES"
    raise ExportError(f"no finite domain for parameters of sort {sort}")


def _step(machine: Machine) -> list[str]:
    lines = ["  // ------------------------------------------------------------ step",
             "  action step = any {"]
    for action in machine.actions:
        picks = [f"nondet {param_name(p)} = {_domain(p.sort)}.oneOf()" for p in action.params]
        call = action_names(machine)[action.name] + (f"({', '.join(param_name(p) for p in action.params)})" if action.params else "")
        if picks:
            lines.append("    {")
            lines += [f"      {pick}" for pick in picks]
            lines.append(f"      {call}")
            lines.append("    },")
        else:
            lines.append(f"    {call},")
    lines.append("  }")
    return lines

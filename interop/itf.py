"""ITF (the Informal Trace Format of Apalache and Quint) in and out.

In: a trace written by `quint run --mbt --out-itf=...` from an `opsref export --quint`
module is replayed on the spec model (`spec.model`). With `--mbt`, Quint records in
every state the action it took (`mbt::actionTaken`, the Quint name, mapped back with
`interop.quint.action_names`) and its nondeterministic picks (`mbt::nondetPicks`, one
`p_<param>` per parameter). State 0 is `init`: its configuration fields give the model's
configuration. Every later state is one step: the spec must accept the action with those
parameters, and every variable of the ITF state must equal the model's state after the
step (a keyed field entry by entry, missing entries read as the field's default; `step_ok`
as the model's verdict on each invariant's step part). The first disagreement is a
divergence, at its step and variable. A trace that agrees but reaches a state violating an
invariant is a finding too (a Quint counterexample, replayed).

Out: `trace` turns a walk of the spec (configuration, actions with parameters) into an ITF
trace with the export's variable encoding, so a counterexample found here can be read by
ITF tools, and read back by `check`.

`itf-py` decodes the field values (`#bigint`, `#map`, `#set`); the picks are decoded here,
because itf-py turns a variant into a namedtuple named after its tag and Quint's `None`
tag is a Python keyword (itf-py 0.5 raises ValueError on every `--mbt` trace).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from itf_py import value_from_json

from opsref.conformance.calls import BadInput, InputError
from opsref.interop.quint import PARAM_PREFIX, STEP_OK, action_names, step_invariants
from opsref.spec.machine import Invariant, Machine
from opsref.spec.model import (
    Accepted, State, Value, evaluate, initial_state, ranking_holds, step, violated_invariants,
)
from opsref.spec.terms import BOOL, ID, ID_SET, INT, Sort

ACTION_TAKEN = "mbt::actionTaken"
NONDET_PICKS = "mbt::nondetPicks"
#: bounded input: an ITF file larger than this is refused rather than read into memory
MAX_BYTES = 256 * 1024 * 1024

Step = tuple[str, dict[str, Value]]


class ItfError(BadInput):
    """A malformed ITF trace: names the file, the state and the field."""

    def __init__(self, source: str, where: str, message: str) -> None:
        InputError.__init__(self, f"{source}: {where}: {message}" if where else f"{source}: {message}")
        self.field = where
        self.message = message


# --------------------------------------------------------------------------- reading


def looks_like_itf(path: str, head: bytes) -> bool:
    """An ITF trace: a `.itf.json` file, or a JSON object (not JSON lines) with `states`."""
    if path.endswith(".itf.json"):
        return True
    text = head.lstrip()
    if not text.startswith(b"{"):
        return False
    try:
        first = json.loads(text.split(b"\n", 1)[0])
    except ValueError:  # the object spans several lines: an ITF document, not a trace line
        return b'"states"' in head
    return isinstance(first, dict) and "states" in first


def load(path: str) -> dict[str, Any]:
    """The ITF document at `path` (InputError when it is not readable JSON with `states`)."""
    try:
        size = Path(path).stat().st_size
        if size > MAX_BYTES:
            raise ItfError(path, "", f"{size} bytes is more than the {MAX_BYTES} an ITF trace may have")
        raw = Path(path).read_bytes()
    except OSError as err:
        raise InputError(f"cannot read {path}: {err.strerror}") from None
    return parse(raw, path)


def parse(raw: bytes, source: str) -> dict[str, Any]:
    try:
        doc = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise ItfError(source, "", f"not UTF-8 ({err.reason} at byte {err.start})") from None
    except json.JSONDecodeError as err:
        raise ItfError(source, f"line {err.lineno}", f"malformed JSON: {err.msg}") from None
    except RecursionError:
        raise ItfError(source, "", "JSON nested too deeply") from None
    if not isinstance(doc, dict):
        raise ItfError(source, "", "an ITF trace is a JSON object with `vars` and `states`")
    states = doc.get("states")
    if not isinstance(states, list) or not states:
        raise ItfError(source, "field states", "missing or not a non-empty array")
    for n, s in enumerate(states):
        if not isinstance(s, dict):
            raise ItfError(source, f"state {n}", "not a JSON object")
    checked: dict[str, Any] = doc
    return checked


def detect_machine(doc: Mapping[str, Any], machines: Sequence[Machine], source: str) -> Machine:
    """The machine whose fields are the trace's variables (our writer also names it in `#meta`)."""
    meta = doc.get("#meta")
    named = meta.get("opsref_machine") if isinstance(meta, dict) else None
    if isinstance(named, str):
        for m in machines:
            if m.name == named:
                return m
        raise ItfError(source, "field #meta.opsref_machine", f"unknown machine {named!r}")
    first = doc["states"][0]
    names = {k for k in first if not k.startswith("mbt::") and k not in ("#meta", STEP_OK)}
    for m in machines:
        if names == {f.name for f in m.fields}:
            return m
    raise ItfError(source, "state 0", f"its variables {sorted(names)} are the fields of no machine "
                   f"({', '.join(m.name for m in machines)})")


def _decode(raw: Any, sort: Sort, source: str, where: str) -> Value:
    try:
        value = value_from_json(raw)
    except (ValueError, TypeError, KeyError, RecursionError) as err:
        raise ItfError(source, where, f"cannot decode the value: {err}"[:200]) from None
    return _typed(value, sort, source, where)


def _typed(value: Any, sort: Sort, source: str, where: str) -> Value:
    if sort == BOOL:
        ok = isinstance(value, bool)
    elif sort == INT:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif sort == ID_SET:
        ok = isinstance(value, frozenset) and all(isinstance(v, str) for v in value)
    elif sort == ID:
        ok = isinstance(value, str)
    else:
        ok = isinstance(value, str) and value in sort.members
    if not ok:
        expected = (f"one of {', '.join(sort.members)}" if sort.is_enum else
                    {"bool": "a boolean", "int": "an integer ({\"#bigint\": ...})", "id": "a string",
                     "id_set": "a set of strings"}.get(sort.name, sort.name))
        raise ItfError(source, where, f"expected {expected}, got {value!r}")
    result: Value = value
    return result


def _field_value(machine: Machine, name: str, raw: Any, source: str, where: str) -> Value | dict[Value, Value]:
    f = machine.field(name)
    if f.key is None:
        return _decode(raw, f.sort, source, where)
    try:
        decoded = value_from_json(raw)
    except (ValueError, TypeError, KeyError, RecursionError) as err:
        raise ItfError(source, where, f"cannot decode: {err}") from None
    if not isinstance(decoded, dict):
        raise ItfError(source, where, f"expected a map ({{\"#map\": [[key, value], ...]}}), got {decoded!r}"[:200])
    return {_typed(k, f.key, source, f"{where} key"): _typed(v, f.sort, source, f"{where}[{k}]")
            for k, v in decoded.items()}


# --------------------------------------------------------------------------- checking


@dataclass(frozen=True)
class Divergence:
    step: int          # the ITF state index (state 0 is init)
    action: str
    variable: str      # a field, `field[key]`, `step_ok[invariant]`, or the refused action's guard
    expected: str
    observed: str
    explanation: str = ""


@dataclass
class ItfResult:
    source: str
    machine: str
    profile: str
    states: int = 0
    divergence: Divergence | None = None
    #: the first state (index, action) after which the spec's invariants fail, with their names
    violation: tuple[int, str, list[str]] | None = None
    actions: dict[str, int] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        return self.divergence is None and self.violation is None


def _compare(machine: Machine, expected: State, observed: Mapping[str, Any], index: int, action: str,
             source: str) -> Divergence | None:
    for f in machine.fields:
        where = f"state {index} field {f.name}"
        if f.name not in observed:
            raise ItfError(source, where, "missing")
        value = _field_value(machine, f.name, observed[f.name], source, where)
        if f.key is None:
            want = expected.get(machine, f.name)
            if not _same(want, value):
                return Divergence(index, action, f.name, _show(want), _show(value))
            continue
        assert isinstance(value, dict)
        default = f.default.value
        keys = set(expected.maps[f.name]) | set(value)
        for key in sorted(keys, key=lambda k: (str(type(k)), k)):
            want = expected.get(machine, f.name, key)
            got = value.get(key, default)
            if not _same(want, got):
                return Divergence(index, action, f"{f.name}[{key}]", _show(want), _show(got))
    return None


def _brief(raw: Any) -> str:
    try:
        return json.dumps(raw)[:80]
    except (ValueError, TypeError, RecursionError):
        return type(raw).__name__


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def _show(v: Any) -> str:
    if isinstance(v, frozenset):
        return "{" + ", ".join(sorted(map(str, v))) + "}"
    return json.dumps(v) if isinstance(v, str) else str(v).lower() if isinstance(v, bool) else str(v)


def step_part_holds(machine: Machine, inv: Invariant, pre: State, post: State, action: str,
                    params: Mapping[str, Value]) -> bool:
    """The step part of `inv` (formula and ranking) on pre → post: what `step_ok` records."""
    if inv.step is not None and evaluate(machine, inv.step, post, params, pre=pre, action=action) is not True:
        return False
    return inv.ranking is None or ranking_holds(machine, inv, pre, post, params)


def _picks(machine: Machine, spec_action: str, raw: Any, source: str, index: int) -> dict[str, Value]:
    where = f"state {index} field {NONDET_PICKS}"
    if not isinstance(raw, dict):
        raise ItfError(source, where, "missing or not a record (run quint with --mbt)")
    params: dict[str, Value] = {}
    for p in machine.action(spec_action).params:
        key = PARAM_PREFIX + p.name
        pick = raw.get(key)
        if not (isinstance(pick, dict) and pick.get("tag") in ("Some", "None") and "value" in pick):
            raise ItfError(source, f"{where}.{key}", f"expected {{\"tag\": \"Some\", \"value\": ...}}, got {_brief(pick)}")
        if pick["tag"] != "Some":
            raise ItfError(source, f"{where}.{key}", f"{spec_action} was taken but its parameter {p.name} was not picked")
        params[p.name] = _decode(pick["value"], p.sort, source, f"{where}.{key}")
    return params


def _step_ok(machine: Machine, observed: Mapping[str, Any], pre: State, post: State, action: str,
             params: Mapping[str, Value], index: int, source: str) -> Divergence | None:
    if STEP_OK not in observed:
        return None  # a trace from elsewhere need not carry it
    where = f"state {index} field {STEP_OK}"
    try:
        recorded = value_from_json(observed[STEP_OK])
    except (ValueError, TypeError, KeyError, RecursionError) as err:
        raise ItfError(source, where, f"cannot decode: {err}") from None
    if not isinstance(recorded, dict):
        raise ItfError(source, where, "expected a map from invariant names to booleans")
    for inv in step_invariants(machine):
        want = True if index == 0 else step_part_holds(machine, inv, pre, post, action, params)
        got = recorded.get(inv.name)
        if not _same(want, got):
            return Divergence(index, action, f"{STEP_OK}[{inv.name}]", _show(want), _show(got),
                              f"whether the step kept the step part of {inv.name}")
    return None


def check(machine: Machine, doc: Mapping[str, Any], source: str) -> ItfResult:
    """Replay the ITF trace `doc` on `machine`: the first divergence, or the first violation."""
    states = doc["states"]
    result = ItfResult(source, machine.name, machine.profile, len(states))
    from_quint = {q: a for a, q in action_names(machine).items()}
    first = states[0]
    config: dict[str, Value] = {}
    for f in machine.fields:
        if f.rigid:
            if f.name not in first:
                raise ItfError(source, f"state 0 field {f.name}", "missing (a configuration field)")
            value = _decode(first[f.name], f.sort, source, f"state 0 field {f.name}")
            config[f.name] = value
    try:
        state = initial_state(machine, config)
    except Exception as err:  # SpecError: the configuration breaks an assumption
        raise ItfError(source, "state 0", str(err)) from None
    result.divergence = (_compare(machine, state, first, 0, "init", source)
                         or _step_ok(machine, first, state, state, "init", {}, 0, source))
    if result.divergence is not None:
        return result
    bad = violated_invariants(machine, state)
    if bad:
        result.violation = (0, "init", [inv.name for inv in bad])
    for index, observed in enumerate(states[1:], 1):
        taken = observed.get(ACTION_TAKEN)
        if not isinstance(taken, str):
            raise ItfError(source, f"state {index} field {ACTION_TAKEN}", "missing (run quint with --mbt)")
        if taken not in from_quint:
            raise ItfError(source, f"state {index} field {ACTION_TAKEN}",
                           f"{taken!r} is no action of {machine.name}")
        action = from_quint[taken]
        params = _picks(machine, action, observed.get(NONDET_PICKS), source, index)
        shown = f"{action}({', '.join(f'{k}={_show(v)}' for k, v in params.items())})"
        outcome = step(machine, state, action, params)
        if not isinstance(outcome, Accepted):
            result.divergence = Divergence(index, shown, f"guard {outcome.guard.name}", "refused",
                                           "taken", f"the spec refuses it: {outcome.error} ({outcome.guard.reason})")
            return result
        result.actions[action] = result.actions.get(action, 0) + 1
        pre, state = state, outcome.state
        result.divergence = (_compare(machine, state, observed, index, shown, source)
                             or _step_ok(machine, observed, pre, state, action, params, index, source))
        if result.divergence is not None:
            return result
        if result.violation is None:
            bad = violated_invariants(machine, state, pre, action, params)
            if bad:
                result.violation = (index, shown, [inv.name for inv in bad])
    return result


def render(result: ItfResult) -> str:
    head = f"{result.source}: ITF trace of {result.machine}/{result.profile}, {result.states} states"
    d = result.divergence
    if d is not None:
        lines = [f"{head}: DIVERGENCE at step {d.step} ({d.action}) in {d.variable}",
                 f"  expected (spec): {d.expected}", f"  observed (ITF):  {d.observed}"]
        if d.explanation:
            lines.append(f"  {d.explanation}")
        return "\n".join(lines)
    if result.violation is not None:
        index, action, names = result.violation
        return (f"{head}: agrees with the spec at every step, and after step {index} ({action}) "
                f"the spec's state violates {', '.join(names)}")
    return f"{head}: every step agrees with the spec, every invariant holds"


# --------------------------------------------------------------------------- writing


def _encode(value: Any) -> Any:
    if isinstance(value, bool) or isinstance(value, str):
        return value
    if isinstance(value, int):
        return {"#bigint": str(value)}
    if isinstance(value, frozenset):
        return {"#set": [_encode(v) for v in sorted(value, key=lambda x: (str(type(x)), x))]}
    if isinstance(value, dict):
        return {"#map": [[_encode(k), _encode(v)] for k, v in sorted(value.items(), key=lambda kv: (str(type(kv[0])), kv[0]))]}
    raise TypeError(f"no ITF encoding for {value!r}")


def _values(machine: Machine, state: State, ids: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in machine.fields:
        if f.key is None:
            out[f.name] = _encode(state.get(machine, f.name))
        elif f.key == ID:  # as the export: a map over every id of the trace
            out[f.name] = _encode({i: state.get(machine, f.name, i) for i in ids})
        else:
            out[f.name] = _encode(dict(state.maps[f.name]))
    return out


def trace(machine: Machine, config: Mapping[str, Value], steps: Sequence[Step],
          ids: Sequence[str] | None = None) -> dict[str, Any]:
    """The ITF trace of a walk from Init: one state per accepted step (a refused step is
    skipped: it changes nothing and Quint would not take it). `ids` are the keys of the
    id-keyed maps (default: every id the walk names)."""
    first = initial_state(machine, config)
    state = first
    walk: list[tuple[str, dict[str, Value], State, State]] = []
    for action, params in steps:
        outcome = step(machine, state, action, params)
        if isinstance(outcome, Accepted):
            walk.append((action, dict(params), state, outcome.state))
            state = outcome.state
    if ids is None:
        named: set[str] = set(first.ids())
        for action, params, _, post in walk:
            named |= post.ids()
            for p in machine.action(action).params:
                value = params[p.name]
                named |= set(value) if isinstance(value, frozenset) else {str(value)} if p.sort == ID else set()
        ids = sorted(named)
    names = action_names(machine)
    all_params = sorted({p.name for a in machine.actions for p in a.params})
    none = {"tag": "None", "value": {"#tup": []}}

    def picks(action: str | None, params: Mapping[str, Value]) -> dict[str, Any]:
        taken = {p.name for p in machine.action(action).params} if action else set()
        return {PARAM_PREFIX + p: ({"tag": "Some", "value": _encode(params[p])} if p in taken else none)
                for p in all_params}

    def step_ok(pre: State, post: State, action: str | None, params: Mapping[str, Value]) -> Any:
        return _encode({inv.name: action is None or step_part_holds(machine, inv, pre, post, action, params)
                        for inv in step_invariants(machine)})

    states = [{"#meta": {"index": 0}, **_values(machine, first, ids), STEP_OK: step_ok(first, first, None, {}),
               ACTION_TAKEN: "init", NONDET_PICKS: picks(None, {})}]
    for n, (action, params, pre, post) in enumerate(walk, 1):
        states.append({"#meta": {"index": n}, **_values(machine, post, ids),
                       STEP_OK: step_ok(pre, post, action, params),
                       ACTION_TAKEN: names[action], NONDET_PICKS: picks(action, params)})
    return {
        "#meta": {"format": "ITF", "format-description": "https://apalache-mc.org/docs/adr/015adr-trace.html",
                  "source": "opsref", "opsref_machine": machine.name, "opsref_profile": machine.profile},
        "vars": [f.name for f in machine.fields] + [STEP_OK, ACTION_TAKEN, NONDET_PICKS],
        "states": states,
    }


def dumps(doc: Mapping[str, Any]) -> str:
    return json.dumps(doc, separators=(",", ":")) + "\n"


def from_counterexample(machine: Machine, counterexample: Mapping[str, Any]) -> dict[str, Any]:
    """A BMC counterexample of `opsref prove --json` (its `config` label and `trace` of
    actions with parameters) as an ITF trace. `ValueError` when it is not one of `machine`'s."""
    label = counterexample.get("config")
    configs = [c for c in machine.configs() if c.label == label]
    if not configs:
        raise ValueError(f"configuration {label!r} is none of {machine.name}'s")
    steps: list[Step] = []
    for entry in counterexample.get("trace", []):
        action = machine.action(str(entry["action"]))
        params: dict[str, Value] = {}
        for p in action.params:
            raw = entry["params"][p.name]
            params[p.name] = frozenset(raw) if p.sort == ID_SET else raw
        steps.append((action.name, params))
    return trace(machine, configs[0].as_dict(), steps)

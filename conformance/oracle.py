"""The oracle: what the spec says every protocol call of the registry returns.

It runs the spec machine (compiled, `spec.compiled`) through one declared table,
`BINDINGS`: each protocol call names the spec action it runs (or the sweep of
`spec.ops_lifecycle.SWEEPS` it performs) and the read of the spec state that gives
its value. Nothing observable is kept beside the spec state: registration order,
the completion feed and the caller's wait_all future are fields of the machine.
Every spec action must be reached by some binding (`check_bindings`), so an action
added to the spec cannot go unseen by the protocol. Every answer comes with a
`Ruling`: the spec guard or effects that made it.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Callable, Mapping, Protocol, Self

from opsref.conformance.calls import CALLS, TRANSITIONS, ProtocolConfig, RegistryConfig, count_arg, text_arg, ids_arg
from opsref.conformance.jsonline import Json, JsonObject
from opsref.spec.compiled import compile_machine
from opsref.spec.machine import Guard, Machine
from opsref.spec.model import Accepted, State, Value, evaluate, initial_state
from opsref.spec.ops_lifecycle import SWEEPS, TERMINAL
from opsref.spec.registry import MACHINES
from opsref.spec.render import effect_text, guard_text
from opsref.spec.terms import Term, Var, walk

Result = JsonObject  # {"ok": value} or {"error": {"kind": ..., fields}}


def as_json(value: Value) -> Json:
    """A spec value as the protocol shows it: a set of ids as a sorted list."""
    return list[Json](sorted(value)) if isinstance(value, frozenset) else value


def spec_value(value: Json) -> Value:
    """A validated argument as a spec parameter: a list of ids as a set."""
    if isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return frozenset(str(v) for v in value)
    raise SpecInconsistent(f"no spec value for the argument {value!r}")


def error_kind(result: Result) -> str:
    """`ok`, or the kind of an error result."""
    if "ok" in result:
        return "ok"
    error = result["error"]
    return str(error.get("kind")) if isinstance(error, dict) else "malformed"


@functools.lru_cache(maxsize=None)  # a machine's few error names, asked for at every refusal
def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class SpecInconsistent(Exception):
    """The spec cannot answer a call the way the protocol maps it (only a broken spec does this)."""


@dataclass
class Ruling:
    """Which spec actions a call ran and, for a refusal, the guard that refused it."""

    steps: list[tuple[str, Guard | None]] = field(default_factory=list)
    note: str = ""
    reads: tuple[tuple[str, str | None], ...] = ()  # (field read, the action that last wrote it)

    def explain(self, machine: Machine) -> list[str]:
        lines = []
        for action_name, refused in self.steps:
            action = machine.action(action_name)
            if refused is not None:
                lines.append(f"spec {machine.name}/{machine.profile}: {action_name} is refused by guard "
                             f"{guard_text(refused)} ({refused.reason})")
                continue
            guards = ", ".join(g.name for g in action.guards) or "none"
            lines.append(f"spec {machine.name}/{machine.profile}: {action_name} is accepted (guards hold: {guards}); "
                         f"effects: {'; '.join(effect_text(e) for e in action.effects[:6])}"
                         + (" ..." if len(action.effects) > 6 else ""))
        if self.note:
            lines.append(self.note)
        for name, writer in self.reads:
            if writer is None:
                lines.append(f"{name} still has its initial value")
                continue
            effects = [effect_text(e) for e in machine.action(writer).effects if e.field == name]
            lines.append(f"{name} was last written by {writer}: {'; '.join(effects)}")
        return lines


_BUILT: dict[str, Machine] = {}


def _machine(profile: str) -> Machine:
    """One machine object per profile, so its compiled form is built once."""
    if profile not in _BUILT:
        _BUILT[profile] = MACHINES["ops_lifecycle"](profile)
    return _BUILT[profile]


# --------------------------------------------------------------------------- the table

#: a validated call's arguments (and, for `value`, `_before`: what `before` read)
Args = Mapping[str, Json]
Read = Callable[["Oracle", Args], Json]


@dataclass(frozen=True)
class Binding:
    """How one protocol call reaches the spec.

    `action` is the spec action the call runs with `params(args)` (None: the call only
    reads); `sweep` names an entry of `SWEEPS` instead. `before` reads the state before
    the action, `value` after it (and gets `before`'s result as `args["_before"]`);
    the `ok` value is `value`'s result (null when there is none). `reads` names the
    fields the value shows, for the explanation of a mismatch."""

    action: str | None = None
    params: Callable[[Args], dict[str, Value]] = lambda args: {}
    sweep: str | None = None
    before: Read | None = None
    value: Read | None = None
    reads: tuple[str, ...] = ()


def _id(args: Args) -> dict[str, Value]:
    return {"id": text_arg(args, "id")}


def _drained(o: "Oracle", args: Args) -> Json:
    head, last = o.number("order_head"), o.number("next_seq")
    return [{"id": str(o.get("order", s)), "outcome": o.shown("outcome", o.get("order", s))}
            for s in range(head + 1, last + 1)]


def _feed(o: "Oracle", args: Args) -> Json:
    head, last = o.number("feed_head"), o.number("next_seq")
    return {"watermark": last, "entries": [
        {"seq": s, "id": str(o.get("order", s)), "outcome": o.shown("feed_outcome", s)}
        for s in range(max(head, count_arg(args, "after")) + 1, last + 1)]}


def _transition(name: str) -> Binding:
    return Binding(name, _id)


#: Every protocol call of the registry (conformance/calls.py) and how it reaches the spec.
BINDINGS: dict[str, Binding] = {
    "register_operation": Binding("register_operation", lambda a: {"id": text_arg(a, "id"), "kind": text_arg(a, "kind")}),
    **{name: _transition(name) for name in TRANSITIONS},
    "register_watcher": Binding("register_watcher", _id, before=lambda o, a: o.get("status", text_arg(a, "id")) in TERMINAL,
                                value=lambda o, a: {"resolved": a["_before"]}, reads=("status",)),
    "terminate_owner": Binding(sweep="terminate_owner", value=lambda o, a: {"terminated": a["_before"]}),
    "collect_completed": Binding("collect_completed", before=_drained, value=lambda o, a: a["_before"],
                                 reads=("order", "outcome")),
    "wait_begin": Binding("wait_request", lambda a: {"ids": frozenset(ids_arg(a, "ids")),
                                                     "has_duplicate": len(set(ids_arg(a, "ids"))) != len(ids_arg(a, "ids"))},
                          value=lambda o, a: {"done": o.get("waiter") == "done"}, reads=("waiter",)),
    "wait_poll": Binding("wait_poll", value=lambda o, a: {"state": o.shown("waiter")}, reads=("waiter",)),
    "wait_cancel": Binding("wait_cancel"),
    "snapshot": Binding(value=lambda o, a: o.snapshot(text_arg(a, "id")), reads=("status",)),
    "operations": Binding(value=lambda o, a: o.operations(), reads=("status",)),
    "active_count": Binding(value=lambda o, a: o.shown("active_count"), reads=("active_count",)),
    "feed": Binding(value=_feed, reads=("order", "feed_outcome", "feed_head", "next_seq")),
    "persist_and_recover": Binding("recover"),
}

#: calls that only read: they run no action
READS = frozenset(name for name, b in BINDINGS.items() if b.action is None and b.sweep is None)


def check_bindings(machine: Machine) -> None:
    """Every protocol call is bound, every binding names an action of `machine`, and every
    action of `machine` is reached by some call: `SpecInconsistent` otherwise."""
    unbound_calls = sorted(set(CALLS) - set(BINDINGS))
    if unbound_calls:
        raise SpecInconsistent(f"protocol call {unbound_calls[0]!r} has no binding to the spec")
    reached = {b.action for b in BINDINGS.values()} | {SWEEPS[b.sweep][0] for b in BINDINGS.values() if b.sweep}
    names = {a.name for a in machine.actions}
    missing = sorted(n for n in reached - names if n is not None)
    if missing:
        raise SpecInconsistent(f"the protocol binds spec action {missing[0]!r}, which {machine.name} does not have")
    unreached = sorted(names - reached)
    if unreached:
        raise SpecInconsistent(f"spec action {unreached[0]!r} of {machine.name} has no protocol binding: "
                               "no call of the protocol reaches it (add one to conformance/oracle.py BINDINGS)")


class SpecOracle(Protocol):
    """What the driver, the checker and the vector writer ask of any machine's spec
    oracle (`Oracle` for the registry, `actions.ActionOracle` for the others)."""

    machine: Machine
    state: State

    def clone(self) -> Self: ...

    def reset(self, config: ProtocolConfig) -> None: ...

    #: when a list (`record_walk()`), every spec step accepted since (and since the last
    #: reset), with its parameters:
    #: the walk an ITF trace of a counterexample records. None (the default) records nothing,
    #: so the driver's hot path and its clones pay nothing for it.
    walk: list[tuple[str, dict[str, Value]]] | None

    def record_walk(self) -> None: ...

    @property
    def ruling(self) -> Ruling: ...

    def operations(self) -> JsonObject: ...

    def call(self, name: str, args: Mapping[str, Json]) -> Result: ...


class Oracle:
    """The spec's answer to each call of the protocol, for one profile and config."""

    def __init__(self, profile: str = "reference", config: ProtocolConfig = RegistryConfig(), machine: Machine | None = None,
                 checked: bool = False) -> None:
        self.machine = machine or _machine(profile)
        self.checked = checked  # check every invariant after every spec step (lock-step tests)
        check_bindings(self.machine)
        self.compiled = compile_machine(self.machine)
        self.writes = {a.name: {f: a.name for f in a.writes} for a in self.machine.actions}
        self.kinds = {error: snake(error) for error in self.machine.errors}
        self.walk: list[tuple[str, dict[str, Value]]] | None = None  # see SpecOracle.walk
        self.reset(config)

    def reset(self, config: ProtocolConfig) -> None:
        self.config = RegistryConfig.of(config)
        self.state: State = initial_state(self.machine, config.spec_config())
        if self.walk is not None:
            self.walk = []
        self._steps: list[tuple[str, Guard | None]] = []
        self._note = ""
        self._reads: tuple[tuple[str, str | None], ...] = ()
        self.last_writer: dict[str, str] = {}  # field -> the last accepted action that wrote it

    def clone(self) -> "Oracle":
        """An independent copy (same machine, same state)."""
        other = Oracle.__new__(Oracle)
        other.machine, other.compiled = self.machine, self.compiled
        other.config, other.checked = self.config, self.checked
        other.state = self.state.copy()
        other.writes, other.kinds = self.writes, self.kinds
        other.last_writer = dict(self.last_writer)
        other.walk = None
        other._steps, other._note, other._reads = [], "", ()
        return other

    def record_walk(self) -> None:
        """Record every accepted spec step from now on (in `walk`)."""
        self.walk = []

    @property
    def ruling(self) -> Ruling:
        """What decided the answer to the last call."""
        return Ruling(list(self._steps), self._note, self._reads)

    # ------------------------------------------------------------ reading the state

    def get(self, name: str, key: Value | None = None) -> Value:
        return self.state.get(self.machine, name, key)

    def number(self, name: str) -> int:
        """A machine-wide integer field (a counter, a sequence number)."""
        value = self.state.globals[name]
        if not isinstance(value, int) or isinstance(value, bool):
            raise SpecInconsistent(f"{name} is not an integer field")
        return value

    def shown(self, name: str, key: Value | None = None) -> Json:
        """A field's value as the protocol shows it."""
        return as_json(self.get(name, key))

    def snapshot(self, id: str) -> JsonObject | None:
        status = self.shown("status", id)
        if status == "absent":
            return None
        outcome = self.shown("outcome", id)
        return {"status": status, "kind": self.shown("kind", id), "peer_ready": self.shown("peer_ready", id),
                "progress": self.shown("progress", id), "watchers": self.shown("watchers", id),
                "outcome": None if outcome == "none" else outcome}

    def operations(self) -> JsonObject:
        tracked = sorted(str(i) for i in self.state.maps["status"])
        return {"active_count": self.shown("active_count"),
                "operations": {i: self.snapshot(i) for i in tracked}}

    # ------------------------------------------------------------ stepping

    def _step(self, action: str, params: Mapping[str, Value]) -> Result | None:
        """Run one spec action in place; an error result if a guard refused it."""
        pre = self.state.copy() if self.checked else None
        refused = self.compiled.apply(self.state, action, params)
        if pre is not None and refused is None:
            bad = self.compiled.violated(self.state, pre, action, params)
            if bad:
                raise SpecInconsistent(f"spec invariant {', '.join(b.name for b in bad)} fails after {action}{params}")
        self._steps.append((action, refused))
        if refused is not None:
            payload = self.compiled.payload(action, refused, self.state, params)
            return {"error": {"kind": self.kinds[refused.error], **{k: as_json(v) for k, v in payload}}}
        self.last_writer.update(self.writes[action])
        if self.walk is not None:
            self.walk.append((action, dict(params)))
        return None

    def _sweep(self, name: str) -> list[str]:
        """Apply the sweep's action while any id satisfies its predicate; the spec's guards
        must accept exactly one of them at each step."""
        action, over = SWEEPS[name]
        var = over_var(over)
        done: list[str] = []
        while True:
            candidates = sorted(str(i) for i in self.state.maps["status"]
                                if evaluate(self.machine, over, self.state, bound={var.name: str(i)}))
            if not candidates:
                return done
            # the compiled step (on a copy): its quantifiers range over the live ops only, where
            # the interpreter would range over every id the state ever mentioned
            enabled = [c for c in candidates if isinstance(self.compiled.step(self.state, action, {"id": c}), Accepted)]
            if len(enabled) != 1:
                raise SpecInconsistent(f"{name}: the spec accepts {action} on {len(enabled)} of the ids "
                                       f"{candidates} (it must accept exactly one at each step)")
            self._step(action, {"id": enabled[0]})
            done.append(enabled[0])

    def call(self, name: str, args: Mapping[str, Json]) -> Result:
        """The spec's result for one (already validated) protocol call."""
        self._steps, self._note, self._reads = [], "", ()
        binding = BINDINGS[name]
        before = binding.before(self, args) if binding.before is not None else None
        if binding.sweep is not None:
            before = list[Json](self._sweep(binding.sweep))
            self._note = f"{name} = {SWEEPS[binding.sweep][0]} while the spec accepts it on some id, one id at a time"
        elif binding.action is not None:
            error = self._step(binding.action, binding.params(args))
            if error is not None:
                return error
        self._reads = tuple((f, self.last_writer.get(f)) for f in binding.reads)
        if binding.value is None:
            return {"ok": None}
        return {"ok": binding.value(self, {**args, "_before": before})}


def over_var(term: Term) -> Var:
    """The id variable a sweep's predicate ranges over."""
    for node in walk(term):
        if isinstance(node, Var):
            return node
    raise SpecInconsistent(f"sweep predicate {term!r} names no variable")


def same_json(a: Json, b: Json) -> bool:
    """JSON equality: unlike Python's ==, true is not 1 and 1.0 is not 1."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_json(v, b[k]) for k, v in a.items())
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b))
    return a == b


def agrees(expected: Result, observed: Result) -> bool:
    """Same value, or the same error kind with every field the spec names equal."""
    if "ok" in expected:
        if "ok" not in observed:
            return False
        want_value, got_value = expected["ok"], observed["ok"]
        if want_value is None:  # the common case, decided without a recursive walk
            return got_value is None
        return same_json(want_value, got_value)
    if "error" not in observed or not isinstance(observed["error"], dict):
        return False
    want, got = expected["error"], observed["error"]
    if not isinstance(want, dict):
        raise SpecInconsistent(f"the spec answered an error that is not an object: {want!r}")
    for k, v in want.items():
        if k not in got:
            return False
        g = got[k]
        if type(v) is not type(g) or (v != g if type(v) in (str, int) else not same_json(v, g)):
            return False
    return True

"""The protocol of every machine but the registry: its calls are the spec's actions.

For `comms_drain`, `mob_adapter` and `runtime_control` the spec's actions are
already the seed's API (one action, one call), so the protocol is derived from
the machine itself: each action is a call whose arguments are the action's
parameters (an id is a string, an enum its member name, a bool a bool, an int
an integer >= 0), answered `{"ok": null}` or `{"error": {"kind", ...}}` with the
fields the refusing guard names; an action that declares `returns` (the seed's return
value: a spawned flag, an operation id, a report's counts) answers them as an object. Two reads show the state in the spec's terms:
`observe {"id"}` (every per-id field but ghosts) and `observe_globals {}`
(every machine-wide field but ghosts and configuration). No configuration: the
header's `config` is `{}`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from opsref.conformance.calls import Arg, BadInput, Call, CallSpec, ProtocolConfig
from opsref.conformance.jsonline import Json, JsonObject, describe
from opsref.conformance.oracle import Result, Ruling, as_json, snake, spec_value
from opsref.spec.compiled import compile_machine
from opsref.spec.machine import Guard, Machine
from opsref.spec.model import State, Value, evaluate, initial_state
from opsref.spec.registry import MACHINES
from opsref.spec.terms import BOOL, ID, INT, Param


READS = frozenset({"observe", "observe_globals"})


@dataclass(frozen=True)
class NoConfig:
    """These machines take no configuration."""

    def to_json(self) -> JsonObject:
        return {}

    @classmethod
    def of(cls, config: ProtocolConfig) -> "NoConfig":
        """`config` as this (a TypeError for the registry's configuration)."""
        if not isinstance(config, cls):
            raise TypeError(f"these machines take no configuration, not a {type(config).__name__}")
        return config

    @classmethod
    def from_json(cls, data: object, where: str = "config") -> "NoConfig":
        if not isinstance(data, dict):
            raise BadInput(where, f"expected an object, got {describe(data)}")
        for name in data:
            raise BadInput(f"{where}.{name}", "unknown setting (this machine takes none)")
        return cls()

    def spec_config(self) -> dict[str, bool | int]:
        return {}


def _arg(p: Param) -> Arg:
    if p.sort == ID:
        return Arg(p.name, "id")
    if p.sort == BOOL:
        return Arg(p.name, "bool")
    if p.sort == INT:
        return Arg(p.name, "count")
    if p.sort.members:
        return Arg(p.name, "enum", p.sort.members)
    raise ValueError(f"parameter {p.name}: sort {p.sort} has no protocol form")


def observed_fields(machine: Machine, per_id: bool) -> tuple[str, ...]:
    return tuple(f.name for f in machine.fields if not f.ghost and not f.rigid
                 and ((f.key == ID) if per_id else (f.key is None)))


#: calls of the protocol itself, which no action may be named
RESERVED = frozenset({"reset", "observe", "observe_globals"})


def calls_for(machine: Machine) -> dict[str, CallSpec]:
    clash = RESERVED & {a.name for a in machine.actions}
    if clash:
        raise ValueError(f"{machine.name}: action {sorted(clash)[0]!r} has the name of a protocol call")
    out = {a.name: CallSpec(a.name, tuple(_arg(p) for p in a.params),
                            "{" + ", ".join(f'"{n}"' for n, _ in a.returns) + "}" if a.returns else "null")
           for a in machine.actions}
    out["observe"] = CallSpec("observe", (Arg("id", "id"),),
                              "{" + ", ".join(f'"{f}"' for f in observed_fields(machine, True)) + "}")
    if observed_fields(machine, False):
        out["observe_globals"] = CallSpec("observe_globals", (),
                                          "{" + ", ".join(f'"{f}"' for f in observed_fields(machine, False)) + "}")
    return out


_BUILT: dict[tuple[str, str], Machine] = {}


def _machine(name: str, profile: str) -> Machine:
    if (name, profile) not in _BUILT:
        _BUILT[(name, profile)] = MACHINES[name](profile)
    return _BUILT[(name, profile)]


class ActionOracle:
    """The spec's answer to each call, for a machine whose calls are its actions."""

    def __init__(self, name: str, profile: str = "reference", config: ProtocolConfig = NoConfig(),
                 machine: Machine | None = None) -> None:
        self.machine = machine or _machine(name, profile)
        self.compiled = compile_machine(self.machine)
        self.per_id = observed_fields(self.machine, True)
        self.globals = observed_fields(self.machine, False)
        #: compute what calls return: accepted calls' values, refusals' error fields (off in
        #: the driver's guides, which only steer: they read the ruling, not the answer)
        self.evaluate_returns = True
        self.walk: list[tuple[str, dict[str, Value]]] | None = None  # see SpecOracle.walk
        self.reset(config)

    def reset(self, config: ProtocolConfig) -> None:
        self.config = NoConfig.of(config)
        self.state: State = initial_state(self.machine, {})
        if self.walk is not None:
            self.walk = []
        self._steps: list[tuple[str, Guard | None]] = []

    def clone(self) -> "ActionOracle":
        other = ActionOracle.__new__(ActionOracle)
        other.machine, other.compiled, other.per_id, other.globals = (
            self.machine, self.compiled, self.per_id, self.globals)
        other.config, other.state, other._steps = self.config, self.state.copy(), []
        other.walk = None
        other.evaluate_returns = self.evaluate_returns
        return other

    def record_walk(self) -> None:
        """Record every accepted spec step from now on (in `walk`)."""
        self.walk = []

    @property
    def ruling(self) -> Ruling:
        return Ruling(list(self._steps))

    def observe(self, key: str) -> dict[str, Value]:
        return {f: self.state.get(self.machine, f, key) for f in self.per_id}

    def observe_globals(self) -> dict[str, Value]:
        return {f: self.state.get(self.machine, f) for f in self.globals}

    def operations(self) -> JsonObject:
        """Everything observable: the globals and every id the state mentions."""
        return {"globals": _shown(self.observe_globals()), "ids": {k: _shown(self.observe(k)) for k in sorted(self.state.ids())}}

    def call(self, name: str, args: Mapping[str, Json]) -> Result:
        self._steps = []
        if name == "observe":
            return {"ok": _shown(self.observe(str(args["id"])))}  # validated: an id
        if name == "observe_globals":
            return {"ok": _shown(self.observe_globals())}
        params = {k: spec_value(v) for k, v in args.items()}
        returns = self.machine.action(name).returns
        pre = self.state.copy() if returns and self.evaluate_returns else None
        refused = self.compiled.apply(self.state, name, params)
        self._steps.append((name, refused))
        if refused is None:
            if self.walk is not None:
                self.walk.append((name, params))
            if not returns or not self.evaluate_returns:
                return {"ok": None}
            return {"ok": {n: as_json(evaluate(self.machine, term, self.state, params, pre, name)) for n, term in returns}}
        if not self.evaluate_returns:
            return {"error": {"kind": snake(refused.error)}}
        payload = self.compiled.payload(name, refused, self.state, params)
        return {"error": {"kind": snake(refused.error), **{k: as_json(v) for k, v in payload}}}


def _shown(values: dict[str, Value]) -> JsonObject:
    return {k: as_json(v) for k, v in values.items()}


def _values(arg: Arg, ids: list[str]) -> list[Json]:
    if arg.kind == "id":
        return list(ids)
    if arg.kind == "bool":
        return [False, True]
    if arg.kind == "count":
        return [0, 1, 2]
    return list(arg.members)


def alphabet(calls: Mapping[str, CallSpec], ids: list[str]) -> list[Call]:
    """Every action over small argument domains, then the per-id reads (a fixed order)."""
    from itertools import product
    out: list[Call] = []
    for spec in calls.values():
        if spec.name in READS:
            continue
        names = [a.name for a in spec.args]
        for combo in product(*(_values(a, ids) for a in spec.args)):
            out.append((spec.name, dict(zip(names, combo))))
    return out + [("observe", {"id": i}) for i in ids]


def probes(calls: Mapping[str, CallSpec], ids: list[str]) -> list[Call]:
    """The reads that show everything observable about `ids`."""
    out: list[Call] = [("observe", {"id": i}) for i in ids]
    return out + ([("observe_globals", {})] if "observe_globals" in calls else [])

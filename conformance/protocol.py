"""One protocol per machine: its calls, configuration, oracle and what the driver draws from.

The registry (`ops_lifecycle`) has its own hand-designed protocol (conformance/
calls.py: snapshots, the feed, the wait handle); every other machine speaks the
action protocol derived from its spec (conformance/actions.py). Everything that
reads or drives traces (check, drive, serve, vectors, mutation runs) goes through
`protocol(name)` and never special-cases a machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Mapping

from opsref.conformance import actions
from opsref.conformance.calls import CALLS, CONFIGS, OBSERVATION, PROBES, BadInput, Call, CallSpec, ProtocolConfig, RegistryConfig, alphabet, schema as build_schema
from opsref.conformance.jsonline import JsonObject, describe
from opsref.conformance.oracle import READS, Oracle, SpecOracle
from opsref.spec.machine import Machine
from opsref.spec.registry import MACHINES


#: the machines the protocol covers: every machine of the spec
SERVED = tuple(MACHINES)


@dataclass(frozen=True)
class MachineProtocol:
    machine: str
    calls: Mapping[str, CallSpec]
    parse_config: Callable[[object, str], ProtocolConfig]
    configs: tuple[ProtocolConfig, ...]  # what the driver runs under (the first two in exhaustive mode)
    reads: frozenset[str]              # calls that change nothing
    make_oracle: Callable[[str, ProtocolConfig, Machine | None], SpecOracle]
    make_alphabet: Callable[[list[str]], list[Call]]
    make_probes: Callable[[list[str]], list[Call]]
    make_observation: Callable[[list[str]], list[Call]]  # reads of the whole state that change nothing
    registrations: int                 # per id, the first calls of the alphabet that create state (weighted up)
    one_id_depth: int                  # how deep mutation runs search exhaustively over one id

    @property
    def default_config(self) -> ProtocolConfig:
        return self.configs[0]

    def oracle(self, profile: str = "reference", config: ProtocolConfig | None = None,
               machine: Machine | None = None) -> SpecOracle:
        return self.make_oracle(profile, self.default_config if config is None else config, machine)

    def call_spec(self, name: object, where: str = "call") -> CallSpec:
        if not isinstance(name, str):
            raise BadInput(where, f"expected a call name, got {describe(name)}")
        try:
            return self.calls[name]
        except KeyError:
            raise BadInput(where, f"unknown call {name!r} for machine {self.machine}") from None

    def id_args(self) -> frozenset[str]:
        """Argument names that hold ids or lists of ids (renamed when shrinking)."""
        return frozenset(a.name for c in self.calls.values() for a in c.args if a.kind in ("id", "ids"))


def _ops() -> MachineProtocol:
    return MachineProtocol(
        "ops_lifecycle", CALLS, RegistryConfig.from_json, CONFIGS, READS,
        lambda profile, config, machine: Oracle(profile, config, machine),
        alphabet, lambda ids: list(PROBES), lambda ids: list(OBSERVATION), 2, 5)


def _actions(name: str) -> MachineProtocol:
    machine = MACHINES[name]("reference")
    calls = actions.calls_for(machine)
    return MachineProtocol(
        name, calls, actions.NoConfig.from_json, (actions.NoConfig(),), actions.READS,
        lambda profile, config, m: actions.ActionOracle(name, profile, config, m),
        lambda ids: actions.alphabet(calls, ids), lambda ids: actions.probes(calls, ids),
        lambda ids: actions.probes(calls, ids), 0,
        10)  # deep set-ups (an input's whole lifecycle) over small state spaces


@lru_cache(maxsize=None)
def protocol(name: str) -> MachineProtocol:
    """The protocol of machine `name` (KeyError for an unknown machine)."""
    if name not in MACHINES:
        raise KeyError(name)
    return _ops() if name == "ops_lifecycle" else _actions(name)


def schema() -> JsonObject:
    """The JSON Schema of a trace line of any machine (conformance/trace.schema.json)."""
    return build_schema({name: protocol(name).calls for name in SERVED if name != "ops_lifecycle"})

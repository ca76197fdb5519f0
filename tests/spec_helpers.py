"""Small helpers the spec tests share: run a call sequence on the spec model and
derive spec variants (one guard, effect or from-set changed) from the real spec."""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

from opsref.spec import model
from opsref.spec.machine import Effect, Guard, Machine
from opsref.spec.model import Accepted, Rejected, State, Value
from opsref.spec.ops_lifecycle import build, configuration

Call = tuple[str, dict[str, Value]]


def fresh(machine: Machine, max_completed: int = 256, max_concurrent: int | None = None) -> State:
    return model.initial_state(machine, configuration(max_completed, max_concurrent))


def run(machine: Machine, state: State, calls: list[Call]) -> State:
    """Apply calls that must all be accepted; fail loudly naming the refused one."""
    for action, params in calls:
        result = model.step(machine, state, action, params)
        assert isinstance(result, Accepted), f"{action}({params}) was refused: {result}"
        state = result.state
    return state


def refusal(machine: Machine, state: State, action: str, params: dict[str, Value]) -> Rejected:
    result = model.step(machine, state, action, params)
    assert isinstance(result, Rejected), f"{action}({params}) was accepted"
    return result


def without_guard(machine: Machine, action: str, guard: str) -> Machine:
    a = machine.action(action)
    return machine.with_action(replace(a, guards=tuple(g for g in a.guards if g.name != guard)))


def with_guard(machine: Machine, action: str, guard: str, change: Callable[[Guard], Guard]) -> Machine:
    a = machine.action(action)
    return machine.with_action(replace(a, guards=tuple(change(g) if g.name == guard else g for g in a.guards)))


def with_effects(machine: Machine, action: str, change: Callable[[tuple[Effect, ...]], tuple[Effect, ...]]) -> Machine:
    a = machine.action(action)
    return machine.with_action(replace(a, body=change(a.effects)))



REFERENCE = build("reference")
SEED = build("seed")

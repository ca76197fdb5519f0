"""impl/runtime_control.py in lock-step with the runtime control plane spec (seed 003).

The spec is one runtime; the binding drives runtime "rt" of a control plane. Each
report the implementation returns is compared with the spec's report fields.
"""

from __future__ import annotations

from typing import Mapping

import pytest
from hypothesis import Phase, settings
from hypothesis.stateful import RuleBasedStateMachine, run_state_machine_as_test

from impl.runtime_control import InputLifecycleState, NotFoundError, ResetReport, RuntimeControlError, RuntimeControlPlane
from spec.model import State, Value
from spec.runtime_control import build
from tests.lockstep_generic import Outcome, View, error_outcome, lockstep_for

SPEC = build("reference")
RID = "rt"
INPUTS = ("i1", "i2", "i3")

#: the counts each report carries (spec field report_<name> = report key inputs_<name>)
REPORT_COUNTS = {
    "retire": ("abandoned", "pending_drain"), "reset": ("abandoned",), "recycle": ("transferred",),
    "recover": ("recovered", "abandoned", "requeued"), "destroy": ("abandoned",),
}


class PlaneBinding:
    def __init__(self, plane_class: type[RuntimeControlPlane] = RuntimeControlPlane) -> None:
        self.plane = plane_class()
        self.report: View = {"report": "none"}

    def call(self, action: str, params: Mapping[str, Value]) -> Outcome:
        args = [RID] + ([str(params["input"])] if "input" in params else [])
        try:
            returned = getattr(self.plane, action)(*args)
        except RuntimeControlError as err:
            return error_outcome(err)
        if action in REPORT_COUNTS:
            counts = returned.to_dict()
            self.report = {"report": action, **{name: counts[f"inputs_{name}"] for name in REPORT_COUNTS[action]}}
        return ("ok", {})

    def view(self, key: str) -> View:
        try:
            state = self.plane.input_state(RID, key)
        except NotFoundError:
            state = None
        return {"input": "none" if state is None else state.value}

    def globals(self) -> View:
        try:
            runtime = self.plane.runtime_state(RID).value
        except NotFoundError:
            runtime = "absent"
        return {"runtime": runtime, **self.report}


def spec_view(state: State, key: str) -> View:
    return {"input": state.get(SPEC, "input", key)}


def spec_globals(state: State) -> View:
    kind = state.get(SPEC, "report")
    counts = {name: state.get(SPEC, f"report_{name}") for name in REPORT_COUNTS.get(str(kind), ())}
    return {"runtime": state.get(SPEC, "runtime"), "report": kind, **counts}


SETUP: tuple[tuple[str, dict[str, Value]], ...] = (("register_runtime", {}), ("runtime_ready", {}))


def lockstep(plane_class: type[RuntimeControlPlane] = RuntimeControlPlane) -> type[RuleBasedStateMachine]:
    return lockstep_for(SPEC, lambda: PlaneBinding(plane_class), spec_view, spec_globals, ids=INPUTS, setup=SETUP)


TestRuntimeControlLockstep = lockstep().TestCase


class ResetKeepsQueue(RuntimeControlPlane):
    """Broken: reset leaves queued inputs queued (its report still counts them)."""

    def reset(self, rid: str) -> ResetReport:
        queued = [i for i, p in self.inputs(rid).items() if p is InputLifecycleState.QUEUED]
        report = super().reset(rid)
        for iid in queued:
            self._runtimes[rid].ledger[iid] = InputLifecycleState.QUEUED
        return report


class RetireAcceptsLater(RuntimeControlPlane):
    """Broken: a retired runtime still accepts input."""

    def accept_input(self, rid: str, iid: str) -> None:
        rt = self._runtimes[rid]
        saved = rt.state
        if saved.value == "retired":
            rt.state = type(saved)("idle")
        try:
            super().accept_input(rid, iid)
        finally:
            rt.state = saved


@pytest.mark.parametrize("broken", [ResetKeepsQueue, RetireAcceptsLater])
def test_a_broken_plane_fails_the_lockstep(broken: type[RuntimeControlPlane]) -> None:
    with pytest.raises(AssertionError):
        run_state_machine_as_test(lockstep(broken), settings=settings(
            max_examples=1000, stateful_step_count=40, deadline=None, derandomize=True, database=None,
            phases=[Phase.generate]))

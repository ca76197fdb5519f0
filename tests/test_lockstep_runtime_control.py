"""impl/runtime_control.py in lock-step with the runtime control plane spec (seed 003).

The spec is one runtime; the binding drives runtime "rt" of a control plane, and
each report the implementation returns is compared with the spec's report fields.
"""

from __future__ import annotations

import pytest
from hypothesis import Phase, settings
from hypothesis.stateful import RuleBasedStateMachine, run_state_machine_as_test

from opsref.conformance.bindings import RuntimeControlBinding
from opsref.impl.runtime_control import (
    InputLifecycleState, InvalidStateError, RecoveryReport, ResetReport, RetireReport, RuntimeControlPlane,
    RuntimeState,
)
from opsref.spec.model import Value
from opsref.spec.runtime_control import build
from tests.disagreement import Disagreement, Expected, matches
from tests.lockstep_generic import lockstep_for

SPEC = build("reference")
SETUP: tuple[tuple[str, dict[str, Value]], ...] = (("register_runtime", {}), ("runtime_ready", {}))


def lockstep(plane: type[RuntimeControlPlane] = RuntimeControlPlane) -> type[RuleBasedStateMachine]:
    return lockstep_for(SPEC, lambda: RuntimeControlBinding(plane), ids=("i1", "i2", "i3"), setup=SETUP)


TestRuntimeControlLockstep = lockstep().TestCase


class ResetKeepsAccepted(RuntimeControlPlane):
    """Broken: reset leaves accepted inputs in the ledger (its report still counts them)."""

    def reset(self, rid: str) -> ResetReport:
        kept = [i for i, p in self.inputs(rid).items() if p is InputLifecycleState.ACCEPTED]
        report = super().reset(rid)
        for iid in kept:
            self._runtimes[rid].ledger[iid] = InputLifecycleState.ACCEPTED
        return report


class RetireAcceptsLater(RuntimeControlPlane):
    """Broken: a retired runtime still accepts input."""

    def accept_input(self, rid: str, iid: str) -> None:
        rt = self._runtimes[rid]
        saved = rt.state
        if saved is RuntimeState.RETIRED:
            rt.state = RuntimeState.IDLE
        try:
            super().accept_input(rid, iid)
        finally:
            rt.state = saved


class EndRunAlwaysIdle(RuntimeControlPlane):
    """Broken: a run ends idle whatever state it began in."""

    def end_run(self, rid: str) -> None:
        super().end_run(rid)
        self._runtimes[rid].state = RuntimeState.IDLE


class RetireAbandonsAccepted(RuntimeControlPlane):
    """Broken: retire with an executor attached abandons the inputs never queued instead of draining them."""

    def retire(self, rid: str) -> RetireReport:
        report = super().retire(rid)
        accepted = [i for i, p in self.inputs(rid).items() if p is InputLifecycleState.ACCEPTED]
        for iid in accepted:
            self._runtimes[rid].ledger[iid] = InputLifecycleState.ABANDONED
        return RetireReport(report.inputs_abandoned + len(accepted), report.inputs_pending_drain - len(accepted))


class RecoverEndsARun(RuntimeControlPlane):
    """Broken: recover is allowed during a run and ends it idle."""

    def recover(self, rid: str) -> RecoveryReport:
        rt = self._runtimes.get(rid)
        if rt is not None and rt.state is RuntimeState.RUNNING:
            rt.state, rt.run_began_in = RuntimeState.IDLE, None
        return super().recover(rid)


class RetireRefusesRetired(RuntimeControlPlane):
    """Broken: retiring a retired runtime is refused (upstream accepts it and changes nothing)."""

    def retire(self, rid: str) -> RetireReport:
        rt = self._runtimes.get(rid)
        if rt is not None and rt.state is RuntimeState.RETIRED:
            raise InvalidStateError(rt.state)
        return super().retire(rid)


class StopAbandonsPendingDrain(RuntimeControlPlane):
    """Broken, as upstream's stop: a retired runtime stops at once, abandoning what its retire left to drain."""

    def stop(self, rid: str) -> None:
        rt = self._runtimes.get(rid)
        if rt is not None and (rt.state is RuntimeState.RETIRED or rt.draining_run()):
            rt.abandon_active()
        super().stop(rid)


class StopKeepsPendingInputs(RuntimeControlPlane):
    """Broken: stop leaves the queued inputs of a serving runtime in the ledger."""

    def stop(self, rid: str) -> None:
        kept = [i for i, p in self.inputs(rid).items() if p is InputLifecycleState.QUEUED]
        super().stop(rid)
        for iid in kept:
            self._runtimes[rid].ledger[iid] = InputLifecycleState.QUEUED


#: what each broken plane is caught by (tests.disagreement.Disagreement.brief)
CAUGHT_BY: dict[type[RuntimeControlPlane], Expected] = {
    ResetKeepsAccepted: ("reset_runtime", "input", "abandoned", "accepted"),
    RetireAcceptsLater: ("accept_input", "answer", "refused with not_ready", "accepted"),
    # a run ends in the state it began in (which run a test draws decides: attached or retired)
    EndRunAlwaysIdle: ("end_run", "runtime", frozenset({"attached", "retired"}), "idle"),
    RetireAbandonsAccepted: ("retire", "input", "accepted", "abandoned"),
    RecoverEndsARun: ("recover", "answer", "refused with invalid_state", "accepted"),
    RetireRefusesRetired: ("retire", "answer", "accepted", "refused with invalid_state"),
    StopAbandonsPendingDrain: ("stop", "answer", "refused with invalid_state", "accepted"),
    StopKeepsPendingInputs: ("stop", "input", "abandoned", "queued"),
}


@pytest.mark.parametrize("broken", list(CAUGHT_BY))
def test_a_broken_plane_fails_the_lockstep(broken: type[RuntimeControlPlane]) -> None:
    with pytest.raises(Disagreement) as caught:
        run_state_machine_as_test(lockstep(broken), settings=settings(
            max_examples=1000, stateful_step_count=40, deadline=None, derandomize=True, database=None,
            phases=[Phase.generate]))
    assert matches(caught.value.brief, CAUGHT_BY[broken]), caught.value

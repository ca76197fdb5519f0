"""impl/comms_drain.py in lock-step with the comms-drain spec (seed 004)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import Phase, settings
from hypothesis.stateful import RuleBasedStateMachine, run_state_machine_as_test

from opsref.conformance.bindings import CommsDrainBinding
from opsref.impl.comms_drain import CommsDrainController, DrainExitReason, DrainPhase, RuntimeState, Unattached
from opsref.spec.comms_drain import build
from opsref.spec.model import Value
from tests.disagreement import Disagreement, Expected, matches
from tests.lockstep_generic import lockstep_for

SPEC = build("reference")

#: two of the three sessions start registered, one with a persistent-host drain running,
#: so random calls reach running drains and their exits early
SETUP: tuple[tuple[str, dict[str, Value]], ...] = (
    ("register_session", {"id": "a"}), ("register_session", {"id": "b"}),
    ("set_peer_ingress_context", {"id": "a", "keep_alive": True, "comms_runtime": 1, "mob": 0}))


def lockstep(controller: type[CommsDrainController] = CommsDrainController,
             ids: tuple[str, ...] = ("a", "b", "c")) -> type[RuleBasedStateMachine]:
    return lockstep_for(SPEC, lambda: CommsDrainBinding(controller()), ids=ids, setup=SETUP)


TestCommsDrainLockstep = lockstep().TestCase


class ExitAlwaysStops(CommsDrainController):
    """Broken: a failed persistent host is never left respawnable."""

    def notify_drain_exited(self, sid: str, reason: DrainExitReason) -> None:
        super().notify_drain_exited(sid, DrainExitReason.DISMISSED if reason is DrainExitReason.FAILED else reason)


class AbortIgnoresDestroyed(CommsDrainController):
    """Broken: abort_all also stops the drain of a destroyed session."""

    def abort_all(self) -> None:
        for sid, snap in list(self._sessions.items()):
            if snap.phase is DrainPhase.RUNNING:
                self._sessions[sid] = replace(snap, phase=DrainPhase.STOPPED)


class AttachReplacesAnyOwner(CommsDrainController):
    """Broken: an attach replaces whatever owner is in place (upstream's DSL refuses a session
    attach over another runtime and a mob attach over another mob)."""

    def set_peer_ingress_context(self, sid: str, keep_alive: bool, comms_runtime: str | None,
                                 mob_id: str | None) -> bool:
        snap = self._sessions.get(sid)
        if comms_runtime is not None and snap is not None and snap.runtime is not RuntimeState.DESTROYED:
            self._sessions[sid] = replace(snap, owner=Unattached())
        return super().set_peer_ingress_context(sid, keep_alive, comms_runtime, mob_id)


#: what each broken controller is caught by (tests.disagreement.Disagreement.brief)
CAUGHT_BY: dict[type[CommsDrainController], Expected] = {
    ExitAlwaysStops: ("notify_drain_exited", "phase", "exited_respawnable", "stopped"),
    # the destroyed session's drain is stopped (its phase), and so its task is no longer alive
    AbortIgnoresDestroyed: [("abort_all", "phase", "running", "stopped"), ("abort_all", "task", "none", "alive")],
    AttachReplacesAnyOwner: ("set_peer_ingress_context", "answer", "refused with validation_failed", "accepted"),
}


@pytest.mark.parametrize("broken", list(CAUGHT_BY))
def test_a_broken_controller_fails_the_lockstep(broken: type[CommsDrainController]) -> None:
    with pytest.raises(Disagreement) as caught:
        run_state_machine_as_test(lockstep(broken, ("a", "b")), settings=settings(
            max_examples=1000, stateful_step_count=30, deadline=None, derandomize=True, database=None,
            phases=[Phase.generate]))  # found is enough: no shrinking
    assert matches(caught.value.brief, CAUGHT_BY[broken]), caught.value

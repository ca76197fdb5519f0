"""impl/mob_adapter.py (over impl/registry.py) in lock-step with the mob adapter spec (seed 002)."""

from __future__ import annotations

import pytest
from hypothesis import Phase, settings
from hypothesis.stateful import RuleBasedStateMachine, run_state_machine_as_test

from opsref.conformance.bindings import MobAdapterBinding
from opsref.impl import OperationLifecycleSnapshot
from opsref.impl.mob_adapter import MobOpsAdapter
from opsref.spec.mob_adapter import build
from tests.disagreement import Disagreement, Expected, matches
from tests.lockstep_generic import lockstep_for

SPEC = build("reference")
SESSIONS = ("s1", "s2")
OPS = ("o1", "o2", "o3", "o4")


def lockstep(adapter: type[MobOpsAdapter] = MobOpsAdapter) -> type[RuleBasedStateMachine]:
    return lockstep_for(SPEC, lambda: MobAdapterBinding(adapter), ids=SESSIONS + OPS,
                        pools={"session": SESSIONS, "op": OPS})


TestMobAdapterLockstep = lockstep().TestCase


class RetireKeepsBinding(MobOpsAdapter):
    """Broken: retire (and abort) forget to clear the session's binding."""

    def _clear_session_binding(self, session_id: str) -> None:
        return None


class ProvisionAlwaysRegisters(MobOpsAdapter):
    """Broken: provision registers a new operation even when one is live."""

    def _matching_operations_for_session(self, session_id: str) -> list[OperationLifecycleSnapshot]:
        return []


class ResolveLeavesProvisioning(MobOpsAdapter):
    """Broken: resolving the live operation answers its id without moving it to Running."""

    def active_operation_id_for_session(self, session_id: str) -> str | None:
        live = [s.id for s in self._matching_operations_for_session(session_id) if not s.status.is_terminal()]
        return live[0] if len(live) == 1 else None


#: what each broken adapter is caught by (tests.disagreement.Disagreement.brief)
CAUGHT_BY: dict[type[MobOpsAdapter], Expected] = {
    RetireKeepsBinding: (frozenset({"abort_member_provision", "mark_member_retired"}), "bound", False, True),
    # the extra registration holds an op the spec does not have: the registry refuses
    # (internal: "operation id … is already in use") a call the spec accepts, or shows the op
    ProvisionAlwaysRegisters: [("mark_member_peer_ready", "answer", "accepted", "refused with internal"),
                               ("report_member_progress", "status", "absent", "running")],
    ResolveLeavesProvisioning: ("active_operation_id_for_session", "status", "running", "provisioning"),
}


@pytest.mark.parametrize("broken", list(CAUGHT_BY))
def test_a_broken_adapter_fails_the_lockstep(broken: type[MobOpsAdapter]) -> None:
    with pytest.raises(Disagreement) as caught:
        run_state_machine_as_test(lockstep(broken), settings=settings(
            max_examples=1000, stateful_step_count=30, deadline=None, derandomize=True, database=None,
            phases=[Phase.generate]))
    assert matches(caught.value.brief, CAUGHT_BY[broken]), caught.value

"""`impl` and the spec model agree call by call; a broken registry is caught."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from opsref.impl import InvalidTransitionError, OperationStatus, OpsLifecycleRegistry
from opsref.impl.registry import S
from tests.lockstep import CALLS, lockstep_machine

TestRegistryAgreesWithSpec = lockstep_machine(OpsLifecycleRegistry).TestCase


class RetireFromProvisioning(OpsLifecycleRegistry):
    """Mutant: request_retire forgets its from-status guard for Provisioning."""

    def request_retire(self, id: str) -> None:
        with self._lock:
            record = self._records.get(id)
            if record is not None and record.status is S.PROVISIONING:
                record.status = OperationStatus.RETIRING
                return
        super().request_retire(id)


class ForgetsTheFeed(OpsLifecycleRegistry):
    """Mutant: cancel_operation forgets one counter update (no completion sequence)."""

    def cancel_operation(self, id: str, reason: str | None = None) -> None:
        super().cancel_operation(id, reason)
        with self._lock:
            self._next_seq -= 1


@pytest.mark.parametrize("broken", [RetireFromProvisioning, ForgetsTheFeed])
def test_a_broken_registry_fails_the_lockstep_machine(broken: type[OpsLifecycleRegistry]) -> None:
    with pytest.raises(AssertionError, match=r": spec .*, registry "):  # the lock-step comparison, not any assert
        run_state_machine_as_test(lockstep_machine(broken),
                                  settings=settings(max_examples=3000, derandomize=True, deadline=None,
                                                    database=None, phases=[Phase.generate]))


def test_a_renewed_slot_registers_a_new_operation_after_its_id_is_used() -> None:
    machine: Any = lockstep_machine(OpsLifecycleRegistry)()  # its rules, called directly
    machine.start(max_completed=1, max_concurrent=None)
    register = next(c for c in CALLS if c[0] == "register_operation" and c[1]["id"] == "a")
    for call in (register, ("renew", {"slot": "a"}), register, register):  # the last one is a duplicate
        machine.protocol_call(call)
    assert machine.oracle.get("registrations") == 2 and machine.ids["a"] != "a"
    machine.teardown()


def test_invalid_transition_error_fields_are_comparable() -> None:
    err = InvalidTransitionError("x", OperationStatus.RUNNING, "mark_retired")
    assert (err.kind, err.id, err.status.value, err.action) == ("invalid_transition", "x", "running", "mark_retired")

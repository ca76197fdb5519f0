"""`impl` and the spec model agree call by call; a broken registry is caught."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from opsref.impl import InvalidTransitionError, OperationStatus, OpsLifecycleRegistry
from opsref.impl.registry import S
from tests.disagreement import Disagreement, matches
from tests.lockstep import CALLS, SLOTS, lockstep_machine

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


def caught(registry: type[OpsLifecycleRegistry]) -> Disagreement:
    with pytest.raises(Disagreement) as caught:
        run_state_machine_as_test(lockstep_machine(registry),
                                  settings=settings(max_examples=3000, derandomize=True, deadline=None,
                                                    database=None, phases=[Phase.generate]))
    return caught.value


def test_a_registry_that_retires_a_provisioning_op_is_caught_at_the_retire() -> None:
    found = caught(RetireFromProvisioning)
    assert matches(found.brief, ("request_retire", "answer", "refused with invalid_transition", "accepted")), found


#: the calls that finish an operation, each adding one feed entry
TERMINAL = frozenset({"provisioning_failed", "fail_operation", "abort_provisioning", "cancel_operation",
                      "mark_retired", "complete_operation", "terminate_owner"})


def test_a_registry_that_forgets_a_sequence_number_is_caught_on_the_feed() -> None:
    # after the cancel, the next op to finish is given the cancelled one's sequence number:
    # the feed read after that call shows it one below the spec's
    found = caught(ForgetsTheFeed)
    call, field, spec, impl = found.brief
    assert call in TERMINAL and found.field.startswith("feed(") and field == "seq", found
    assert isinstance(spec, int) and isinstance(impl, int) and spec == impl + 1, found


def test_a_fresh_registration_registers_a_new_operation_after_its_slots_id_is_used() -> None:
    machine: Any = lockstep_machine(OpsLifecycleRegistry)()  # its rules, called directly
    machine.start(max_completed=1, max_concurrent=None)
    register = next(c for c in CALLS if c[0] == "register_operation" and c[1]["id"] == "a")
    fresh = next(c for c in CALLS if c[0] == "register_fresh" and c[1]["slot"] == "a")
    for call in (register, register, fresh, fresh, register):  # the second and the last are duplicates
        machine.protocol_call(call)
    assert machine.oracle.get("registrations") == 3
    assert sorted(machine.oracle.state.maps["registered"]) == ["a", "a1", "a2"] and machine.ids["a"] == "a2"
    machine.teardown()


def test_fresh_registrations_keep_happening_deep_into_runs() -> None:
    """Hypothesis's own runs of the machine, as long as the ci profile's, register new
    operations late in a run, under ids the slots were renewed to: with a fixed pool of
    ids, never reused, every registration after the pool's fourth would be a duplicate."""
    runs: list[list[tuple[int, str]]] = []  # per run: (protocol step, id) of each registration accepted

    class Counting(lockstep_machine(OpsLifecycleRegistry)):  # type: ignore[misc]
        def ask(self, call: str, args: dict[str, Any], after: str | None = None) -> None:
            before = self.oracle.number("registrations")
            super().ask(call, args, after)
            if after is None:
                self.steps = getattr(self, "steps", 0) + 1
                if self.oracle.number("registrations") > before:
                    self.accepted = getattr(self, "accepted", []) + [(self.steps, args["id"])]

        def teardown(self) -> None:
            if getattr(self, "steps", 0) >= 40:
                runs.append(getattr(self, "accepted", []))
            super().teardown()

    run_state_machine_as_test(Counting, settings=settings(max_examples=60, stateful_step_count=50, derandomize=True,
                                                          deadline=None, database=None, phases=[Phase.generate]))
    assert len(runs) >= 20, len(runs)
    late = [r for r in runs if any(step > 25 for step, _ in r)]
    assert len(late) >= len(runs) // 2, runs  # most long runs still register after step 25
    assert any(step > 40 for r in runs for step, _ in r), runs
    renewed = [(step, id) for r in runs for step, id in r if id not in SLOTS]
    assert len(renewed) >= 2 * len(runs), renewed  # on average two fresh ids registered per run


def test_invalid_transition_error_fields_are_comparable() -> None:
    err = InvalidTransitionError("x", OperationStatus.RUNNING, "mark_retired")
    assert (err.kind, err.id, err.status.value, err.action) == ("invalid_transition", "x", "running", "mark_retired")

"""impl/mob_adapter.py (over impl/registry.py) in lock-step with the mob adapter spec (seed 002)."""

from __future__ import annotations

from typing import Callable, Mapping

import pytest
from hypothesis import Phase, settings
from hypothesis.stateful import RuleBasedStateMachine, run_state_machine_as_test

from impl import OperationLifecycleSnapshot, OperationResult, OpsLifecycleError, OpsLifecycleRegistry
from impl.mob_adapter import MobError, MobOpsAdapter
from spec.mob_adapter import build
from spec.model import State, Value
from spec.ops_lifecycle import LIVE
from tests.lockstep_generic import Outcome, View, lockstep_for

SPEC = build("reference")
SESSIONS = ("s1", "s2")
OPS = ("o1", "o2", "o3", "o4")
POOLS = {"session": SESSIONS, "op": OPS}
UNTRACKED: View = {"status": "absent", "child": "", "reg": 0, "peer_ready": False, "progress": 0}


def registry_index(value: Value) -> int:
    assert isinstance(value, int)
    return value


class AdapterBinding:
    """Spec actions as adapter calls; the operation id a call may register is the action's `op`."""

    def __init__(self, adapter_class: type[MobOpsAdapter] = MobOpsAdapter) -> None:
        self.next_op = ""
        self.adapter = adapter_class(new_operation_id=self.new_operation_id)
        #: registry index -> registry; 0 is the adapter's own fallback
        self.registries = {0: self.adapter.registry(), 1: OpsLifecycleRegistry(), 2: OpsLifecycleRegistry()}

    def new_operation_id(self) -> str:
        """The action's `op`. Real ids are unique across registries (uuids); an id some
        other registry tracks is one the generator would never produce, so it fails
        the call like the registry's AlreadyRegistered would (the spec: Internal)."""
        if any(r.snapshot(self.next_op) is not None for r in self.registries.values()):
            raise MobError(f"operation id {self.next_op} is already in use")
        return self.next_op

    def holder(self, op: str) -> tuple[int, OpsLifecycleRegistry]:
        """The registry tracking `op` (the fallback when none does)."""
        for index, registry in self.registries.items():
            if registry.snapshot(op) is not None:
                return index, registry
        return 0, self.registries[0]

    def call(self, action: str, params: Mapping[str, Value]) -> Outcome:
        session, op = str(params.get("session", "")), str(params.get("op", ""))
        self.next_op = op
        a = self.adapter
        calls: dict[str, Callable[[], object]] = {
            "bind_session_registry": lambda: a.bind_session_registry(
                session, "owner", self.registries[registry_index(params["registry"])]),
            "mark_member_provisioned": lambda: a.mark_member_provisioned(session, "mob/member"),
            "report_member_progress": lambda: a.report_member_progress(session, "turn dispatched"),
            "mark_member_peer_ready": lambda: a.mark_member_peer_ready(session, "mob/member"),
            "mark_member_retired": lambda: a.mark_member_retired(session),
            "abort_member_provision": lambda: a.abort_member_provision(session, op, "mob is stopping"),
            "request_retire": lambda: self.holder(op)[1].request_retire(op),
            "complete_operation": lambda: self.holder(op)[1].complete_operation(op, OperationResult(op, "done")),
        }
        try:
            returned = calls[action]()
        except (MobError, OpsLifecycleError) as err:
            return (err.kind, {})
        if action == "mark_member_provisioned":
            assert returned == a.active_operation_id_for_session(session), "provision returned another id"
        return ("ok", {})

    def view(self, key: str) -> View:
        index, registry = self.holder(key)
        snap = registry.snapshot(key)
        ops = UNTRACKED if snap is None else {
            "status": snap.status.value, "child": snap.child_session_id or "", "reg": index,
            "peer_ready": snap.peer_ready, "progress": snap.progress_count}
        return {**ops, "bound": key in self.adapter.bound_sessions(),
                "live_op": self.adapter.active_operation_id_for_session(key) or ""}

    def globals(self) -> View:
        return {}


def spec_view(state: State, key: str) -> View:
    """The op fields at `key`, and for `key` as a session its binding and its live operation."""
    view: View = {f: state.get(SPEC, f, key) for f in UNTRACKED}
    live = [k for k in OPS if state.get(SPEC, "status", k) in LIVE and state.get(SPEC, "child", k) == key
            and state.get(SPEC, "reg", k) == state.get(SPEC, "binding", key)]
    assert len(live) <= 1
    return {**view, "bound": state.get(SPEC, "bound", key), "live_op": live[0] if live else ""}


def lockstep(adapter_class: type[MobOpsAdapter] = MobOpsAdapter) -> type[RuleBasedStateMachine]:
    return lockstep_for(SPEC, lambda: AdapterBinding(adapter_class), spec_view, ids=SESSIONS + OPS, pools=POOLS)


TestMobAdapterLockstep = lockstep().TestCase


class RetireKeepsBinding(MobOpsAdapter):
    """Broken: retire forgets to clear the session's binding."""

    def _clear_session_binding(self, session_id: str) -> None:
        return None


class ProvisionAlwaysRegisters(MobOpsAdapter):
    """Broken: provision registers a new operation even when one is live."""

    def _matching_operations_for_session(self, session_id: str) -> list[OperationLifecycleSnapshot]:
        return []


@pytest.mark.parametrize("broken", [RetireKeepsBinding, ProvisionAlwaysRegisters])
def test_a_broken_adapter_fails_the_lockstep(broken: type[MobOpsAdapter]) -> None:
    with pytest.raises(AssertionError):
        run_state_machine_as_test(lockstep(broken), settings=settings(
            max_examples=1000, stateful_step_count=30, deadline=None, derandomize=True, database=None,
            phases=[Phase.generate]))

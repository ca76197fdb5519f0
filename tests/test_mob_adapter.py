"""The mob-adapter machine (seed 002) on the spec model: rules that need a state the adapter alone never reaches."""

from __future__ import annotations

from opsref.spec import model
from opsref.spec.mob_adapter import build
from opsref.spec.model import Accepted, Rejected, Value

ADAPTER = build("reference")


def test_retiring_a_provisioning_operation_is_internal_and_keeps_the_binding() -> None:
    """seed 002 mark_member_retired (896-903): request_retire of a Provisioning operation is an
    InvalidTransition the adapter reports as Internal, before the binding is cleared. The adapter
    never leaves an operation Provisioning; the runtime's direct registration does (as the seed's
    own abort test registers one)."""
    state = model.initial_state(ADAPTER, {})
    calls: list[tuple[str, dict[str, Value]]] = [("bind_session_registry", {"session": "s", "registry": 2}),
                                                 ("register_member_operation", {"session": "s", "op": "op"})]
    for action, params in calls:
        step = model.step(ADAPTER, state, action, params)
        assert isinstance(step, Accepted), f"{action} was refused: {step}"
        state = step.state
    assert (state.get(ADAPTER, "status", "op"), state.get(ADAPTER, "reg", "op")) == ("provisioning", 2)
    result = model.step(ADAPTER, state, "mark_member_retired", {"session": "s"})
    assert isinstance(result, Rejected), "retire of a Provisioning operation was accepted"
    assert (result.error, result.guard.name) == ("Internal", "live_op_can_retire")


def test_retiring_a_running_operation_clears_the_binding() -> None:
    state = model.initial_state(ADAPTER, {})
    calls: list[tuple[str, dict[str, Value]]] = [("bind_session_registry", {"session": "s", "registry": 2}),
                                                 ("mark_member_provisioned", {"session": "s", "op": "op"}),
                                                 ("mark_member_retired", {"session": "s"})]
    for action, params in calls:
        result = model.step(ADAPTER, state, action, params)
        assert isinstance(result, Accepted), f"{action} was refused: {result}"
        state = result.state
    assert state.get(ADAPTER, "status", "op") == "retired"
    assert (state.get(ADAPTER, "bound", "s"), state.get(ADAPTER, "binding", "s")) == (False, 0)


def test_resolving_the_live_operation_runs_it_and_answers_its_id() -> None:
    """seed 002 active_operation_id_for_session (623-657): the one live operation of the session,
    canonicalized from Provisioning to Running before it is returned; none without one, and
    nothing is registered."""
    from opsref.conformance.actions import ActionOracle

    oracle = ActionOracle("mob_adapter")
    resolve = ("active_operation_id_for_session", {"session": "s"})
    assert oracle.call(*resolve) == {"ok": {"operation": ""}}
    assert oracle.observe("s")["status"] == "absent"
    assert oracle.call("register_member_operation", {"session": "s", "op": "op"}) == {"ok": None}
    assert oracle.observe("op")["status"] == "provisioning"
    assert oracle.call(*resolve) == {"ok": {"operation": "op"}}
    assert oracle.observe("op")["status"] == "running"
    assert oracle.call("complete_operation", {"op": "op"}) == {"ok": None}
    assert oracle.call(*resolve) == {"ok": {"operation": ""}}

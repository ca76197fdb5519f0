"""The mob-adapter machine (seed 002) on the spec model: rules that need a state the adapter alone never reaches."""

from __future__ import annotations

from spec import model
from spec.mob_adapter import build
from spec.model import Accepted, Rejected

ADAPTER = build("reference")


def test_retiring_a_provisioning_operation_is_internal_and_keeps_the_binding() -> None:
    """seed 002 mark_member_retired: request_retire of a Provisioning operation is an
    InvalidTransition the adapter reports as Internal, before the binding is cleared.
    The adapter itself never leaves an operation Provisioning, so the state is built by hand
    (the seed's own abort test registers one directly on the registry)."""
    state = model.initial_state(ADAPTER, {})
    bound = model.step(ADAPTER, state, "bind_session_registry", {"session": "s", "registry": 2})
    assert isinstance(bound, Accepted)
    state = bound.state.copy()
    for name, value in (("status", "provisioning"), ("child", "s"), ("reg", 2)):
        state.maps[name]["op"] = value
    result = model.step(ADAPTER, state, "mark_member_retired", {"session": "s"})
    assert isinstance(result, Rejected), "retire of a Provisioning operation was accepted"
    assert (result.error, result.guard.name) == ("Internal", "live_op_can_retire")


def test_retiring_a_running_operation_clears_the_binding() -> None:
    state = model.initial_state(ADAPTER, {})
    for action, params in (("bind_session_registry", {"session": "s", "registry": 2}),
                           ("mark_member_provisioned", {"session": "s", "op": "op"}),
                           ("mark_member_retired", {"session": "s"})):
        result = model.step(ADAPTER, state, action, params)
        assert isinstance(result, Accepted), f"{action} was refused: {result}"
        state = result.state
    assert state.get(ADAPTER, "status", "op") == "retired"
    assert (state.get(ADAPTER, "bound", "s"), state.get(ADAPTER, "binding", "s")) == (False, 0)

"""The runtime control plane (seed 003), its rules restated as concrete behaviour.

The expected tables here are written out again from the rules, not imported
from `impl.runtime_control`, so a wrong table there fails here.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable

import pytest

from opsref.impl.runtime_control import (
    DestroyedError, DestroyReport, InputLifecycleState, InvalidStateError, NotFoundError, NotReadyError,
    RecoveryReport, RecycleReport, ResetReport, RetireReport, RuntimeControlError, RuntimeControlPlane,
    RuntimeState, ValidationFailedError,
)

R = RuntimeState
P = InputLifecycleState
Report = RetireReport | ResetReport | RecycleReport | RecoveryReport | DestroyReport | None
Snapshot = dict[str, tuple[RuntimeState, dict[str, InputLifecycleState]]]

LIVE = (R.IDLE, R.ATTACHED, R.RUNNING)
TERMINAL = (P.CONSUMED, P.SUPERSEDED, P.COALESCED, P.ABANDONED)

RUNTIME_MOVES: dict[str, tuple[set[RuntimeState], RuntimeState]] = {
    "runtime_ready": ({R.INITIALIZING}, R.IDLE),
    "attach": ({R.IDLE}, R.ATTACHED),
    "detach": ({R.ATTACHED}, R.IDLE),
}
RUN_ORIGINS = (R.IDLE, R.ATTACHED, R.RETIRED)
RUN_CALLS = ("begin_run", "end_run")
INPUT_MOVES: dict[str, tuple[set[InputLifecycleState], InputLifecycleState]] = {
    "queue_input": ({P.ACCEPTED}, P.QUEUED),
    "stage_input": ({P.QUEUED}, P.STAGED),
    "apply_input": ({P.STAGED}, P.APPLIED),
    "mark_pending_consumption": ({P.APPLIED}, P.APPLIED_PENDING_CONSUMPTION),
    "consume_input": ({P.APPLIED, P.APPLIED_PENDING_CONSUMPTION}, P.CONSUMED),
    "supersede_input": ({P.ACCEPTED, P.QUEUED}, P.SUPERSEDED),
    "coalesce_input": ({P.ACCEPTED, P.QUEUED}, P.COALESCED),
}
CONTROL_CALLS = ("retire", "stop", "reset", "recycle", "recover", "destroy")
LIVE_PHASES = (P.ACCEPTED, P.QUEUED, P.STAGED, P.APPLIED, P.APPLIED_PENDING_CONSUMPTION)
#: the states each control call is allowed from (upstream's runtime transitions at the seed's commit)
CONTROL_FROM: dict[str, set[RuntimeState]] = {
    "retire": {R.IDLE, R.ATTACHED, R.RUNNING, R.RETIRED},
    "stop": {R.IDLE, R.ATTACHED, R.RUNNING, R.RETIRED},
    "reset": {R.INITIALIZING, R.IDLE, R.ATTACHED, R.RETIRED},
    "recycle": {R.IDLE, R.ATTACHED, R.RETIRED},
    "recover": {R.INITIALIZING, R.IDLE, R.ATTACHED, R.RETIRED, R.STOPPED},
    "destroy": {s for s in R if s is not R.DESTROYED},
}

# ------------------------------------------------------------------ helpers


def runtime_in(state: RuntimeState, rid: str = "rt") -> RuntimeControlPlane:
    """A plane holding one runtime with an empty ledger, driven to `state`."""
    plane = RuntimeControlPlane()
    plane.register_runtime(rid)
    steps = {
        R.INITIALIZING: [], R.IDLE: ["runtime_ready"], R.ATTACHED: ["runtime_ready", "attach"],
        R.RUNNING: ["runtime_ready", "begin_run"], R.RETIRED: ["runtime_ready", "retire"],
        R.STOPPED: ["runtime_ready", "retire", "stop"], R.DESTROYED: ["destroy"],
    }[state]
    for step in steps:
        getattr(plane, step)(rid)
    assert plane.runtime_state(rid) is state
    return plane


# one input per phase, named after it
PATHS: dict[InputLifecycleState, list[str]] = {
    P.ACCEPTED: [], P.QUEUED: ["queue_input"], P.STAGED: ["queue_input", "stage_input"],
    P.APPLIED: ["queue_input", "stage_input", "apply_input"],
    P.APPLIED_PENDING_CONSUMPTION: ["queue_input", "stage_input", "apply_input", "mark_pending_consumption"],
    P.CONSUMED: ["queue_input", "stage_input", "apply_input", "consume_input"],
    P.SUPERSEDED: ["supersede_input"], P.COALESCED: ["queue_input", "coalesce_input"],
}


def full_ledger(state: RuntimeState, rid: str = "rt") -> RuntimeControlPlane:
    """A runtime holding one input in every phase (before `state`'s own effects), then driven to `state`."""
    plane = runtime_in(R.IDLE, rid)
    plane.accept_input(rid, "abandoned")
    plane.reset(rid)
    for phase, path in PATHS.items():
        plane.accept_input(rid, phase.value)
        for step in path:
            getattr(plane, step)(rid, phase.value)
    assert plane.inputs(rid) == {"abandoned": P.ABANDONED, **{p.value: p for p in PATHS}}
    # a runtime retires through an attached executor, so its inputs are left to drain
    steps = {R.IDLE: [], R.ATTACHED: ["attach"], R.RUNNING: ["begin_run"], R.RETIRED: ["attach", "retire"],
             R.DESTROYED: ["destroy"]}[state]
    for step in steps:
        getattr(plane, step)(rid)
    assert plane.runtime_state(rid) is state
    return plane


def snapshot(plane: RuntimeControlPlane) -> Snapshot:
    return {rid: (plane.runtime_state(rid), plane.inputs(rid)) for rid in plane.runtime_ids()}


def changed(before: dict[str, InputLifecycleState], after: dict[str, InputLifecycleState]) -> dict[str, InputLifecycleState]:
    """Inputs whose phase differs, with their new phase."""
    return {iid: after[iid] for iid in after if before.get(iid) is not after[iid]}


def call(plane: RuntimeControlPlane, name: str, rid: str, iid: str | None = None) -> Report:
    fn: Callable[..., Report] = getattr(plane, name)
    return fn(rid) if iid is None else fn(rid, iid)


# ------------------------------------------------------------------ values and errors


def test_state_values_are_snake_case() -> None:
    assert [s.value for s in R] == ["initializing", "idle", "attached", "running", "retired", "stopped", "destroyed"]
    assert [p.value for p in P] == ["accepted", "queued", "staged", "applied", "applied_pending_consumption",
                                    "consumed", "superseded", "coalesced", "abandoned"]


@pytest.mark.parametrize("phase", list(P))
def test_terminal_phases_are_consumed_superseded_coalesced_abandoned(phase: InputLifecycleState) -> None:
    assert phase.is_terminal() == (phase in TERMINAL)


def test_not_ready_display_contains_the_state() -> None:
    """Seed `runtime_driver_error_display`."""
    err = NotReadyError(R.INITIALIZING)
    assert "initializing" in str(err)
    assert err.state is R.INITIALIZING and err.kind == "not_ready"


def test_validation_failed_display_contains_the_reason() -> None:
    """Seed `runtime_driver_error_display`."""
    err = ValidationFailedError("bad input")
    assert "bad input" in str(err)
    assert err.reason == "bad input" and err.kind == "validation_failed"


def test_not_found_display_contains_the_runtime_id() -> None:
    """Seed `runtime_control_plane_error_display`."""
    err = NotFoundError("missing")
    assert "missing" in str(err)
    assert err.runtime_id == "missing" and err.kind == "not_found"


@pytest.mark.parametrize("state", list(R))
def test_invalid_state_display_contains_the_state(state: RuntimeState) -> None:
    err = InvalidStateError(state)
    assert state.value in str(err)
    assert err.state is state and err.kind == "invalid_state"


def test_destroyed_error_and_hierarchy() -> None:
    assert DestroyedError().kind == "destroyed" and "destroyed" in str(DestroyedError()).lower()
    for cls in (NotFoundError, InvalidStateError, NotReadyError, DestroyedError, ValidationFailedError):
        assert issubclass(cls, RuntimeControlError)
    kinds = {NotFoundError.kind, InvalidStateError.kind, NotReadyError.kind, DestroyedError.kind,
             ValidationFailedError.kind}
    assert len(kinds) == 5


# ------------------------------------------------------------------ reports


def test_recovery_report_serializes_and_back() -> None:
    """Seed `recovery_report_serde`, through JSON text as serde_json would."""
    report = RecoveryReport(5, 1, 3, ("requeued 3 staged inputs",))
    data = json.loads(json.dumps(report.to_dict()))
    assert data == {"inputs_recovered": 5, "inputs_abandoned": 1, "inputs_requeued": 3,
                    "details": ["requeued 3 staged inputs"]}
    parsed = RecoveryReport.from_dict(data)
    assert parsed.inputs_recovered == 5
    assert parsed == report


def test_recovery_report_omits_empty_details_and_defaults_them() -> None:
    data = RecoveryReport(2, 0, 0).to_dict()
    assert "details" not in data
    assert RecoveryReport.from_dict(data) == RecoveryReport(2, 0, 0, ())


@pytest.mark.parametrize("report", [RetireReport(2, 3), ResetReport(4), RecycleReport(1), DestroyReport(0),
                                    RecoveryReport(3, 1, 1, ("a", "b"))])
def test_every_report_round_trips_through_a_dict(report: Report) -> None:
    assert report is not None
    data = json.loads(json.dumps(report.to_dict()))
    assert type(report).from_dict(data) == report


def test_retire_report_pending_drain_defaults_to_zero() -> None:
    """Seed: `inputs_pending_drain` is `#[serde(default)]`."""
    assert RetireReport.from_dict({"inputs_abandoned": 2}) == RetireReport(2, 0)


@pytest.mark.parametrize("bad", [{}, {"inputs_abandoned": -1}, {"inputs_abandoned": "2"}, {"inputs_abandoned": True}])
def test_report_from_dict_rejects_missing_or_non_counts(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        DestroyReport.from_dict(bad)


def test_reports_are_frozen() -> None:
    report = ResetReport(1)
    with pytest.raises(AttributeError):
        report.inputs_abandoned = 2  # type: ignore[misc]


# ------------------------------------------------------------------ registration and lookup

RUNTIME_LEVEL = [
    *RUNTIME_MOVES, *RUN_CALLS, *CONTROL_CALLS, "accept_input", *INPUT_MOVES,
    "runtime_state", "input_state", "active_input_ids", "inputs",
]


@pytest.mark.parametrize("name", RUNTIME_LEVEL)
def test_every_runtime_level_call_on_an_unknown_id_is_not_found(name: str) -> None:
    plane = runtime_in(R.IDLE, "known")
    needs_iid = name in INPUT_MOVES or name in ("accept_input", "input_state")
    with pytest.raises(NotFoundError) as info:
        call(plane, name, "ghost", "i" if needs_iid else None)
    assert info.value.runtime_id == "ghost" and "ghost" in str(info.value)
    assert plane.runtime_ids() == ["known"]


def test_register_starts_initializing_with_an_empty_ledger() -> None:
    plane = RuntimeControlPlane()
    plane.register_runtime("a")
    assert plane.runtime_state("a") is R.INITIALIZING
    assert plane.inputs("a") == {} and plane.active_input_ids("a") == []


@pytest.mark.parametrize("state", list(R))
def test_registering_an_id_twice_is_invalid_state_whatever_its_state(state: RuntimeState) -> None:
    plane = runtime_in(state)
    with pytest.raises(InvalidStateError) as info:
        plane.register_runtime("rt")
    assert info.value.state is state
    assert plane.runtime_state("rt") is state


def test_runtimes_are_independent() -> None:
    plane = RuntimeControlPlane()
    for rid in ("a", "b"):
        plane.register_runtime(rid)
        plane.runtime_ready(rid)
    plane.accept_input("a", "x")
    plane.destroy("b")
    assert plane.inputs("a") == {"x": P.ACCEPTED} and plane.inputs("b") == {}
    assert plane.runtime_state("a") is R.IDLE
    plane.accept_input("a", "y")  # same ids may live in different runtimes' ledgers
    plane.register_runtime("c")
    plane.runtime_ready("c")
    plane.accept_input("c", "x")
    assert plane.input_state("c", "x") is P.ACCEPTED


# ------------------------------------------------------------------ runtime lifecycle


@pytest.mark.parametrize("name", list(RUNTIME_MOVES))
@pytest.mark.parametrize("state", list(R))
def test_runtime_moves_follow_the_table(name: str, state: RuntimeState) -> None:
    allowed, target = RUNTIME_MOVES[name]
    plane = runtime_in(state)
    if state in allowed:
        call(plane, name, "rt")
        assert plane.runtime_state("rt") is target
    else:
        with pytest.raises(InvalidStateError) as info:
            call(plane, name, "rt")
        assert info.value.state is state
        assert plane.runtime_state("rt") is state


@pytest.mark.parametrize("origin", RUN_ORIGINS)
def test_a_run_ends_in_the_state_it_began_in(origin: RuntimeState) -> None:
    """Upstream: Prepare from idle or attached, DrainQueuedRun from retired; the run's end returns there."""
    plane = runtime_in(origin)
    plane.begin_run("rt")
    assert plane.runtime_state("rt") is R.RUNNING
    plane.end_run("rt")
    assert plane.runtime_state("rt") is origin


@pytest.mark.parametrize("state", [s for s in R if s not in RUN_ORIGINS])
def test_a_run_begins_only_in_idle_attached_or_retired(state: RuntimeState) -> None:
    plane = runtime_in(state)
    with pytest.raises(InvalidStateError) as info:
        plane.begin_run("rt")
    assert info.value.state is state and plane.runtime_state("rt") is state


@pytest.mark.parametrize("state", [s for s in R if s is not R.RUNNING])
def test_a_run_ends_only_while_running(state: RuntimeState) -> None:
    plane = runtime_in(state)
    with pytest.raises(InvalidStateError) as info:
        plane.end_run("rt")
    assert info.value.state is state and plane.runtime_state("rt") is state


# ------------------------------------------------------------------ accepting input


@pytest.mark.parametrize("state", LIVE)
def test_a_live_runtime_accepts_a_new_input_as_accepted(state: RuntimeState) -> None:
    plane = runtime_in(state)
    plane.accept_input("rt", "x")
    assert plane.input_state("rt", "x") is P.ACCEPTED
    assert plane.active_input_ids("rt") == ["x"]


@pytest.mark.parametrize("state", [R.INITIALIZING, R.RETIRED, R.STOPPED])
def test_no_input_is_accepted_unless_live(state: RuntimeState) -> None:
    """Upstream's driver admits input only where its lifecycle classification accepts it (idle, attached,
    running) and answers NotReady{state} elsewhere, initializing included."""
    plane = runtime_in(state)
    with pytest.raises(NotReadyError) as info:
        plane.accept_input("rt", "x")
    assert info.value.state is state and state.value in str(info.value)
    assert plane.inputs("rt") == {}


def test_no_input_is_accepted_after_destroy() -> None:
    plane = runtime_in(R.DESTROYED)
    with pytest.raises(DestroyedError):
        plane.accept_input("rt", "x")
    assert plane.inputs("rt") == {}


@pytest.mark.parametrize("phase", [P.ACCEPTED, P.QUEUED, P.CONSUMED, P.ABANDONED])
def test_an_input_id_is_never_accepted_twice(phase: InputLifecycleState) -> None:
    plane = full_ledger(R.RUNNING)
    before = snapshot(plane)
    with pytest.raises(ValidationFailedError) as info:
        plane.accept_input("rt", phase.value)
    assert phase.value in info.value.reason
    assert snapshot(plane) == before


def test_a_run_that_drains_a_retired_runtime_takes_no_new_input() -> None:
    plane = full_ledger(R.RETIRED)
    plane.begin_run("rt")
    before = snapshot(plane)
    with pytest.raises(NotReadyError) as info:
        plane.accept_input("rt", "late")
    assert info.value.state is R.RUNNING and snapshot(plane) == before
    plane.stage_input("rt", "queued")  # the drain itself goes on
    plane.end_run("rt")
    assert plane.runtime_state("rt") is R.RETIRED


def test_accept_reports_destroyed_before_duplicate_and_not_ready_before_duplicate() -> None:
    plane = full_ledger(R.RETIRED)
    with pytest.raises(NotReadyError):
        plane.accept_input("rt", "queued")
    plane.destroy("rt")
    with pytest.raises(DestroyedError):
        plane.accept_input("rt", "queued")


def test_active_input_ids_are_non_terminal_in_acceptance_order() -> None:
    plane = full_ledger(R.IDLE)
    assert plane.active_input_ids("rt") == ["accepted", "queued", "staged", "applied",
                                            "applied_pending_consumption"]


# ------------------------------------------------------------------ per-input transitions


@pytest.mark.parametrize("name", list(INPUT_MOVES))
@pytest.mark.parametrize("phase", list(P))
def test_input_moves_follow_the_table(name: str, phase: InputLifecycleState) -> None:
    allowed, target = INPUT_MOVES[name]
    plane = full_ledger(R.RUNNING)
    before = plane.inputs("rt")
    if phase in allowed:
        call(plane, name, "rt", phase.value)
        assert changed(before, plane.inputs("rt")) == {phase.value: target}
    else:
        with pytest.raises(ValidationFailedError) as info:
            call(plane, name, "rt", phase.value)
        assert phase.value in info.value.reason
        assert plane.inputs("rt") == before
    if phase.is_terminal():
        assert plane.input_state("rt", phase.value) is phase


@pytest.mark.parametrize("state", [*LIVE, R.RETIRED])
def test_inputs_move_in_live_and_retired_runtimes(state: RuntimeState) -> None:
    plane = full_ledger(state)
    plane.stage_input("rt", "queued")
    assert plane.input_state("rt", "queued") is P.STAGED


@pytest.mark.parametrize("state", [R.INITIALIZING, R.STOPPED])
def test_inputs_do_not_move_in_an_initializing_or_stopped_runtime(state: RuntimeState) -> None:
    plane = runtime_in(state)
    with pytest.raises(NotReadyError) as info:
        plane.queue_input("rt", "x")  # not-ready is checked before the ledger
    assert info.value.state is state


def test_inputs_do_not_move_in_a_destroyed_runtime() -> None:
    plane = full_ledger(R.DESTROYED)
    with pytest.raises(DestroyedError):
        plane.queue_input("rt", "nope")  # destroyed is checked before the ledger
    with pytest.raises(DestroyedError):
        plane.consume_input("rt", "applied")


@pytest.mark.parametrize("name", list(INPUT_MOVES))
def test_moving_an_unknown_input_is_a_validation_failure(name: str) -> None:
    plane = full_ledger(R.IDLE)
    before = snapshot(plane)
    with pytest.raises(ValidationFailedError) as info:
        call(plane, name, "rt", "never")
    assert "never" in info.value.reason
    assert snapshot(plane) == before


# ------------------------------------------------------------------ control plane

ABANDON_ALL = {p: P.ABANDONED for p in LIVE_PHASES}
RECOVER = {P.ACCEPTED: P.QUEUED, P.STAGED: P.QUEUED}
EXPECTED_EFFECTS: dict[str, dict[InputLifecycleState, InputLifecycleState]] = {
    "reset": ABANDON_ALL, "recycle": RECOVER, "recover": RECOVER, "destroy": ABANDON_ALL,
}


@pytest.mark.parametrize("name", list(EXPECTED_EFFECTS))
@pytest.mark.parametrize("state", [*LIVE, R.RETIRED])
def test_control_calls_move_exactly_the_expected_inputs(name: str, state: RuntimeState) -> None:
    plane = full_ledger(state)
    before = plane.inputs("rt")
    if state not in CONTROL_FROM[name]:
        with pytest.raises(InvalidStateError):
            call(plane, name, "rt")
        assert plane.inputs("rt") == before
        return
    call(plane, name, "rt")
    moved = changed(before, plane.inputs("rt"))
    assert moved == {p.value: to for p, to in EXPECTED_EFFECTS[name].items()}


def after_steps(state: RuntimeState, *steps: str) -> RuntimeControlPlane:
    plane = full_ledger(state)
    for step in steps:
        getattr(plane, step)("rt")
    return plane


# where an executor is attached to drain: attached, or a run begun attached or retired
WITH_EXECUTOR: dict[str, tuple[RuntimeState, tuple[str, ...]]] = {
    "attached": (R.ATTACHED, ()), "run_from_attached": (R.ATTACHED, ("begin_run",)),
    "drain_run": (R.RETIRED, ("begin_run",))}
WITHOUT_EXECUTOR: dict[str, tuple[RuntimeState, tuple[str, ...]]] = {
    "idle": (R.IDLE, ()), "run_from_idle": (R.IDLE, ("begin_run",))}


@pytest.mark.parametrize("where", list(WITH_EXECUTOR))
def test_retire_leaves_every_pending_input_to_an_attached_executor(where: str) -> None:
    """Seed 003: retire is 'no new input, drain existing'; pending drain 'will be processed before stopping'."""
    state, steps = WITH_EXECUTOR[where]
    plane = after_steps(state, *steps)
    before = plane.inputs("rt")
    report = plane.retire("rt")
    assert report == RetireReport(inputs_abandoned=0, inputs_pending_drain=len(plane.active_input_ids("rt")))
    assert plane.inputs("rt") == before and plane.runtime_state("rt") is R.RETIRED


@pytest.mark.parametrize("where", list(WITHOUT_EXECUTOR))
def test_retire_without_an_executor_abandons_every_pending_input(where: str) -> None:
    """Upstream: with no runtime loop to drain them, retire abandons the pending inputs."""
    state, steps = WITHOUT_EXECUTOR[where]
    plane = after_steps(state, *steps)
    report = plane.retire("rt")
    assert report == RetireReport(inputs_abandoned=5, inputs_pending_drain=0)
    assert plane.active_input_ids("rt") == [] and plane.runtime_state("rt") is R.RETIRED


def test_a_retired_runtime_drains_then_stops() -> None:
    plane = full_ledger(R.RETIRED)
    with pytest.raises(InvalidStateError) as info:
        plane.stop("rt")
    assert info.value.state is R.RETIRED
    plane.queue_input("rt", "accepted")
    plane.begin_run("rt")  # its executor runs to drain it
    for iid in ("accepted", "queued"):
        plane.stage_input("rt", iid)
    for iid in ("accepted", "queued", "staged"):
        plane.apply_input("rt", iid)
    for iid in ("accepted", "queued", "staged", "applied"):
        plane.consume_input("rt", iid)
    plane.end_run("rt")
    assert plane.runtime_state("rt") is R.RETIRED
    assert plane.active_input_ids("rt") == ["applied_pending_consumption"]
    with pytest.raises(InvalidStateError):
        plane.stop("rt")
    plane.consume_input("rt", "applied_pending_consumption")
    plane.stop("rt")
    assert plane.runtime_state("rt") is R.STOPPED
    with pytest.raises(NotReadyError):
        plane.accept_input("rt", "late")


def test_a_run_that_drains_a_retired_runtime_stops_only_once_drained() -> None:
    """Decision retired_runtimes_stop_once_drained: a drain run is part of draining, so it does not stop
    while an input is pending (upstream's stop would abandon them)."""
    plane = after_steps(R.RETIRED, "begin_run")
    before = snapshot(plane)
    with pytest.raises(InvalidStateError) as info:
        plane.stop("rt")
    assert info.value.state is R.RUNNING and snapshot(plane) == before
    drain = {"accepted": ["queue_input", "stage_input", "apply_input"], "queued": ["stage_input", "apply_input"],
             "staged": ["apply_input"]}
    for iid, path in drain.items():
        for step in path:
            getattr(plane, step)("rt", iid)
    for iid in ("accepted", "queued", "staged", "applied", "applied_pending_consumption"):
        plane.consume_input("rt", iid)
    plane.stop("rt")  # no report: stop returns nothing
    assert plane.runtime_state("rt") is R.STOPPED


@pytest.mark.parametrize("state", [s for s in R if s not in CONTROL_FROM["stop"]])
def test_stop_only_from_idle_attached_running_or_retired(state: RuntimeState) -> None:
    """Upstream: StopRuntimeExecutor from Idle, Attached, Running and Retired reaches Stopped; not from
    Initializing (no executor exit from there), Stopped or Destroyed."""
    plane = runtime_in(state)
    with pytest.raises(InvalidStateError) as info:
        plane.stop("rt")
    assert info.value.state is state


@pytest.mark.parametrize("state", LIVE)
def test_stop_abandons_every_pending_input_of_a_serving_runtime(state: RuntimeState) -> None:
    """Upstream `stop_runtime_cleanup`: stopping abandons every non-terminal input, and stop returns no report."""
    plane = full_ledger(state)
    before = plane.inputs("rt")
    plane.stop("rt")  # no report: stop returns nothing
    assert changed(before, plane.inputs("rt")) == {p.value: P.ABANDONED for p in LIVE_PHASES}
    assert plane.runtime_state("rt") is R.STOPPED
    with pytest.raises(NotReadyError):
        plane.accept_input("rt", "late")


def test_retiring_a_retired_runtime_changes_nothing_and_reports_its_pending_drain() -> None:
    """Upstream `RetireAlreadyRetired`: retire on a retired runtime is accepted and changes nothing; the
    report counts again what its executor still has to drain."""
    plane = full_ledger(R.RETIRED)
    before = snapshot(plane)
    assert plane.retire("rt") == RetireReport(inputs_abandoned=0, inputs_pending_drain=5)
    assert snapshot(plane) == before
    plane = runtime_in(R.RETIRED)
    assert plane.retire("rt") == RetireReport(inputs_abandoned=0, inputs_pending_drain=0)
    assert plane.runtime_state("rt") is R.RETIRED


@pytest.mark.parametrize("name", ["retire", "reset", "recycle", "recover"])
@pytest.mark.parametrize("state", list(R))
def test_control_calls_only_from_their_states(name: str, state: RuntimeState) -> None:
    """Upstream: retire from idle, attached, running; reset from initializing, idle, attached, retired;
    recycle from idle, attached, retired; recover from every state but running and destroyed."""
    plane = full_ledger(state) if state in (*LIVE, R.RETIRED, R.DESTROYED) else runtime_in(state)
    before = snapshot(plane)
    if state in CONTROL_FROM[name]:
        call(plane, name, "rt")
        target = {"retire": R.RETIRED, "reset": R.IDLE, "recover": state,
                  "recycle": R.ATTACHED if state is R.ATTACHED else R.IDLE}[name]
        assert plane.runtime_state("rt") is target
        return
    with pytest.raises(InvalidStateError) as info:
        call(plane, name, "rt")
    assert info.value.state is state
    assert snapshot(plane) == before


@pytest.mark.parametrize("state", [R.IDLE, R.ATTACHED, R.RETIRED])
def test_reset_and_recycle_with_their_counts(state: RuntimeState) -> None:
    plane = full_ledger(state)
    assert plane.reset("rt") == ResetReport(inputs_abandoned=5)
    assert plane.runtime_state("rt") is R.IDLE and plane.active_input_ids("rt") == []
    plane = full_ledger(state)
    assert plane.recycle("rt") == RecycleReport(inputs_transferred=5)
    assert plane.runtime_state("rt") is (R.ATTACHED if state is R.ATTACHED else R.IDLE)
    live = {i: plane.input_state("rt", i) for i in plane.active_input_ids("rt")}
    assert live == {"accepted": P.QUEUED, "queued": P.QUEUED, "staged": P.QUEUED, "applied": P.APPLIED,
                    "applied_pending_consumption": P.APPLIED_PENDING_CONSUMPTION}


def test_reset_and_recycle_bring_a_retired_runtime_back_to_serving() -> None:
    """Upstream Reset and RecycleFromIdleOrRetired both lead a retired runtime to idle."""
    for name in ("reset", "recycle"):
        plane = full_ledger(R.RETIRED)
        call(plane, name, "rt")
        plane.accept_input("rt", "fresh")
        assert plane.input_state("rt", "fresh") is P.ACCEPTED


def test_recover_counts_and_details() -> None:
    plane = full_ledger(R.IDLE)
    report = plane.recover("rt")
    assert (report.inputs_recovered, report.inputs_abandoned, report.inputs_requeued) == (5, 0, 2)
    assert len(report.details) == 1 and "2" in report.details[0] and "requeued" in report.details[0]
    assert plane.input_state("rt", "applied_pending_consumption") is P.APPLIED_PENDING_CONSUMPTION
    again = plane.recover("rt")  # nothing left to move: no details
    assert again == RecoveryReport(inputs_recovered=5, inputs_abandoned=0, inputs_requeued=0, details=())


def test_recover_on_a_retired_runtime_requeues_for_the_drain() -> None:
    plane = full_ledger(R.RETIRED)
    report = plane.recover("rt")
    assert (report.inputs_recovered, report.inputs_abandoned, report.inputs_requeued) == (5, 0, 2)
    assert plane.active_input_ids("rt") == [p.value for p in LIVE_PHASES]
    assert plane.runtime_state("rt") is R.RETIRED


@pytest.mark.parametrize("state", [R.INITIALIZING, *LIVE, R.RETIRED, R.STOPPED])
def test_destroy_from_any_state_but_destroyed(state: RuntimeState) -> None:
    plane = full_ledger(state) if state in (*LIVE, R.RETIRED) else runtime_in(state)
    active = len(plane.active_input_ids("rt"))
    assert plane.destroy("rt") == DestroyReport(inputs_abandoned=active)
    assert plane.runtime_state("rt") is R.DESTROYED
    assert plane.active_input_ids("rt") == []


def test_destroyed_is_terminal() -> None:
    plane = full_ledger(R.DESTROYED)
    before = snapshot(plane)
    for name in [*RUNTIME_MOVES, *RUN_CALLS, *CONTROL_CALLS]:
        with pytest.raises(InvalidStateError) as info:
            call(plane, name, "rt")
        assert info.value.state is R.DESTROYED, name
    with pytest.raises(InvalidStateError):
        plane.register_runtime("rt")
    for name in ["accept_input", *INPUT_MOVES]:
        for iid in [*before["rt"][1], "fresh"]:
            with pytest.raises(DestroyedError):
                call(plane, name, "rt", iid)
    assert snapshot(plane) == before


# ------------------------------------------------------------------ randomized sequences

RIDS = ["a", "b", "ghost"]
IIDS = ["i0", "i1", "i2", "i3", "i4"]
ALL_CALLS = ["register_runtime", *RUNTIME_MOVES, *RUN_CALLS, *CONTROL_CALLS, "accept_input", *INPUT_MOVES]


def check_report(name: str, report: Report, before: dict[str, InputLifecycleState],
                 after: dict[str, InputLifecycleState]) -> None:
    """Every report counts exactly the inputs the call moved (or, where it says so, held)."""
    moved = changed(before, after)
    active_before = [i for i, p in before.items() if not p.is_terminal()]
    if name in ("reset", "destroy"):
        assert isinstance(report, (ResetReport, DestroyReport))
        assert report.inputs_abandoned == len(moved) == len(active_before)
        assert set(moved.values()) <= {P.ABANDONED}
    elif name == "retire":
        assert isinstance(report, RetireReport)
        if moved:  # no executor to drain: every pending input abandoned
            assert report == RetireReport(len(active_before), 0) and len(moved) == len(active_before)
            assert set(moved.values()) == {P.ABANDONED}
        else:
            assert report == RetireReport(0, len(active_before))
    elif name in ("recycle", "recover"):
        requeued = [i for i in active_before if before[i] in (P.ACCEPTED, P.STAGED)]
        assert moved == {i: P.QUEUED for i in requeued}
        if name == "recycle":
            assert report == RecycleReport(len(active_before))
        else:
            assert isinstance(report, RecoveryReport)
            assert (report.inputs_recovered, report.inputs_abandoned, report.inputs_requeued) == (
                len(active_before), 0, len(requeued))
            assert len(report.details) == (len(requeued) > 0)
    elif name == "stop":
        assert report is None
        assert moved == {i: P.ABANDONED for i in active_before}
    else:
        assert report is None
        assert len(moved) <= 1


@pytest.mark.parametrize("seed", range(40))
def test_random_sequences_keep_the_rules(seed: int) -> None:
    rng = random.Random(seed)
    plane = RuntimeControlPlane()
    for _ in range(150):
        name, rid = rng.choice(ALL_CALLS), rng.choice(RIDS)
        iid = rng.choice(IIDS) if name == "accept_input" or name in INPUT_MOVES else None
        before = snapshot(plane)
        try:
            report = call(plane, name, rid, iid)
        except RuntimeControlError as err:
            assert snapshot(plane) == before, f"{name} failed with {err.kind} but changed state"
            if rid not in before:
                assert isinstance(err, NotFoundError)
            continue
        after = snapshot(plane)
        assert {r: v for r, v in after.items() if r != rid} == {r: v for r, v in before.items() if r != rid}
        if name == "register_runtime":
            assert rid not in before and after[rid] == (R.INITIALIZING, {})
            continue
        old, new = before[rid][1], after[rid][1]
        assert list(new)[:len(old)] == list(old)  # the ledger only grows, in acceptance order
        for i, phase in old.items():
            if phase.is_terminal():
                assert new[i] is phase, f"{name} moved terminal input {i}"
        check_report(name, report, old, new)
        for r, (state, ledger) in after.items():
            active = [i for i, p in ledger.items() if not p.is_terminal()]
            assert plane.active_input_ids(r) == active
            if state in (R.INITIALIZING, R.STOPPED, R.DESTROYED):
                assert active == []
            if state is R.INITIALIZING:
                assert ledger == {}

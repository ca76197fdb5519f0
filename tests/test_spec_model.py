"""The spec model's behaviour, call by call, as seed 001's registry shows it."""

from __future__ import annotations

import pytest

from opsref.spec.model import SpecError, Value, evaluate, initial_state, violated_invariants
from opsref.spec.terms import FALSE, ID, TRUE, Apply, Definition, Lit, Param, Quant, Var
from tests.spec_helpers import REFERENCE, SEED, fresh, refusal, run

MOB, TOOL = "mob_member_child", "background_tool_op"


def reg(ident: str, kind: str = TOOL) -> tuple[str, dict[str, Value]]:
    return ("register_operation", {"id": ident, "kind": kind})


def on(action: str, ident: str) -> tuple[str, dict[str, Value]]:
    return (action, {"id": ident})


def wait(*ids: str) -> tuple[str, dict[str, Value]]:
    return ("wait_request", {"ids": frozenset(ids), "has_duplicate": False})


def test_register_admits_in_provisioning_and_counts_as_active() -> None:
    state = run(REFERENCE, fresh(REFERENCE), [reg("a")])
    assert state.get(REFERENCE, "status", "a") == "provisioning"
    assert state.get(REFERENCE, "active_count") == 1


def test_full_lifecycle_completes_and_frees_the_slot() -> None:
    state = run(REFERENCE, fresh(REFERENCE), [reg("a"), on("provisioning_succeeded", "a"),
                                             on("report_progress", "a"), on("complete_operation", "a")])
    assert state.get(REFERENCE, "status", "a") == "completed"
    assert state.get(REFERENCE, "outcome", "a") == "completed"
    assert state.get(REFERENCE, "active_count") == 0
    assert state.get(REFERENCE, "seq", "a") == 1


def test_duplicate_registration_is_refused_with_already_registered() -> None:
    state = run(REFERENCE, fresh(REFERENCE), [reg("a")])
    r = refusal(REFERENCE, state, *reg("a"))
    assert (r.error, r.guard.name, dict(r.fields)) == ("AlreadyRegistered", "not_already_registered", {"id": "a"})


def test_calls_on_unknown_ids_are_refused_with_not_found_first() -> None:
    for action in ("provisioning_succeeded", "complete_operation", "peer_ready", "register_watcher", "terminate_op"):
        r = refusal(REFERENCE, fresh(REFERENCE), action, {"id": "ghost"})
        assert (r.error, dict(r.fields)) == ("NotFound", {"id": "ghost"})


def test_complete_from_provisioning_is_an_invalid_transition_naming_status_and_action() -> None:
    state = run(REFERENCE, fresh(REFERENCE), [reg("a")])
    r = refusal(REFERENCE, state, *on("complete_operation", "a"))
    assert r.error == "InvalidTransition"
    assert dict(r.fields) == {"id": "a", "status": "provisioning", "action": "complete_operation"}


def test_terminal_statuses_refuse_every_further_transition() -> None:
    state = run(REFERENCE, fresh(REFERENCE), [reg("a"), on("cancel_operation", "a")])
    for action in ("provisioning_succeeded", "fail_operation", "complete_operation", "mark_retired", "report_progress"):
        assert refusal(REFERENCE, state, *on(action, "a")).error == "InvalidTransition"


def test_max_concurrent_caps_live_operations_and_reports_limit_and_active() -> None:
    state = run(REFERENCE, fresh(REFERENCE, max_concurrent=2), [reg("a"), reg("b")])
    r = refusal(REFERENCE, state, *reg("c"))
    assert (r.error, dict(r.fields)) == ("MaxConcurrentExceeded", {"limit": 2, "active": 2})
    state = run(REFERENCE, state, [on("abort_provisioning", "a"), reg("c")])
    assert state.get(REFERENCE, "active_count") == 2


def test_retention_evicts_the_oldest_terminal_operation_fifo() -> None:
    state = run(REFERENCE, fresh(REFERENCE, max_completed=2), [
        reg("a"), reg("b"), reg("c"),
        on("abort_provisioning", "a"), on("abort_provisioning", "b"), on("abort_provisioning", "c")])
    assert state.get(REFERENCE, "status", "a") == "absent"
    assert [state.get(REFERENCE, "status", x) for x in "bc"] == ["aborted", "aborted"]


def test_peer_ready_only_for_running_mob_members_and_only_once() -> None:
    state = run(REFERENCE, fresh(REFERENCE), [reg("m", MOB), reg("t"), on("provisioning_succeeded", "t")])
    assert refusal(REFERENCE, state, *on("peer_ready", "t")).error == "PeerNotExpected"
    assert refusal(REFERENCE, state, *on("peer_ready", "m")).error == "InvalidTransition"
    state = run(REFERENCE, state, [on("provisioning_succeeded", "m"), on("peer_ready", "m")])
    assert refusal(REFERENCE, state, *on("peer_ready", "m")).error == "AlreadyPeerReady"


def test_watchers_are_resolved_by_the_terminal_transition() -> None:
    state = run(REFERENCE, fresh(REFERENCE), [reg("a"), on("register_watcher", "a"), on("register_watcher", "a")])
    assert state.get(REFERENCE, "watchers", "a") == 2
    state = run(REFERENCE, state, [on("terminate_op", "a")])
    assert state.get(REFERENCE, "watchers", "a") == 0


def test_collect_completed_drains_terminal_ops_and_keeps_live_ones() -> None:
    state = run(REFERENCE, fresh(REFERENCE), [reg("a"), reg("b"), on("fail_operation", "a"),
                                             ("collect_completed", {})])
    assert state.get(REFERENCE, "status", "a") == "absent"
    assert state.get(REFERENCE, "status", "b") == "provisioning"


def test_wait_on_already_terminal_members_resolves_at_once() -> None:
    state = run(REFERENCE, fresh(REFERENCE), [reg("a"), on("cancel_operation", "a"), wait("a")])
    assert state.get(REFERENCE, "wait_active") is False
    assert state.get(REFERENCE, "waiter") == "done"


def test_wait_refuses_duplicates_a_second_barrier_and_untracked_members() -> None:
    state = run(REFERENCE, fresh(REFERENCE), [reg("a")])
    assert refusal(REFERENCE, state, "wait_request", {"ids": frozenset({"a"}), "has_duplicate": True}).error \
        == "DuplicateWaitOperation"
    assert refusal(REFERENCE, state, *wait("ghost")).error == "NotFound"
    armed = run(REFERENCE, state, [wait("a")])
    assert refusal(REFERENCE, armed, *wait("a")).error == "WaitAlreadyActive"
    cleared = run(REFERENCE, armed, [("wait_cancel", {})])
    assert cleared.get(REFERENCE, "wait_active") is False


def test_recover_keeps_terminal_ops_and_forgets_live_ones() -> None:
    state = run(REFERENCE, fresh(REFERENCE), [reg("a"), reg("b"), on("fail_operation", "a"),
                                             ("recover", {})])
    assert state.get(REFERENCE, "status", "a") == "failed"
    assert state.get(REFERENCE, "status", "b") == "absent"
    assert state.get(REFERENCE, "active_count") == 0


def test_reference_barrier_survives_eviction_of_a_finished_member() -> None:
    """Decision 1: the barrier holds the outcome of a member that finished, so its
    eviction cannot leave the waiter stuck. The seed waits forever here."""
    calls = [reg("a"), reg("b"), on("terminate_op", "a"), wait("a", "b"), on("fail_operation", "b")]
    for machine, expect_active in ((REFERENCE, False), (SEED, True)):
        state = run(machine, fresh(machine, max_completed=1), calls)
        assert state.get(machine, "status", "a") == "absent"  # a was evicted by b's completion
        assert state.get(machine, "wait_active") is expect_active
    stuck = run(SEED, fresh(SEED, max_completed=1), calls)
    assert [inv.name for inv in violated_invariants(SEED, stuck)] == ["barrier_satisfaction"]


def test_reference_never_reuses_an_id_the_seed_does() -> None:
    """Decision 2: a collected id stays retired."""
    calls = [reg("a"), on("cancel_operation", "a"), ("collect_completed", {})]
    r = refusal(REFERENCE, run(REFERENCE, fresh(REFERENCE), calls), *reg("a"))
    assert (r.error, r.guard.name) == ("AlreadyRegistered", "id_never_registered")
    reused = run(SEED, run(SEED, fresh(SEED), calls), [reg("a")])
    assert reused.get(SEED, "status", "a") == "provisioning"


def test_provisioning_failed_only_from_provisioning_in_the_reference() -> None:
    """Decision 3: the seed fails a running op through provisioning_failed and
    reports the action as fail_operation."""
    calls = [reg("a"), on("provisioning_succeeded", "a")]
    r = refusal(REFERENCE, run(REFERENCE, fresh(REFERENCE), calls), *on("provisioning_failed", "a"))
    assert dict(r.fields)["action"] == "provisioning_failed"
    state = run(SEED, run(SEED, fresh(SEED), calls), [on("provisioning_failed", "a")])
    assert state.get(SEED, "status", "a") == "failed"
    r = refusal(SEED, state, *on("provisioning_failed", "a"))
    assert dict(r.fields)["action"] == "fail_operation"


def test_a_malformed_term_fails_where_it_is_evaluated_and_only_there() -> None:
    """Meanings are built once per term, but errors belong to evaluation: an unknown
    operator or a missing parameter in a part never evaluated raises nothing."""
    state = initial_state(REFERENCE, {})
    bogus = Apply("bogus", ())
    assert evaluate(REFERENCE, Apply("or", (TRUE, bogus)), state) is True
    assert evaluate(REFERENCE, Apply("and", (FALSE, Param("missing", ID))), state) is False
    with pytest.raises(SpecError, match="unknown operator bogus"):
        evaluate(REFERENCE, Apply("or", (FALSE, bogus)), state)
    with pytest.raises(SpecError, match="missing parameter 'missing'"):
        evaluate(REFERENCE, Apply("and", (TRUE, Param("missing", ID))), state)


def test_a_bound_set_of_ids_is_in_the_universe_only_where_its_variable_is_not_shadowed() -> None:
    """The universe is kept for a whole evaluation, except while a bound variable holds a
    set of ids: a quantifier that rebinds that variable takes its ids out again."""
    state = initial_state(REFERENCE, {})
    s, y = Var("s"), Var("y")
    avoids = Quant("forall", y, Apply("ne", (y, Lit("zz-a", ID))))  # every id but zz-a: false if zz-a is in it
    given = {"s": frozenset({"zz-a"})}
    assert evaluate(REFERENCE, avoids, state, bound=given) is False
    assert evaluate(REFERENCE, Quant("exists", s, avoids), state, bound=given) is True
    assert evaluate(REFERENCE, Apply("and", (Quant("exists", s, TRUE), avoids)), state, bound=given) is False


def test_a_use_that_cannot_be_expanded_fails_only_where_it_is_evaluated() -> None:
    x, y = Var("x"), Var("y")
    some = Definition("some", (x,), Quant("exists", y, Apply("eq", (x, y))))
    state = initial_state(REFERENCE, {})
    captured = some(y)  # y would be captured by the definition's own quantifier
    assert evaluate(REFERENCE, Apply("or", (TRUE, captured)), state) is True
    with pytest.raises(ValueError):
        evaluate(REFERENCE, Apply("or", (FALSE, captured)), state)

"""The comms-drain machine (seed 004) on the spec model: the seed's rules, call by call."""

from __future__ import annotations

from opsref.spec import model
from opsref.spec.comms_drain import build
from opsref.spec.model import Accepted, Rejected, State, Value

DRAIN = build("reference")


def fresh() -> State:
    return model.initial_state(DRAIN, {})


def run(state: State, *calls: tuple[str, dict[str, Value]]) -> State:
    for action, params in calls:
        result = model.step(DRAIN, state, action, params)
        assert isinstance(result, Accepted), f"{action}({params}) was refused: {result}"
        state = result.state
    return state


def refused(state: State, action: str, params: dict[str, Value]) -> Rejected:
    result = model.step(DRAIN, state, action, params)
    assert isinstance(result, Rejected), f"{action}({params}) was accepted"
    return result


def attach(id: str, runtime: int, mob: int = 0, keep_alive: bool = True) -> tuple[str, dict[str, Value]]:
    return "set_peer_ingress_context", {"id": id, "keep_alive": keep_alive, "comms_runtime": runtime, "mob": mob}


def get(state: State, field: str, id: str = "s") -> Value:
    return state.get(DRAIN, field, id)


def test_an_unknown_session_is_not_ready() -> None:
    assert refused(fresh(), *attach("s", 1)).error == "NotReady"


def test_nothing_mutates_a_destroyed_session() -> None:
    state = run(fresh(), ("register_session", {"id": "s"}), attach("s", 1), ("destroy_runtime", {"id": "s"}))
    assert refused(state, *attach("s", 2)).error == "Destroyed"
    assert refused(state, "notify_drain_exited", {"id": "s", "reason": "failed"}).error == "Destroyed"
    after = run(state, ("abort", {"id": "s"}), ("abort_all", {}), ("wait", {"id": "s"}))
    assert after.maps == state.maps and get(after, "phase") == "running"


def test_a_session_attach_never_downgrades_a_mob_owned_ingress() -> None:
    state = run(fresh(), ("register_session", {"id": "s"}), attach("s", 1, mob=7))
    assert (get(state, "owner"), get(state, "owner_runtime"), get(state, "owner_mob")) == ("mob_owned", 1, 7)
    refusal = refused(state, *attach("s", 1))
    assert refusal.error == "ValidationFailed" and refusal.guard.name == "owner_allows_session_attach"


def test_a_session_attach_never_replaces_another_session_runtime() -> None:
    """upstream v0.7.3 DSL AttachSessionIngress: only from unattached or the same session runtime."""
    state = run(fresh(), ("register_session", {"id": "s"}), attach("s", 1))
    for keep_alive in (True, False):
        refusal = refused(state, *attach("s", 2, keep_alive=keep_alive))
        assert refusal.error == "ValidationFailed" and refusal.guard.name == "owner_allows_session_attach"
    detached = run(state, ("set_peer_ingress_context", {"id": "s", "keep_alive": False, "comms_runtime": 0, "mob": 0}))
    assert get(run(detached, attach("s", 2)), "owner_runtime") == 2


def test_a_mob_attach_never_replaces_another_mob_owner() -> None:
    """upstream v0.7.3 DSL AttachMobIngress: a mob-owned ingress takes only the same mob on the same runtime."""
    state = run(fresh(), ("register_session", {"id": "s"}), attach("s", 1, mob=7))
    for runtime, mob in ((1, 8), (2, 7), (2, 8)):
        refusal = refused(state, *attach("s", runtime, mob=mob))
        assert refusal.error == "ValidationFailed" and refusal.guard.name == "owner_allows_mob_attach"
    assert run(state, attach("s", 1, mob=7)).maps == state.maps


def test_a_mob_takes_over_a_session_owned_ingress_on_any_runtime() -> None:
    """upstream v0.7.3 DSL AttachMobIngress: the promotion from session_owned."""
    state = run(fresh(), ("register_session", {"id": "s"}), attach("s", 1), attach("s", 2, mob=7))
    assert (get(state, "owner"), get(state, "owner_runtime"), get(state, "owner_mob")) == ("mob_owned", 2, 7)
    assert get(state, "task") == "alive"


def test_re_attaching_the_same_owner_is_an_exact_no_op() -> None:
    state = run(fresh(), ("register_session", {"id": "s"}), attach("s", 3))
    again = run(state, attach("s", 3))
    assert again.maps == state.maps


def test_detaching_clears_the_owner_and_stops_the_drain() -> None:
    state = run(fresh(), ("register_session", {"id": "s"}), attach("s", 3, keep_alive=True),
                ("set_peer_ingress_context", {"id": "s", "keep_alive": False, "comms_runtime": 0, "mob": 0}))
    assert (get(state, "owner"), get(state, "owner_runtime"), get(state, "phase")) == ("unattached", 0, "stopped")


def test_a_failed_persistent_host_becomes_respawnable_anything_else_stops() -> None:
    base = run(fresh(), ("register_session", {"id": "s"}))
    host = run(base, attach("s", 1, keep_alive=True), ("notify_drain_exited", {"id": "s", "reason": "failed"}))
    assert get(host, "phase") == "exited_respawnable"
    dismissed = run(base, attach("s", 1, keep_alive=True), ("notify_drain_exited", {"id": "s", "reason": "dismissed"}))
    assert get(dismissed, "phase") == "stopped"


def test_a_drain_exit_report_after_teardown_is_a_benign_no_op() -> None:
    state = run(fresh(), ("register_session", {"id": "s"}), attach("s", 1), ("unregister_session", {"id": "s"}))
    after = run(state, ("notify_drain_exited", {"id": "s", "reason": "failed"}))
    assert after.maps == state.maps and get(after, "phase") == "inactive"


def test_abort_all_stops_every_running_drain() -> None:
    state = run(fresh(), ("register_session", {"id": "s"}), ("register_session", {"id": "t"}),
                attach("s", 1), attach("t", 2), ("abort_all", {}))
    assert (get(state, "phase", "s"), get(state, "phase", "t")) == ("stopped", "stopped")


def test_wait_takes_a_silent_exit_as_failed() -> None:
    state = run(fresh(), ("register_session", {"id": "s"}), attach("s", 1, keep_alive=True),
                ("drain_task_panicked", {"id": "s"}), ("wait", {"id": "s"}))
    assert (get(state, "phase"), get(state, "task")) == ("exited_respawnable", "none")


def test_wait_on_a_live_task_awaits_it_and_changes_nothing() -> None:
    """seed 004 Wait (235-243) awaits the task handle before the Failed safety net."""
    state = run(fresh(), ("register_session", {"id": "s"}), attach("s", 1, keep_alive=True))
    after = run(state, ("wait", {"id": "s"}))
    assert after.maps == state.maps and get(after, "phase") == "running"


def test_a_keep_alive_attach_respawns_an_exited_respawnable_drain() -> None:
    """The respawn the phase names (maybe_spawn_comms_drain): a new task, running again."""
    state = run(fresh(), ("register_session", {"id": "s"}), attach("s", 1, keep_alive=True),
                ("notify_drain_exited", {"id": "s", "reason": "failed"}))
    assert (get(state, "phase"), get(state, "task")) == ("exited_respawnable", "none")
    again = run(state, attach("s", 1, keep_alive=True))
    assert (get(again, "phase"), get(again, "mode"), get(again, "task")) == ("running", "persistent_host", "alive")


def test_an_attach_without_keep_alive_spawns_nothing_and_stops_a_running_drain() -> None:
    """upstream v0.7.3 update_peer_ingress_context_inner: keep_alive=false aborts the drain."""
    base = run(fresh(), ("register_session", {"id": "s"}))
    quiet = run(base, attach("s", 1, keep_alive=False))
    assert (get(quiet, "owner"), get(quiet, "phase"), get(quiet, "mode")) == ("session_owned", "inactive", "none")
    stopped = run(base, attach("s", 1, keep_alive=True), attach("s", 1, keep_alive=False))
    assert (get(stopped, "phase"), get(stopped, "task")) == ("stopped", "none")


def test_a_refused_attach_changes_nothing() -> None:
    state = run(fresh(), ("register_session", {"id": "s"}), attach("s", 1, mob=7))
    assert refused(state, *attach("s", 2, keep_alive=False)).guard.name == "owner_allows_session_attach"
    assert refused(state, *attach("s", 2, mob=8)).guard.name == "owner_allows_mob_attach"


def test_stop_drain_and_the_environment_refuse_nothing() -> None:
    """seed 004 stage_drain_stop_dsl swallows a refusal into a bool; teardown returns nothing."""
    state = fresh()
    for action in ("stop_drain", "destroy_runtime", "unregister_session"):
        after = run(state, (action, {"id": "s"}))
        assert after.maps == state.maps
    registered = run(state, ("register_session", {"id": "s"}))
    assert run(registered, ("register_session", {"id": "s"})).maps == registered.maps
    assert run(registered, ("stop_drain", {"id": "s"})).maps == registered.maps


def test_a_torn_down_id_is_registered_again_only_in_the_seed() -> None:
    """decision teardown_is_final."""
    calls: list[tuple[str, dict[str, Value]]] = [
        ("register_session", {"id": "s"}), ("unregister_session", {"id": "s"}), ("register_session", {"id": "s"})]
    assert get(run(fresh(), *calls), "session") == "torn_down"
    seed = build("seed")
    state = model.initial_state(seed, {})
    for action, params in calls:
        result = model.step(seed, state, action, params)
        assert isinstance(result, Accepted)
        state = result.state
    assert state.get(seed, "session", "s") == "registered"


def test_every_invariant_holds_on_these_walks() -> None:
    state = fresh()
    calls: list[tuple[str, dict[str, Value]]] = [
        ("register_session", {"id": "s"}), attach("s", 1), attach("s", 1, mob=2), attach("s", 1, mob=2),
        ("wait", {"id": "s"}),
        ("set_peer_ingress_context", {"id": "s", "keep_alive": False, "comms_runtime": 0, "mob": 0}),
        attach("s", 4, mob=5), ("destroy_runtime", {"id": "s"}), ("unregister_session", {"id": "s"})]
    for action, params in calls:
        result = model.step(DRAIN, state, action, params)
        assert isinstance(result, Accepted)
        assert model.violated_invariants(DRAIN, result.state, state, action, params) == []
        state = result.state


def test_the_proofs_catch_a_stop_drain_that_stops_nothing() -> None:
    """Non-vacuity of a rule stated over an action's parameters: the same rule is
    skipped (not translated) for every other action, and still bites for its own."""
    from dataclasses import replace

    from opsref.proofs.inductive import prove_unbounded

    stop = DRAIN.action("stop_drain")
    broken = DRAIN.with_action(replace(stop, body=()))
    failed = {o.id for o in prove_unbounded(broken, 20000) if o.result == "violated"}
    assert failed == {"stop_drain/ensures/stop_commands_stop_running_drains"}


def test_the_proofs_catch_an_attach_that_replaces_another_owner() -> None:
    """Without upstream's attach guards a session runtime replaces another and a mob another
    mob: the proofs name the invariant that rules it out, and only that one."""
    from dataclasses import replace

    from opsref.proofs.inductive import prove_unbounded

    ingress = DRAIN.action("set_peer_ingress_context")
    loose = tuple(g for g in ingress.guards if g.name not in ("owner_allows_session_attach", "owner_allows_mob_attach"))
    broken = DRAIN.with_action(replace(ingress, guards=loose))
    failed = {o.id for o in prove_unbounded(broken, 20000) if o.result == "violated"}
    assert failed == {"owners_are_replaced_only_by_a_mob_takeover/set_peer_ingress_context",
                      "no_session_downgrade/set_peer_ingress_context"}

"""Behaviours of the comms-drain controller (`impl/comms_drain.py`, seed 004), stated as tests."""

from __future__ import annotations

import random
from dataclasses import replace
from collections.abc import Callable

import pytest

from opsref.impl.comms_drain import (
    CommsDrainController, CommsDrainError, DestroyedError, DrainExitReason, DrainMode,
    DrainPhase, DrainTask, IngressOwner, MobOwned, NotReadyError, RuntimeState, SessionDrainSnapshot, SessionOwned,
    Unattached, ValidationFailedError,
)

S = "s1"


def fresh(*sids: str) -> CommsDrainController:
    c = CommsDrainController()
    for sid in sids or (S,):
        c.register_session(sid)
    return c


def snap(c: CommsDrainController, sid: str = S) -> SessionDrainSnapshot:
    s = c.snapshot(sid)
    assert s is not None
    return s


def running(c: CommsDrainController, sid: str = S, *, keep_alive: bool = True,
            runtime: str = "rt", mob: str | None = None) -> None:
    c.set_peer_ingress_context(sid, keep_alive, runtime, mob)
    assert snap(c, sid).phase is DrainPhase.RUNNING


# -- values ------------------------------------------------------------------


def test_enum_values_are_snake_case_strings() -> None:
    assert [p.value for p in DrainPhase] == ["inactive", "running", "stopped", "exited_respawnable"]
    assert [m.value for m in DrainMode] == ["none", "persistent_host"]
    assert [t.value for t in DrainTask] == ["none", "alive", "ended"]
    assert [r.value for r in RuntimeState] == [
        "initializing", "idle", "attached", "running", "retired", "stopped", "destroyed"]
    assert [r.value for r in DrainExitReason] == [
        "idle_timeout", "dismissed", "failed", "aborted", "session_shutdown"]


def test_error_kinds_and_attributes() -> None:
    assert CommsDrainError.kind == "internal"
    e2 = NotReadyError(RuntimeState.DESTROYED)
    assert (e2.kind, e2.state) == ("not_ready", RuntimeState.DESTROYED)
    assert DestroyedError().kind == "destroyed"
    e3 = ValidationFailedError("why")
    assert (e3.kind, e3.reason) == ("validation_failed", "why")
    for e in (e2, DestroyedError(), e3):
        assert isinstance(e, CommsDrainError)


def test_owners_are_frozen_values_compared_by_content() -> None:
    assert MobOwned("rt", "m") == MobOwned("rt", "m")
    session_owner: IngressOwner = SessionOwned("rt")
    assert session_owner != MobOwned("rt", "m")
    assert Unattached() == Unattached()
    with pytest.raises(AttributeError):
        SessionOwned("rt").comms_runtime = "other"  # type: ignore[misc]


# -- registration and teardown -------------------------------------------------


def test_new_session_is_idle_inactive_unspawned_unattached() -> None:
    c = fresh()
    assert snap(c) == SessionDrainSnapshot(RuntimeState.IDLE, DrainPhase.INACTIVE, DrainMode.NONE, Unattached())
    assert c.sessions() == {S: snap(c)}


def test_registering_a_registered_session_changes_nothing() -> None:
    c = fresh()
    running(c)
    before = c.sessions()
    assert c.register_session(S) is False
    assert c.sessions() == before


def test_session_id_cannot_be_reused_after_teardown() -> None:
    c = fresh()
    c.unregister_session(S)
    assert c.register_session(S) is False
    assert c.snapshot(S) is None and c.sessions() == {}


def test_unregister_removes_the_session() -> None:
    c = fresh(S, "s2")
    running(c)
    c.unregister_session(S)
    assert c.snapshot(S) is None
    assert set(c.sessions()) == {"s2"}


def test_destroy_runtime_is_terminal_and_keeps_the_drain() -> None:
    c = fresh()
    running(c)
    c.destroy_runtime(S)
    assert snap(c).runtime is RuntimeState.DESTROYED
    assert snap(c).phase is DrainPhase.RUNNING
    c.destroy_runtime(S)
    assert snap(c).runtime is RuntimeState.DESTROYED


def test_destroyed_session_can_still_be_torn_down() -> None:
    c = fresh()
    c.destroy_runtime(S)
    c.unregister_session(S)
    assert c.snapshot(S) is None


@pytest.mark.parametrize("call", [
    lambda c: c.destroy_runtime("nope"),
    lambda c: c.unregister_session("nope"),
    lambda c: c.stop_drain("nope"),
])
def test_environment_calls_and_stop_drain_on_unknown_session_answer_false(
        call: Callable[[CommsDrainController], bool]) -> None:
    """The seed swallows these refusals into a bool (stage_drain_stop_dsl) or returns nothing."""
    c = fresh()
    before = c.sessions()
    assert call(c) is False
    assert c.sessions() == before


@pytest.mark.parametrize("call", [
    lambda c: c.set_peer_ingress_context("nope", True, "rt", None),
    lambda c: c.abort("nope"),
    lambda c: c.wait("nope"),
])
def test_commands_on_unknown_session_are_not_ready_destroyed(call: Callable[[CommsDrainController], None]) -> None:
    c = fresh()
    before = c.sessions()
    with pytest.raises(NotReadyError) as ei:
        call(c)
    assert ei.value.state is RuntimeState.DESTROYED
    assert c.sessions() == before


@pytest.mark.parametrize("call", [
    lambda c: c.set_peer_ingress_context(S, False, None, None),
    lambda c: c.abort(S),
    lambda c: c.wait(S),
])
def test_commands_after_teardown_are_not_ready(call: Callable[[CommsDrainController], None]) -> None:
    c = fresh()
    c.unregister_session(S)
    with pytest.raises(NotReadyError):
        call(c)


# -- set_peer_ingress_context ----------------------------------------------------


def test_attach_without_keep_alive_attaches_but_spawns_nothing() -> None:
    """upstream update_peer_ingress_context_inner: keep_alive=false aborts the drain."""
    c = fresh()
    assert c.set_peer_ingress_context(S, False, "rt", None) is False
    assert snap(c) == SessionDrainSnapshot(
        RuntimeState.IDLE, DrainPhase.INACTIVE, DrainMode.NONE, SessionOwned("rt"))


def test_attach_without_keep_alive_stops_a_running_drain() -> None:
    c = fresh()
    running(c)
    assert c.set_peer_ingress_context(S, False, "rt", None) is False
    assert (snap(c).phase, snap(c).task) == (DrainPhase.STOPPED, DrainTask.NONE)


def test_keep_alive_attach_spawns_persistent_host_drain() -> None:
    c = fresh()
    assert c.set_peer_ingress_context(S, True, "rt", "mob") is True
    assert (snap(c).mode, snap(c).task) == (DrainMode.PERSISTENT_HOST, DrainTask.ALIVE)
    assert snap(c).owner == MobOwned("rt", "mob")
    assert snap(c).phase is DrainPhase.RUNNING


def test_a_running_drain_on_another_runtime_gets_a_fresh_task() -> None:
    """upstream needs_task_refresh: Spawned(true) without a new SpawnDrain (a mob taking over a
    session's drain is the one attach that may change the runtime)."""
    c = fresh()
    running(c, runtime="a")
    assert c.set_peer_ingress_context(S, True, "b", "m") is True
    assert (snap(c).phase, snap(c).owner) == (DrainPhase.RUNNING, MobOwned("b", "m"))
    assert c.set_peer_ingress_context(S, True, "b", "m") is False


def test_attach_respawns_a_stopped_drain() -> None:
    c = fresh()
    running(c)
    assert c.stop_drain(S) is True
    assert c.set_peer_ingress_context(S, True, "rt", None) is True
    assert (snap(c).phase, snap(c).mode) == (DrainPhase.RUNNING, DrainMode.PERSISTENT_HOST)


def test_keep_alive_attach_respawns_an_exited_respawnable_drain() -> None:
    """The respawn `exited_respawnable` names: maybe_spawn_comms_drain reports Spawned(true)."""
    c = fresh()
    running(c, keep_alive=True)
    c.notify_drain_exited(S, DrainExitReason.FAILED)
    assert snap(c).phase is DrainPhase.EXITED_RESPAWNABLE
    assert c.set_peer_ingress_context(S, True, "rt", None) is True
    assert (snap(c).phase, snap(c).task) == (DrainPhase.RUNNING, DrainTask.ALIVE)


def test_session_attach_never_replaces_another_session_runtime() -> None:
    """upstream v0.7.3 DSL AttachSessionIngress: from unattached, or the same session runtime again."""
    c = fresh()
    running(c, runtime="a")
    before = snap(c)
    for keep_alive in (False, True):
        with pytest.raises(ValidationFailedError):
            c.set_peer_ingress_context(S, keep_alive, "b", None)
        assert snap(c) == before  # owner kept, drain still running on "a"
    c.set_peer_ingress_context(S, False, None, None)
    c.set_peer_ingress_context(S, False, "b", None)
    assert snap(c).owner == SessionOwned("b")


@pytest.mark.parametrize("prior", [None, ("a", None)])
def test_mob_attach_takes_an_unattached_or_session_owned_ingress(prior: tuple[str, str | None] | None) -> None:
    c = fresh()
    if prior is not None:
        c.set_peer_ingress_context(S, False, prior[0], prior[1])
    c.set_peer_ingress_context(S, False, "b", "m2")
    assert snap(c).owner == MobOwned("b", "m2")


@pytest.mark.parametrize("other", [("a", "m2"), ("b", "m1"), ("b", "m2")])
def test_mob_attach_never_replaces_another_mob_owner(other: tuple[str, str]) -> None:
    """upstream v0.7.3 DSL AttachMobIngress: a mob-owned ingress takes only the same mob on the same runtime."""
    c = fresh()
    c.set_peer_ingress_context(S, True, "a", "m1")
    before = snap(c)
    with pytest.raises(ValidationFailedError):
        c.set_peer_ingress_context(S, True, *other)
    assert snap(c) == before
    assert c.set_peer_ingress_context(S, True, "a", "m1") is False
    assert snap(c) == before


def test_mob_owned_ingress_is_never_downgraded_by_a_session_attach() -> None:
    """Seed 004: a session attach must not downgrade a mob-owned ingress; the shell stops before mutating."""
    c = fresh()
    c.set_peer_ingress_context(S, True, "rt", "mob")
    c.stop_drain(S)
    before = snap(c)
    for runtime in ("rt", "other"):
        for keep_alive in (False, True):
            with pytest.raises(ValidationFailedError):
                c.set_peer_ingress_context(S, keep_alive, runtime, None)
            assert snap(c) == before  # owner kept, stopped drain not respawned
    assert isinstance(snap(c).owner, MobOwned)


def test_detach_unattaches_and_stops_a_running_drain() -> None:
    c = fresh()
    running(c, keep_alive=True, mob="mob")
    c.set_peer_ingress_context(S, False, None, None)
    assert snap(c).owner == Unattached()
    assert snap(c).phase is DrainPhase.STOPPED
    assert snap(c).mode is DrainMode.PERSISTENT_HOST


def test_detach_without_a_running_drain_leaves_the_phase() -> None:
    c = fresh()
    c.set_peer_ingress_context(S, False, None, None)
    assert snap(c).phase is DrainPhase.INACTIVE and snap(c).owner == Unattached()
    running(c, keep_alive=True)
    c.notify_drain_exited(S, DrainExitReason.FAILED)
    c.set_peer_ingress_context(S, False, None, None)
    assert snap(c).phase is DrainPhase.EXITED_RESPAWNABLE and snap(c).owner == Unattached()


@pytest.mark.parametrize("mob", [None, "mob"])
def test_keep_alive_without_runtime_changes_nothing(mob: str | None) -> None:
    c = fresh()
    running(c, runtime="rt")
    before = snap(c)
    c.set_peer_ingress_context(S, True, None, mob)
    assert snap(c) == before
    c2 = fresh()
    c2.set_peer_ingress_context(S, True, None, mob)
    assert snap(c2).phase is DrainPhase.INACTIVE and snap(c2).owner == Unattached()


@pytest.mark.parametrize("owner_args", [("rt", None), ("rt", "mob")])
def test_same_owner_keep_alive_reattach_with_running_drain_is_an_exact_no_op(
        owner_args: tuple[str, str | None]) -> None:
    """Seed 004: attach transitions encode exact idempotence — re-attaching the current owner changes nothing."""
    c = fresh()
    c.set_peer_ingress_context(S, True, *owner_args)
    before = c.sessions()
    assert c.set_peer_ingress_context(S, True, *owner_args) is False
    assert c.sessions() == before


def test_set_peer_ingress_on_destroyed_session_is_destroyed() -> None:
    c = fresh()
    c.set_peer_ingress_context(S, False, "rt", "mob")
    c.destroy_runtime(S)
    before = snap(c)
    # destroyed is checked before the downgrade guard
    for args in [(False, "rt", None), (True, "x", "m"), (False, None, None), (True, None, None)]:
        with pytest.raises(DestroyedError):
            c.set_peer_ingress_context(S, *args)
    assert snap(c) == before


# -- stop_drain ------------------------------------------------------------------


def test_stop_drain_stops_a_running_drain_and_leaves_its_task_to_the_caller() -> None:
    c = fresh()
    running(c)
    assert c.stop_drain(S) is True
    assert (snap(c).phase, snap(c).task) == (DrainPhase.STOPPED, DrainTask.ALIVE)
    assert snap(c).owner == SessionOwned("rt")


def test_stop_drain_without_running_drain_answers_false() -> None:
    """seed 004 stage_drain_stop_dsl: the refusal is swallowed into a bool, not raised."""
    c = fresh()
    assert c.stop_drain(S) is False
    assert snap(c).phase is DrainPhase.INACTIVE


def test_stop_drain_on_destroyed_session_answers_false() -> None:
    c = fresh()
    running(c)
    c.destroy_runtime(S)
    assert c.stop_drain(S) is False
    assert snap(c).phase is DrainPhase.RUNNING


# -- notify_drain_exited -----------------------------------------------------------


@pytest.mark.parametrize("reason", list(DrainExitReason))
def test_persistent_host_failure_is_respawnable_other_exits_stop(reason: DrainExitReason) -> None:
    """Seed 004: only a persistent host's Failed exit leaves the drain respawnable."""
    c = fresh()
    running(c)
    c.notify_drain_exited(S, reason)
    expected = DrainPhase.EXITED_RESPAWNABLE if reason is DrainExitReason.FAILED else DrainPhase.STOPPED
    assert (snap(c).phase, snap(c).task) == (expected, DrainTask.NONE)


@pytest.mark.parametrize("reason", list(DrainExitReason))
def test_exit_report_without_running_drain_changes_nothing(reason: DrainExitReason) -> None:
    c = fresh()
    c.notify_drain_exited(S, reason)
    assert snap(c).phase is DrainPhase.INACTIVE
    running(c, keep_alive=True)
    c.stop_drain(S)
    c.notify_drain_exited(S, reason)
    assert snap(c).phase is DrainPhase.STOPPED


def test_post_teardown_exit_report_is_a_benign_no_op() -> None:
    """Seed 004 D2b: a straggling exit after teardown is accepted and changes nothing."""
    c = fresh(S, "s2")
    running(c)
    c.unregister_session(S)
    before = c.sessions()
    c.notify_drain_exited(S, DrainExitReason.ABORTED)
    c.notify_drain_exited("never-registered", DrainExitReason.FAILED)
    assert c.sessions() == before and c.snapshot(S) is None


def test_exit_report_on_destroyed_session_is_destroyed() -> None:
    c = fresh()
    running(c, keep_alive=True)
    c.destroy_runtime(S)
    before = snap(c)
    with pytest.raises(DestroyedError):
        c.notify_drain_exited(S, DrainExitReason.FAILED)
    assert snap(c) == before


# -- abort, abort_all, wait ----------------------------------------------------------


def test_abort_stops_a_running_drain_and_is_quiet_otherwise() -> None:
    c = fresh()
    c.abort(S)
    assert snap(c).phase is DrainPhase.INACTIVE
    running(c)
    c.abort(S)
    assert snap(c).phase is DrainPhase.STOPPED
    c.abort(S)
    assert snap(c).phase is DrainPhase.STOPPED


def test_abort_leaves_a_destroyed_session_untouched() -> None:
    c = fresh()
    running(c)
    c.destroy_runtime(S)
    c.abort(S)
    assert snap(c).phase is DrainPhase.RUNNING


def test_abort_all_stops_every_live_running_drain_only() -> None:
    c = fresh("a", "b", "c", "d")
    running(c, "a")
    running(c, "b", keep_alive=True)
    running(c, "c")
    c.destroy_runtime("c")
    before_d = snap(c, "d")
    c.abort_all()
    assert snap(c, "a").phase is DrainPhase.STOPPED
    assert snap(c, "b").phase is DrainPhase.STOPPED
    assert snap(c, "c").phase is DrainPhase.RUNNING
    assert snap(c, "d") == before_d


def test_abort_all_on_empty_controller_does_not_fail() -> None:
    c = CommsDrainController()
    c.abort_all()
    assert c.sessions() == {}


@pytest.mark.parametrize("keep_alive", [False, True])
def test_wait_on_a_silent_running_drain_reports_failed(keep_alive: bool) -> None:
    c = fresh()
    running(c)
    c.drain_task_panicked(S)
    assert c.wait(S) is True
    assert (snap(c).phase, snap(c).task) == (DrainPhase.EXITED_RESPAWNABLE, DrainTask.NONE)


def test_wait_on_a_live_task_is_still_waiting_and_changes_nothing() -> None:
    """seed 004 Wait awaits the task handle (235-243) before any safety net."""
    c = fresh()
    running(c)
    before = c.sessions()
    assert c.wait(S) is False
    assert c.sessions() == before


def test_wait_after_reported_exit_changes_nothing() -> None:
    c = fresh()
    running(c, keep_alive=True)
    c.notify_drain_exited(S, DrainExitReason.IDLE_TIMEOUT)
    before = snap(c)
    c.wait(S)
    assert snap(c) == before


def test_wait_on_destroyed_session_changes_nothing() -> None:
    c = fresh()
    running(c, keep_alive=True)
    c.destroy_runtime(S)
    before = snap(c)
    c.wait(S)
    assert snap(c) == before


# -- the seed's rules over arbitrary command sequences ---------------------------------

SIDS = ["a", "b", "c"]
OWNER_ARGS: list[tuple[str | None, str | None]] = [
    ("r1", None), ("r2", None), ("r1", "m1"), ("r2", "m2"), (None, None), (None, "m1")]


def _random_command(rng: random.Random) -> tuple[str, Callable[[CommsDrainController], object]]:
    sid = rng.choice(SIDS + ["ghost"])
    kind = rng.choice(["register", "destroy", "unregister", "set", "stop", "notify", "abort", "abort_all", "wait",
                       "panic"])
    if kind == "panic":
        return sid, lambda c: c.drain_task_panicked(sid)
    if kind == "register":
        return sid, lambda c: c.register_session(sid)
    if kind == "destroy":
        return sid, lambda c: c.destroy_runtime(sid)
    if kind == "unregister":
        return sid, lambda c: c.unregister_session(sid)
    if kind == "set":
        keep_alive = rng.random() < 0.5
        runtime, mob = rng.choice(OWNER_ARGS)
        return sid, lambda c: c.set_peer_ingress_context(sid, keep_alive, runtime, mob)
    if kind == "stop":
        return sid, lambda c: c.stop_drain(sid)
    if kind == "notify":
        reason = rng.choice(list(DrainExitReason))
        return sid, lambda c: c.notify_drain_exited(sid, reason)
    if kind == "abort":
        return sid, lambda c: c.abort(sid)
    if kind == "wait":
        return sid, lambda c: c.wait(sid)
    return "*", lambda c: c.abort_all()


def _run_random_sequences(check: Callable[[dict[str, SessionDrainSnapshot], dict[str, SessionDrainSnapshot],
                                           str, CommsDrainError | None], None]) -> int:
    checked = 0
    for seed in range(300):
        rng = random.Random(seed)
        c = CommsDrainController()
        for sid in SIDS:
            c.register_session(sid)
        for _ in range(40):
            target, cmd = _random_command(rng)
            before = c.sessions()
            err: CommsDrainError | None = None
            try:
                cmd(c)
            except CommsDrainError as e:
                err = e
            check(before, c.sessions(), target, err)
            checked += 1
    return checked


def test_rejected_command_changes_nothing() -> None:
    """Seed 004: no shell mutation after a rejection — a call that raises leaves every session as it was."""
    rejected = 0

    def check(before: dict[str, SessionDrainSnapshot], after: dict[str, SessionDrainSnapshot],
              target: str, err: CommsDrainError | None) -> None:
        nonlocal rejected
        if err is not None:
            rejected += 1
            assert after == before, (target, err.kind)
        else:
            # only the addressed session may change (abort_all may touch any)
            for sid in set(before) | set(after):
                if target not in ("*", sid):
                    assert before.get(sid) == after.get(sid)

    _run_random_sequences(check)
    assert rejected > 100  # the sequences really exercise rejections


def test_destroyed_session_is_never_mutated() -> None:
    """Seed 004 DrainBindingInvariant: once destroyed, a session only ever stays as it is or is torn down."""
    destroyed_seen = 0

    def check(before: dict[str, SessionDrainSnapshot], after: dict[str, SessionDrainSnapshot],
              target: str, err: CommsDrainError | None) -> None:
        nonlocal destroyed_seen
        for sid, prior in before.items():
            if prior.runtime is RuntimeState.DESTROYED:
                destroyed_seen += 1
                now = after.get(sid)
                # the slot's task may still be dropped or die; the machine's drain state is frozen
                assert now is None or replace(now, task=prior.task) == prior

    _run_random_sequences(check)
    assert destroyed_seen > 100


def test_mob_owner_only_leaves_by_mob_attach_or_detach() -> None:
    """Seed 004: a mob-owned ingress is never downgraded to a session owner."""
    mob_seen = 0

    def check(before: dict[str, SessionDrainSnapshot], after: dict[str, SessionDrainSnapshot],
              target: str, err: CommsDrainError | None) -> None:
        nonlocal mob_seen
        for sid, prior in before.items():
            now = after.get(sid)
            if isinstance(prior.owner, MobOwned) and now is not None:
                mob_seen += 1
                new_owner: IngressOwner = now.owner
                assert not isinstance(new_owner, SessionOwned)

    _run_random_sequences(check)
    assert mob_seen > 100

"""Seed 002's `MobOpsAdapter` tests, restated against `impl.mob_adapter`, and the adapter's own guarantees."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from opsref.impl import (
    InvalidTransitionError, OperationKind, OperationLifecycleSnapshot, OperationPeerHandle, OperationSpec,
    OperationStatus, OpsLifecycleConfig, OpsLifecycleRegistry,
)
from opsref.impl.mob_adapter import MobError, MobOpsAdapter

S = OperationStatus
OWNER = "owner-session"


def counter_ids(prefix: str = "op") -> Callable[[], str]:
    counter = itertools.count(1)
    return lambda: f"{prefix}-{next(counter)}"


def snap(registry: OpsLifecycleRegistry, id: str) -> OperationLifecycleSnapshot:
    snapshot = registry.snapshot(id)
    assert snapshot is not None, f"{id} should be tracked"
    return snapshot


def member_spec(id: str, session_id: str, name: str = "mob/member") -> OperationSpec:
    """A mob-child operation registered directly, as the seed's abort test does."""
    return OperationSpec(id=id, kind=OperationKind.MOB_MEMBER_CHILD, owner_session_id=session_id,
                         display_name=name, source_label="mob_member", child_session_id=session_id,
                         expect_peer_channel=True)


def live_member_ids(registry: OpsLifecycleRegistry, session_id: str) -> list[str]:
    return [s.id for s in registry.list_operations()
            if s.kind is OperationKind.MOB_MEMBER_CHILD and s.child_session_id == session_id
            and not s.status.is_terminal()]


class RecordingRegistry(OpsLifecycleRegistry):
    """A registry that remembers every spec it was asked to register (the snapshot omits owner and label)."""

    def __init__(self, config: OpsLifecycleConfig | None = None) -> None:
        super().__init__(config)
        self.specs: list[OperationSpec] = []

    def register_operation(self, spec: OperationSpec) -> None:
        self.specs.append(spec)
        super().register_operation(spec)


# ---------------------------------------------------------------- seed 002


def test_ops_registry_integration_red_ok_member_adapter_tracks_peer_ready_and_retire() -> None:
    """seed 002 (marked #[ignore] there: "Phase 4 shared lifecycle suite"); run here."""
    adapter = MobOpsAdapter()
    session_id = "session-alpha"

    operation_id = adapter.mark_member_provisioned(session_id, "mob-a/orchestrator/member-alpha")
    adapter.report_member_progress(session_id, "turn dispatched")
    adapter.mark_member_peer_ready(session_id, "mob-a/orchestrator/member-alpha", "inproc://member-alpha")

    running = snap(adapter.registry(), operation_id)
    assert running.status is S.RUNNING
    assert running.peer_ready
    assert running.progress_count == 1

    adapter.mark_member_retired(session_id)

    assert snap(adapter.registry(), operation_id).status is S.RETIRED


def test_bound_session_registry_owns_child_operation_ids() -> None:
    adapter = MobOpsAdapter()
    bound_registry = OpsLifecycleRegistry()
    adapter.bind_session_registry("child", OWNER, bound_registry)

    operation_id = adapter.mark_member_provisioned("child", "mob/member-bound")

    bound = snap(bound_registry, operation_id)
    assert bound.kind is OperationKind.MOB_MEMBER_CHILD
    assert bound.status is S.RUNNING
    assert bound.child_session_id == "child"
    assert adapter.registry().snapshot(operation_id) is None, "fallback registry must not own bound child ids"


def test_mark_member_retired_without_existing_operation_is_noop() -> None:
    adapter = MobOpsAdapter()
    adapter.mark_member_retired("session")
    assert adapter.registry().list_operations() == [], "retire must not fabricate a provisioning operation"


def test_abort_member_provision_marks_provisioning_operation_aborted() -> None:
    adapter = MobOpsAdapter()
    registry = adapter.registry()
    registry.register_operation(member_spec("op-abort", "session", "mob/member-abort"))

    adapter.abort_member_provision("session", "op-abort", "mob is stopping")

    assert snap(registry, "op-abort").status is S.ABORTED


# ---------------------------------------------------------------- provisioning


def test_provision_registers_a_mob_child_operation_owned_by_the_session() -> None:
    registry = RecordingRegistry()
    adapter = MobOpsAdapter(counter_ids())
    adapter.bind_session_registry("child", OWNER, registry)
    operation_id = adapter.mark_member_provisioned("child", "mob/member")
    assert operation_id == "op-1"
    assert registry.specs == [OperationSpec(
        id="op-1", kind=OperationKind.MOB_MEMBER_CHILD, owner_session_id=OWNER, display_name="mob/member",
        source_label="mob_member", child_session_id="child", expect_peer_channel=True)]


def test_unbound_session_owns_its_own_operation_in_the_fallback_registry() -> None:
    adapter = MobOpsAdapter(counter_ids())
    recording = RecordingRegistry()
    adapter._fallback_registry = recording  # the seed's fallback owner is the child session itself
    adapter.mark_member_provisioned("child", "mob/member")
    assert [spec.owner_session_id for spec in recording.specs] == ["child"]


def test_provision_is_idempotent_for_a_session() -> None:
    minted: list[str] = []
    ids = counter_ids()

    def new_id() -> str:
        minted.append(ids())
        return minted[-1]

    adapter = MobOpsAdapter(new_id)
    first = adapter.mark_member_provisioned("session", "mob/member")
    second = adapter.mark_member_provisioned("session", "mob/member-renamed")
    assert first == second == "op-1"
    assert minted == ["op-1"]
    assert [s.id for s in adapter.registry().list_operations()] == ["op-1"]
    assert snap(adapter.registry(), first).status is S.RUNNING
    assert snap(adapter.registry(), first).display_name == "mob/member"


def test_provision_after_retire_registers_a_fresh_operation() -> None:
    adapter = MobOpsAdapter(counter_ids())
    first = adapter.mark_member_provisioned("session", "mob/member")
    adapter.mark_member_retired("session")
    second = adapter.mark_member_provisioned("session", "mob/member")
    assert (first, second) == ("op-1", "op-2")
    assert snap(adapter.registry(), first).status is S.RETIRED
    assert snap(adapter.registry(), second).status is S.RUNNING


def test_provision_of_a_retiring_member_is_internal_error() -> None:
    adapter = MobOpsAdapter(counter_ids())
    operation_id = adapter.mark_member_provisioned("session", "mob/member")
    adapter.registry().request_retire(operation_id)
    with pytest.raises(MobError) as caught:
        adapter.mark_member_provisioned("session", "mob/member")
    assert caught.value.kind == "internal"
    assert isinstance(caught.value.__cause__, InvalidTransitionError)
    assert [s.id for s in adapter.registry().list_operations()] == [operation_id]


def test_registration_failure_is_internal_error() -> None:
    adapter = MobOpsAdapter(lambda: "same-id")
    adapter.mark_member_provisioned("a", "mob/a")
    adapter.mark_member_retired("a")
    with pytest.raises(MobError):
        adapter.mark_member_provisioned("b", "mob/b")  # the registry never reuses an id
    assert live_member_ids(adapter.registry(), "b") == []


def test_registration_refused_by_a_full_bound_registry_is_internal_error() -> None:
    adapter = MobOpsAdapter(counter_ids())
    full = OpsLifecycleRegistry(OpsLifecycleConfig(max_concurrent=0))
    adapter.bind_session_registry("child", OWNER, full)
    for call in (lambda: adapter.mark_member_provisioned("child", "mob/member"),
                 lambda: adapter.report_member_progress("child", "tick"),
                 lambda: adapter.mark_member_peer_ready("child", "peer")):
        with pytest.raises(MobError):
            call()
    assert full.list_operations() == [] and adapter.registry().list_operations() == []


# ---------------------------------------------------------------- live updates (resolve_or_register)


def test_progress_without_live_operation_registers_one_and_runs_it() -> None:
    adapter = MobOpsAdapter(counter_ids())
    adapter.report_member_progress("session", "turn dispatched")
    [operation] = adapter.registry().list_operations()
    assert operation.id == "op-1"
    assert operation.display_name == "mob_member/session"
    assert operation.child_session_id == "session"
    assert operation.status is S.RUNNING
    assert operation.progress_count == 1


def test_peer_ready_without_live_operation_registers_one_named_after_the_peer() -> None:
    adapter = MobOpsAdapter(counter_ids())
    adapter.mark_member_peer_ready("session", "mob/peer-alpha", "inproc://alpha")
    [operation] = adapter.registry().list_operations()
    assert operation.display_name == "mob/peer-alpha"
    assert operation.status is S.RUNNING
    assert operation.peer_ready
    assert operation.peer_handle == OperationPeerHandle("mob/peer-alpha", "inproc://alpha")


def test_peer_handle_defaults_trusted_peer_to_the_peer_name() -> None:
    adapter = MobOpsAdapter(counter_ids())
    operation_id = adapter.mark_member_provisioned("session", "mob/member")
    adapter.mark_member_peer_ready("session", "mob/peer")
    assert snap(adapter.registry(), operation_id).peer_handle == OperationPeerHandle("mob/peer", "mob/peer")


def test_progress_canonicalizes_a_provisioning_operation_to_running() -> None:
    adapter = MobOpsAdapter(counter_ids())
    adapter.registry().register_operation(member_spec("pre", "session"))
    adapter.report_member_progress("session", "tick")
    assert [s.id for s in adapter.registry().list_operations()] == ["pre"]
    assert snap(adapter.registry(), "pre").status is S.RUNNING
    assert snap(adapter.registry(), "pre").progress_count == 1


def test_peer_ready_canonicalizes_a_provisioning_operation_to_running() -> None:
    adapter = MobOpsAdapter(counter_ids())
    adapter.registry().register_operation(member_spec("pre", "session"))
    adapter.mark_member_peer_ready("session", "mob/peer")
    assert [s.id for s in adapter.registry().list_operations()] == ["pre"]
    assert snap(adapter.registry(), "pre").status is S.RUNNING
    assert snap(adapter.registry(), "pre").peer_ready


def test_peer_ready_twice_is_ok_and_keeps_the_first_handle() -> None:
    adapter = MobOpsAdapter(counter_ids())
    operation_id = adapter.mark_member_provisioned("session", "mob/member")
    adapter.mark_member_peer_ready("session", "mob/peer", "inproc://first")
    adapter.mark_member_peer_ready("session", "mob/peer", "inproc://second")
    snapshot = snap(adapter.registry(), operation_id)
    assert snapshot.peer_ready
    assert snapshot.peer_handle == OperationPeerHandle("mob/peer", "inproc://first")
    assert len(adapter.registry().list_operations()) == 1


def test_live_updates_reach_a_retiring_member_without_a_new_operation() -> None:
    adapter = MobOpsAdapter(counter_ids())
    operation_id = adapter.mark_member_provisioned("session", "mob/member")
    adapter.registry().request_retire(operation_id)
    adapter.report_member_progress("session", "draining")
    adapter.mark_member_peer_ready("session", "mob/peer")
    snapshot = snap(adapter.registry(), operation_id)
    assert (snapshot.status, snapshot.progress_count, snapshot.peer_ready) == (S.RETIRING, 1, True)
    assert len(adapter.registry().list_operations()) == 1


def test_live_updates_after_retire_register_a_fresh_operation() -> None:
    adapter = MobOpsAdapter(counter_ids())
    first = adapter.mark_member_provisioned("session", "mob/member")
    adapter.mark_member_retired("session")
    adapter.report_member_progress("session", "late")
    assert snap(adapter.registry(), first).progress_count == 0
    assert live_member_ids(adapter.registry(), "session") == ["op-2"]


def test_member_without_session_identity_is_internal_error() -> None:
    adapter = MobOpsAdapter(counter_ids())
    calls: list[Callable[[], object]] = [lambda: adapter.report_member_progress(None, "tick"),
                                         lambda: adapter.mark_member_peer_ready(None, "mob/peer"),
                                         lambda: adapter.mark_member_retired(None)]
    for call in calls:
        with pytest.raises(MobError) as caught:
            call()
        assert caught.value.kind == "internal"
    assert adapter.registry().list_operations() == []


# ---------------------------------------------------------------- resolution and ambiguity


def test_active_operation_id_canonicalizes_provisioning_to_running() -> None:
    adapter = MobOpsAdapter(counter_ids())
    adapter.registry().register_operation(member_spec("pre", "session"))
    assert adapter.active_operation_id_for_session("session") == "pre"
    assert adapter.operation_status("session", "pre") is S.RUNNING


def test_active_operation_id_never_returns_a_terminal_operation() -> None:
    adapter = MobOpsAdapter(counter_ids())
    operation_id = adapter.mark_member_provisioned("session", "mob/member")
    assert adapter.active_operation_id_for_session("session") == operation_id
    adapter.mark_member_retired("session")
    assert adapter.active_operation_id_for_session("session") is None
    assert adapter.operation_status("session", operation_id) is S.RETIRED


def test_active_operation_id_ignores_other_sessions_and_other_kinds() -> None:
    adapter = MobOpsAdapter(counter_ids())
    registry = adapter.registry()
    registry.register_operation(member_spec("other", "other-session"))
    registry.register_operation(OperationSpec("tool", OperationKind.BACKGROUND_TOOL_OP, "session", "tool", "t",
                                              child_session_id="session"))
    assert adapter.active_operation_id_for_session("session") is None
    assert snap(registry, "other").status is S.PROVISIONING


def test_ambiguous_live_operations_are_never_picked() -> None:
    adapter = MobOpsAdapter(counter_ids())
    registry = adapter.registry()
    registry.register_operation(member_spec("x", "session"))
    registry.register_operation(member_spec("y", "session"))

    assert adapter.active_operation_id_for_session("session") is None
    for call in (lambda: adapter.mark_member_provisioned("session", "mob/member"),
                 lambda: adapter.report_member_progress("session", "tick"),
                 lambda: adapter.mark_member_peer_ready("session", "mob/peer"),
                 lambda: adapter.mark_member_retired("session")):
        with pytest.raises(MobError):
            call()
    assert sorted(s.id for s in registry.list_operations()) == ["x", "y"]
    assert {snap(registry, i).status for i in ("x", "y")} == {S.PROVISIONING}


def test_operation_status_reads_the_registry_that_owns_the_session() -> None:
    adapter = MobOpsAdapter(counter_ids())
    bound = OpsLifecycleRegistry()
    adapter.bind_session_registry("child", OWNER, bound)
    operation_id = adapter.mark_member_provisioned("child", "mob/member")
    assert adapter.operation_status("child", operation_id) is S.RUNNING
    assert adapter.operation_status("elsewhere", operation_id) is None
    assert adapter.operation_status("child", "missing") is None


# ---------------------------------------------------------------- retire


def test_retire_of_a_retiring_member_completes_it() -> None:
    adapter = MobOpsAdapter(counter_ids())
    operation_id = adapter.mark_member_provisioned("session", "mob/member")
    adapter.registry().request_retire(operation_id)
    adapter.mark_member_retired("session")
    assert snap(adapter.registry(), operation_id).status is S.RETIRED


def test_retire_twice_is_ok() -> None:
    adapter = MobOpsAdapter(counter_ids())
    operation_id = adapter.mark_member_provisioned("session", "mob/member")
    adapter.mark_member_retired("session")
    adapter.mark_member_retired("session")
    assert [s.id for s in adapter.registry().list_operations()] == [operation_id]
    assert snap(adapter.registry(), operation_id).status is S.RETIRED


def test_retire_of_a_still_provisioning_member_is_internal_error() -> None:
    """The seed swallows only Retiring/Retired from request_retire; Provisioning is not a retirable state."""
    adapter = MobOpsAdapter(counter_ids())
    bound = OpsLifecycleRegistry()
    adapter.bind_session_registry("child", OWNER, bound)
    bound.register_operation(member_spec("pre", "child"))
    with pytest.raises(MobError):
        adapter.mark_member_retired("child")
    assert snap(bound, "pre").status is S.PROVISIONING
    assert adapter.bound_sessions() == frozenset({"child"}), "a failed retire keeps the binding"


def test_retire_clears_the_binding_so_the_fallback_registry_is_used_again() -> None:
    adapter = MobOpsAdapter(counter_ids())
    bound = OpsLifecycleRegistry()
    adapter.bind_session_registry("child", OWNER, bound)
    first = adapter.mark_member_provisioned("child", "mob/member")
    assert adapter.bound_sessions() == frozenset({"child"})

    adapter.mark_member_retired("child")

    assert adapter.bound_sessions() == frozenset()
    assert snap(bound, first).status is S.RETIRED
    assert adapter.operation_status("child", first) is None  # now read from the fallback
    second = adapter.mark_member_provisioned("child", "mob/member")
    assert snap(adapter.registry(), second).status is S.RUNNING
    assert bound.snapshot(second) is None


def test_retire_without_operation_fabricates_nothing_and_keeps_the_binding() -> None:
    """The seed returns early when no operation is live, before clearing the binding."""
    adapter = MobOpsAdapter(counter_ids())
    bound = OpsLifecycleRegistry()
    adapter.bind_session_registry("child", OWNER, bound)
    adapter.mark_member_retired("child")
    assert bound.list_operations() == [] and adapter.registry().list_operations() == []
    assert adapter.bound_sessions() == frozenset({"child"})


# ---------------------------------------------------------------- abort


def test_abort_clears_the_binding_so_the_fallback_registry_is_used_again() -> None:
    adapter = MobOpsAdapter(counter_ids())
    bound = OpsLifecycleRegistry()
    adapter.bind_session_registry("child", OWNER, bound)
    bound.register_operation(member_spec("pre", "child"))

    adapter.abort_member_provision("child", "pre", None)

    assert snap(bound, "pre").status is S.ABORTED
    assert adapter.bound_sessions() == frozenset()
    assert adapter.operation_status("child", "pre") is None
    fresh = adapter.mark_member_provisioned("child", "mob/member")
    assert snap(adapter.registry(), fresh).status is S.RUNNING and bound.snapshot(fresh) is None


def test_abort_of_a_terminal_operation_is_ok() -> None:
    adapter = MobOpsAdapter(counter_ids())
    adapter.registry().register_operation(member_spec("pre", "session"))
    adapter.abort_member_provision("session", "pre", "first")
    adapter.abort_member_provision("session", "pre", "second")
    outcome = snap(adapter.registry(), "pre").terminal_outcome
    assert outcome is not None and outcome.status is S.ABORTED and getattr(outcome, "reason") == "first"


def test_abort_of_a_running_operation_is_internal_error_and_keeps_the_binding() -> None:
    adapter = MobOpsAdapter(counter_ids())
    bound = OpsLifecycleRegistry()
    adapter.bind_session_registry("child", OWNER, bound)
    operation_id = adapter.mark_member_provisioned("child", "mob/member")
    with pytest.raises(MobError) as caught:
        adapter.abort_member_provision("child", operation_id, None)
    assert isinstance(caught.value.__cause__, InvalidTransitionError)
    assert snap(bound, operation_id).status is S.RUNNING
    assert adapter.bound_sessions() == frozenset({"child"})


def test_abort_of_an_unknown_operation_unbinds_a_session_whose_operation_is_still_live() -> None:
    """Seed behaviour worth knowing: NotFound is success, and success drops the binding, so a
    stale operation id orphans the bound registry's live operation and the next provision
    registers a second live one, in the fallback registry."""
    adapter = MobOpsAdapter(counter_ids())
    bound = OpsLifecycleRegistry()
    adapter.bind_session_registry("child", OWNER, bound)
    orphan = adapter.mark_member_provisioned("child", "mob/member")

    adapter.abort_member_provision("child", "stale-id", None)

    assert adapter.bound_sessions() == frozenset()
    assert snap(bound, orphan).status is S.RUNNING
    fresh = adapter.mark_member_provisioned("child", "mob/member")
    assert fresh != orphan
    assert live_member_ids(bound, "child") == [orphan]
    assert live_member_ids(adapter.registry(), "child") == [fresh]


# ---------------------------------------------------------------- one live operation per child session

SESSIONS = ("a", "b")


class AdapterDriver:
    """Applies named adapter calls to one adapter and a second registry that sessions may bind to."""

    def __init__(self) -> None:
        self.adapter = MobOpsAdapter(counter_ids())
        self.bound = OpsLifecycleRegistry()
        self.issued: list[str] = []

    def apply(self, action: str, session: str) -> None:
        """Run one call; a refusal must be the seed's only reachable one (abort of a live non-Provisioning op)."""
        adapter = self.adapter
        try:
            if action == "provision":
                self.issued.append(adapter.mark_member_provisioned(session, f"mob/{session}"))
            elif action == "progress":
                adapter.report_member_progress(session, "tick")
            elif action == "peer_ready":
                adapter.mark_member_peer_ready(session, f"mob/{session}")
            elif action == "retire":
                adapter.mark_member_retired(session)
            elif action == "resolve":
                adapter.active_operation_id_for_session(session)
            elif action == "bind":
                adapter.bind_session_registry(session, OWNER, self.bound)
            elif action == "abort_latest":
                adapter.abort_member_provision(session, self.issued[-1] if self.issued else "none", "stop")
            elif action == "abort_stale":
                adapter.abort_member_provision(session, "stale", "stop")
            else:
                raise AssertionError(action)
        except MobError:
            assert action == "abort_latest", f"{action}({session}) was refused"

    def registries(self) -> Iterator[OpsLifecycleRegistry]:
        yield self.adapter.registry()
        yield self.bound

    def check_one_live_operation_per_child_session(self) -> None:
        for registry in self.registries():
            for session in SESSIONS:
                live = live_member_ids(registry, session)
                assert len(live) <= 1, f"session {session} has live operations {live}"

    def live_count(self) -> int:
        return sum(len(live_member_ids(r, s)) for r in self.registries() for s in SESSIONS)


ACTIONS = ("provision", "progress", "peer_ready", "retire", "resolve", "bind", "abort_latest", "abort_stale")
STEPS = [(action, session) for action in ACTIONS for session in SESSIONS]


def test_at_most_one_live_operation_per_child_session_after_every_short_sequence() -> None:
    """Exhaustive over every 3-call sequence of the alphabet above (16**3 sequences)."""
    reached_live = 0
    for sequence in itertools.product(STEPS, repeat=3):
        driver = AdapterDriver()
        for action, session in sequence:
            driver.apply(action, session)
            driver.check_one_live_operation_per_child_session()
        reached_live += driver.live_count() > 0
    assert reached_live > 1000, "the invariant must be checked on states that hold live operations"


class AdapterMachine(RuleBasedStateMachine):
    """Longer random sequences of the same calls; the invariant is checked after every step."""

    def __init__(self) -> None:
        super().__init__()
        self.driver = AdapterDriver()

    @rule(action=st.sampled_from(ACTIONS), session=st.sampled_from(SESSIONS))
    def call(self, action: str, session: str) -> None:
        self.driver.apply(action, session)

    @invariant()
    def one_live_operation_per_child_session(self) -> None:
        self.driver.check_one_live_operation_per_child_session()

    @invariant()
    def resolvable_session_has_exactly_its_live_operation(self) -> None:
        for session in SESSIONS:
            bound = session in self.driver.adapter.bound_sessions()
            registry = self.driver.bound if bound else self.driver.adapter.registry()
            live = live_member_ids(registry, session)
            # Every adapter-made operation is Running or later, so resolving has no side effect here.
            assert all(snap(registry, i).status is not S.PROVISIONING for i in live)
            assert self.driver.adapter.active_operation_id_for_session(session) == (live[0] if live else None)


TestAdapterKeepsOneLiveOperationPerChildSession = AdapterMachine.TestCase

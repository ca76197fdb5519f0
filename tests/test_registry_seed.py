"""Seed 001's registry unit tests (and seed 000's), restated against `impl`."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from opsref.impl import (
    DEFAULT_MAX_COMPLETED, Completed, Failed, MaxConcurrentExceededError, OperationKind, OperationPeerHandle,
    OperationResult, OperationSpec, OperationStatus, OpsLifecycleConfig, OpsLifecycleRegistry,
    PeerNotExpectedError, Retired,
)
from opsref.impl.registry import OperationCompletionWatch
from opsref.impl.signals import OneShot

RUN = "run-1"


def background_spec(name: str) -> OperationSpec:
    return OperationSpec(str(uuid.uuid4()), OperationKind.BACKGROUND_TOOL_OP, str(uuid.uuid4()), name, "test")


def result(id: str, content: str = "done") -> OperationResult:
    return OperationResult(id, content, False, 1, 0)


def started(registry: OpsLifecycleRegistry, name: str) -> str:
    spec = background_spec(name)
    registry.register_operation(spec)
    registry.provisioning_succeeded(spec.id)
    return spec.id


# seed 000


def test_already_resolved_watch_returns_terminal_outcome() -> None:
    watch = OperationCompletionWatch(OneShot.resolved(Retired()))
    assert asyncio.run(watch.wait()) == Retired()


def test_operation_kind_peer_expectation_matches_contract() -> None:
    assert OperationKind.MOB_MEMBER_CHILD.expects_peer_channel()
    assert not OperationKind.BACKGROUND_TOOL_OP.expects_peer_channel()


def test_terminal_statuses_match_contract() -> None:
    for s in ("COMPLETED", "FAILED", "ABORTED", "CANCELLED", "RETIRED", "TERMINATED"):
        assert OperationStatus[s].is_terminal()
    assert not OperationStatus.RUNNING.is_terminal()
    assert OperationStatus.RUNNING.allows_terminalization()
    assert OperationStatus.RETIRING.allows_terminalization()
    assert not OperationStatus.COMPLETED.allows_terminalization()
    assert [s.as_str() for s in OperationStatus][:4] == ["absent", "provisioning", "running", "retiring"]


# seed 001


def test_late_watchers_resolve_immediately() -> None:
    registry = OpsLifecycleRegistry()
    id = started(registry, "late")
    registry.complete_operation(id, result(id))
    outcome = asyncio.run(registry.register_watcher(id).wait())
    assert isinstance(outcome, Completed) and outcome.result.content == "done"


def test_peer_ready_requires_peer_expectation() -> None:
    registry = OpsLifecycleRegistry()
    id = started(registry, "no-peer")
    with pytest.raises(PeerNotExpectedError):
        registry.peer_ready(id, OperationPeerHandle("peer", "inproc://peer"))


def test_multi_listener_completion() -> None:
    registry = OpsLifecycleRegistry()
    id = started(registry, "multi")
    watches = [registry.register_watcher(id) for _ in range(3)]
    assert registry.snapshot(id).watcher_count == 3  # type: ignore[union-attr]
    registry.complete_operation(id, result(id, "multi-done"))
    for watch in watches:
        outcome = asyncio.run(watch.wait())
        assert isinstance(outcome, Completed) and outcome.result.content == "multi-done"


def test_wait_all_returns_all_outcomes() -> None:
    registry = OpsLifecycleRegistry()
    a, b = started(registry, "a"), started(registry, "b")
    registry.complete_operation(a, result(a, "a-done"))
    registry.fail_operation(b, "b-error")
    waited = asyncio.run(registry.wait_all(RUN, [a, b]))
    assert [id for id, _ in waited.outcomes] == [a, b]
    assert isinstance(waited.outcomes[0][1], Completed) and waited.outcomes[1][1] == Failed("b-error")
    assert waited.satisfied.operation_ids == [a, b] and waited.satisfied.wait_request_id != ""


def test_wait_all_resolves_from_authority_owned_wait_request() -> None:
    registry = OpsLifecycleRegistry()
    id = started(registry, "pending")

    async def scenario() -> None:
        task = asyncio.create_task(registry.wait_all(RUN, [id]))
        done, _ = await asyncio.wait([task], timeout=0.01)
        assert not done
        assert registry.wait_active() and registry.wait_operation_ids() == [id]
        registry.complete_operation(id, result(id))
        waited = await task
        assert waited.satisfied.operation_ids == [id]
        assert isinstance(waited.outcomes[0][1], Completed) and waited.outcomes[0][0] == id
        assert not registry.wait_active()

    asyncio.run(scenario())


def test_dropping_wait_all_future_cancels_active_wait_request() -> None:
    registry = OpsLifecycleRegistry()
    id = started(registry, "cancelled-wait")

    async def scenario() -> None:
        task = asyncio.create_task(registry.wait_all(RUN, [id]))
        await asyncio.sleep(0.01)
        assert registry.wait_active()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    assert not registry.wait_active() and registry.wait_operation_ids() == []


def test_terminate_owner_only_targets_non_terminal_operations() -> None:
    registry = OpsLifecycleRegistry()
    running, completed = started(registry, "running"), started(registry, "completed")
    registry.complete_operation(completed, result(completed))
    registry.terminate_owner("shutdown")
    assert registry.snapshot(running).status is OperationStatus.TERMINATED  # type: ignore[union-attr]
    assert registry.snapshot(completed).status is OperationStatus.COMPLETED  # type: ignore[union-attr]


def test_collect_completed_drains_terminal_operations() -> None:
    registry = OpsLifecycleRegistry()
    a = started(registry, "a")
    registry.complete_operation(a, result(a))
    b = background_spec("b")
    registry.register_operation(b)
    collected = registry.collect_completed()
    assert [id for id, _ in collected] == [a]
    assert registry.snapshot(a) is None and registry.snapshot(b.id) is not None
    assert registry.collect_completed() == []


def test_bounded_completed_retention_evicts_oldest() -> None:
    registry = OpsLifecycleRegistry(OpsLifecycleConfig(max_completed=3))
    ids = []
    for i in range(5):
        id = started(registry, f"op-{i}")
        registry.complete_operation(id, result(id, f"done-{i}"))
        ids.append(id)
    assert [registry.snapshot(id) is not None for id in ids] == [False, False, True, True, True]


def test_max_concurrent_enforcement() -> None:
    registry = OpsLifecycleRegistry(OpsLifecycleConfig(DEFAULT_MAX_COMPLETED, max_concurrent=2))
    a, b = background_spec("a"), background_spec("b")
    registry.register_operation(a)
    registry.register_operation(b)
    with pytest.raises(MaxConcurrentExceededError) as refused:
        registry.register_operation(background_spec("c"))
    assert (refused.value.limit, refused.value.active) == (2, 2)
    registry.provisioning_succeeded(a.id)
    registry.complete_operation(a.id, result(a.id))
    registry.register_operation(background_spec("d"))


def test_snapshot_includes_timestamps() -> None:
    registry = OpsLifecycleRegistry()
    spec = background_spec("timed")
    registry.register_operation(spec)
    snap1 = registry.snapshot(spec.id)
    assert snap1 is not None and snap1.created_at_ms > 0
    assert snap1.started_at_ms is None and snap1.completed_at_ms is None and snap1.elapsed_ms is None
    registry.provisioning_succeeded(spec.id)
    snap2 = registry.snapshot(spec.id)
    assert snap2 is not None and snap2.started_at_ms is not None and snap2.started_at_ms >= snap2.created_at_ms
    registry.complete_operation(spec.id, result(spec.id))
    snap3 = registry.snapshot(spec.id)
    assert snap3 is not None and snap3.completed_at_ms is not None and snap3.elapsed_ms is not None
    assert snap3.completed_at_ms >= snap2.started_at_ms


def test_snapshot_includes_peer_handle() -> None:
    registry = OpsLifecycleRegistry()
    spec = OperationSpec(str(uuid.uuid4()), OperationKind.MOB_MEMBER_CHILD, "owner", "peer-test", "test",
                         child_session_id="child", expect_peer_channel=True)
    registry.register_operation(spec)
    registry.provisioning_succeeded(spec.id)
    assert registry.snapshot(spec.id).peer_handle is None  # type: ignore[union-attr]
    registry.peer_ready(spec.id, OperationPeerHandle("member-x", "inproc://x"))
    handle = registry.snapshot(spec.id).peer_handle  # type: ignore[union-attr]
    assert handle is not None and handle.peer_name == "member-x"

"""The reference behaviour of `impl` where it deliberately differs from the seed,
plus recovery and cross-thread use."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest

from opsref.impl import (
    AlreadyRegisteredError, Completed, Failed, InvalidTransitionError, OperationStatus, OpsLifecycleConfig,
    OpsLifecycleRegistry, RecoveryError, Terminated,
)
from tests.test_registry_seed import RUN, background_spec, result, started


def test_wait_all_survives_eviction_of_a_finished_member() -> None:
    """Decision 1: `a` finished before the wait; `b`'s completion evicts it
    (max_completed=1). The seed's barrier never fires here; ours returns a's outcome."""
    registry = OpsLifecycleRegistry(OpsLifecycleConfig(max_completed=1))
    a, b = started(registry, "a"), started(registry, "b")
    registry.complete_operation(a, result(a, "a-done"))
    handle = registry.begin_wait_all(RUN, [a, b])
    assert not handle.done()
    registry.fail_operation(b, "b-error")
    assert registry.snapshot(a) is None  # evicted while the barrier waited
    waited = handle.result(timeout=1)
    assert waited.outcomes == [(a, Completed(result(a, "a-done"))), (b, Failed("b-error"))]


def test_wait_all_survives_collect_completed_while_waiting() -> None:
    registry = OpsLifecycleRegistry()
    a, b = started(registry, "a"), started(registry, "b")
    handle = registry.begin_wait_all(RUN, [a, b])
    registry.cancel_operation(a, "stop")
    assert [id for id, _ in registry.collect_completed()] == [a]
    registry.complete_operation(b, result(b))
    assert [id for id, _ in handle.result(timeout=1).outcomes] == [a, b]


def test_ids_are_never_reused_after_collection_or_recovery() -> None:
    """Decision 2."""
    registry = OpsLifecycleRegistry()
    spec = background_spec("once")
    registry.register_operation(spec)
    registry.cancel_operation(spec.id)
    registry.collect_completed()
    with pytest.raises(AlreadyRegisteredError):
        registry.register_operation(spec)
    recovered = OpsLifecycleRegistry.from_recovered(json.loads(json.dumps(registry.capture_persistence_snapshot())))
    with pytest.raises(AlreadyRegisteredError):
        recovered.register_operation(spec)


def test_provisioning_failed_only_while_provisioning() -> None:
    """Decision 3: once running, a failure is fail_operation's business."""
    registry = OpsLifecycleRegistry()
    id = started(registry, "running")
    with pytest.raises(InvalidTransitionError) as refused:
        registry.provisioning_failed(id, "late")
    assert (refused.value.status, refused.value.action) == (OperationStatus.RUNNING, "provisioning_failed")
    assert registry.snapshot(id).status is OperationStatus.RUNNING  # type: ignore[union-attr]


def test_a_refused_call_changes_nothing() -> None:
    registry = OpsLifecycleRegistry(OpsLifecycleConfig(max_completed=2, max_concurrent=1))
    id = started(registry, "only")
    before = registry.capture_persistence_snapshot()
    for call in (lambda: registry.register_operation(background_spec("x")),
                 lambda: registry.abort_provisioning(id),
                 lambda: registry.mark_retired("missing"),
                 lambda: registry.begin_wait_all(RUN, [id, id])):
        with pytest.raises(Exception):
            call()
        assert registry.capture_persistence_snapshot() == before


def test_recovery_keeps_terminal_ops_sequence_and_feed() -> None:
    registry = OpsLifecycleRegistry(OpsLifecycleConfig(max_completed=4))
    done, live = started(registry, "done"), started(registry, "live")
    registry.complete_operation(done, result(done))
    registry.begin_wait_all(RUN, [live])
    snapshot = json.loads(json.dumps(registry.capture_persistence_snapshot()))
    assert snapshot["wait"]["operation_ids"] == [live]
    recovered = OpsLifecycleRegistry.from_recovered(snapshot)
    assert recovered.snapshot(live) is None and recovered.active_count == 0 and not recovered.wait_active()
    assert recovered.snapshot(done).status is OperationStatus.COMPLETED  # type: ignore[union-attr]
    assert recovered.completion_feed().watermark() == 1
    assert [e.operation_id for e in recovered.completion_feed().list_since(0).entries] == [done]
    other = started(recovered, "after")
    recovered.terminate_owner("bye")
    assert recovered.snapshot(other).terminal_outcome == Terminated("bye")  # type: ignore[union-attr]
    assert recovered.completion_feed().watermark() == 2


def test_from_recovered_names_the_bad_field() -> None:
    snapshot = OpsLifecycleRegistry().capture_persistence_snapshot()
    snapshot["next_completion_seq"] = "three"
    with pytest.raises(RecoveryError, match="next_completion_seq: expected integer, got string"):
        OpsLifecycleRegistry.from_recovered(snapshot)


def test_watchers_and_feed_resolve_across_threads_and_loops() -> None:
    registry = OpsLifecycleRegistry()
    id = started(registry, "threaded")
    watch = registry.register_watcher(id)
    seen: list[object] = []

    def waiter() -> None:  # its own event loop, in its own thread
        seen.append(asyncio.run(watch.wait()))
        seen.append(asyncio.run(registry.completion_feed().wait_for_advance(0)))

    thread = threading.Thread(target=waiter)
    thread.start()
    registry.complete_operation(id, result(id))
    thread.join(timeout=5)
    assert seen == [Completed(result(id)), 1]

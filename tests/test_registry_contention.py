"""The registry lock is held only for state changes (issue 15, item 10).

No timings here (they are in `bench/contention.py`): each test asks, from another
thread, whether the registry lock is free at a moment the old registry held it —
while a snapshot is serialised, while a watcher's or a feed follower's wakeup runs —
and checks that a snapshot copies no more under the lock than the operations it
tracks, however many ids were ever registered.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

import opsref.impl.persistence
from opsref.impl import OperationKind, OperationResult, OperationSpec, OpsLifecycleConfig, OpsLifecycleRegistry
from opsref.impl.registry import _IdLog
from opsref.impl.signals import OneShot


def lock_is_free(registry: OpsLifecycleRegistry) -> bool:
    """Whether another thread could take the registry lock right now."""
    free: list[bool] = []

    def probe() -> None:
        got = registry._lock.acquire(blocking=False)
        if got:
            registry._lock.release()
        free.append(got)

    thread = threading.Thread(target=probe)
    thread.start()
    thread.join()
    return free[0]


def cycle(registry: OpsLifecycleRegistry, id: str, watch: bool = False) -> Any:
    registry.register_operation(OperationSpec(id, OperationKind.BACKGROUND_TOOL_OP, "owner", id, "test"))
    registry.provisioning_succeeded(id)
    watcher = registry.register_watcher(id) if watch else None
    registry.complete_operation(id, OperationResult(id, "ok"))
    return watcher


def test_a_snapshot_is_serialised_outside_the_registry_lock(monkeypatch: pytest.MonkeyPatch) -> None:
    registry = OpsLifecycleRegistry()
    cycle(registry, "a")
    real = opsref.impl.persistence.capture
    seen: list[bool] = []

    def spy(*args: Any) -> dict[str, Any]:
        seen.append(lock_is_free(registry))
        return real(*args)

    monkeypatch.setattr(opsref.impl.persistence, "capture", spy)
    snapshot = registry.capture_persistence_snapshot()
    assert seen == [True]
    assert snapshot["registered_ids"] == ["a"] and snapshot["completed_order"] == ["a"]


def test_the_copy_under_the_lock_shares_the_retired_ids_instead_of_copying_them() -> None:
    registry = OpsLifecycleRegistry(OpsLifecycleConfig(max_completed=2))
    n = 3 * _IdLog.CHUNK + 5
    for k in range(n):
        cycle(registry, f"op{k}")
    state = registry._state()
    assert len(state.records) == 2 and state.registered[:3] == tuple(registry._registered._chunks)
    assert all(a is b for a, b in zip(state.registered, registry._registered._chunks))
    for k in range(n, n + _IdLog.CHUNK):  # registrations after the copy do not leak into it
        cycle(registry, f"op{k}")
    snapshot = opsref.impl.persistence.capture(state)
    assert snapshot["registered_ids"] == [f"op{k}" for k in range(n)]
    assert OpsLifecycleRegistry.from_recovered(snapshot).completion_feed().watermark() == n


def test_watchers_and_feed_followers_are_woken_outside_the_registry_lock(monkeypatch: pytest.MonkeyPatch) -> None:
    registry = OpsLifecycleRegistry()
    registry.register_operation(OperationSpec("a", OperationKind.BACKGROUND_TOOL_OP, "owner", "a", "test"))
    registry.register_watcher("a")
    registry.completion_feed().advance_signal(0)
    seen: list[bool] = []
    settle = OneShot._settle

    def spy(self: OneShot[Any], state: str, value: Any) -> None:  # every wakeup passes here
        seen.append(lock_is_free(registry))
        settle(self, state, value)

    monkeypatch.setattr(OneShot, "_settle", spy)
    registry.cancel_operation("a", "stop")
    assert seen == [True, True]


def test_the_registry_lock_is_reentrant_and_honours_non_blocking_and_timeouts() -> None:
    from opsref.impl.locks import YieldingLock
    lock = YieldingLock()
    with lock:
        with lock:  # re-entrant: the registry's contracts call its own methods under the lock
            held: list[bool] = []
            other = threading.Thread(target=lambda: held.extend([lock.acquire(blocking=False),
                                                                 lock.acquire(timeout=0.05)]))
            other.start()
            other.join(5)
            assert held == [False, False]
    assert lock.acquire(blocking=False)
    lock.release()

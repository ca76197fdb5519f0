"""Callers that give up waiting (a timeout) leave the registry as it was (issue 15, item 4)."""

from __future__ import annotations

import asyncio

from opsref.impl import OperationKind, OperationResult, OperationSpec, OpsLifecycleRegistry


def spec(id: str) -> OperationSpec:
    return OperationSpec(id, OperationKind.BACKGROUND_TOOL_OP, "owner", f"op {id}", "test")


def test_timed_out_feed_waits_leave_no_waiter_behind() -> None:
    registry = OpsLifecycleRegistry()
    feed = registry.completion_feed()

    async def give_up_many() -> None:
        for _ in range(300):
            try:
                await asyncio.wait_for(feed.wait_for_advance(feed.watermark()), 0.001)
            except asyncio.TimeoutError:
                pass

    asyncio.run(give_up_many())
    assert feed.waiting() == 0


def test_timed_out_watch_waits_leave_no_waiter_behind() -> None:
    """Polling a long-running operation's watch with timeouts must not grow it (each
    timed-out wait used to leave a chained future on the watch until the op finished)."""
    registry = OpsLifecycleRegistry()
    registry.register_operation(spec("a"))
    watch = registry.register_watcher("a")

    async def give_up_many() -> int:
        for _ in range(300):
            try:
                await asyncio.wait_for(watch.wait(), 0.001)
            except asyncio.TimeoutError:
                pass
        return watch.waiting()

    assert asyncio.run(give_up_many()) == 0
    assert not watch.done()


def test_a_watch_wakes_waiters_on_several_loops_and_threads() -> None:
    import threading
    registry = OpsLifecycleRegistry()
    registry.register_operation(spec("a"))
    watch = registry.register_watcher("a")
    got: list[str] = []
    started = threading.Barrier(4)

    def in_its_own_loop() -> None:
        async def wait() -> None:
            task = asyncio.ensure_future(watch.wait())
            await asyncio.sleep(0)
            started.wait()
            got.append((await asyncio.wait_for(task, 5)).status.value)
        asyncio.run(wait())

    def blocking() -> None:
        started.wait()
        got.append(watch.result(5).status.value)

    threads = [threading.Thread(target=in_its_own_loop) for _ in range(2)] + [threading.Thread(target=blocking)]
    for t in threads:
        t.start()
    started.wait()
    registry.provisioning_succeeded("a")
    registry.complete_operation("a", OperationResult("a", "done", False, 1, 0))
    for t in threads:
        t.join(10)
    assert got == ["completed"] * 3 and watch.waiting() == 0


def test_a_timed_out_watch_still_delivers_the_outcome() -> None:
    registry = OpsLifecycleRegistry()
    registry.register_operation(spec("a"))
    watch = registry.register_watcher("a")

    async def scenario() -> str:
        try:
            await asyncio.wait_for(watch.wait(), 0.01)
        except asyncio.TimeoutError:
            pass
        assert not watch.done(), "giving up must not resolve (cancel) the watch"
        registry.provisioning_succeeded("a")
        registry.complete_operation("a", OperationResult("a", "done", False, 1, 0))
        outcome = await asyncio.wait_for(watch.wait(), 1)
        return outcome.status.value

    assert asyncio.run(scenario()) == "completed"

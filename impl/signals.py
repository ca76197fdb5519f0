"""One-shot results that any thread can set and any event loop (or thread) can await.

A `concurrent.futures.Future` is thread-safe and `asyncio.wrap_future` awaits it
from whichever loop the caller runs, so watchers and the barrier need no loop of
their own (seed 001 uses tokio oneshot channels for the same job).
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Future
from typing import Generic, TypeVar

T = TypeVar("T")


class OneShot(Generic[T]):
    """Resolved at most once; later resolutions are ignored."""

    def __init__(self) -> None:
        self._future: Future[T] = Future()

    @classmethod
    def resolved(cls, value: T) -> "OneShot[T]":
        shot: OneShot[T] = cls()
        shot.set(value)
        return shot

    def set(self, value: T) -> None:
        if not self._future.done():
            self._future.set_result(value)

    def cancel(self) -> None:
        self._future.cancel()

    def done(self) -> bool:
        return self._future.done()

    def cancelled(self) -> bool:
        return self._future.cancelled()

    def result(self, timeout: float | None = None) -> T:
        """Block this thread until resolved (or raise TimeoutError)."""
        return self._future.result(timeout)

    async def wait(self) -> T:
        """Await the result. A caller that gives up (a timeout cancelling its task) does not
        cancel the signal: others, and the caller's next wait, still get the result."""
        return await asyncio.shield(asyncio.wrap_future(self._future))

"""One-shot results that any thread can set and any event loop (or thread) can await.

Watchers and the barrier need no loop of their own (seed 001 uses tokio oneshot
channels for the same job): a `OneShot` keeps, under its own lock, the loops' futures
waiting on it and wakes each on its own loop when it is set. A caller that gives up
(a timeout cancelling its task) takes its waiter out again, so polling a long-running
operation with timeouts leaves nothing behind, and never cancels the signal itself.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import CancelledError
from typing import Generic, TypeVar

T = TypeVar("T")


_PENDING, _SET, _CANCELLED = "pending", "set", "cancelled"


class OneShot(Generic[T]):
    """Resolved at most once; later resolutions are ignored."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state = _PENDING
        self._value: T | None = None
        self._event = threading.Event()
        self._waiters: dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Future[T]]] = {}

    @classmethod
    def resolved(cls, value: T) -> "OneShot[T]":
        shot: OneShot[T] = cls()
        shot.set(value)
        return shot

    def set(self, value: T) -> None:
        self._settle(_SET, value)

    def cancel(self) -> None:
        self._settle(_CANCELLED, None)

    def _settle(self, state: str, value: T | None) -> None:
        with self._lock:
            if self._state != _PENDING:
                return
            self._state, self._value = state, value
            waiters, self._waiters = list(self._waiters.values()), {}
        self._event.set()
        for loop, future in waiters:  # outside the lock: waking runs on each waiter's own loop
            try:
                loop.call_soon_threadsafe(self._wake, future)
            except RuntimeError:  # that loop is closed: nobody is waiting there any more
                pass

    def _wake(self, future: "asyncio.Future[T]") -> None:
        if future.done():
            return
        if self._state == _CANCELLED:
            future.cancel()
        else:
            future.set_result(self._value)  # type: ignore[arg-type]

    def done(self) -> bool:
        return self._state != _PENDING

    def cancelled(self) -> bool:
        return self._state == _CANCELLED

    def waiting(self) -> int:
        """Callers awaiting this signal right now (what a timed-out caller must not leave)."""
        with self._lock:
            return len(self._waiters)

    def result(self, timeout: float | None = None) -> T:
        """Block this thread until resolved (TimeoutError when `timeout` passes first)."""
        if not self._event.wait(timeout):
            raise TimeoutError()
        return self._outcome()

    def _outcome(self) -> T:
        if self._state == _CANCELLED:
            raise CancelledError()
        return self._value  # type: ignore[return-value]

    async def wait(self) -> T:
        """Await the result. A caller that gives up does not cancel the signal: others,
        and the caller's next wait, still get the result."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        with self._lock:
            settled = self._state != _PENDING
            if not settled:
                self._waiters[id(future)] = (loop, future)
        if settled:
            if self._state == _CANCELLED:
                raise asyncio.CancelledError()
            return self._value  # type: ignore[return-value]
        try:
            return await future
        finally:
            with self._lock:
                self._waiters.pop(id(future), None)

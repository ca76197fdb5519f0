"""The registry's lock: re-entrant, and free of the convoy a plain lock forms under threads."""

from __future__ import annotations

import threading
import time


class YieldingLock:
    """A re-entrant lock that, when taken, first yields the interpreter a few times before
    it blocks. Without this, a thread preempted (by the GIL's switch interval) while it holds
    a plain lock sends every other thread to sleep on the lock; each release then wakes one
    sleeper, which must win the GIL back first: a convoy in which 16 threads make a quarter
    of one thread's progress (bench/contention.py). The holder's critical section is short,
    so a waiter that lets it run (`time.sleep(0)` releases the GIL) almost always finds the
    lock free without sleeping on it."""

    __slots__ = ("_lock",)
    YIELDS = 50

    def __init__(self) -> None:
        self._lock = threading.RLock()

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        lock = self._lock
        if lock.acquire(False):
            return True
        if not blocking:
            return False
        for _ in range(self.YIELDS):
            time.sleep(0)  # let the holder run and finish
            if lock.acquire(False):
                return True
        return lock.acquire(True, timeout)

    def release(self) -> None:
        self._lock.release()

    def __enter__(self) -> "YieldingLock":
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self._lock.release()

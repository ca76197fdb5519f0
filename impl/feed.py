"""The completion feed (seed 001 `FeedBuffer` / `RuntimeCompletionFeed`).

Every terminal transition appends one entry with the next completion sequence
number. Consumers read by cursor: `list_since(after_seq)` and
`wait_for_advance(after_seq)`. Entries leave only by capacity (oldest first),
never because a consumer read them.
"""

from __future__ import annotations

import threading
from collections import deque

from opsref.impl.signals import OneShot
from opsref.impl.values import CompletionBatch, CompletionEntry


def feed_capacity(max_completed: int) -> int:
    """As the seed: four times the retention, at least 1024, to absorb bursts."""
    return max(max_completed * 4, 1024)


class CompletionFeed:
    def __init__(self, capacity: int) -> None:
        self._lock = threading.Lock()
        self._entries: deque[CompletionEntry] = deque(maxlen=capacity)
        self._watermark = 0
        self._waiters: dict[int, tuple[int, OneShot[int]]] = {}  # id(signal) -> (after_seq, signal)

    def publish(self, entry: CompletionEntry) -> list[tuple[OneShot[int], int]]:
        """Append `entry`; return the advance signals it resolves, with their value. The
        registry sets them once its own lock is released (a waiter's loop is woken by a
        pipe write, which must not happen inside the registry's critical section)."""
        with self._lock:
            self._entries.append(entry)
            self._watermark = entry.seq
            if not self._waiters:
                return []
            ready = [(shot, entry.seq) for after, shot in self._waiters.values() if entry.seq > after]
            if ready:
                self._waiters = {key: w for key, w in self._waiters.items() if entry.seq <= w[0]}
            return ready

    def push(self, entry: CompletionEntry) -> None:
        """Append `entry` and resolve the signals waiting for it."""
        for shot, value in self.publish(entry):
            shot.set(value)

    def watermark(self) -> int:
        with self._lock:
            return self._watermark

    def list_since(self, after_seq: int) -> CompletionBatch:
        with self._lock:
            return CompletionBatch([e for e in self._entries if e.seq > after_seq], self._watermark)

    def entries(self) -> list[CompletionEntry]:
        with self._lock:
            return list(self._entries)

    def advance_signal(self, after_seq: int) -> OneShot[int]:
        """A signal resolved with the watermark once it passes `after_seq`."""
        with self._lock:
            if self._watermark > after_seq:
                return OneShot.resolved(self._watermark)
            shot: OneShot[int] = OneShot()
            self._waiters[id(shot)] = (after_seq, shot)
            return shot

    def waiting(self) -> int:
        """How many advance signals are pending (for tests and diagnostics)."""
        with self._lock:
            return len(self._waiters)

    async def wait_for_advance(self, after_seq: int) -> int:
        """Wait until the watermark is past `after_seq`; returns the new watermark. A caller
        that gives up (a timeout) leaves nothing behind in the feed."""
        shot = self.advance_signal(after_seq)
        try:
            return await shot.wait()
        finally:
            if not shot.done():
                with self._lock:
                    self._waiters.pop(id(shot), None)

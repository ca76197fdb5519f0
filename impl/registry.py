"""The executable ops-lifecycle registry (seed 001), reference semantics.

Hand-written as production code would be, independent of `spec/`: one lock
guards all state; every per-operation call is O(1) in the number of tracked
operations; a failed call changes nothing (every check runs before the first
write). Watchers, the completion feed and the wait barrier are one-shot signals
that any thread or event loop can await.

Contention: the lock is held only for the state change itself. Records and
timestamps are made before it is taken, and the signals a transition resolves
(watchers, feed followers, the barrier's waiter) are set after it is released,
so a waiter's event loop is woken (a pipe write) outside the critical section.
A persistence snapshot copies under the lock only what is bounded by the live and
retained operations and the feed; the ids ever registered, which grow without
bound, are kept in an append-only log of immutable chunks that the snapshot
shares instead of copying (`_IdLog`).

Where the reference differs from the seed (DESIGN "Decisions"):
  1. the barrier records each member's outcome when it finishes (or at wait
     start, if it already had), so FIFO eviction or `collect_completed` cannot
     strand `wait_all`;
  2. an id is never registered twice, even after eviction, collection or
     recovery (`AlreadyRegistered`);
  3. `provisioning_failed` fails only an operation still Provisioning, and
     reports itself as the action.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from opsref.impl.errors import (
    AlreadyPeerReadyError, AlreadyRegisteredError, DuplicateWaitOperationError, InternalError,
    InvalidTransitionError, MaxConcurrentExceededError, NotFoundError, OpsLifecycleError, PeerNotExpectedError,
    WaitAlreadyActiveError,
)
from opsref.impl.feed import CompletionFeed, feed_capacity
from opsref.impl.locks import YieldingLock
from opsref.impl.signals import OneShot
from opsref.impl import persistence
from opsref.impl.persistence import CapturedState
from opsref.impl.snapshot_rules import RecordState, check_snapshot
from opsref.impl.values import (
    Aborted, Cancelled, Completed, CompletionEntry, Failed, OperationKind, OperationLifecycleSnapshot,
    OperationPeerHandle, OperationProgressUpdate, OperationResult, OperationSpec, OperationStatus,
    OperationTerminalOutcome, Retired, Terminated, WaitAllResult, WaitAllSatisfied,
)

DEFAULT_MAX_COMPLETED = 256

S = OperationStatus
LIVE = (S.PROVISIONING, S.RUNNING, S.RETIRING)
RUNNING_OR_RETIRING = (S.RUNNING, S.RETIRING)


@dataclass(frozen=True)
class OpsLifecycleConfig:
    max_completed: int = DEFAULT_MAX_COMPLETED
    max_concurrent: int | None = None

    def __post_init__(self) -> None:
        if self.max_completed < 0:
            raise ValueError(f"max_completed must be >= 0, got {self.max_completed}")
        if self.max_concurrent is not None and self.max_concurrent < 0:
            raise ValueError(f"max_concurrent must be >= 0 or None, got {self.max_concurrent}")


def _now_ms() -> int:
    """Wall-clock milliseconds, from the integer clock: no float to overflow or round
    (CrossHair found `int(time.time() * 1000)` raising OverflowError for a clock of 1e305 s)."""
    return time.time_ns() // 1_000_000


#: Signals a transition resolves, set once the registry lock is released: (signal, value).
_Wakeups = list[tuple[OneShot[Any], Any]]


def _wake(wakeups: _Wakeups) -> None:
    for signal, value in wakeups:
        signal.set(value)


class _IdLog:
    """Every id ever registered, in registration order, append-only (decision 2: ids are
    never forgotten). Full chunks are immutable tuples, so `frozen()` shares them: a
    snapshot copies at most one chunk under the lock, however many ids were registered."""

    CHUNK = 4096

    def __init__(self, ids: list[str] | None = None) -> None:
        self._chunks: list[tuple[str, ...]] = []
        self._tail: list[str] = []
        for id in ids or ():
            self.append(id)

    def append(self, id: str) -> None:
        self._tail.append(id)
        if len(self._tail) >= self.CHUNK:
            self._chunks.append(tuple(self._tail))
            self._tail = []

    def frozen(self) -> tuple[tuple[str, ...], ...]:
        return (*self._chunks, tuple(self._tail))


@dataclass
class _Record:
    """Everything the registry knows about one tracked operation."""

    spec: OperationSpec
    status: OperationStatus
    peer_ready: bool = False
    peer_handle: OperationPeerHandle | None = None
    progress_count: int = 0
    watchers: list[OneShot[OperationTerminalOutcome]] = field(default_factory=list)
    outcome: OperationTerminalOutcome | None = None
    seq: int = 0
    created_at_ms: int = field(default_factory=_now_ms)
    created_mono: float = field(default_factory=time.monotonic)
    started_at_ms: int | None = None
    completed_at_ms: int | None = None
    elapsed_ms: int | None = None

    def snapshot(self) -> OperationLifecycleSnapshot:
        return OperationLifecycleSnapshot(
            id=self.spec.id, kind=self.spec.kind, display_name=self.spec.display_name, status=self.status,
            peer_ready=self.peer_ready, progress_count=self.progress_count, watcher_count=len(self.watchers),
            terminal_outcome=self.outcome, child_session_id=self.spec.child_session_id,
            peer_handle=self.peer_handle, created_at_ms=self.created_at_ms, started_at_ms=self.started_at_ms,
            completed_at_ms=self.completed_at_ms, elapsed_ms=self.elapsed_ms,
        )


@dataclass
class _Barrier:
    """An armed wait_all: its members, the outcomes it already holds, and its waiter."""

    request_id: str
    members: dict[str, int]                      # id -> position in the request
    outcomes: dict[str, OperationTerminalOutcome]
    signal: OneShot[WaitAllSatisfied]

    @property
    def satisfied(self) -> bool:
        return len(self.outcomes) == len(self.members)


class OperationCompletionWatch:
    """One watcher of an operation's terminal outcome (seed 000)."""

    def __init__(self, signal: OneShot[OperationTerminalOutcome]) -> None:
        self._signal = signal

    async def wait(self) -> OperationTerminalOutcome:
        return await self._signal.wait()

    def result(self, timeout: float | None = None) -> OperationTerminalOutcome:
        return self._signal.result(timeout)

    def done(self) -> bool:
        return self._signal.done()

    def waiting(self) -> int:
        """Callers awaiting this watch right now (one that gave up is not among them)."""
        return self._signal.waiting()


class WaitAllHandle:
    """A started wait_all: poll it, block on it, await it, or cancel it.

    `wait_all` is this handle awaited; cancelling the awaiting task cancels the
    handle, which clears the barrier without a token (seed 001 `Drop for
    WaitAllFuture`)."""

    def __init__(self, registry: "OpsLifecycleRegistry", request_id: str, ids: list[str],
                 signal: OneShot[WaitAllSatisfied], outcomes: dict[str, OperationTerminalOutcome]) -> None:
        self._registry = registry
        self.wait_request_id = request_id
        self.operation_ids = ids
        self._signal = signal
        self._outcomes = outcomes  # the barrier's own map, filled as members finish

    def done(self) -> bool:
        return self._signal.done() and not self._signal.cancelled()

    def cancelled(self) -> bool:
        return self._signal.cancelled()

    def cancel(self) -> None:
        self._registry._cancel_wait(self.wait_request_id)

    def _result(self, satisfied: WaitAllSatisfied) -> WaitAllResult:
        with self._registry._lock:
            missing = [i for i in self.operation_ids if i not in self._outcomes]
            if missing:
                raise InternalError(f"wait_all completed without terminal outcome for {missing[0]}")
            return WaitAllResult([(i, self._outcomes[i]) for i in self.operation_ids], satisfied)

    def result(self, timeout: float | None = None) -> WaitAllResult:
        return self._result(self._signal.result(timeout))

    async def wait(self) -> WaitAllResult:
        try:
            satisfied = await self._signal.wait()
        except BaseException:
            self.cancel()
            raise
        return self._result(satisfied)


class OpsLifecycleRegistry:
    """The registry. Contracts (PEP 316, checked by `make contracts` with CrossHair):

    inv: len(self._live) <= len(self._records)
    inv: all(self._records[i].status in LIVE for i in self._live)
    inv: len(self._completed) <= self.config.max_completed
    inv: all(self._records[i].outcome is not None for i in self._completed)
    inv: self.config.max_concurrent is None or len(self._live) <= self.config.max_concurrent
    inv: set(self._records) <= self._used.keys()
    """

    def __init__(self, config: OpsLifecycleConfig | None = None) -> None:
        self.config = config or OpsLifecycleConfig()
        self._lock = YieldingLock()  # no convoy when many threads share the registry
        self._records: dict[str, _Record] = {}
        self._live: dict[str, None] = {}                # live ids, in registration order
        self._completed: OrderedDict[str, None] = OrderedDict()  # retained terminal ids, oldest first
        # every id ever registered (decision 2); a dict of str -> None, not a set: the garbage
        # collector never walks it, so a million retired ids do not lengthen every full collection
        self._used: dict[str, None] = {}
        self._registered = _IdLog()                     # the same ids, in registration order
        self._next_seq = 0
        self._feed = CompletionFeed(feed_capacity(self.config.max_completed))
        self._barrier: _Barrier | None = None

    # ------------------------------------------------------------ reads

    @property
    def active_count(self) -> int:
        with self._lock:
            return len(self._live)

    def snapshot(self, id: str) -> OperationLifecycleSnapshot | None:
        with self._lock:
            record = self._records.get(id)
            return record.snapshot() if record else None

    def list_operations(self) -> list[OperationLifecycleSnapshot]:
        with self._lock:
            snaps = [r.snapshot() for r in self._records.values()]
        return sorted(snaps, key=lambda s: s.display_name)

    def completion_feed(self) -> CompletionFeed:
        return self._feed

    def wait_active(self) -> bool:
        with self._lock:
            return self._barrier is not None

    def wait_operation_ids(self) -> list[str]:
        with self._lock:
            return list(self._barrier.members) if self._barrier else []

    # ------------------------------------------------------------ registration

    def register_operation(self, spec: OperationSpec) -> None:
        """Admit `spec` in Provisioning; it counts as active.

        raises: OpsLifecycleError
        post: self._records[spec.id].status == OperationStatus.PROVISIONING
        post: spec.id in self._live and spec.id in self._used
        """
        record = _Record(spec, S.PROVISIONING)  # made before the lock: it is thrown away on a refusal
        with self._lock:
            if spec.id in self._records or spec.id in self._used:
                raise AlreadyRegisteredError(spec.id)
            limit = self.config.max_concurrent
            if limit is not None and len(self._live) >= limit:
                raise MaxConcurrentExceededError(limit, len(self._live))
            self._records[spec.id] = record
            self._live[spec.id] = None
            self._used[spec.id] = None
            self._registered.append(spec.id)

    def _tracked(self, id: str, action: str, allowed: tuple[OperationStatus, ...]) -> _Record:
        record = self._records.get(id)
        if record is None:
            raise NotFoundError(id)
        if record.status not in allowed:
            raise InvalidTransitionError(id, record.status, action)
        return record

    # ------------------------------------------------------------ non-terminal transitions

    def provisioning_succeeded(self, id: str) -> None:
        """raises: OpsLifecycleError
        post: self._records[id].status == OperationStatus.RUNNING"""
        now = _now_ms()
        with self._lock:
            record = self._tracked(id, "provisioning_succeeded", (S.PROVISIONING,))
            record.status = S.RUNNING
            record.started_at_ms = now

    def request_retire(self, id: str) -> None:
        """raises: OpsLifecycleError
        post: self._records[id].status == OperationStatus.RETIRING"""
        with self._lock:
            self._tracked(id, "request_retire", (S.RUNNING,)).status = S.RETIRING

    def report_progress(self, id: str, update: OperationProgressUpdate | None = None) -> None:
        """raises: OpsLifecycleError"""
        with self._lock:
            self._tracked(id, "report_progress", RUNNING_OR_RETIRING).progress_count += 1

    def peer_ready(self, id: str, peer: OperationPeerHandle) -> None:
        """raises: OpsLifecycleError
        post: self._records[id].peer_ready and self._records[id].spec.kind == OperationKind.MOB_MEMBER_CHILD"""
        with self._lock:
            record = self._records.get(id)
            if record is None:
                raise NotFoundError(id)
            if record.spec.kind is not OperationKind.MOB_MEMBER_CHILD:
                raise PeerNotExpectedError(id)
            if record.peer_ready:
                raise AlreadyPeerReadyError(id)
            if record.status not in RUNNING_OR_RETIRING:
                raise InvalidTransitionError(id, record.status, "peer_ready")
            record.peer_ready = True
            record.peer_handle = peer

    def register_watcher(self, id: str) -> OperationCompletionWatch:
        """raises: OpsLifecycleError"""
        with self._lock:
            record = self._records.get(id)
            if record is None:
                raise NotFoundError(id)
            if record.outcome is not None:
                return OperationCompletionWatch(OneShot.resolved(record.outcome))
            signal: OneShot[OperationTerminalOutcome] = OneShot()
            record.watchers.append(signal)
            return OperationCompletionWatch(signal)

    # ------------------------------------------------------------ terminal transitions

    def provisioning_failed(self, id: str, error: str) -> None:
        """raises: OpsLifecycleError"""
        self._terminate(id, "provisioning_failed", (S.PROVISIONING,), Failed(error))

    def fail_operation(self, id: str, error: str) -> None:
        """raises: OpsLifecycleError"""
        self._terminate(id, "fail_operation", LIVE, Failed(error))

    def abort_provisioning(self, id: str, reason: str | None = None) -> None:
        """raises: OpsLifecycleError"""
        self._terminate(id, "abort_provisioning", (S.PROVISIONING,), Aborted(reason))

    def cancel_operation(self, id: str, reason: str | None = None) -> None:
        """raises: OpsLifecycleError"""
        self._terminate(id, "cancel_operation", LIVE, Cancelled(reason))

    def mark_retired(self, id: str) -> None:
        """raises: OpsLifecycleError"""
        self._terminate(id, "mark_retired", RUNNING_OR_RETIRING, Retired())

    def complete_operation(self, id: str, result: OperationResult) -> None:
        """raises: OpsLifecycleError"""
        self._terminate(id, "complete_operation", RUNNING_OR_RETIRING, Completed(result))

    def terminate_owner(self, reason: str) -> None:
        """Terminate every live operation, one terminal transition each, in registration order.

        post: len(self._live) == 0
        """
        wakeups: _Wakeups = []
        outcome = Terminated(reason)
        now, mono = _now_ms(), time.monotonic()
        with self._lock:
            for id in list(self._live):
                self._finalize(self._records[id], outcome, now, mono, wakeups)
        _wake(wakeups)

    def _terminate(self, id: str, action: str, allowed: tuple[OperationStatus, ...],
                   outcome: OperationTerminalOutcome) -> None:
        """The shared body of every single-op terminal call.

        raises: OpsLifecycleError
        post: id not in self._live
        post: id not in self._records or self._records[id].outcome == outcome
        post: self._feed.watermark() == self._next_seq
        """
        wakeups: _Wakeups = []
        now, mono = _now_ms(), time.monotonic()
        with self._lock:
            self._finalize(self._tracked(id, action, allowed), outcome, now, mono, wakeups)
        _wake(wakeups)

    def _finalize(self, record: _Record, outcome: OperationTerminalOutcome, now_ms: int, mono: float,
                  wakeups: _Wakeups) -> None:
        """Seed 001 `finalize_terminal`: record the outcome, free the slot, resolve
        watchers, publish one feed entry, retain FIFO and evict, then let the
        barrier take the outcome and check satisfaction. The signals it resolves go
        to `wakeups`, set by the caller once the lock is released."""
        id = record.spec.id
        record.status, record.outcome = outcome.status, outcome
        record.completed_at_ms = now_ms
        record.elapsed_ms = max(0, int((mono - record.created_mono) * 1000))
        del self._live[id]
        watchers, record.watchers = record.watchers, []
        self._next_seq += 1
        record.seq = self._next_seq
        wakeups += self._feed.publish(CompletionEntry(record.seq, id, record.spec.kind, record.spec.display_name,
                                                      outcome, now_ms))
        self._completed[id] = None
        barrier = self._barrier
        if barrier is not None and id in barrier.members:
            barrier.outcomes.setdefault(id, outcome)
        while len(self._completed) > self.config.max_completed:
            evicted, _ = self._completed.popitem(last=False)
            del self._records[evicted]
        if barrier is not None and barrier.satisfied:
            self._barrier = None
            wakeups.append((barrier.signal, WaitAllSatisfied(barrier.request_id, list(barrier.members))))
        wakeups += [(watcher, outcome) for watcher in watchers]

    # ------------------------------------------------------------ draining

    def collect_completed(self) -> list[tuple[str, OperationTerminalOutcome]]:
        """Drain every retained terminal operation, oldest first.

        post: len(self._completed) == 0
        post: all(i not in self._records for i, _ in __return__)
        """
        with self._lock:
            out: list[tuple[str, OperationTerminalOutcome]] = []
            for id in self._completed:
                outcome = self._records.pop(id).outcome
                assert outcome is not None
                out.append((id, outcome))
            self._completed.clear()
            return out

    # ------------------------------------------------------------ wait_all barrier

    def begin_wait_all(self, run_id: str, ids: list[str]) -> WaitAllHandle:
        """Validate and arm a barrier over `ids` (or resolve it at once when all are terminal).

        raises: OpsLifecycleError
        post: __return__.operation_ids == ids
        post: __return__.done() or (self._barrier is not None and list(self._barrier.members) == ids)
        """
        with self._lock:
            seen: set[str] = set()
            for id in ids:
                if id in seen:
                    raise DuplicateWaitOperationError(id)
                seen.add(id)
            if self._barrier is not None:
                raise WaitAlreadyActiveError()
            for id in ids:
                if id not in self._records:
                    raise NotFoundError(id)
            request_id = str(uuid.uuid4())
            outcomes = {id: o for id in ids if (o := self._records[id].outcome) is not None}
            signal: OneShot[WaitAllSatisfied] = OneShot()
            if len(outcomes) == len(ids):
                signal.set(WaitAllSatisfied(request_id, list(ids)))
            else:
                self._barrier = _Barrier(request_id, {id: n for n, id in enumerate(ids)}, outcomes, signal)
            return WaitAllHandle(self, request_id, list(ids), signal, outcomes)

    async def wait_all(self, run_id: str, ids: list[str]) -> WaitAllResult:
        # crosshair: off
        # (CrossHair calls an async method without awaiting it: only the coroutine would be
        # made, so its six invariant checks would check nothing; begin_wait_all is checked)
        return await self.begin_wait_all(run_id, ids).wait()

    def _cancel_wait(self, request_id: str) -> None:
        with self._lock:
            barrier = self._barrier
            if barrier is not None and barrier.request_id == request_id:
                self._barrier = None
                barrier.signal.cancel()

    # ------------------------------------------------------------ persistence

    def capture_persistence_snapshot(self) -> dict[str, Any]:
        """The persisted snapshot (`impl.persistence`). The lock is held only to copy the
        immutable pieces of one consistent state; the JSON is built after it is released."""
        with self._lock:
            pieces = self._state()
        return persistence.capture(pieces)

    @classmethod
    def from_recovered(cls, snapshot: object) -> "OpsLifecycleRegistry":
        """Seed 001's `from_recovered`: only terminal operations survive, with the sequence
        counter, the feed and every id ever registered. `check_snapshot` refuses a malformed
        or inconsistent snapshot (RecoveryError, naming the field and the rule) before any
        of it is installed."""
        checked = check_snapshot(snapshot)
        registry = cls(OpsLifecycleConfig(checked.max_completed, checked.max_concurrent))
        for op in checked.operations:
            if op.status.is_terminal():
                registry._records[op.spec.id] = _Record(op.spec, op.status, peer_ready=op.peer_ready,
                                                        progress_count=op.progress_count, outcome=op.outcome,
                                                        seq=op.seq)
        registry._completed = OrderedDict((id, None) for id in checked.completed_order)
        registry._used = dict.fromkeys(checked.registered_ids)
        registry._registered = _IdLog(checked.registered_ids)
        registry._next_seq = checked.next_seq
        for entry in checked.entries:
            registry._feed.publish(entry)
        return registry

    def _state(self) -> CapturedState:
        """One consistent state, copied under the lock as immutable values: O(tracked
        operations + feed entries), never O(ids ever registered)."""
        barrier = self._barrier
        return CapturedState(
            self.config.max_completed, self.config.max_concurrent,
            tuple(RecordState(r.spec, r.status, r.peer_ready, r.progress_count, len(r.watchers), r.seq, r.outcome)
                  for r in self._records.values()),
            tuple(self._completed), self._registered.frozen(), self._next_seq,
            None if barrier is None else (barrier.request_id, tuple(barrier.members)),
            tuple(self._feed.entries()))


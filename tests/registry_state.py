"""The registry read into the spec's state (`spec.ops_lifecycle` fields), for checking
that a registry `impl` built satisfies every invariant of the machine.

The reading is literal: each spec field comes from the registry field that holds it
(statuses, outcomes, sequence numbers, `completed_order`, the feed's entries, the
used ids, the barrier). Where two registry fields would give one spec field two
values (a feed entry and `completed_order` naming different ops for one sequence
number, a live set that is not the set of live records, a feed watermark that is not
the last sequence issued) the registry has no spec state at all: `Unrepresentable`.
"""

from __future__ import annotations

from opsref.spec.machine import Machine
from opsref.spec.model import State, Value, initial_state
from opsref.spec.ops_lifecycle import configuration

from opsref.impl import OpsLifecycleRegistry


class Unrepresentable(AssertionError):
    """The registry's fields contradict each other: no spec state reads as it."""


def _short(value: Value) -> str:
    """A value for a message (a 5,000-digit integer cannot be printed whole)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**30:
        return "a huge integer"
    return repr(value)[:60]


def _put(machine: Machine, state: State, field: str, key: Value, value: Value) -> None:
    """Write one map entry, failing when another registry field already wrote a different value."""
    entries = state.maps[field]
    default = machine.field(field).default.value
    old = entries.get(key, default)
    if old != default and old != value:
        raise Unrepresentable(f"{field}[{_short(key)}] is both {_short(old)} and {_short(value)}")
    if value != default:
        entries[key] = value


def spec_state_of(machine: Machine, registry: OpsLifecycleRegistry) -> State:
    """The spec state the registry is in (its caller's wait_all future is taken to wait
    exactly while a barrier is armed)."""
    config = registry.config
    state = initial_state(machine, configuration(config.max_completed, config.max_concurrent))
    with registry._lock:
        records = list(registry._records.values())
        live, completed, used = list(registry._live), list(registry._completed), set(registry._used)
        next_seq, barrier = registry._next_seq, registry._barrier
        entries, watermark = registry.completion_feed().entries(), registry.completion_feed().watermark()

    for position, r in enumerate(records, 1):
        id = r.spec.id
        _put(machine, state, "status", id, r.status.value)
        _put(machine, state, "kind", id, r.spec.kind.value)
        _put(machine, state, "peer_ready", id, r.peer_ready)
        _put(machine, state, "progress", id, r.progress_count)
        _put(machine, state, "outcome", id, "none" if r.outcome is None else r.outcome.status.value)
        _put(machine, state, "seq", id, r.seq)
        _put(machine, state, "watchers", id, len(r.watchers))
        _put(machine, state, "registered", id, position)
    for id in used:
        _put(machine, state, "used", id, True)
    live_records = {r.spec.id for r in records if r.status.value in ("provisioning", "running", "retiring")}
    if set(live) != live_records:
        raise Unrepresentable(f"the live set {sorted(live)} is not the live records {sorted(live_records)}")

    g = state.globals
    g["registrations"] = len(used)
    g["active_count"] = len(live)
    g["next_seq"] = next_seq
    g["order_head"] = next_seq - len(completed)
    for k, id in enumerate(completed):
        _put(machine, state, "order", next_seq - len(completed) + 1 + k, id)

    if watermark != next_seq:
        raise Unrepresentable(f"the feed's watermark {_short(watermark)} is not the last sequence issued "
                              f"{_short(next_seq)}")
    g["feed_head"] = next_seq - len(entries)
    for k, e in enumerate(entries):
        if e.seq != next_seq - len(entries) + 1 + k:
            raise Unrepresentable(f"feed entry {k} has sequence {_short(e.seq)}: the feed is not the last "
                                  f"{len(entries)} sequence numbers up to {_short(next_seq)}")
        _put(machine, state, "order", e.seq, e.operation_id)
        _put(machine, state, "feed_outcome", e.seq, e.terminal_outcome.status.value)
    for r in records:  # the spec keeps every completion's op and outcome, also past the feed's window
        if r.outcome is not None and r.seq > 0:
            _put(machine, state, "order", r.seq, r.spec.id)
            _put(machine, state, "feed_outcome", r.seq, r.outcome.status.value)

    g["wait_active"] = barrier is not None
    g["waiter"] = "waiting" if barrier is not None else "none"
    if barrier is not None:
        for id in barrier.members:
            _put(machine, state, "member", id, True)
        for id in barrier.outcomes:
            _put(machine, state, "barrier_done", id, True)
    return state

"""What recovery accepts: the persisted snapshot's shape and the rules its fields obey.

A snapshot is read once, field by field, into typed values (`CheckedSnapshot`);
every value that is missing, of the wrong JSON type, out of range or unknown is
refused with `RecoveryError(field, rule, detail)`. Then the fields are checked
against each other: each rule below is a fact every snapshot the registry captures
satisfies, and a registry rebuilt from a snapshot that breaks one would be wrong
(a consumer missing a completion, a retired id registered again, an outcome that
contradicts its status). Rules, by name:

* ``type`` / ``missing`` / ``known_value`` / ``range`` — shape: JSON types, enum
  values, integers in 0 .. 2**63-1 (`max_completed` so that its feed, four times
  larger, still fits);
* ``unique`` — an op id, a registered id, a completed id, a feed op, a barrier
  member appears once;
* ``registered`` — every op, feed entry and barrier member was registered
  (`registered_ids`): otherwise its id could be registered again (decision 2);
* ``outcome_matches_status`` — a terminal op has the outcome of its status; a live
  op has none and no completion sequence;
* ``watchers_only_while_live`` / ``peer_ready_only_for_mob_members``;
* ``completed_order_exact`` — `completed_order` is exactly the terminal ops, in
  completion order, their sequence numbers the last ones issued, at most
  `max_completed` of them;
* ``feed_exact`` — the feed holds the newest completions, one per sequence number up
  to `next_completion_seq`, as many as its capacity allows, and an entry of a
  retained op says what the op says;
* ``barrier_well_formed`` — an armed barrier names distinct registered ids and has
  a live member left to wait for.

Written independently of `spec/`; the tests check that whatever this accepts,
read into the spec's state, satisfies every invariant of the machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeGuard, TypeVar

from opsref.impl.errors import RecoveryError
from opsref.impl.feed import feed_capacity
from opsref.impl.values import (
    Aborted, Cancelled, Completed, CompletionEntry, Failed, OperationKind, OperationResult, OperationSpec,
    OperationStatus, OperationTerminalOutcome, Retired, Terminated,
)

FORMAT = "opsref.ops_lifecycle.snapshot/1"
MAX_INT = 2**63 - 1
MAX_RETENTION = MAX_INT // 4  # the feed keeps max(4 * max_completed, 1024) entries

E = TypeVar("E", OperationKind, OperationStatus)
T = TypeVar("T")

_JSON_TYPE = {bool: "boolean", int: "integer", str: "string", list: "array", dict: "object"}


@dataclass(frozen=True)
class RecordState:
    """One operation as a snapshot holds it: what the registry copies under its lock to
    capture, and what recovery reads back after checking it."""

    spec: OperationSpec
    status: OperationStatus
    peer_ready: bool
    progress_count: int
    watcher_count: int
    seq: int
    outcome: OperationTerminalOutcome | None


@dataclass(frozen=True)
class CheckedSnapshot:
    max_completed: int
    max_concurrent: int | None
    next_seq: int
    operations: list[RecordState]
    completed_order: list[str]
    registered_ids: list[str]
    wait: tuple[str, list[str]] | None
    entries: list[CompletionEntry]


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    for kind, name in _JSON_TYPE.items():
        if type(value) is kind:
            return name
    return "number" if isinstance(value, float) else "a non-JSON value"


def _show(value: object) -> str:
    """A value for a message, bounded (a 5,000-digit integer cannot even be printed)."""
    if type(value) is int and not -MAX_INT <= value <= MAX_INT:
        return "an integer beyond 2**63-1" if value > 0 else "an integer below -(2**63-1)"
    text = repr(value) if isinstance(value, (str, int, bool)) else _json_type(value)
    return text if len(text) <= 60 else text[:57] + "..."


# --------------------------------------------------------------------------- shape


def _at(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _get(data: dict[str, object], name: str, where: str) -> object:
    if name not in data:
        raise RecoveryError(_at(where, name), "missing", "missing")
    return data[name]


def _is(value: object, kind: type[T]) -> TypeGuard[T]:
    """Exactly of JSON type `kind` (a bool is not an integer here)."""
    return type(value) is kind


def _typed(value: object, kind: type[T], where: str) -> T:
    if not _is(value, kind):
        raise RecoveryError(where, "type", f"expected {_JSON_TYPE[kind]}, got {_json_type(value)}")
    return value


#: a field's value when the field is missing (no JSON value is this object)
_ABSENT = object()


def _field(data: dict[str, object], name: str, kind: type[T], where: str) -> T:
    value = data.get(name, _ABSENT)
    if type(value) is kind:  # the common case (`_is`, inline), before any error text is built
        return value
    return _typed(_get(data, name, where), kind, _at(where, name))


def _count_field(data: dict[str, object], name: str, where: str) -> int:
    """A count-valued field of `data`; its place (`where.name`) is spelled out only in an error."""
    value = data.get(name, _ABSENT)
    if type(value) is int and 0 <= value <= MAX_INT:
        return value
    return _count(_get(data, name, where), _at(where, name))


def _optional(data: dict[str, object], name: str, kind: type[T], where: str) -> T | None:
    value = _get(data, name, where)
    return None if value is None else _typed(value, kind, _at(where, name))


def _count(value: object, where: str, limit: int = MAX_INT) -> int:
    n = _typed(value, int, where)
    if not 0 <= n <= limit:
        raise RecoveryError(where, "range", f"{_show(n)} is not in 0 .. {limit}")
    return n


def _object(value: object, where: str) -> dict[str, object]:
    if type(value) is dict:  # the common case, as in `_field`
        return value
    obj: dict[str, object] = _typed(value, dict, where)
    return obj


def _array(value: object, where: str) -> list[object]:
    items: list[object] = _typed(value, list, where)
    return items


#: each enumeration's members by value (a lookup, cheaper than calling the class)
_MEMBERS: dict[type, dict[str, object]] = {cls: {m.value: m for m in cls} for cls in (OperationKind, OperationStatus)}


def _enum(cls: type[E], data: dict[str, object], name: str, where: str) -> E:
    value = _field(data, name, str, where)
    member = _MEMBERS[cls].get(value)
    if member is None:
        raise RecoveryError(_at(where, name), "known_value", f"unknown value {_show(value)}")
    return member  # type: ignore[return-value]


def _ids(value: object, where: str) -> list[str]:
    """An array of distinct id strings."""
    ids = [_typed(x, str, f"{where}[{n}]") for n, x in enumerate(_array(value, where))]
    seen: set[str] = set()
    for n, id in enumerate(ids):
        if id in seen:
            raise RecoveryError(f"{where}[{n}]", "unique", f"{_show(id)} appears twice")
        seen.add(id)
    return ids


def _outcome(value: object, where: str) -> OperationTerminalOutcome:
    data = _object(value, where)
    tag = _field(data, "outcome_type", str, where)
    if tag == "completed":
        return Completed(OperationResult(
            _field(data, "id", str, where), _field(data, "content", str, where),
            _field(data, "is_error", bool, where), _count_field(data, "duration_ms", where),
            _count_field(data, "tokens_used", where)))
    if tag == "failed":
        return Failed(_field(data, "error", str, where))
    if tag == "aborted":
        return Aborted(_optional(data, "reason", str, where))
    if tag == "cancelled":
        return Cancelled(_optional(data, "reason", str, where))
    if tag == "retired":
        return Retired()
    if tag == "terminated":
        return Terminated(_field(data, "reason", str, where))
    raise RecoveryError(f"{where}.outcome_type", "known_value", f"unknown outcome {_show(tag)}")


def _spec(value: object, where: str) -> OperationSpec:
    data = _object(value, where)
    return OperationSpec(
        _field(data, "id", str, where), _enum(OperationKind, data, "kind", where),
        _field(data, "owner_session_id", str, where), _field(data, "display_name", str, where),
        _field(data, "source_label", str, where), _optional(data, "child_session_id", str, where),
        _field(data, "expect_peer_channel", bool, where))


def _operation(value: object, where: str) -> RecordState:
    data = _object(value, where)
    outcome = _get(data, "terminal_outcome", where)
    return RecordState(
        _spec(_get(data, "spec", where), f"{where}.spec"), _enum(OperationStatus, data, "status", where),
        _field(data, "peer_ready", bool, where), _count_field(data, "progress_count", where),
        _count_field(data, "watcher_count", where),
        _count_field(data, "completion_seq", where),
        None if outcome is None else _outcome(outcome, f"{where}.terminal_outcome"))


def _entry(value: object, where: str) -> CompletionEntry:
    data = _object(value, where)
    completed_at = _get(data, "completed_at_ms", where)
    return CompletionEntry(
        _count_field(data, "seq", where), _field(data, "operation_id", str, where),
        _enum(OperationKind, data, "kind", where), _field(data, "display_name", str, where),
        _outcome(_get(data, "terminal_outcome", where), f"{where}.terminal_outcome"),
        None if completed_at is None else _count(completed_at, f"{where}.completed_at_ms"))


def _wait(value: object, where: str) -> tuple[str, list[str]] | None:
    if value is None:
        return None
    data = _object(value, where)
    return _field(data, "wait_request_id", str, where), _ids(_get(data, "operation_ids", where),
                                                                f"{where}.operation_ids")


def _read(snapshot: object) -> CheckedSnapshot:
    data = _object(snapshot, "snapshot")
    if data.get("format") != FORMAT:
        raise RecoveryError("format", "known_value", f"expected {FORMAT!r}, got {_show(data.get('format'))}")
    top = ""
    max_concurrent = _get(data, "max_concurrent", top)
    return CheckedSnapshot(
        _count(_get(data, "max_completed", top), "max_completed", MAX_RETENTION),
        None if max_concurrent is None else _count(max_concurrent, "max_concurrent"),
        _count(_get(data, "next_completion_seq", top), "next_completion_seq"),
        [_operation(op, f"operations[{n}]")
         for n, op in enumerate(_array(_get(data, "operations", top), "operations"))],
        _ids(_get(data, "completed_order", top), "completed_order"),
        _ids(_get(data, "registered_ids", top), "registered_ids"),
        _wait(_get(data, "wait", top), "wait"),
        [_entry(e, f"completion_entries[{n}]")
         for n, e in enumerate(_array(_get(data, "completion_entries", top), "completion_entries"))],
    )


# --------------------------------------------------------------------------- consistency


def _check_operations(s: CheckedSnapshot) -> dict[str, int]:
    """Each op on its own; returns each op's index by id."""
    registered = set(s.registered_ids)
    index: dict[str, int] = {}
    for n, op in enumerate(s.operations):
        where = f"operations[{n}]"
        id = op.spec.id
        if id in index:
            raise RecoveryError(f"{where}.spec.id", "unique", f"{_show(id)} is also operations[{index[id]}]")
        index[id] = n
        if id not in registered:
            raise RecoveryError(f"{where}.spec.id", "registered", f"{_show(id)} is not in registered_ids")
        if op.status is OperationStatus.ABSENT:
            raise RecoveryError(f"{where}.status", "known_value", "an operation in the snapshot is tracked, not absent")
        if op.status.is_terminal():
            if op.outcome is None or op.outcome.status is not op.status:
                got = "none" if op.outcome is None else op.outcome.status.value
                raise RecoveryError(f"{where}.terminal_outcome", "outcome_matches_status",
                                    f"status {op.status.value} with outcome {got}")
            if op.watcher_count != 0:
                raise RecoveryError(f"{where}.watcher_count", "watchers_only_while_live",
                                    "a terminal operation has resolved all its watchers")
        else:
            if op.outcome is not None:
                raise RecoveryError(f"{where}.terminal_outcome", "outcome_matches_status",
                                    f"status {op.status.value} with an outcome")
            if op.seq != 0:
                raise RecoveryError(f"{where}.completion_seq", "outcome_matches_status",
                                    "a live operation has no completion sequence")
        if op.peer_ready and op.spec.kind is not OperationKind.MOB_MEMBER_CHILD:
            raise RecoveryError(f"{where}.peer_ready", "peer_ready_only_for_mob_members",
                                f"a {op.spec.kind.value} is never peer-ready")
    return index


def _check_completed_order(s: CheckedSnapshot, index: dict[str, int]) -> None:
    terminal = [n for n, op in enumerate(s.operations) if op.status.is_terminal()]
    if len(s.completed_order) > s.max_completed:
        raise RecoveryError("completed_order", "completed_order_exact",
                            f"{len(s.completed_order)} retained operations, max_completed is {s.max_completed}")
    if len(s.completed_order) > s.next_seq:
        raise RecoveryError("completed_order", "completed_order_exact",
                            f"{len(s.completed_order)} retained operations, but next_completion_seq is {s.next_seq}")
    first = s.next_seq - len(s.completed_order) + 1
    for k, id in enumerate(s.completed_order):
        n = index.get(id)
        if n is None or not s.operations[n].status.is_terminal():
            raise RecoveryError(f"completed_order[{k}]", "completed_order_exact",
                                f"{_show(id)} is not a terminal operation of the snapshot")
        if s.operations[n].seq != first + k:
            raise RecoveryError(f"operations[{n}].completion_seq", "completed_order_exact",
                                f"completed_order[{k}] must have sequence {first + k} (the retained operations "
                                f"hold the last sequence numbers up to next_completion_seq, oldest first), "
                                f"got {_show(s.operations[n].seq)}")
    if len(terminal) != len(s.completed_order):
        missing = next(n for n in terminal if s.operations[n].spec.id not in set(s.completed_order))
        raise RecoveryError(f"operations[{missing}].status", "completed_order_exact",
                            "a terminal operation that is not in completed_order")


def _check_feed(s: CheckedSnapshot, index: dict[str, int]) -> None:
    capacity = feed_capacity(s.max_completed)
    expected = min(s.next_seq, capacity)
    if len(s.entries) != expected:
        raise RecoveryError("completion_entries", "feed_exact",
                            f"{len(s.entries)} entries, the feed holds min(next_completion_seq, {capacity}) = "
                            f"{expected}")
    registered = set(s.registered_ids)
    retained = {op.seq: n for n, op in enumerate(s.operations) if op.status.is_terminal()}
    seen: set[str] = set()
    for k, entry in enumerate(s.entries):
        where = f"completion_entries[{k}]"
        want = s.next_seq - expected + 1 + k
        if entry.seq != want:
            raise RecoveryError(f"{where}.seq", "feed_exact",
                                f"expected {want} (one entry per sequence number, up to next_completion_seq), "
                                f"got {_show(entry.seq)}")
        id = entry.operation_id
        if id in seen:
            raise RecoveryError(f"{where}.operation_id", "unique", f"{_show(id)} completed twice")
        seen.add(id)
        if id not in registered:
            raise RecoveryError(f"{where}.operation_id", "registered", f"{_show(id)} is not in registered_ids")
        owner = retained.get(entry.seq)
        if owner is not None and s.operations[owner].spec.id != id:
            raise RecoveryError(f"{where}.operation_id", "feed_exact",
                                f"sequence {entry.seq} is the completion of operations[{owner}], not {_show(id)}")
        n = index.get(id)
        if n is None:
            continue  # evicted or collected since
        op = s.operations[n]
        if op.seq != entry.seq:
            raise RecoveryError(f"{where}.operation_id", "feed_exact",
                                f"{_show(id)} is operations[{n}], whose completion_seq is {_show(op.seq)}")
        if (entry.kind, entry.display_name, entry.terminal_outcome) != (op.spec.kind, op.spec.display_name,
                                                                         op.outcome):
            raise RecoveryError(where, "feed_exact", f"differs from operations[{n}] (kind, display name or outcome)")


def _check_wait(s: CheckedSnapshot, index: dict[str, int]) -> None:
    if s.wait is None:
        return
    registered = set(s.registered_ids)
    members = s.wait[1]
    for k, id in enumerate(members):
        if id not in registered:
            raise RecoveryError(f"wait.operation_ids[{k}]", "registered", f"{_show(id)} is not in registered_ids")
    if not any(id in index and not s.operations[index[id]].status.is_terminal() for id in members):
        raise RecoveryError("wait.operation_ids", "barrier_well_formed",
                            "an armed barrier waits for at least one live operation")


def check_snapshot(snapshot: object) -> CheckedSnapshot:
    """The snapshot, read and checked; `RecoveryError` names the first field that is wrong."""
    s = _read(snapshot)
    index = _check_operations(s)
    _check_completed_order(s, index)
    _check_feed(s, index)
    _check_wait(s, index)
    return s

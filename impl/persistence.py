"""The persisted snapshot: a stable, documented, JSON-serialisable format.

    {
      "format": "opsref.ops_lifecycle.snapshot/1",
      "max_completed": int, "max_concurrent": int | null,
      "next_completion_seq": int,            # last completion sequence issued
      "operations": [                        # every tracked op, registration order
        {"spec": {id, kind, owner_session_id, display_name, source_label,
                  child_session_id, expect_peer_channel},
         "status": str, "peer_ready": bool, "progress_count": int,
         "watcher_count": int, "completion_seq": int,
         "terminal_outcome": null | {"outcome_type": str, ...}}],
      "completed_order": [id, ...],           # retained terminal ids, oldest first
      "registered_ids": [id, ...],            # every id ever registered (decision 2)
      "wait": null | {"wait_request_id": str, "operation_ids": [id, ...]},
      "completion_entries": [{seq, operation_id, kind, display_name,
                              terminal_outcome, completed_at_ms}, ...]
    }

Recovery (seed 001 `from_recovered`) keeps only terminal operations, starts
with no active operations, no watchers and no barrier, and keeps the sequence
counter and the feed entries. It also keeps `registered_ids`, so an id stays
retired across a restart.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from impl.errors import InternalError
from impl.values import (
    Aborted, Cancelled, Completed, CompletionEntry, Failed, OperationKind, OperationResult, OperationSpec,
    OperationStatus, OperationTerminalOutcome, Retired, Terminated,
)

if TYPE_CHECKING:
    from impl.registry import OpsLifecycleRegistry

FORMAT = "opsref.ops_lifecycle.snapshot/1"


# --------------------------------------------------------------------------- outcomes


def outcome_to_json(outcome: OperationTerminalOutcome) -> dict[str, Any]:
    """Internally tagged by `outcome_type`, as the seed's serde encoding."""
    tag = outcome.status.value
    if isinstance(outcome, Completed):
        r = outcome.result
        return {"outcome_type": tag, "id": r.id, "content": r.content, "is_error": r.is_error,
                "duration_ms": r.duration_ms, "tokens_used": r.tokens_used}
    if isinstance(outcome, Failed):
        return {"outcome_type": tag, "error": outcome.error}
    if isinstance(outcome, (Aborted, Cancelled, Terminated)):
        return {"outcome_type": tag, "reason": outcome.reason}
    return {"outcome_type": tag}


def outcome_from_json(data: Any, where: str) -> OperationTerminalOutcome:
    tag = _field(data, "outcome_type", str, where)
    if tag == "completed":
        return Completed(OperationResult(_field(data, "id", str, where), _field(data, "content", str, where),
                                         _field(data, "is_error", bool, where), _field(data, "duration_ms", int, where),
                                         _field(data, "tokens_used", int, where)))
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
    raise InternalError(f"snapshot: {where}.outcome_type: unknown outcome {tag!r}")


# --------------------------------------------------------------------------- capture


def capture(registry: "OpsLifecycleRegistry") -> dict[str, Any]:
    records, completed, used, next_seq, barrier = registry._state()
    return {
        "format": FORMAT,
        "max_completed": registry.config.max_completed,
        "max_concurrent": registry.config.max_concurrent,
        "next_completion_seq": next_seq,
        "operations": [{
            "spec": _spec_to_json(r.spec), "status": r.status.value, "peer_ready": r.peer_ready,
            "progress_count": r.progress_count, "watcher_count": len(r.watchers), "completion_seq": r.seq,
            "terminal_outcome": outcome_to_json(r.outcome) if r.outcome is not None else None,
        } for r in records],
        "completed_order": completed,
        "registered_ids": used,
        "wait": None if barrier is None else {"wait_request_id": barrier.request_id,
                                              "operation_ids": list(barrier.members)},
        "completion_entries": [_entry_to_json(e) for e in registry.completion_feed().entries()],
    }


def _spec_to_json(spec: OperationSpec) -> dict[str, Any]:
    return {"id": spec.id, "kind": spec.kind.value, "owner_session_id": spec.owner_session_id,
            "display_name": spec.display_name, "source_label": spec.source_label,
            "child_session_id": spec.child_session_id, "expect_peer_channel": spec.expect_peer_channel}


def _entry_to_json(e: CompletionEntry) -> dict[str, Any]:
    return {"seq": e.seq, "operation_id": e.operation_id, "kind": e.kind.value, "display_name": e.display_name,
            "terminal_outcome": outcome_to_json(e.terminal_outcome), "completed_at_ms": e.completed_at_ms}


# --------------------------------------------------------------------------- recovery


def recover(cls: type["OpsLifecycleRegistry"], snapshot: Any) -> "OpsLifecycleRegistry":
    from impl.registry import OpsLifecycleConfig, _Record

    if not isinstance(snapshot, dict) or snapshot.get("format") != FORMAT:
        raise InternalError(f"snapshot: format: expected {FORMAT!r}")
    config = OpsLifecycleConfig(_field(snapshot, "max_completed", int, "snapshot"),
                                _optional(snapshot, "max_concurrent", int, "snapshot"))
    registry = cls(config)
    records = []
    for n, op in enumerate(_field(snapshot, "operations", list, "snapshot")):
        where = f"operations[{n}]"
        status = _enum(OperationStatus, _field(op, "status", str, where), f"{where}.status")
        if not status.is_terminal():
            continue  # only terminal operations survive recovery
        outcome_data = _field(op, "terminal_outcome", dict, where)
        record = _Record(_spec_from_json(_field(op, "spec", dict, where), f"{where}.spec"), status,
                         peer_ready=_field(op, "peer_ready", bool, where),
                         progress_count=_field(op, "progress_count", int, where),
                         outcome=outcome_from_json(outcome_data, f"{where}.terminal_outcome"),
                         seq=_field(op, "completion_seq", int, where))
        records.append(record)
    entries = [_entry_from_json(e, f"completion_entries[{n}]")
               for n, e in enumerate(_field(snapshot, "completion_entries", list, "snapshot"))]
    registry._restore(records, [str(x) for x in _field(snapshot, "completed_order", list, "snapshot")],
                      [str(x) for x in _field(snapshot, "registered_ids", list, "snapshot")],
                      _field(snapshot, "next_completion_seq", int, "snapshot"), entries)
    return registry


def _spec_from_json(data: Any, where: str) -> OperationSpec:
    return OperationSpec(
        _field(data, "id", str, where), _enum(OperationKind, _field(data, "kind", str, where), f"{where}.kind"),
        _field(data, "owner_session_id", str, where), _field(data, "display_name", str, where),
        _field(data, "source_label", str, where), _optional(data, "child_session_id", str, where),
        _field(data, "expect_peer_channel", bool, where))


def _entry_from_json(data: Any, where: str) -> CompletionEntry:
    return CompletionEntry(
        _field(data, "seq", int, where), _field(data, "operation_id", str, where),
        _enum(OperationKind, _field(data, "kind", str, where), f"{where}.kind"),
        _field(data, "display_name", str, where),
        outcome_from_json(_field(data, "terminal_outcome", dict, where), f"{where}.terminal_outcome"),
        _optional(data, "completed_at_ms", int, where))


def _field(data: Any, name: str, kind: type, where: str) -> Any:
    if not isinstance(data, dict) or name not in data:
        raise InternalError(f"snapshot: {where}.{name}: missing")
    value = data[name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise InternalError(f"snapshot: {where}.{name}: expected {kind.__name__}, got {type(value).__name__}")
    return value


def _optional(data: Any, name: str, kind: type, where: str) -> Any:
    if isinstance(data, dict) and data.get(name) is None:
        return None
    return _field(data, name, kind, where)


def _enum(cls: Any, value: str, where: str) -> Any:
    try:
        return cls(value)
    except ValueError:
        raise InternalError(f"snapshot: {where}: unknown value {value!r}") from None

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
      "registered_ids": [id, ...],            # every id ever registered, in registration order (decision 2)
      "wait": null | {"wait_request_id": str, "operation_ids": [id, ...]},
      "completion_entries": [{seq, operation_id, kind, display_name,
                              terminal_outcome, completed_at_ms}, ...]
    }

Recovery (seed 001 `from_recovered`) keeps only terminal operations, starts
with no active operations, no watchers and no barrier, and keeps the sequence
counter and the feed entries. It also keeps `registered_ids`, so an id stays
retired across a restart.

Recovery trusts nothing: a snapshot that is malformed, or whose fields disagree
with each other, is refused with `RecoveryError` naming the field and the rule
(`impl.snapshot_rules.check_snapshot`), never turned into a wrong registry; the
registry (`OpsLifecycleRegistry.from_recovered`) rebuilds itself from what that check
returns. This module knows the format, not the registry: it imports nothing of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from opsref.impl.snapshot_rules import FORMAT, RecordState
from opsref.impl.values import (
    Aborted, Cancelled, Completed, CompletionEntry, Failed, OperationSpec, OperationTerminalOutcome, Terminated,
)

__all__ = ["FORMAT", "CapturedState", "capture", "outcome_to_json"]


@dataclass(frozen=True)
class CapturedState:
    """What the registry copies under its lock for a snapshot (immutable values); `capture`
    serialises it after the lock is released. The registry builds it; this module only reads it."""

    max_completed: int
    max_concurrent: int | None
    records: tuple[RecordState, ...]
    completed: tuple[str, ...]
    registered: tuple[tuple[str, ...], ...]   # chunks of the id log, shared, in registration order
    next_seq: int
    wait: tuple[str, tuple[str, ...]] | None  # (request id, members)
    entries: tuple[CompletionEntry, ...]


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


# --------------------------------------------------------------------------- capture


def capture(state: CapturedState) -> dict[str, Any]:
    """Serialise a state the registry copied under its lock (this runs outside it)."""
    snapshot: dict[str, Any] = {
        "format": FORMAT,
        "max_completed": state.max_completed,
        "max_concurrent": state.max_concurrent,
        "next_completion_seq": state.next_seq,
        "operations": [{
            "spec": _spec_to_json(r.spec), "status": r.status.value, "peer_ready": r.peer_ready,
            "progress_count": r.progress_count, "watcher_count": r.watcher_count, "completion_seq": r.seq,
            "terminal_outcome": outcome_to_json(r.outcome) if r.outcome is not None else None,
        } for r in state.records],
        "completed_order": list(state.completed),
        "registered_ids": [],
        "wait": None if state.wait is None else {"wait_request_id": state.wait[0],
                                                 "operation_ids": list(state.wait[1])},
        "completion_entries": [_entry_to_json(e) for e in state.entries],
    }
    # the long list last, so the many small objects above are not made (and collected) while it is
    # young; one C-level extend per chunk, so other threads run in between
    registered: list[str] = snapshot["registered_ids"]
    for chunk in state.registered:
        registered.extend(chunk)
    return snapshot


def _spec_to_json(spec: OperationSpec) -> dict[str, Any]:
    return {"id": spec.id, "kind": spec.kind.value, "owner_session_id": spec.owner_session_id,
            "display_name": spec.display_name, "source_label": spec.source_label,
            "child_session_id": spec.child_session_id, "expect_peer_channel": spec.expect_peer_channel}


def _entry_to_json(e: CompletionEntry) -> dict[str, Any]:
    return {"seq": e.seq, "operation_id": e.operation_id, "kind": e.kind.value, "display_name": e.display_name,
            "terminal_outcome": outcome_to_json(e.terminal_outcome), "completed_at_ms": e.completed_at_ms}

"""The public value types of the registry (seed 000), as frozen dataclasses and enums.

Strings on the wire are the seed's snake_case names (`OperationStatus.as_str`,
serde `rename_all = "snake_case"`), so traces from other implementations read
the same.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Union


class OperationKind(enum.Enum):
    MOB_MEMBER_CHILD = "mob_member_child"
    BACKGROUND_TOOL_OP = "background_tool_op"

    def expects_peer_channel(self) -> bool:
        """Only a mob member child hands off a peer channel (seed 000)."""
        return self is OperationKind.MOB_MEMBER_CHILD


class OperationStatus(enum.Enum):
    ABSENT = "absent"
    PROVISIONING = "provisioning"
    RUNNING = "running"
    RETIRING = "retiring"
    COMPLETED = "completed"
    FAILED = "failed"
    ABORTED = "aborted"
    CANCELLED = "cancelled"
    RETIRED = "retired"
    TERMINATED = "terminated"

    def is_terminal(self) -> bool:
        return self in _TERMINAL

    def allows_terminalization(self) -> bool:
        return self in _LIVE

    def as_str(self) -> str:
        return self.value


_TERMINAL = frozenset({OperationStatus.COMPLETED, OperationStatus.FAILED, OperationStatus.ABORTED,
                       OperationStatus.CANCELLED, OperationStatus.RETIRED, OperationStatus.TERMINATED})
_LIVE = frozenset({OperationStatus.PROVISIONING, OperationStatus.RUNNING, OperationStatus.RETIRING})


@dataclass(frozen=True)
class OperationSpec:
    id: str
    kind: OperationKind
    owner_session_id: str
    display_name: str
    source_label: str
    child_session_id: str | None = None
    expect_peer_channel: bool = False


@dataclass(frozen=True)
class OperationResult:
    id: str
    content: str
    is_error: bool = False
    duration_ms: int = 0
    tokens_used: int = 0


@dataclass(frozen=True)
class OperationPeerHandle:
    peer_name: str
    trusted_peer: str  # the seed's TrustedPeerSpec, carried opaquely


@dataclass(frozen=True)
class OperationProgressUpdate:
    message: str
    percent: float | None = None


# Terminal outcomes (seed 000 `OperationTerminalOutcome`, tagged by `outcome_type`).

@dataclass(frozen=True)
class Completed:
    result: OperationResult
    status = OperationStatus.COMPLETED


@dataclass(frozen=True)
class Failed:
    error: str
    status = OperationStatus.FAILED


@dataclass(frozen=True)
class Aborted:
    reason: str | None = None
    status = OperationStatus.ABORTED


@dataclass(frozen=True)
class Cancelled:
    reason: str | None = None
    status = OperationStatus.CANCELLED


@dataclass(frozen=True)
class Retired:
    status = OperationStatus.RETIRED


@dataclass(frozen=True)
class Terminated:
    reason: str
    status = OperationStatus.TERMINATED


OperationTerminalOutcome = Union[Completed, Failed, Aborted, Cancelled, Retired, Terminated]


@dataclass(frozen=True)
class OperationLifecycleSnapshot:
    id: str
    kind: OperationKind
    display_name: str
    status: OperationStatus
    peer_ready: bool
    progress_count: int
    watcher_count: int
    terminal_outcome: OperationTerminalOutcome | None
    child_session_id: str | None
    peer_handle: OperationPeerHandle | None = None
    created_at_ms: int = 0
    started_at_ms: int | None = None
    completed_at_ms: int | None = None
    elapsed_ms: int | None = None


@dataclass(frozen=True)
class CompletionEntry:
    """One completion-feed entry: the `seq`-th terminal transition."""

    seq: int
    operation_id: str
    kind: OperationKind
    display_name: str
    terminal_outcome: OperationTerminalOutcome
    completed_at_ms: int | None = None


@dataclass(frozen=True)
class CompletionBatch:
    entries: list[CompletionEntry] = field(default_factory=list)
    watermark: int = 0


@dataclass(frozen=True)
class WaitAllSatisfied:
    """The token a satisfied barrier emits: its request id and members, in request order."""

    wait_request_id: str
    operation_ids: list[str]


@dataclass(frozen=True)
class WaitAllResult:
    outcomes: list[tuple[str, OperationTerminalOutcome]]
    satisfied: WaitAllSatisfied

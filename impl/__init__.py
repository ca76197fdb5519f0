"""The executable ops-lifecycle registry, written independently of `spec/`.

Everything a caller needs is importable from here.
"""

from opsref.impl.errors import (
    AlreadyPeerReadyError, AlreadyRegisteredError, DuplicateWaitOperationError, InternalError,
    InvalidTransitionError, MaxConcurrentExceededError, NotFoundError, OpsLifecycleError,
    PeerNotExpectedError, RecoveryError, UnsupportedError, WaitAlreadyActiveError, WaitNotActiveError,
)
from opsref.impl.feed import CompletionFeed
from opsref.impl.registry import (
    DEFAULT_MAX_COMPLETED, OperationCompletionWatch, OpsLifecycleConfig, OpsLifecycleRegistry, WaitAllHandle,
)
from opsref.impl.values import (
    Aborted, Cancelled, Completed, CompletionBatch, CompletionEntry, Failed, OperationKind,
    OperationLifecycleSnapshot, OperationPeerHandle, OperationProgressUpdate, OperationResult, OperationSpec,
    OperationStatus, OperationTerminalOutcome, Retired, Terminated, WaitAllResult, WaitAllSatisfied,
)

__all__ = [
    "Aborted", "AlreadyPeerReadyError", "AlreadyRegisteredError", "Cancelled", "Completed", "CompletionBatch",
    "CompletionEntry", "CompletionFeed", "DEFAULT_MAX_COMPLETED", "DuplicateWaitOperationError", "Failed",
    "InternalError", "InvalidTransitionError", "MaxConcurrentExceededError", "NotFoundError",
    "OperationCompletionWatch", "OperationKind", "OperationLifecycleSnapshot", "OperationPeerHandle",
    "OperationProgressUpdate", "OperationResult", "OperationSpec", "OperationStatus", "OperationTerminalOutcome",
    "OpsLifecycleConfig", "OpsLifecycleError", "OpsLifecycleRegistry", "PeerNotExpectedError", "RecoveryError",
    "Retired",
    "Terminated", "UnsupportedError", "WaitAlreadyActiveError", "WaitAllHandle", "WaitAllResult",
    "WaitAllSatisfied", "WaitNotActiveError",
]

"""The registry's errors (seed 000 `OpsLifecycleError`). A failed call changes nothing."""

from __future__ import annotations

from opsref.impl.values import OperationStatus


class OpsLifecycleError(Exception):
    """Base of every registry error; `kind` is the seed's variant name in snake_case."""

    kind = "internal"


class _IdError(OpsLifecycleError):
    def __init__(self, id: str, message: str) -> None:
        super().__init__(f"{message}: {id}")
        self.id = id


class AlreadyRegisteredError(_IdError):
    kind = "already_registered"

    def __init__(self, id: str) -> None:
        super().__init__(id, "operation already registered")


class NotFoundError(_IdError):
    kind = "not_found"

    def __init__(self, id: str) -> None:
        super().__init__(id, "operation not found")


class PeerNotExpectedError(_IdError):
    kind = "peer_not_expected"

    def __init__(self, id: str) -> None:
        super().__init__(id, "operation does not expect a peer handoff")


class AlreadyPeerReadyError(_IdError):
    kind = "already_peer_ready"

    def __init__(self, id: str) -> None:
        super().__init__(id, "operation is already peer-ready")


class DuplicateWaitOperationError(_IdError):
    kind = "duplicate_wait_operation"

    def __init__(self, id: str) -> None:
        super().__init__(id, "wait_all contains duplicate operation id")


class InvalidTransitionError(OpsLifecycleError):
    kind = "invalid_transition"

    def __init__(self, id: str, status: OperationStatus, action: str) -> None:
        super().__init__(f"invalid lifecycle transition for {id}: {status.as_str()} -> {action}")
        self.id, self.status, self.action = id, status, action


class MaxConcurrentExceededError(OpsLifecycleError):
    kind = "max_concurrent_exceeded"

    def __init__(self, limit: int, active: int) -> None:
        super().__init__(f"max concurrent operations exceeded (limit: {limit}, active: {active})")
        self.limit, self.active = limit, active


class UnsupportedError(OpsLifecycleError):
    kind = "unsupported"


class WaitAlreadyActiveError(OpsLifecycleError):
    kind = "wait_already_active"

    def __init__(self) -> None:
        super().__init__("wait_all already active")


class WaitNotActiveError(OpsLifecycleError):
    kind = "wait_not_active"

    def __init__(self, wait_request_id: str) -> None:
        super().__init__(f"wait_all not active for request: {wait_request_id}")
        self.wait_request_id = wait_request_id


class InternalError(OpsLifecycleError):
    kind = "internal"


class RecoveryError(InternalError):
    """Recovery refused a persisted snapshot (`from_recovered`): the snapshot is malformed or
    inconsistent, and a registry rebuilt from it would be wrong. `field` is where (a path
    such as ``operations[2].completion_seq``), `rule` the consistency rule it breaks."""

    def __init__(self, field: str, rule: str, detail: str) -> None:
        super().__init__(f"snapshot: {field}: {detail} ({rule})")
        self.field, self.rule, self.detail = field, rule, detail

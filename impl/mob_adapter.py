"""The mob member adapter (seed 002 `MobOpsAdapter`), on top of the ops registry.

A mob member is a child session. The adapter keeps at most one *live*
`MobMemberChild` operation per child session in the registry that owns that
session: either the registry bound to it (`bind_session_registry`, so the
owner's registry holds the child's operation ids) or the adapter's own fallback
registry. Every member-level call first resolves that registry, then the one
live operation, and maps registry errors onto `MobError`: races that already
reached the wanted state are swallowed as success, anything else is internal.

Synchronous port: the seed's `async fn`s never await anything but each other,
so every method here is a plain call; the binding map is guarded by one lock as
the seed's `Mutex<HashMap<..>>` is.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from opsref.impl.errors import AlreadyPeerReadyError, InvalidTransitionError, NotFoundError, OpsLifecycleError
from opsref.impl.registry import OpsLifecycleRegistry
from opsref.impl.values import (
    OperationKind, OperationLifecycleSnapshot, OperationPeerHandle, OperationProgressUpdate, OperationSpec,
    OperationStatus,
)

__all__ = ["MobError", "MobOpsAdapter"]

_log = logging.getLogger(__name__)

S = OperationStatus

SOURCE_LABEL = "mob_member"
"""seed 002 `ensure_operation`: every member operation is registered with this source label."""


class MobError(Exception):
    """seed 002 `MobError::Internal`: the only variant the adapter produces."""

    kind = "internal"


@dataclass(frozen=True)
class _SessionOpsBinding:
    """seed 002 `SessionOpsBinding`: which registry owns a child session's operations, and for whom."""

    owner_session_id: str
    registry: OpsLifecycleRegistry


def _new_operation_id() -> str:
    return uuid.uuid4().hex


def _format_operation_ids(ids: list[str]) -> str:
    return ", ".join(ids)


def _active_operation_ids(snapshots: list[OperationLifecycleSnapshot]) -> list[str]:
    """seed 002 `active_operation_ids`: the non-terminal ones, in listing order."""
    return [s.id for s in snapshots if not s.status.is_terminal()]


def _require_member_session(session_id: str | None, operation: str) -> str:
    """seed 002 `require_member_session`: a member without a session identity has no lifecycle to update."""
    if session_id is None:
        raise MobError(f"mob ops adapter cannot {operation} member without session-backed identity")
    return session_id


class MobOpsAdapter:
    """seed 002 `MobOpsAdapter`: member lifecycle calls onto the session's ops registry."""

    def __init__(self, new_operation_id: Callable[[], str] | None = None) -> None:
        self._new_operation_id = new_operation_id or _new_operation_id
        self._fallback_registry = OpsLifecycleRegistry()
        self._lock = threading.Lock()
        self._session_bindings: dict[str, _SessionOpsBinding] = {}

    # ------------------------------------------------------------ bindings

    def registry(self) -> OpsLifecycleRegistry:
        """The fallback registry, used by every session without a binding."""
        return self._fallback_registry

    def bind_session_registry(self, child_session_id: str, owner_session_id: str,
                              registry: OpsLifecycleRegistry) -> None:
        """Route `child_session_id`'s operations to `registry`, owned by `owner_session_id`.

        Replaces any earlier binding of the session."""
        with self._lock:
            self._session_bindings[child_session_id] = _SessionOpsBinding(owner_session_id, registry)

    def bound_sessions(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._session_bindings)

    def session_registry(self, session_id: str) -> OpsLifecycleRegistry:
        """The registry `session_id`'s operations go to (bound, else the fallback)."""
        return self._registry_for_session(session_id)[0]

    def _registry_for_session(self, session_id: str) -> tuple[OpsLifecycleRegistry, str]:
        """seed 002 `registry_for_session`: the bound registry and its owner, else the
        fallback registry, with the child session as its own owner."""
        with self._lock:
            binding = self._session_bindings.get(session_id)
        if binding is not None:
            return binding.registry, binding.owner_session_id
        return self._fallback_registry, session_id

    def _clear_session_binding(self, session_id: str) -> None:
        with self._lock:
            self._session_bindings.pop(session_id, None)

    # ------------------------------------------------------------ resolution

    def _matching_operations_for_session(self, session_id: str) -> list[OperationLifecycleSnapshot]:
        """Every mob-child operation of `session_id` that its registry still tracks, live or terminal."""
        registry, _ = self._registry_for_session(session_id)
        return [s for s in registry.list_operations()
                if s.kind is OperationKind.MOB_MEMBER_CHILD and s.child_session_id == session_id]

    def active_operation_id_for_session(self, session_id: str) -> str | None:
        """The one live mob-child operation of the session, canonicalized to Running; else None.

        Stricter than "latest operation": a terminal operation is never returned,
        and two live ones are ambiguous, so neither is picked (seed 002)."""
        active_ids = _active_operation_ids(self._matching_operations_for_session(session_id))
        if len(active_ids) == 1:
            operation_id = active_ids[0]
            try:
                self._ensure_running_before_live_update(session_id, operation_id, "resolve active operation")
            except MobError as error:
                _log.error("mob ops adapter failed to canonicalize active operation %s of session %s "
                           "before returning it: %s", operation_id, session_id, error)
                return None
            return operation_id
        if active_ids:
            _log.error("mob ops adapter found ambiguous active mob child operations for session %s [%s]; "
                       "refusing to pick one", session_id, _format_operation_ids(active_ids))
        return None

    def _ensure_running_before_live_update(self, session_id: str, operation_id: str, operation: str) -> None:
        """Move a still-Provisioning operation to Running before a live update touches it.

        Live updates (progress, peer-ready) are only valid on a running member;
        a member the adapter sees live was provisioned, so Provisioning is merely
        not yet canonical. Losing the race to another transition is fine."""
        registry, _ = self._registry_for_session(session_id)
        snapshot = registry.snapshot(operation_id)
        if snapshot is None:
            raise MobError(f"mob ops adapter cannot {operation}: operation '{operation_id}' not found")
        if snapshot.status is not S.PROVISIONING:
            return
        try:
            registry.provisioning_succeeded(operation_id)
        except InvalidTransitionError as error:
            # Someone else moved it on: nothing left to canonicalize.
            if error.status is not S.PROVISIONING:
                return
            raise self._canonicalize_failed(operation, operation_id, error) from error
        except OpsLifecycleError as error:
            raise self._canonicalize_failed(operation, operation_id, error) from error

    @staticmethod
    def _canonicalize_failed(operation: str, operation_id: str, error: OpsLifecycleError) -> MobError:
        return MobError(f"mob ops adapter cannot {operation}: failed to canonicalize provisioning operation "
                        f"'{operation_id}' into running state: {error}")

    def operation_status(self, session_id: str, operation_id: str) -> OperationStatus | None:
        """The status of `operation_id` in the registry that owns `session_id`, if tracked."""
        registry, _ = self._registry_for_session(session_id)
        snapshot = registry.snapshot(operation_id)
        return snapshot.status if snapshot is not None else None

    def _resolve_or_register_active_operation_id(self, session_id: str, operation: str, display_name: str) -> str:
        """The live operation of the session, registering one if it has none (seed 002)."""
        active_ids = _active_operation_ids(self._matching_operations_for_session(session_id))
        if len(active_ids) == 1:
            return active_ids[0]
        if not active_ids:
            return self._ensure_operation(session_id, display_name)
        raise MobError(f"mob ops adapter cannot {operation} for session '{session_id}': multiple active mob child "
                       f"operations [{_format_operation_ids(active_ids)}]")

    def _ensure_operation(self, session_id: str, display_name: str) -> str:
        """The live operation of the session, else a freshly registered Provisioning one.

        Never registers while one is live: one live operation per child session."""
        active_ids = _active_operation_ids(self._matching_operations_for_session(session_id))
        if len(active_ids) == 1:
            return active_ids[0]
        if active_ids:
            raise MobError(f"cannot provision session '{session_id}' with ambiguous active mob child operations "
                           f"[{_format_operation_ids(active_ids)}]")
        operation_id = self._new_operation_id()
        registry, owner_session_id = self._registry_for_session(session_id)
        try:
            registry.register_operation(OperationSpec(
                id=operation_id, kind=OperationKind.MOB_MEMBER_CHILD, owner_session_id=owner_session_id,
                display_name=display_name, source_label=SOURCE_LABEL, child_session_id=session_id,
                expect_peer_channel=True,
            ))
        except OpsLifecycleError as error:
            raise MobError(str(error)) from error
        return operation_id

    # ------------------------------------------------------------ member lifecycle

    def mark_member_provisioned(self, session_id: str, display_name: str) -> str:
        """Register (or reuse) the session's live operation and move it to Running.

        Idempotent: an operation already Running is success."""
        operation_id = self._ensure_operation(session_id, display_name)
        registry, _ = self._registry_for_session(session_id)
        try:
            registry.provisioning_succeeded(operation_id)
        except InvalidTransitionError as error:
            # Already provisioned; any other status is not a provisioning state.
            if error.status is not S.RUNNING:
                raise MobError(str(error)) from error
        except OpsLifecycleError as error:
            raise MobError(str(error)) from error
        return operation_id

    def report_member_progress(self, session_id: str | None, message: str) -> None:
        """Count one progress update on the member's live operation (registering one if it has none)."""
        session = _require_member_session(session_id, "report progress for")
        operation_id = self._resolve_or_register_active_operation_id(
            session, "report progress", f"mob_member/{session}")
        self._ensure_running_before_live_update(session, operation_id, "report progress")
        registry, _ = self._registry_for_session(session)
        try:
            registry.report_progress(operation_id, OperationProgressUpdate(message=message, percent=None))
        except InvalidTransitionError as error:
            # Progress racing a terminal transition is moot, not an error.
            if not error.status.is_terminal():
                raise MobError(str(error)) from error
        except OpsLifecycleError as error:
            raise MobError(str(error)) from error

    def mark_member_peer_ready(self, session_id: str | None, peer_name: str,
                               trusted_peer: str | None = None) -> None:
        """Record the member's peer-channel handoff (registering an operation if it has none).

        `trusted_peer` is the seed's `TrustedPeerSpec`, which the registry carries
        opaquely as a string; it defaults to `peer_name`. Peer-ready twice is success."""
        session = _require_member_session(session_id, "mark peer ready for")
        operation_id = self._resolve_or_register_active_operation_id(session, "mark peer ready", peer_name)
        self._ensure_running_before_live_update(session, operation_id, "mark peer ready")
        registry, _ = self._registry_for_session(session)
        handle = OperationPeerHandle(peer_name, peer_name if trusted_peer is None else trusted_peer)
        try:
            registry.peer_ready(operation_id, handle)
        except AlreadyPeerReadyError:
            return
        except InvalidTransitionError as error:
            # Peer handoff racing a terminal transition is moot, not an error.
            if not error.status.is_terminal():
                raise MobError(str(error)) from error
        except OpsLifecycleError as error:
            raise MobError(str(error)) from error

    def mark_member_retired(self, session_id: str | None) -> None:
        """Retire the member's live operation and drop its binding.

        With no live operation this is a no-op: retire never fabricates an
        operation (and, as in the seed, leaves the binding in place)."""
        session = _require_member_session(session_id, "mark retired for")
        active_ids = _active_operation_ids(self._matching_operations_for_session(session))
        if not active_ids:
            # seed 002 inspects the newest snapshot here, but returns Ok on both branches.
            return
        if len(active_ids) > 1:
            raise MobError(f"cannot retire session '{session}': multiple active mob child operations "
                           f"[{_format_operation_ids(active_ids)}]")
        operation_id = active_ids[0]
        registry, _ = self._registry_for_session(session)
        try:
            registry.request_retire(operation_id)
        except InvalidTransitionError as error:
            # Already retiring or retired: the request is satisfied.
            if error.status not in (S.RETIRING, S.RETIRED):
                raise MobError(str(error)) from error
        except OpsLifecycleError as error:
            raise MobError(str(error)) from error
        try:
            registry.mark_retired(operation_id)
        except InvalidTransitionError as error:
            if error.status is not S.RETIRED:
                raise MobError(str(error)) from error
        except OpsLifecycleError as error:
            raise MobError(str(error)) from error
        self._clear_session_binding(session)

    def abort_member_provision(self, session_id: str, operation_id: str, reason: str | None) -> None:
        """Abort a still-Provisioning operation and drop the session's binding.

        An operation the registry does not know, or one already terminal, is
        success (and still drops the binding); a live non-Provisioning one is an error."""
        registry, _ = self._registry_for_session(session_id)
        try:
            registry.abort_provisioning(operation_id, reason)
        except NotFoundError:
            pass
        except InvalidTransitionError as error:
            if not error.status.is_terminal():
                raise MobError(str(error)) from error
        except OpsLifecycleError as error:
            raise MobError(str(error)) from error
        self._clear_session_binding(session_id)

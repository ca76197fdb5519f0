"""Per-session comms drains and peer-ingress ownership (seed 004), reference semantics.

Hand-written as production code would be, independent of `spec/`. Each session
holds one frozen `SessionDrainSnapshot`; a command computes the next snapshot
after every check has passed and only then stores it, so a call that raises
changes nothing (seed 004: "no shell mutation after DSL rejection").

The seed's drain task is asynchronous; here it is a phase. The task's own exit
arrives as `notify_drain_exited`, and `wait` stands for awaiting its handle.

Where the reference makes a choice the seed leaves to code not shown:
  1. a session id is registered once ever, also after teardown;
  2. an exit report for a registered, live session whose drain is not running
     is an accepted no-op rather than a rejection;
  3. `destroy_runtime` moves only the runtime; the drain phase and owner are
     left as they were (a destroyed session is never mutated afterwards);
  4. teardown of a destroyed session removes it without touching its drain.
"""

from __future__ import annotations

import enum
import threading
from dataclasses import dataclass, replace
from typing import TypeAlias


class DrainPhase(enum.Enum):
    """Lifecycle of a session's comms drain task (seed 004 `DrainPhase`)."""

    INACTIVE = "inactive"
    RUNNING = "running"
    STOPPED = "stopped"
    EXITED_RESPAWNABLE = "exited_respawnable"


class DrainMode(enum.Enum):
    """Why the drain runs: until idle, while a session attaches, or for a persistent host."""

    TIMED = "timed"
    ATTACHED_SESSION = "attached_session"
    PERSISTENT_HOST = "persistent_host"


class RuntimeState(enum.Enum):
    """The session runtime's lifecycle state; `DESTROYED` is terminal."""

    INITIALIZING = "initializing"
    IDLE = "idle"
    ATTACHED = "attached"
    RUNNING = "running"
    RETIRED = "retired"
    STOPPED = "stopped"
    DESTROYED = "destroyed"


class DrainExitReason(enum.Enum):
    """Why a drain task ended, as the task itself reports it."""

    IDLE_TIMEOUT = "idle_timeout"
    DISMISSED = "dismissed"
    FAILED = "failed"
    ABORTED = "aborted"
    SESSION_SHUTDOWN = "session_shutdown"


@dataclass(frozen=True)
class Unattached:
    """No comms runtime owns the session's peer ingress."""


@dataclass(frozen=True)
class SessionOwned:
    """The session itself attached a comms runtime; a later session attach may replace it."""

    comms_runtime: str


@dataclass(frozen=True)
class MobOwned:
    """A mob owns the ingress; only another mob attach or a detach may replace it."""

    comms_runtime: str
    mob_id: str


IngressOwner: TypeAlias = Unattached | SessionOwned | MobOwned


@dataclass(frozen=True)
class SessionDrainSnapshot:
    """Everything observable about one session's drain and ingress ownership."""

    runtime: RuntimeState
    phase: DrainPhase
    mode: DrainMode
    owner: IngressOwner


class CommsDrainError(Exception):
    """Base of every drain error; `kind` is the seed's `RuntimeDriverError` variant in snake_case."""

    kind = "internal"


class AlreadyRegisteredError(CommsDrainError):
    kind = "already_registered"

    def __init__(self, session_id: str) -> None:
        super().__init__(f"session already registered: {session_id}")
        self.session_id = session_id


class NotReadyError(CommsDrainError):
    """The seed reports a missing session as `NotReady { state: Destroyed }`."""

    kind = "not_ready"

    def __init__(self, state: RuntimeState = RuntimeState.DESTROYED) -> None:
        super().__init__(f"runtime not ready: {state.value}")
        self.state = state


class DestroyedError(CommsDrainError):
    kind = "destroyed"

    def __init__(self) -> None:
        super().__init__("session runtime destroyed")


class ValidationFailedError(CommsDrainError):
    kind = "validation_failed"

    def __init__(self, reason: str) -> None:
        super().__init__(f"validation failed: {reason}")
        self.reason = reason


_INITIAL = SessionDrainSnapshot(
    runtime=RuntimeState.IDLE, phase=DrainPhase.INACTIVE, mode=DrainMode.TIMED, owner=Unattached(),
)


def _exited(snap: SessionDrainSnapshot, reason: DrainExitReason) -> SessionDrainSnapshot:
    """Seed 004 `NotifyDrainExited`: only a persistent host's failure may be respawned."""
    if snap.mode is DrainMode.PERSISTENT_HOST and reason is DrainExitReason.FAILED:
        return replace(snap, phase=DrainPhase.EXITED_RESPAWNABLE)
    return replace(snap, phase=DrainPhase.STOPPED)


def _stopped(snap: SessionDrainSnapshot) -> SessionDrainSnapshot:
    return replace(snap, phase=DrainPhase.STOPPED)


def _is_destroyed(snap: SessionDrainSnapshot) -> bool:
    return snap.runtime is RuntimeState.DESTROYED


def _is_running(snap: SessionDrainSnapshot) -> bool:
    return snap.phase is DrainPhase.RUNNING


class CommsDrainController:
    """Owns every session's drain snapshot; one lock serialises commands (the seed's mutation gate)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sessions: dict[str, SessionDrainSnapshot] = {}
        self._ever_registered: set[str] = set()

    # -- session lifecycle -------------------------------------------------

    def register_session(self, sid: str) -> None:
        """Open a session; an id is never reused, so stale exit reports cannot hit a newcomer."""
        with self._lock:
            # Verify the id was never handed out, not even to a torn-down session
            if sid in self._ever_registered:
                raise AlreadyRegisteredError(sid)
            self._ever_registered.add(sid)
            self._sessions[sid] = _INITIAL

    def destroy_runtime(self, sid: str) -> None:
        """Move the runtime to its terminal state; the drain is frozen as it is from here on."""
        with self._lock:
            snap = self._require(sid)
            self._sessions[sid] = replace(snap, runtime=RuntimeState.DESTROYED)

    def unregister_session(self, sid: str) -> None:
        """Teardown: abort the drain (as `abort` would) and forget the session."""
        with self._lock:
            self._require(sid)
            del self._sessions[sid]

    # -- drain commands ----------------------------------------------------

    def set_peer_ingress_context(
        self, sid: str, keep_alive: bool, comms_runtime: str | None, mob_id: str | None,
    ) -> None:
        """Seed 004 `SetPeerIngressContext`: settle ingress ownership, then spawn or stop the drain."""
        with self._lock:
            snap = self._require_live(sid)
            if comms_runtime is not None:
                new_owner: IngressOwner
                if mob_id is not None:
                    new_owner = MobOwned(comms_runtime, mob_id)
                else:
                    # Verify a session attach does not downgrade a mob-owned ingress
                    if isinstance(snap.owner, MobOwned):
                        raise ValidationFailedError(
                            f"session attach cannot replace mob-owned ingress (mob {snap.owner.mob_id})"
                        )
                    new_owner = SessionOwned(comms_runtime)
                nxt = replace(snap, owner=new_owner)
                if not _is_running(nxt):
                    mode = DrainMode.PERSISTENT_HOST if keep_alive else DrainMode.ATTACHED_SESSION
                    nxt = replace(nxt, phase=DrainPhase.RUNNING, mode=mode)
            elif not keep_alive:
                # Detach: the caller is tearing the drain down
                nxt = replace(snap, owner=Unattached())
                if _is_running(nxt):
                    nxt = _stopped(nxt)
            else:
                # Keep-alive only: no ownership transition, no drain side effect
                nxt = snap
            self._sessions[sid] = nxt

    def stop_drain(self, sid: str) -> None:
        """Seed 004 `StopDrain`: accepted only while the drain runs."""
        with self._lock:
            snap = self._require_live(sid)
            # Verify there is a running drain to stop
            if not _is_running(snap):
                raise ValidationFailedError(f"drain is not running (phase {snap.phase.value})")
            self._sessions[sid] = _stopped(snap)

    def notify_drain_exited(self, sid: str, reason: DrainExitReason) -> None:
        """Seed 004 `NotifyDrainExited`; a report after teardown is a benign straggler (D2b)."""
        with self._lock:
            snap = self._sessions.get(sid)
            if snap is None:
                return
            # Verify the runtime is not destroyed (DrainBindingInvariant)
            if _is_destroyed(snap):
                raise DestroyedError()
            if _is_running(snap):
                self._sessions[sid] = _exited(snap, reason)

    def abort(self, sid: str) -> None:
        """Seed 004 `Abort`: stop a running drain; a destroyed session rejects StopDrain silently."""
        with self._lock:
            snap = self._require(sid)
            if _is_running(snap) and not _is_destroyed(snap):
                self._sessions[sid] = _stopped(snap)

    def abort_all(self) -> None:
        """Seed 004 `AbortAll`: stop every running drain the machine accepts a StopDrain for."""
        with self._lock:
            for sid, snap in list(self._sessions.items()):
                if _is_running(snap) and not _is_destroyed(snap):
                    self._sessions[sid] = _stopped(snap)

    def wait(self, sid: str) -> None:
        """Seed 004 `Wait`: a drain still running after its task ended must have panicked — report Failed."""
        with self._lock:
            snap = self._require(sid)
            if _is_running(snap) and not _is_destroyed(snap):
                self._sessions[sid] = _exited(snap, DrainExitReason.FAILED)

    # -- observation -------------------------------------------------------

    def snapshot(self, sid: str) -> SessionDrainSnapshot | None:
        with self._lock:
            return self._sessions.get(sid)

    def ever_registered(self, sid: str) -> bool:
        """Whether `sid` was ever registered (it stays taken after teardown)."""
        with self._lock:
            return sid in self._ever_registered

    def sessions(self) -> dict[str, SessionDrainSnapshot]:
        with self._lock:
            return dict(self._sessions)

    # -- guards ------------------------------------------------------------

    def _require(self, sid: str) -> SessionDrainSnapshot:
        # Verify the session is registered (seed: NotReady { Destroyed } otherwise)
        snap = self._sessions.get(sid)
        if snap is None:
            raise NotReadyError(RuntimeState.DESTROYED)
        return snap

    def _require_live(self, sid: str) -> SessionDrainSnapshot:
        snap = self._require(sid)
        # Verify no drain mutation on a destroyed session (DrainBindingInvariant)
        if _is_destroyed(snap):
            raise DestroyedError()
        return snap

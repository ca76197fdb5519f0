"""Per-session comms drains and peer-ingress ownership (seed 004), reference semantics.

Hand-written as production code would be, independent of `spec/`. Each session
holds one frozen `SessionDrainSnapshot`; a command computes the next snapshot
after every check has passed and only then stores it, so a call that raises
changes nothing (seed 004: "no shell mutation after DSL rejection").

The seed's drain task is asynchronous; here it is a phase plus the state of the
task the session's slot holds (none, alive, or ended without reporting). The
task's own exit arrives as `notify_drain_exited`, a silent death as
`drain_task_panicked`, and `wait` stands for awaiting its handle: while the task
is alive the seed's call has not returned, so it changes nothing here.

Calls the seed answers with a bool (or nothing) rather than an error return that
bool: registration, teardown, destruction and the `StopDrain` staging refuse
nothing; `set_peer_ingress_context` returns whether it started a drain task.

Where the reference makes a choice:
  1. a torn-down session id is never registered again (the call returns False);
  2. `destroy_runtime` moves only the runtime; the drain phase and owner are
     left as they were (a destroyed session is never mutated afterwards);
  3. teardown of a destroyed session removes it without touching its drain.
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
    """How the drain was last spawned; keep-alive attaches spawn persistent hosts only."""

    NONE = "none"
    PERSISTENT_HOST = "persistent_host"


class DrainTask(enum.Enum):
    """The drain task the session's slot holds."""

    NONE = "none"
    ALIVE = "alive"
    ENDED = "ended"  # the task returned without reporting its exit (a panic)


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
    task: DrainTask = DrainTask.NONE


class CommsDrainError(Exception):
    """Base of every drain error; `kind` is the seed's `RuntimeDriverError` variant in snake_case."""

    kind = "internal"


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
    runtime=RuntimeState.IDLE, phase=DrainPhase.INACTIVE, mode=DrainMode.NONE, owner=Unattached(),
)


def _exited(snap: SessionDrainSnapshot, reason: DrainExitReason) -> SessionDrainSnapshot:
    """Seed 004 `NotifyDrainExited`: only a persistent host's failure may be respawned."""
    if snap.mode is DrainMode.PERSISTENT_HOST and reason is DrainExitReason.FAILED:
        return replace(snap, phase=DrainPhase.EXITED_RESPAWNABLE)
    return replace(snap, phase=DrainPhase.STOPPED)


def _stopped(snap: SessionDrainSnapshot) -> SessionDrainSnapshot:
    return replace(snap, phase=DrainPhase.STOPPED)


def _accepts_stop(snap: SessionDrainSnapshot) -> bool:
    """The machine accepts StopDrain only for a running drain of a session not destroyed."""
    return _is_running(snap) and not _is_destroyed(snap)


def _runtime_of(owner: IngressOwner) -> str | None:
    return owner.comms_runtime if isinstance(owner, (SessionOwned, MobOwned)) else None


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

    def register_session(self, sid: str) -> bool:
        """Open a session; whether it was opened now. A registered id is left as it is, and
        an id is never reused, so stale exit reports cannot hit a newcomer."""
        with self._lock:
            if sid in self._ever_registered:
                return False
            self._ever_registered.add(sid)
            self._sessions[sid] = _INITIAL
            return True

    def destroy_runtime(self, sid: str) -> bool:
        """Move the runtime to its terminal state (the drain is frozen as it is from here
        on); whether the session was registered."""
        with self._lock:
            snap = self._sessions.get(sid)
            if snap is None:
                return False
            self._sessions[sid] = replace(snap, runtime=RuntimeState.DESTROYED)
            return True

    def unregister_session(self, sid: str) -> bool:
        """Teardown: abort the drain task and forget the session; whether it was registered."""
        with self._lock:
            return self._sessions.pop(sid, None) is not None

    # -- drain commands ----------------------------------------------------

    def set_peer_ingress_context(
        self, sid: str, keep_alive: bool, comms_runtime: str | None, mob_id: str | None,
    ) -> bool:
        """Seed 004 `SetPeerIngressContext`: settle ingress ownership, then spawn (keep-alive with a
        runtime) or abort (no keep-alive) the drain; whether a drain task was started."""
        with self._lock:
            snap = self._require_live(sid)
            if comms_runtime is not None:
                new_owner: IngressOwner
                if mob_id is not None:
                    new_owner = MobOwned(comms_runtime, mob_id)
                    # Verify a mob attach takes over nothing but an unattached or session-owned ingress,
                    # or re-asserts the very mob owner in place
                    if isinstance(snap.owner, MobOwned) and snap.owner != new_owner:
                        raise ValidationFailedError(
                            f"mob attach cannot replace the ingress of mob {snap.owner.mob_id} "
                            f"on runtime {snap.owner.comms_runtime}"
                        )
                else:
                    new_owner = SessionOwned(comms_runtime)
                    # Verify a session attach neither downgrades a mob-owned ingress nor replaces
                    # another session runtime (it may only re-assert the one in place)
                    if not isinstance(snap.owner, Unattached) and snap.owner != new_owner:
                        raise ValidationFailedError(
                            f"session attach cannot replace the "
                            f"{'mob-owned' if isinstance(snap.owner, MobOwned) else 'session-owned'} ingress "
                            f"on runtime {_runtime_of(snap.owner)}"
                        )
                nxt = replace(snap, owner=new_owner)
            elif not keep_alive:
                # Detach: the caller is tearing the drain down
                nxt = replace(snap, owner=Unattached())
            else:
                # Keep-alive only: no ownership transition, no drain side effect
                return False
            spawned = False
            if not keep_alive:
                # Abort: stop a running drain and drop its task
                nxt = replace(_stopped(nxt) if _is_running(nxt) else nxt, task=DrainTask.NONE)
            elif not _is_running(snap):
                # Spawn (also the respawn of an exited persistent host)
                nxt = replace(nxt, phase=DrainPhase.RUNNING, mode=DrainMode.PERSISTENT_HOST, task=DrainTask.ALIVE)
                spawned = True
            elif snap.task is DrainTask.NONE or _runtime_of(snap.owner) != comms_runtime:
                # A running drain without a task, or on another runtime: start a fresh task
                nxt = replace(nxt, task=DrainTask.ALIVE)
                spawned = True
            self._sessions[sid] = nxt
            return spawned

    def stop_drain(self, sid: str) -> bool:
        """Seed 004 `stage_drain_stop_dsl`: whether the machine accepted StopDrain (a running
        drain of a live session); the task is left to the caller."""
        with self._lock:
            snap = self._sessions.get(sid)
            if snap is None or not _accepts_stop(snap):
                return False
            self._sessions[sid] = _stopped(snap)
            return True

    def notify_drain_exited(self, sid: str, reason: DrainExitReason) -> None:
        """Seed 004 `NotifyDrainExited`; a report after teardown is a benign straggler (D2b)."""
        with self._lock:
            snap = self._sessions.get(sid)
            if snap is None:
                return
            # Verify the runtime is not destroyed (DrainBindingInvariant)
            if _is_destroyed(snap):
                raise DestroyedError()
            self._sessions[sid] = replace(_exited(snap, reason) if _is_running(snap) else snap, task=DrainTask.NONE)

    def drain_task_panicked(self, sid: str) -> None:
        """The drain task ends without reporting (a panic): its handle is finished, the phase unchanged."""
        with self._lock:
            snap = self._sessions.get(sid)
            if snap is not None and snap.task is DrainTask.ALIVE:
                self._sessions[sid] = replace(snap, task=DrainTask.ENDED)

    def abort(self, sid: str) -> None:
        """Seed 004 `Abort`: stop a running drain; a destroyed session rejects StopDrain silently."""
        with self._lock:
            snap = self._require(sid)
            if _is_running(snap) and _is_destroyed(snap):
                return  # StopDrain refused: the task is not aborted either
            self._sessions[sid] = replace(_stopped(snap) if _is_running(snap) else snap, task=DrainTask.NONE)

    def abort_all(self) -> None:
        """Seed 004 `AbortAll`: stop every running drain the machine accepts a StopDrain for."""
        with self._lock:
            for sid, snap in list(self._sessions.items()):
                if _is_running(snap) and _is_destroyed(snap):
                    continue
                self._sessions[sid] = replace(_stopped(snap) if _is_running(snap) else snap, task=DrainTask.NONE)

    def wait(self, sid: str) -> bool:
        """Seed 004 `Wait`: await the drain task; whether it had ended. A live task keeps the
        call waiting (nothing changes); a drain still running after its task ended must have
        panicked — report Failed."""
        with self._lock:
            snap = self._require(sid)
            if snap.task is DrainTask.ALIVE:
                return False
            if _accepts_stop(snap):
                snap = _exited(snap, DrainExitReason.FAILED)
            self._sessions[sid] = replace(snap, task=DrainTask.NONE)
            return True

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

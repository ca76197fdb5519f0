"""The runtime control plane (seed 003 `RuntimeControlPlane` / `RuntimeDriver`), reference semantics.

Executable, synchronous and in memory: one plane manages many runtimes, each
with its own input ledger. Written as production code would be, independent of
`spec/`. Every check of a call runs before its first write, so a call that
raises changes nothing.

The seed names the calls and their reports; the rules follow upstream
meerkat-runtime at the seed's commit:
  * runtimes: initializing -> idle <-> attached; a run begins in idle, attached or
    retired (the executor drains a retired runtime) and ends in the state it began
    in; idle/attached/running -> retire -> retired (retiring again changes nothing);
    idle/attached/running/retired -> stop -> stopped, a retired runtime (or a run
    draining it) only once drained; destroy from anywhere -> destroyed (terminal);
    reset (initializing, idle, attached, retired) -> idle; recycle (idle, retired
    -> idle; attached stays); recover keeps the state (any but running and destroyed);
  * inputs: accepted -> queued -> staged -> applied [-> applied_pending_consumption]
    -> consumed; accepted/queued -> superseded | coalesced; recover and recycle
    queue accepted and staged inputs again; every non-terminal input -> abandoned
    by reset, destroy, stop, and by retire when no executor is attached to drain them.
    A terminal input never changes again. No input is accepted while retired, nor
    during a run that drains a retired runtime.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# ---------------------------------------------------------------- states


class RuntimeState(enum.Enum):
    """Lifecycle of one runtime; the seed displays it in snake_case ("initializing")."""

    INITIALIZING = "initializing"
    IDLE = "idle"
    ATTACHED = "attached"
    RUNNING = "running"
    RETIRED = "retired"
    STOPPED = "stopped"
    DESTROYED = "destroyed"

    def as_str(self) -> str:
        return self.value

    def __str__(self) -> str:
        return self.value


class InputLifecycleState(enum.Enum):
    """Phase of one input in a runtime's ledger (seed `InputLifecycleState`)."""

    ACCEPTED = "accepted"
    QUEUED = "queued"
    STAGED = "staged"
    APPLIED = "applied"
    APPLIED_PENDING_CONSUMPTION = "applied_pending_consumption"
    CONSUMED = "consumed"
    SUPERSEDED = "superseded"
    COALESCED = "coalesced"
    ABANDONED = "abandoned"

    def is_terminal(self) -> bool:
        """Terminal inputs are settled for good; no call may move them again."""
        return self in _TERMINAL_INPUTS

    def as_str(self) -> str:
        return self.value

    def __str__(self) -> str:
        return self.value


R = RuntimeState
I = InputLifecycleState  # noqa: E741 - short alias for the transition table

_TERMINAL_INPUTS = frozenset({I.CONSUMED, I.SUPERSEDED, I.COALESCED, I.ABANDONED})
LIVE = frozenset({R.IDLE, R.ATTACHED, R.RUNNING})
DRAINING = LIVE | {R.RETIRED}
RUN_ORIGINS = frozenset({R.IDLE, R.ATTACHED, R.RETIRED})
RETIRABLE = LIVE | {R.RETIRED}
STOPPABLE = LIVE | {R.RETIRED}
RESETTABLE = frozenset({R.INITIALIZING, R.IDLE, R.ATTACHED, R.RETIRED})
RECYCLABLE = frozenset({R.IDLE, R.ATTACHED, R.RETIRED})
RECOVERABLE = frozenset({R.INITIALIZING, R.IDLE, R.ATTACHED, R.RETIRED, R.STOPPED})

# ---------------------------------------------------------------- errors


class RuntimeControlError(Exception):
    """Base of every control-plane error; `kind` is the seed's variant name in snake_case."""

    kind = "internal"


class NotFoundError(RuntimeControlError):
    """The runtime id was never registered (distinct from destroyed: seed `NotFound`)."""

    kind = "not_found"

    def __init__(self, runtime_id: str) -> None:
        super().__init__(f"Runtime not found: {runtime_id}")
        self.runtime_id = runtime_id


class InvalidStateError(RuntimeControlError):
    """A control-plane action is not allowed from the runtime's current state."""

    kind = "invalid_state"

    def __init__(self, state: RuntimeState) -> None:
        super().__init__(f"Invalid state for operation: {state.as_str()}")
        self.state = state


class NotReadyError(RuntimeControlError):
    """The runtime exists but cannot take input work in its current state."""

    kind = "not_ready"

    def __init__(self, state: RuntimeState) -> None:
        super().__init__(f"Runtime not ready: {state.as_str()}")
        self.state = state


class DestroyedError(RuntimeControlError):
    """Input work addressed to a destroyed runtime (seed: distinct from `NotReady(destroyed)`)."""

    kind = "destroyed"

    def __init__(self) -> None:
        super().__init__("Runtime destroyed")


class ValidationFailedError(RuntimeControlError):
    """The input itself is wrong for this call: duplicate, unknown, or in the wrong phase."""

    kind = "validation_failed"

    def __init__(self, reason: str) -> None:
        super().__init__(f"Input validation failed: {reason}")
        self.reason = reason


# ---------------------------------------------------------------- reports

def _count(data: Mapping[str, object], key: str, default: int | None = None) -> int:
    """A usize field of a serialized report; missing only where the seed has `serde(default)`."""
    if key not in data:
        if default is None:
            raise ValueError(f"missing field: {key}")
        return default
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{key} must be a non-negative integer, got {value!r}")
    return value


@dataclass(frozen=True)
class RetireReport:
    """What retire did: left every pending input to drain, or abandoned them all when no executor could."""

    inputs_abandoned: int
    inputs_pending_drain: int = 0

    def to_dict(self) -> dict[str, object]:
        return {"inputs_abandoned": self.inputs_abandoned, "inputs_pending_drain": self.inputs_pending_drain}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> RetireReport:
        # seed: `inputs_pending_drain` is `#[serde(default)]`
        return cls(_count(data, "inputs_abandoned"), _count(data, "inputs_pending_drain", 0))


@dataclass(frozen=True)
class ResetReport:
    """What reset abandoned."""

    inputs_abandoned: int

    def to_dict(self) -> dict[str, object]:
        return {"inputs_abandoned": self.inputs_abandoned}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> ResetReport:
        return cls(_count(data, "inputs_abandoned"))


@dataclass(frozen=True)
class RecycleReport:
    """How many live inputs recycle carried over into the fresh driver."""

    inputs_transferred: int

    def to_dict(self) -> dict[str, object]:
        return {"inputs_transferred": self.inputs_transferred}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> RecycleReport:
        return cls(_count(data, "inputs_transferred"))


@dataclass(frozen=True)
class RecoveryReport:
    """What recovery found (non-terminal inputs) and how many it queued again."""

    inputs_recovered: int
    inputs_abandoned: int
    inputs_requeued: int
    details: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        data: dict[str, object] = {
            "inputs_recovered": self.inputs_recovered,
            "inputs_abandoned": self.inputs_abandoned,
            "inputs_requeued": self.inputs_requeued,
        }
        if self.details:  # seed: `skip_serializing_if = "Vec::is_empty"`
            data["details"] = list(self.details)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> RecoveryReport:
        raw = data.get("details", [])  # seed: `#[serde(default)]`
        if not isinstance(raw, (list, tuple)) or not all(isinstance(d, str) for d in raw):
            raise ValueError(f"details must be a list of strings, got {raw!r}")
        return cls(_count(data, "inputs_recovered"), _count(data, "inputs_abandoned"),
                   _count(data, "inputs_requeued"), tuple(str(d) for d in raw))


@dataclass(frozen=True)
class DestroyReport:
    """What destroy abandoned on its way to the terminal state."""

    inputs_abandoned: int

    def to_dict(self) -> dict[str, object]:
        return {"inputs_abandoned": self.inputs_abandoned}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> DestroyReport:
        return cls(_count(data, "inputs_abandoned"))


# ---------------------------------------------------------------- the plane

# per-input action -> (allowed from-phases, to-phase)
INPUT_TRANSITIONS: dict[str, tuple[frozenset[InputLifecycleState], InputLifecycleState]] = {
    "queue_input": (frozenset({I.ACCEPTED}), I.QUEUED),
    "stage_input": (frozenset({I.QUEUED}), I.STAGED),
    "apply_input": (frozenset({I.STAGED}), I.APPLIED),
    "mark_pending_consumption": (frozenset({I.APPLIED}), I.APPLIED_PENDING_CONSUMPTION),
    "consume_input": (frozenset({I.APPLIED, I.APPLIED_PENDING_CONSUMPTION}), I.CONSUMED),
    "supersede_input": (frozenset({I.ACCEPTED, I.QUEUED}), I.SUPERSEDED),
    "coalesce_input": (frozenset({I.ACCEPTED, I.QUEUED}), I.COALESCED),
}

# runtime action -> (allowed from-states, to-state)
RUNTIME_TRANSITIONS: dict[str, tuple[frozenset[RuntimeState], RuntimeState]] = {
    "runtime_ready": (frozenset({R.INITIALIZING}), R.IDLE),
    "attach": (frozenset({R.IDLE}), R.ATTACHED),
    "detach": (frozenset({R.ATTACHED}), R.IDLE),
}


@dataclass
class _Runtime:
    """One runtime: its state and its ledger (insertion order is acceptance order)."""

    state: RuntimeState
    ledger: dict[str, InputLifecycleState]
    run_began_in: RuntimeState | None = None  # set while running: where end_run returns to

    def has_executor(self) -> bool:
        """An executor is attached to drain the runtime (a run begun idle has none)."""
        return self.state is R.ATTACHED or (self.state is R.RUNNING and self.run_began_in in (R.ATTACHED, R.RETIRED))

    def draining_run(self) -> bool:
        return self.state is R.RUNNING and self.run_began_in is R.RETIRED

    def abandon_active(self) -> int:
        abandoned = self.active()
        for iid in abandoned:
            self.ledger[iid] = I.ABANDONED
        return len(abandoned)

    def requeue(self) -> int:
        """Replay the ledger as recovery does: accepted and staged inputs are queued again."""
        moved = self.with_phase([I.ACCEPTED, I.STAGED])
        for iid in moved:
            self.ledger[iid] = I.QUEUED
        return len(moved)

    def active(self) -> list[str]:
        return [iid for iid, phase in self.ledger.items() if not phase.is_terminal()]

    def with_phase(self, phases: Iterable[InputLifecycleState]) -> list[str]:
        wanted = frozenset(phases)
        return [iid for iid, phase in self.ledger.items() if phase in wanted]


class RuntimeControlPlane:
    """Many runtimes by id. One lock guards everything; all guards run before any write.

    inv: all(rt.state is not RuntimeState.INITIALIZING or not rt.ledger for rt in self._runtimes.values())
    inv: all(not rt.active() for rt in self._runtimes.values() if rt.state in (RuntimeState.STOPPED, RuntimeState.DESTROYED))
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._runtimes: dict[str, _Runtime] = {}

    # ------------------------------------------------------------ guards

    def _get(self, rid: str) -> _Runtime:
        # Verify the runtime was ever registered (absence is not destruction)
        rt = self._runtimes.get(rid)
        if rt is None:
            raise NotFoundError(rid)
        return rt

    @staticmethod
    def _require_state(rt: _Runtime, allowed: frozenset[RuntimeState]) -> None:
        # Verify the control-plane action is allowed from the current state
        if rt.state not in allowed:
            raise InvalidStateError(rt.state)

    @staticmethod
    def _require_input_ready(rt: _Runtime, allowed: frozenset[RuntimeState]) -> None:
        # Verify the runtime is not destroyed: destruction is reported as such, not as not-ready
        if rt.state is R.DESTROYED:
            raise DestroyedError()
        # Verify the runtime is in a state that takes this input work
        if rt.state not in allowed:
            raise NotReadyError(rt.state)

    # ------------------------------------------------------------ runtime lifecycle

    def register_runtime(self, rid: str) -> None:
        """Admit a new runtime in initializing; ids are never reused, even after destroy."""
        with self._lock:
            existing = self._runtimes.get(rid)
            # Verify the id is not already registered (in any state)
            if existing is not None:
                raise InvalidStateError(existing.state)
            self._runtimes[rid] = _Runtime(R.INITIALIZING, {})

    def _move(self, rid: str, action: str) -> None:
        allowed, target = RUNTIME_TRANSITIONS[action]
        with self._lock:
            rt = self._get(rid)
            self._require_state(rt, allowed)
            rt.state = target

    def runtime_ready(self, rid: str) -> None:
        """Initialization finished: the runtime may now take input."""
        self._move(rid, "runtime_ready")

    def attach(self, rid: str) -> None:
        """A surface attached to an idle runtime."""
        self._move(rid, "attach")

    def detach(self, rid: str) -> None:
        """The attached surface went away."""
        self._move(rid, "detach")

    def begin_run(self, rid: str) -> None:
        """A run started on an idle or attached runtime, or a retired one's executor runs to drain it."""
        with self._lock:
            rt = self._get(rid)
            self._require_state(rt, RUN_ORIGINS)
            rt.run_began_in, rt.state = rt.state, R.RUNNING

    def end_run(self, rid: str) -> None:
        """The run finished; the runtime is back in the state the run began in."""
        with self._lock:
            rt = self._get(rid)
            self._require_state(rt, frozenset({R.RUNNING}))
            assert rt.run_began_in is not None
            rt.state, rt.run_began_in = rt.run_began_in, None

    # ------------------------------------------------------------ inputs

    def accept_input(self, rid: str, iid: str) -> None:
        """Admit an input to the runtime's ledger (seed `accept_input` / `ingest`)."""
        with self._lock:
            rt = self._get(rid)
            self._require_input_ready(rt, LIVE)
            # Verify the runtime is not running only to drain after retire: retired means no new input
            if rt.draining_run():
                raise NotReadyError(rt.state)
            # Verify the input id is new to this ledger (terminal entries count too)
            if iid in rt.ledger:
                raise ValidationFailedError(f"input {iid} already in ledger as {rt.ledger[iid].as_str()}")
            rt.ledger[iid] = I.ACCEPTED

    def _advance(self, rid: str, iid: str, action: str) -> None:
        allowed, target = INPUT_TRANSITIONS[action]
        with self._lock:
            rt = self._get(rid)
            # a retired runtime still drains the inputs it holds
            self._require_input_ready(rt, DRAINING)
            # Verify the input is in this runtime's ledger
            phase = rt.ledger.get(iid)
            if phase is None:
                raise ValidationFailedError(f"input {iid} not in ledger")
            # Verify the input is in a phase this action moves from (terminal phases never are)
            if phase not in allowed:
                froms = ", ".join(sorted(p.as_str() for p in allowed))
                raise ValidationFailedError(f"{action}: input {iid} is {phase.as_str()}, needs one of {froms}")
            rt.ledger[iid] = target

    def queue_input(self, rid: str, iid: str) -> None:
        """accepted -> queued: policy admitted the input to the queue."""
        self._advance(rid, iid, "queue_input")

    def stage_input(self, rid: str, iid: str) -> None:
        """queued -> staged: picked for the next run boundary."""
        self._advance(rid, iid, "stage_input")

    def apply_input(self, rid: str, iid: str) -> None:
        """staged -> applied: the run took it in."""
        self._advance(rid, iid, "apply_input")

    def mark_pending_consumption(self, rid: str, iid: str) -> None:
        """applied -> applied_pending_consumption: applied, awaiting the consumer's acknowledgement."""
        self._advance(rid, iid, "mark_pending_consumption")

    def consume_input(self, rid: str, iid: str) -> None:
        """applied or applied_pending_consumption -> consumed (terminal)."""
        self._advance(rid, iid, "consume_input")

    def supersede_input(self, rid: str, iid: str) -> None:
        """accepted or queued -> superseded (terminal): a newer input replaces it before staging."""
        self._advance(rid, iid, "supersede_input")

    def coalesce_input(self, rid: str, iid: str) -> None:
        """accepted or queued -> coalesced (terminal): merged into another input before staging."""
        self._advance(rid, iid, "coalesce_input")

    # ------------------------------------------------------------ control plane

    def retire(self, rid: str) -> RetireReport:
        """No new input; an attached executor drains the rest, and without one nothing could,
        so every pending input is abandoned (seed `retire`: "no new input, drain existing").
        Retiring a retired runtime changes nothing and reports what it still has to drain:
        whatever it holds, an executor took over when it first retired."""
        with self._lock:
            rt = self._get(rid)
            self._require_state(rt, RETIRABLE)
            if rt.has_executor() or rt.state is R.RETIRED:
                report = RetireReport(inputs_abandoned=0, inputs_pending_drain=len(rt.active()))
            else:
                report = RetireReport(inputs_abandoned=rt.abandon_active(), inputs_pending_drain=0)
            rt.state, rt.run_began_in = R.RETIRED, None
            return report

    def stop(self, rid: str) -> None:
        """The executor stops and every pending input is abandoned; there is no report. A retired
        runtime first drains what its retire left pending (seed: "processed before stopping")."""
        with self._lock:
            rt = self._get(rid)
            self._require_state(rt, STOPPABLE)
            # Verify a retired runtime, or a run draining it, has drained every pending input
            if (rt.state is R.RETIRED or rt.draining_run()) and rt.active():
                raise InvalidStateError(rt.state)
            rt.abandon_active()
            rt.state, rt.run_began_in = R.STOPPED, None

    def reset(self, rid: str) -> ResetReport:
        """Abandon all pending input and return to idle (seed `reset`); not during a run."""
        with self._lock:
            rt = self._get(rid)
            self._require_state(rt, RESETTABLE)
            abandoned = rt.abandon_active()
            rt.state = R.IDLE
            return ResetReport(inputs_abandoned=abandoned)

    def recycle(self, rid: str) -> RecycleReport:
        """Reset the driver and recover its state (seed `recycle`): every live input is
        carried over and replayed as `recover` does; an attached runtime stays attached."""
        with self._lock:
            rt = self._get(rid)
            self._require_state(rt, RECYCLABLE)
            transferred = len(rt.active())
            rt.requeue()
            if rt.state is not R.ATTACHED:
                rt.state = R.IDLE
            return RecycleReport(inputs_transferred=transferred)

    def recover(self, rid: str) -> RecoveryReport:
        """Replay the ledger (seed `recover`): accepted and staged inputs are queued again,
        applied ones keep their state; the runtime keeps its own. Not during a run."""
        with self._lock:
            rt = self._get(rid)
            self._require_state(rt, RECOVERABLE)
            recovered = len(rt.active())
            requeued = rt.requeue()
            details = (f"requeued {requeued} accepted or staged inputs",) if requeued else ()
            return RecoveryReport(recovered, 0, requeued, details)

    def destroy(self, rid: str) -> DestroyReport:
        """Terminal: abandon everything live; no recovery is possible (seed `destroy`)."""
        with self._lock:
            rt = self._get(rid)
            # Verify the runtime is not already destroyed
            if rt.state is R.DESTROYED:
                raise InvalidStateError(rt.state)
            abandoned = rt.abandon_active()
            rt.state, rt.run_began_in = R.DESTROYED, None
            return DestroyReport(inputs_abandoned=abandoned)

    # ------------------------------------------------------------ reads

    def runtime_ids(self) -> list[str]:
        with self._lock:
            return list(self._runtimes)

    def runtime_state(self, rid: str) -> RuntimeState:
        with self._lock:
            return self._get(rid).state

    def input_state(self, rid: str, iid: str) -> InputLifecycleState | None:
        """The input's phase, or None if this runtime never accepted it."""
        with self._lock:
            return self._get(rid).ledger.get(iid)

    def active_input_ids(self, rid: str) -> list[str]:
        """Non-terminal inputs, in acceptance order (seed `active_input_ids`)."""
        with self._lock:
            return self._get(rid).active()

    def inputs(self, rid: str) -> dict[str, InputLifecycleState]:
        """A copy of the whole ledger, in acceptance order."""
        with self._lock:
            return dict(self._get(rid).ledger)


__all__ = [
    "DestroyReport", "DestroyedError", "INPUT_TRANSITIONS", "InputLifecycleState", "InvalidStateError",
    "NotFoundError", "NotReadyError", "RUNTIME_TRANSITIONS", "RecoveryReport", "RecycleReport", "ResetReport",
    "RetireReport", "RuntimeControlError", "RuntimeControlPlane", "RuntimeState", "ValidationFailedError",
]

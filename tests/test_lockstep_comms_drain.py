"""impl/comms_drain.py in lock-step with the comms-drain spec (seed 004)."""

from __future__ import annotations

from typing import Callable, Mapping

import pytest
from dataclasses import replace

from hypothesis import Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from impl.comms_drain import (
    CommsDrainController, CommsDrainError, DrainExitReason, DrainPhase, MobOwned, SessionOwned,
)
from spec.comms_drain import DRAIN_FIELDS, build
from spec.model import State, Value
from tests.lockstep_generic import Outcome, View, error_outcome, fields_of, lockstep_for

SPEC = build("reference")


def runtime_name(n: int) -> str | None:
    return None if n == 0 else f"rt{n}"


def mob_name(n: int) -> str | None:
    return None if n == 0 else f"mob{n}"


def number(name: str) -> int:
    return int(name.lstrip("rtmob"))


class DrainBinding:
    """Spec actions as CommsDrainController calls; snapshots read back as spec fields."""

    def __init__(self, controller: CommsDrainController | None = None) -> None:
        self.impl = controller or CommsDrainController()

    def call(self, action: str, params: Mapping[str, Value]) -> Outcome:
        sid = str(params.get("id", ""))
        calls: dict[str, Callable[[], None]] = {
            "register_session": lambda: self.impl.register_session(sid),
            "destroy_runtime": lambda: self.impl.destroy_runtime(sid),
            "unregister_session": lambda: self.impl.unregister_session(sid),
            "set_peer_ingress_context": lambda: self.impl.set_peer_ingress_context(
                sid, bool(params["keep_alive"]), runtime_name(int(params["comms_runtime"])),  # type: ignore[arg-type]
                mob_name(int(params["mob"]))),  # type: ignore[arg-type]
            "stop_drain": lambda: self.impl.stop_drain(sid),
            "notify_drain_exited": lambda: self.impl.notify_drain_exited(sid, DrainExitReason(params["reason"])),
            "abort": lambda: self.impl.abort(sid),
            "abort_all": self.impl.abort_all,
            "wait": lambda: self.impl.wait(sid),
        }
        try:
            calls[action]()
        except CommsDrainError as err:
            return error_outcome(err)
        return ("ok", {})

    def view(self, key: str) -> View:
        snap = self.impl.snapshot(key)
        if snap is None:
            return {"registered": False}
        owner = snap.owner
        return {
            "registered": True, "runtime": snap.runtime.value, "phase": snap.phase.value, "mode": snap.mode.value,
            "owner": {SessionOwned: "session_owned", MobOwned: "mob_owned"}.get(type(owner), "unattached"),
            "owner_runtime": number(owner.comms_runtime) if isinstance(owner, (SessionOwned, MobOwned)) else 0,
            "owner_mob": number(owner.mob_id) if isinstance(owner, MobOwned) else 0,
        }

    def globals(self) -> View:
        return {}


def spec_view(state: State, key: str) -> View:
    """A registered session shows every field; any other only that it is not registered."""
    if state.get(SPEC, "session", key) != "registered":
        return {"registered": False}
    return {"registered": True, **fields_of(SPEC, state, key, ("runtime", *DRAIN_FIELDS))}


#: two of the three sessions start registered, so random calls reach running drains
SETUP: tuple[tuple[str, dict[str, Value]], ...] = (("register_session", {"id": "a"}), ("register_session", {"id": "b"}))
Lockstep = lockstep_for(SPEC, DrainBinding, spec_view, setup=SETUP)
TestCommsDrainLockstep = Lockstep.TestCase


class ExitAlwaysStops(CommsDrainController):
    """Broken: a failed persistent host is never left respawnable."""

    def notify_drain_exited(self, sid: str, reason: DrainExitReason) -> None:
        super().notify_drain_exited(sid, DrainExitReason.DISMISSED if reason is DrainExitReason.FAILED else reason)


class AbortIgnoresDestroyed(CommsDrainController):
    """Broken: abort_all also stops the drain of a destroyed session."""

    def abort_all(self) -> None:
        for sid, snap in list(self._sessions.items()):
            if snap.phase is DrainPhase.RUNNING:
                self._sessions[sid] = replace(snap, phase=DrainPhase.STOPPED)


@pytest.mark.parametrize("broken", [ExitAlwaysStops, AbortIgnoresDestroyed])
def test_a_broken_controller_fails_the_lockstep(broken: type[CommsDrainController]) -> None:
    machine = lockstep_for(SPEC, lambda: DrainBinding(broken()), spec_view, ids=("a", "b"), ints=(0, 1),
                           setup=SETUP)
    with pytest.raises(AssertionError):
        run_state_machine_as_test(machine, settings=settings(
            max_examples=1000, stateful_step_count=30, deadline=None, derandomize=True, database=None,
            phases=[Phase.generate]))  # found is enough: no shrinking

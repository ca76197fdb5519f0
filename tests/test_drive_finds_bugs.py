"""Realistic one- or two-line bugs in `opsref serve`, one per class the driver used to miss,
each caught by `opsref drive` with its default settings (random mode, RANDOM_DEFAULTS):

* hidden state that depends on history (the answer is right now, the state is wrong later);
* wrong report counts and other returned values (the seed's `Spawned(bool)`, `OperationId`);
* a wrong state seven calls deep (an input applied and awaiting consumption);
* wrong error fields (the right kind, the wrong `state`, `id` or `action`);
* a wrong state shown only by `observe` (a respawnable drain reported as stopped).

Each broken server wraps impl/'s binding and changes one thing."""

from __future__ import annotations

from typing import Any, Callable, Mapping

import pytest

from opsref.conformance.bindings import CommsDrainBinding, MobAdapterBinding, Result, RuntimeControlBinding
from opsref.conformance.jsonline import JsonObject
from opsref.conformance.drive import RANDOM_DEFAULTS, DriveResult, Plan, drive_random, id_names, observed_run
from opsref.conformance.serve import ActionServer, InProcess, Server
from opsref.impl import OperationKind


def drive_default(machine: str, binding: Callable[[], Any] | None = None, server: Server | ActionServer | None = None,
                  ) -> DriveResult:
    if server is None and machine != "ops_lifecycle":
        action_server = ActionServer(machine)
        if binding is not None:
            action_server.make = binding
            action_server.binding = binding()
        server = action_server
    d = RANDOM_DEFAULTS
    return drive_random(InProcess(machine, server), "reference", d.runs, d.depth, d.id_count, d.seed, machine=machine)


def part(answer: Result, name: str) -> JsonObject:
    """`answer[name]`: the object these bindings answer under `ok` or `error`."""
    value = answer[name]
    assert isinstance(value, dict), answer
    return value


# --------------------------------------------------------------------------- comms drain


class DetachedNeverRespawns(CommsDrainBinding):
    """History: a session that was ever detached has its next spawned drain aborted at once."""

    def __init__(self) -> None:
        super().__init__()
        self.detached: set[str] = set()

    def act(self, name: str, args: Mapping[str, Any]) -> Result:
        answer = super().act(name, args)
        if name == "set_peer_ingress_context" and "ok" in answer:
            if not args["keep_alive"] and args["comms_runtime"] == 0:
                self.detached.add(args["id"])
            elif part(answer, "ok")["spawned"] and args["id"] in self.detached:
                self.impl.abort(args["id"])
        return answer


class SpawnedWhenAsked(CommsDrainBinding):
    """Returned value: `spawned` says whether a spawn was asked for, not whether one happened."""

    def act(self, name: str, args: Mapping[str, Any]) -> Result:
        answer = super().act(name, args)
        if name == "set_peer_ingress_context" and "ok" in answer:
            part(answer, "ok")["spawned"] = bool(args["keep_alive"] and args["comms_runtime"])
        return answer


class RespawnableShownAsStopped(CommsDrainBinding):
    """Observation: a drain that may be respawned is reported as stopped."""

    def observe(self, key: str) -> dict[str, Any]:
        seen = super().observe(key)
        if seen["phase"] == "exited_respawnable":
            seen["phase"] = "stopped"
        return seen


class NotReadyWithoutState(CommsDrainBinding):
    """Error field: NotReady names the wrong runtime state."""

    def act(self, name: str, args: Mapping[str, Any]) -> Result:
        answer = super().act(name, args)
        if "error" in answer and "state" in part(answer, "error"):
            part(answer, "error")["state"] = "idle"
        return answer


# --------------------------------------------------------------------------- runtime control


class RecycleForgetsAcceptance(RuntimeControlBinding):
    """History: after a recycle, inputs accepted later are shown as already queued."""

    def __init__(self) -> None:
        super().__init__()
        self.recycled = False

    def act(self, name: str, args: Mapping[str, Any]) -> Result:
        answer = super().act(name, args)
        self.recycled |= name == "recycle" and "ok" in answer
        return answer

    def observe(self, key: str) -> dict[str, Any]:
        seen = super().observe(key)
        if self.recycled and seen["input"] == "accepted":
            seen["input"] = "queued"
        return seen


class RetireCountsNothingPending(RuntimeControlBinding):
    """Report counts: retire reports no input pending drain."""

    def act(self, name: str, args: Mapping[str, Any]) -> Result:
        answer = super().act(name, args)
        if name == "retire" and "ok" in answer:
            part(answer, "ok")["inputs_pending_drain"] = 0
            self.report["report_pending_drain"] = 0
        return answer


class PendingConsumptionShownAsApplied(RuntimeControlBinding):
    """Seven calls deep: an input applied and awaiting consumption is shown as applied."""

    def observe(self, key: str) -> dict[str, Any]:
        seen = super().observe(key)
        if seen["input"] == "applied_pending_consumption":
            seen["input"] = "applied"
        return seen


class InvalidStateSaysIdle(RuntimeControlBinding):
    """Error field: InvalidState names the wrong runtime state."""

    def act(self, name: str, args: Mapping[str, Any]) -> Result:
        answer = super().act(name, args)
        if "error" in answer and part(answer, "error").get("kind") == "invalid_state":
            part(answer, "error")["state"] = "idle"
        return answer


# --------------------------------------------------------------------------- mob adapter


class FirstRegistrySticks(MobAdapterBinding):
    """History: a session keeps the registry of its first call; a later bind is ignored."""

    def __init__(self) -> None:
        super().__init__()
        self.used: set[str] = set()

    def act(self, name: str, args: Mapping[str, Any]) -> Result:
        session = args.get("session")
        if name == "bind_session_registry" and session in self.used:
            return {"ok": None}
        if session is not None:
            self.used.add(session)
        return super().act(name, args)


class ProvisionedReturnsTheNewId(MobAdapterBinding):
    """Returned value: mark_member_provisioned answers the id it was offered, even when it
    reused the session's live operation."""

    def act(self, name: str, args: Mapping[str, Any]) -> Result:
        answer = super().act(name, args)
        if name == "mark_member_provisioned" and "ok" in answer:
            part(answer, "ok")["operation"] = args["op"]
        return answer


class TransitionErrorWithoutAction(MobAdapterBinding):
    """Error field: the registry's InvalidTransition names the wrong action."""

    def act(self, name: str, args: Mapping[str, Any]) -> Result:
        answer = super().act(name, args)
        if "error" in answer and part(answer, "error").get("kind") == "invalid_transition":
            part(answer, "error")["action"] = "transition"
        return answer


# --------------------------------------------------------------------------- registry


class TerminationForgetsKinds(Server):
    """History: once the owner was terminated, new mob members are registered as background ops."""

    terminated = False

    def call(self, name: str, args: dict[str, Any]) -> Any:
        if name == "terminate_owner":
            self.terminated = True
        if name == "register_operation" and self.terminated and args["kind"] == OperationKind.MOB_MEMBER_CHILD.value:
            args = {**args, "kind": OperationKind.BACKGROUND_TOOL_OP.value}
        return super().call(name, args)


BROKEN_BINDINGS: list[tuple[str, Callable[[], Any]]] = [
    ("comms_drain", DetachedNeverRespawns), ("comms_drain", SpawnedWhenAsked),
    ("comms_drain", RespawnableShownAsStopped), ("comms_drain", NotReadyWithoutState),
    ("runtime_control", RecycleForgetsAcceptance), ("runtime_control", RetireCountsNothingPending),
    ("runtime_control", PendingConsumptionShownAsApplied), ("runtime_control", InvalidStateSaysIdle),
    ("mob_adapter", FirstRegistrySticks), ("mob_adapter", ProvisionedReturnsTheNewId),
    ("mob_adapter", TransitionErrorWithoutAction),
]


@pytest.mark.parametrize("machine,binding", BROKEN_BINDINGS, ids=[b.__name__ for _, b in BROKEN_BINDINGS])
def test_the_bug_is_caught_with_default_settings(machine: str, binding: Callable[[], Any]) -> None:
    result = drive_default(machine, binding)
    assert result.failure is not None, f"{binding.__name__} escaped {result.sequences} sequences"
    assert result.failure.unshrunk is None
    assert_the_bug_is_the_cause(machine, result)


def assert_the_bug_is_the_cause(machine: str, result: DriveResult) -> None:
    """The counterexample passes on the unbroken server: the mismatch is the bug's, not the harness's."""
    failure = result.failure
    assert failure is not None
    plan = Plan.of(machine)
    fixed = InProcess(machine)
    ids = id_names(RANDOM_DEFAULTS.id_count)
    again = observed_run(fixed, plan.proto.oracle(), plan, ids, failure.config, failure.calls)
    assert again.at_call is None, again.events[-1]


def test_the_registry_history_bug_is_caught_with_default_settings() -> None:
    result = drive_default("ops_lifecycle", server=TerminationForgetsKinds())
    assert result.failure is not None
    wrong = result.failure.outcome.events[result.failure.outcome.mismatch or 0]
    assert wrong.call in ("operations", "snapshot")
    assert_the_bug_is_the_cause("ops_lifecycle", result)


@pytest.mark.parametrize("machine", ["comms_drain", "mob_adapter", "runtime_control", "ops_lifecycle"])
def test_the_unbroken_servers_conform_with_default_settings(machine: str) -> None:
    assert drive_default(machine).failure is None

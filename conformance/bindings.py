"""impl/'s comms drain, mob adapter and runtime control plane behind the action protocol.

Each binding translates only: a call becomes one method call on the implementation
and the answer is what it returned or raised; `observe` reads the implementation
back in the protocol's (the spec's) vocabulary. Used by `opsref serve --machine`,
by the driver in-process, by mutation runs and by the lock-step tests.
"""

from __future__ import annotations

from typing import Callable, Mapping, Protocol

from opsref.conformance.jsonline import Json, JsonObject
from opsref.impl import (
    AlreadyRegisteredError, OperationKind, OperationResult, OperationSpec, OpsLifecycleError, OpsLifecycleRegistry,
)
from opsref.impl.comms_drain import (
    CommsDrainController, CommsDrainError, DrainExitReason, MobOwned, SessionOwned,
)
from opsref.impl.mob_adapter import MobError, MobOpsAdapter
from opsref.impl.runtime_control import NotFoundError, RuntimeControlError, RuntimeControlPlane

#: an answer: {"ok": value} or {"error": {"kind": ..., fields}} (conformance.oracle.Result)
Result = JsonObject


class Binding(Protocol):
    def act(self, name: str, args: Mapping[str, Json]) -> Result: ...

    def observe(self, key: str) -> JsonObject: ...

    def observe_globals(self) -> JsonObject: ...


def error_result(err: Exception, fields: tuple[str, ...] = ("state",)) -> Result:
    """An implementation error: its kind, message, and the named fields it carries."""
    out: JsonObject = {"kind": str(getattr(err, "kind", "internal")), "message": str(err)}
    for name in fields:
        if hasattr(err, name):
            value = getattr(err, name)
            out[name] = getattr(value, "value", value)
    return {"error": out}


# --------------------------------------------------------------------------- comms drain


def _int(value: Json) -> int:
    """A validated count argument."""
    if not isinstance(value, int):
        raise TypeError(f"expected a count, got {value!r}")
    return value


def _json(value: object) -> Json:
    """What an implementation method returned, as the protocol answers it (a bool or an id)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    raise TypeError(f"no protocol answer for {value!r}")


def _runtime_name(n: int) -> str | None:
    return None if n == 0 else f"rt{n}"


def _mob_name(n: int) -> str | None:
    return None if n == 0 else f"mob{n}"


def _number(name: str) -> int:
    return int(name.lstrip("rtmob"))


class CommsDrainBinding:
    """Comms runtimes and mobs are numbered in the protocol (0: none given): `rt<n>`, `mob<n>` here."""

    #: the bool a call returns, by the name the protocol answers it under
    RETURNS = {"register_session": "registered", "destroy_runtime": "destroyed", "unregister_session": "removed",
               "set_peer_ingress_context": "spawned", "stop_drain": "stopped", "wait": "returned"}

    def __init__(self, controller: CommsDrainController | None = None) -> None:
        self.impl = controller or CommsDrainController()

    def act(self, name: str, args: Mapping[str, Json]) -> Result:
        sid = str(args.get("id", ""))
        c = self.impl
        calls: dict[str, Callable[[], object]] = {
            "register_session": lambda: c.register_session(sid),
            "destroy_runtime": lambda: c.destroy_runtime(sid),
            "unregister_session": lambda: c.unregister_session(sid),
            "set_peer_ingress_context": lambda: c.set_peer_ingress_context(
                sid, bool(args["keep_alive"]), _runtime_name(_int(args["comms_runtime"])), _mob_name(_int(args["mob"]))),
            "stop_drain": lambda: c.stop_drain(sid),
            "notify_drain_exited": lambda: c.notify_drain_exited(sid, DrainExitReason(args["reason"])),
            "drain_task_panicked": lambda: c.drain_task_panicked(sid),
            "abort": lambda: c.abort(sid),
            "abort_all": c.abort_all,
            "wait": lambda: c.wait(sid),
        }
        try:
            returned = calls[name]()
        except CommsDrainError as err:
            return error_result(err)
        answer = self.RETURNS.get(name)
        return {"ok": None if answer is None else {answer: _json(returned)}}

    def observe(self, key: str) -> JsonObject:
        snap = self.impl.snapshot(key)
        if snap is None:
            return {"session": "torn_down" if self.impl.ever_registered(key) else "absent", "runtime": "initializing",
                    "phase": "inactive", "mode": "none", "task": "none", "owner": "unattached", "owner_runtime": 0,
                    "owner_mob": 0}
        owner = snap.owner
        return {
            "session": "registered", "runtime": snap.runtime.value, "phase": snap.phase.value,
            "mode": snap.mode.value, "task": snap.task.value,
            "owner": "mob_owned" if isinstance(owner, MobOwned) else
                     "session_owned" if isinstance(owner, SessionOwned) else "unattached",
            "owner_runtime": _number(owner.comms_runtime) if isinstance(owner, (SessionOwned, MobOwned)) else 0,
            "owner_mob": _number(owner.mob_id) if isinstance(owner, MobOwned) else 0,
        }

    def observe_globals(self) -> JsonObject:
        return {}


# --------------------------------------------------------------------------- mob adapter


class MobAdapterBinding:
    """Registries are numbered (0: the adapter's fallback; any other number: a registry made
    on first use); the operation id a call may register is the call's `op`."""

    def __init__(self, adapter_class: type[MobOpsAdapter] = MobOpsAdapter) -> None:
        self.next_op = ""
        self.adapter = adapter_class(new_operation_id=self.new_operation_id)
        self.registries: dict[int, OpsLifecycleRegistry] = {0: self.adapter.registry()}

    def new_operation_id(self) -> str:
        """The call's `op`. Real ids are unique across registries (uuids): an id some
        registry tracks is one a real generator never produces, so the call fails as
        a duplicate registration would (MobError)."""
        if any(r.snapshot(self.next_op) is not None for r in self.registries.values()):
            raise MobError(f"operation id {self.next_op} is already in use")
        return self.next_op

    def holder(self, op: str) -> tuple[int, OpsLifecycleRegistry]:
        """The registry tracking `op` (the fallback when none does)."""
        for index, registry in self.registries.items():
            if registry.snapshot(op) is not None:
                return index, registry
        return 0, self.registries[0]

    def act(self, name: str, args: Mapping[str, Json]) -> Result:
        session, op = str(args.get("session", "")), str(args.get("op", ""))
        self.next_op = op
        a = self.adapter
        calls: dict[str, Callable[[], object]] = {
            "bind_session_registry": lambda: a.bind_session_registry(session, "owner", self.registry(args)),
            "active_operation_id_for_session": lambda: a.active_operation_id_for_session(session) or "",
            "mark_member_provisioned": lambda: a.mark_member_provisioned(session, "mob/member"),
            "report_member_progress": lambda: a.report_member_progress(session, "turn dispatched"),
            "mark_member_peer_ready": lambda: a.mark_member_peer_ready(session, "mob/member"),
            "mark_member_retired": lambda: a.mark_member_retired(session),
            "abort_member_provision": lambda: a.abort_member_provision(session, op, "mob is stopping"),
            "register_member_operation": lambda: self.register_member_operation(session, op),
            "request_retire": lambda: self.holder(op)[1].request_retire(op),
            "complete_operation": lambda: self.holder(op)[1].complete_operation(op, OperationResult(op, "done")),
        }
        try:
            returned = calls[name]()
        except (MobError, OpsLifecycleError) as err:
            return error_result(err, ("id", "status", "action"))
        # the operation id the seed returns; none ("") when no live operation is resolved
        answers_operation = name in ("mark_member_provisioned", "active_operation_id_for_session")
        return {"ok": {"operation": _json(returned)} if answers_operation else None}

    def register_member_operation(self, session: str, op: str) -> None:
        """The runtime registers the member's operation itself, in the registry the session's
        calls go to (as seed 002's abort test does); only while the session has none live."""
        if any(r.snapshot(op) is not None for r in self.registries.values()):
            raise AlreadyRegisteredError(op)
        registry = self.adapter.session_registry(session)
        if any(s.kind is OperationKind.MOB_MEMBER_CHILD and s.child_session_id == session and not s.status.is_terminal()
               for s in registry.list_operations()):
            raise MobError(f"session {session} already has a live operation")
        registry.register_operation(OperationSpec(
            id=op, kind=OperationKind.MOB_MEMBER_CHILD, owner_session_id="owner", display_name="mob/member",
            source_label="mob_member", child_session_id=session, expect_peer_channel=True))

    def registry(self, args: Mapping[str, Json]) -> OpsLifecycleRegistry:
        index = _int(args["registry"])
        if index not in self.registries:
            self.registries[index] = OpsLifecycleRegistry()
        return self.registries[index]

    def observe(self, key: str) -> JsonObject:
        index, registry = self.holder(key)
        snap = registry.snapshot(key)
        ops: JsonObject = {"status": "absent", "child": "", "reg": 0, "peer_ready": False, "progress": 0}
        if snap is not None:
            ops = {"status": snap.status.value, "child": snap.child_session_id or "", "reg": index,
                   "peer_ready": snap.peer_ready, "progress": snap.progress_count}
        bound = key in self.adapter.bound_sessions()
        used = self.adapter.session_registry(key)
        binding = next(n for n, r in self.registries.items() if r is used) if bound else 0
        return {**ops, "bound": bound, "binding": binding}

    def observe_globals(self) -> JsonObject:
        return {}


# --------------------------------------------------------------------------- runtime control

#: the counts each report carries (protocol field report_<name> = report key inputs_<name>)
REPORT_COUNTS = {
    "retire": ("abandoned", "pending_drain"), "reset": ("abandoned",), "recycle": ("transferred",),
    "recover": ("recovered", "abandoned", "requeued"), "destroy": ("abandoned",),
}


class RuntimeControlBinding:
    """One runtime, "rt", of a control plane. `report` names the last report returned and
    each `report_<count>` holds that count as the last report carrying it gave it."""

    RID = "rt"

    def __init__(self, plane_class: type[RuntimeControlPlane] = RuntimeControlPlane) -> None:
        self.plane = plane_class()
        self.report: JsonObject = {"report": "none", **{f"report_{n}": 0 for names in REPORT_COUNTS.values()
                                                               for n in names}}

    def act(self, name: str, args: Mapping[str, Json]) -> Result:
        call_args = [self.RID] + ([str(args["input"])] if "input" in args else [])
        method = "reset" if name == "reset_runtime" else name  # `reset` is a protocol call of its own
        try:
            returned = getattr(self.plane, method)(*call_args)
        except RuntimeControlError as err:
            return error_result(err)
        if method in REPORT_COUNTS:
            counts = returned.to_dict()
            self.report["report"] = method
            self.report.update({f"report_{n}": counts[f"inputs_{n}"] for n in REPORT_COUNTS[method]})
            return {"ok": {f"inputs_{n}": counts[f"inputs_{n}"] for n in REPORT_COUNTS[method]}}
        return {"ok": None}

    def observe(self, key: str) -> JsonObject:
        try:
            state = self.plane.input_state(self.RID, key)
        except NotFoundError:
            state = None
        return {"input": "none" if state is None else state.value}

    def observe_globals(self) -> JsonObject:
        try:
            runtime = self.plane.runtime_state(self.RID).value
        except NotFoundError:
            runtime = "absent"
        return {"runtime": runtime, **self.report}


BINDINGS: dict[str, Callable[[], Binding]] = {
    "comms_drain": CommsDrainBinding,
    "mob_adapter": MobAdapterBinding,
    "runtime_control": RuntimeControlBinding,
}

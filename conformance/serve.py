"""`opsref serve`: the protocol spoken by `impl/`, so the driver can check it.

This adapter only translates: a request becomes one call of the registry API and
the answer is what the registry returned or raised. It reads nothing from spec/
but the protocol's vocabulary (for the other machines, conformance/bindings.py
does the same over their implementations).
`terminate_owner` returns nothing in the seed's trait, so the ops it terminated
are read off the completion feed it published, in order.
"""

from __future__ import annotations

import json
import os
from collections import deque
from typing import BinaryIO, Callable, Sequence

from opsref.conformance.bindings import BINDINGS, error_result
from opsref.conformance.calls import BadInput, RegistryConfig, call_spec, count_arg, ids_arg, text_arg
from opsref.conformance.jsonline import MAX_LINE_BYTES, BadJson, Json, JsonObject, LineReader, LineTooLong, decode, json_type
from opsref.conformance.oracle import Result
from opsref.conformance.protocol import protocol
from opsref.impl import (
    OperationKind, OperationPeerHandle, OperationProgressUpdate, OperationResult,
    OperationSpec, OpsLifecycleConfig, OpsLifecycleError, OpsLifecycleRegistry, WaitAllHandle,
)
from opsref.impl.values import OperationLifecycleSnapshot

PER_ID: dict[str, Callable[[OpsLifecycleRegistry, str], object]] = {
    "provisioning_succeeded": lambda r, i: r.provisioning_succeeded(i),
    "provisioning_failed": lambda r, i: r.provisioning_failed(i, "could not start"),
    "fail_operation": lambda r, i: r.fail_operation(i, "failed"),
    "abort_provisioning": lambda r, i: r.abort_provisioning(i, "abandoned"),
    "cancel_operation": lambda r, i: r.cancel_operation(i, None),
    "request_retire": lambda r, i: r.request_retire(i),
    "mark_retired": lambda r, i: r.mark_retired(i),
    "complete_operation": lambda r, i: r.complete_operation(i, OperationResult(i, "done", False, 1, 0)),
    "report_progress": lambda r, i: r.report_progress(i, OperationProgressUpdate("step", None)),
    "peer_ready": lambda r, i: r.peer_ready(i, OperationPeerHandle(f"peer-{i}", "inproc://peer")),
}


def snapshot_json(s: OperationLifecycleSnapshot) -> JsonObject:
    return {"status": s.status.value, "kind": s.kind.value, "peer_ready": s.peer_ready,
            "progress": s.progress_count, "watchers": s.watcher_count,
            "outcome": s.terminal_outcome.status.value if s.terminal_outcome else None}


def error_json(err: OpsLifecycleError) -> JsonObject:
    """The registry error as the protocol answers it (one extraction for every machine)."""
    error = error_result(err, ("id", "action", "limit", "active", "status"))["error"]
    assert isinstance(error, dict)
    return error


def unsupported(message: str) -> Result:
    return {"error": {"kind": "unsupported", "message": message}}


def parse_request(line: bytes | str) -> JsonObject:
    """The request object (`call` and `args`), or an `unsupported` error result for a line
    that is not one: read as strictly as a trace line (conformance/jsonline.py)."""
    try:
        request = decode(line)
    except BadJson as err:
        return unsupported(str(err))
    if not isinstance(request, dict):
        return unsupported(f"a request is a JSON object, got {json_type(request)}")
    for name in ("call", "args"):
        if name not in request:
            return unsupported(f"field {name}: missing (a request is {{\"call\": name, \"args\": {{...}}}})")
    for name in request:
        if name not in ("call", "args"):
            return unsupported(f"field {name}: unknown request field (known: call, args)")
    return request


def internal(err: Exception) -> Result:
    """An exception the implementation's API does not declare (it cannot hold such a
    configuration, say): answered as the seed's `Internal`, which the driver reports."""
    return {"error": {"kind": "internal", "message": f"{type(err).__name__}: {err}"}}


class Server:
    """One registry and the last wait handle, answering protocol requests."""

    def __init__(self, registry_class: type[OpsLifecycleRegistry] = OpsLifecycleRegistry) -> None:
        self.registry_class = registry_class
        self.registry = registry_class()
        self.handle: WaitAllHandle | None = None

    def answer(self, line: bytes | str) -> Result:
        request = parse_request(line)
        if "error" in request:
            return request
        try:
            if request["call"] == "reset":
                config = RegistryConfig.from_json(request["args"], "args")
            else:
                spec = call_spec(request["call"])
                args = spec.validate(request["args"])
        except BadInput as err:
            return unsupported(str(err))
        try:
            if request["call"] == "reset":
                self.registry = self.registry_class(OpsLifecycleConfig(config.max_completed, config.max_concurrent))
                self.handle = None
                return {"ok": None}
            return {"ok": self.call(spec.name, args)}
        except OpsLifecycleError as err:
            return {"error": error_json(err)}
        except (ArithmeticError, ValueError, MemoryError) as err:
            return internal(err)

    def call(self, name: str, args: JsonObject) -> Json:
        r = self.registry
        if name == "register_operation":
            id, kind = text_arg(args, "id"), OperationKind(text_arg(args, "kind"))
            r.register_operation(OperationSpec(
                id, kind, "owner", f"op {id}", "conformance",
                child_session_id=f"child-{id}" if kind is OperationKind.MOB_MEMBER_CHILD else None,
                expect_peer_channel=kind.expects_peer_channel()))
            return None
        if name in PER_ID:
            PER_ID[name](r, text_arg(args, "id"))
            return None
        if name == "register_watcher":
            return {"resolved": r.register_watcher(text_arg(args, "id")).done()}
        if name == "terminate_owner":
            before = r.completion_feed().watermark()
            r.terminate_owner("owner gone")
            return {"terminated": [e.operation_id for e in r.completion_feed().list_since(before).entries]}
        if name == "collect_completed":
            return [{"id": i, "outcome": o.status.value} for i, o in r.collect_completed()]
        if name == "wait_begin":
            self.handle = r.begin_wait_all("conformance", ids_arg(args, "ids"))
            return {"done": self.handle.done()}
        if name == "wait_poll":
            h = self.handle
            state = "none" if h is None else "cancelled" if h.cancelled() else "done" if h.done() else "waiting"
            return {"state": state}
        if name == "wait_cancel":
            if self.handle is not None and not self.handle.done():
                self.handle.cancel()
            return None
        if name == "snapshot":
            snap = r.snapshot(text_arg(args, "id"))
            return None if snap is None else snapshot_json(snap)
        if name == "operations":
            ops: JsonObject = {s.id: snapshot_json(s) for s in r.list_operations()}
            return {"active_count": r.active_count, "operations": dict(sorted(ops.items()))}
        if name == "active_count":
            return r.active_count
        if name == "feed":
            batch = r.completion_feed().list_since(count_arg(args, "after"))
            return {"watermark": batch.watermark, "entries": [
                {"seq": e.seq, "id": e.operation_id, "outcome": e.terminal_outcome.status.value}
                for e in batch.entries]}
        if name == "persist_and_recover":
            snapshot = json.loads(json.dumps(r.capture_persistence_snapshot()))
            self.registry = self.registry_class.from_recovered(snapshot)
            self.handle = None
            return None
        raise KeyError(name)


class ActionServer:
    """A machine of the action protocol (conformance/actions.py) served by its binding."""

    def __init__(self, machine: str) -> None:
        self.protocol = protocol(machine)
        self.make = BINDINGS[machine]
        self.binding = self.make()

    def answer(self, line: bytes | str) -> Result:
        request = parse_request(line)
        if "error" in request:
            return request
        try:
            if request["call"] == "reset":
                self.protocol.parse_config(request["args"], "args")
                self.binding = self.make()
                return {"ok": None}
            spec = self.protocol.call_spec(request["call"])
            args = spec.validate(request["args"])
        except BadInput as err:
            return unsupported(str(err))
        try:
            if spec.name == "observe":
                return {"ok": self.binding.observe(str(args["id"]))}  # validated: an id
            if spec.name == "observe_globals":
                return {"ok": self.binding.observe_globals()}
            return self.binding.act(spec.name, args)
        except (ArithmeticError, ValueError, MemoryError) as err:
            return internal(err)


def server_for(machine: str) -> "Server | ActionServer":
    return Server() if machine == "ops_lifecycle" else ActionServer(machine)


class InProcess:
    """The server as an endpoint the driver can call directly (no process, no pipes):
    used where many short runs against impl/ are needed, e.g. spec mutation runs."""

    def __init__(self, machine: str = "ops_lifecycle", server: "Server | ActionServer | None" = None) -> None:
        self.server = server or server_for(machine)
        self.requests = 0
        self._queued: deque[str] = deque()

    def request(self, call: str, args: JsonObject) -> Result:
        self.send([(call, args)])
        return self.receive()

    def send(self, requests: Sequence[tuple[str, JsonObject]]) -> None:
        self._queued.extend(json.dumps({"call": call, "args": args}) for call, args in requests)

    def receive(self) -> Result:
        """Each request is answered when its answer is read: one not read is never made."""
        self.requests += 1
        return self.server.answer(self._queued.popleft())

    def settle(self) -> None:
        self._queued.clear()

    def verify_quiet(self) -> None:
        """An in-process server answers each request once, by construction."""


def serve(stdin: BinaryIO, stdout: BinaryIO, machine: str = "ops_lifecycle", limit: int = MAX_LINE_BYTES) -> None:
    """Answer every line of `stdin` with one line on `stdout` until the end of input. Bytes,
    not text: a request that is not UTF-8 is answered like any other bad request, whatever
    the locale. A line longer than `limit` is answered and skipped."""
    server = server_for(machine)
    fd = stdin.fileno()
    lines = LineReader(lambda: os.read(fd, 65536), limit)
    while True:
        try:
            line = lines.readline()
        except LineTooLong as err:
            answer = unsupported(f"the request is {err} (the longest line opsref reads)")
        else:
            if not line:
                return
            answer = server.answer(line)
        stdout.write(json.dumps(answer).encode() + b"\n")
        if not lines.has_line():  # a driver may send requests ahead: answer them in one write
            stdout.flush()

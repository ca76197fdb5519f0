"""Trace files (`opsref.trace/1`): reading with file/line/field errors, writing.

A trace is a header line (format, machine, config) and one event per line: the
call, its arguments, the observed result and optionally the observed snapshot.
See conformance/PROTOCOL.md; the JSON Schema is conformance/trace.schema.json.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

from opsref.conformance.calls import FORMAT, BadInput, InputError, ProtocolConfig, validate_result
from opsref.conformance.jsonline import MAX_LINE_BYTES, BadJson, JsonObject, LineReader, LineTooLong, decode, describe, json_type
from opsref.conformance.protocol import MachineProtocol, protocol
from opsref.spec.registry import MACHINES


class TraceError(InputError):
    """Bad input in a trace file; the message names the file, line and field."""

    def __init__(self, path: str, line: int, error: BadInput | str) -> None:
        message = error if isinstance(error, str) else str(error)
        super().__init__(f"{path}:{line}: {message}")


@dataclass(slots=True)
class Event:
    line: int
    call: str
    args: JsonObject
    result: JsonObject
    snapshot: JsonObject | None = None
    observation: bool = False  # a read the driver added to look at the state (not written to traces)

    def to_json(self) -> JsonObject:
        out: JsonObject = {"call": self.call, "args": self.args, "result": self.result}
        if self.snapshot is not None:
            out["snapshot"] = self.snapshot
        return out


@dataclass(frozen=True)
class Header:
    machine: str
    config: ProtocolConfig  # RegistryConfig for the registry, actions.NoConfig for the others

    def to_json(self) -> JsonObject:
        return {"format": FORMAT, "machine": self.machine, "config": self.config.to_json()}


_EVENT_KEYS = frozenset({"call", "args", "result", "snapshot"})


def _object(text: bytes | str, path: str, number: int) -> JsonObject:
    try:
        value = decode(text)
    except BadJson as err:
        raise TraceError(path, number, str(err)) from None
    if not isinstance(value, dict):
        raise TraceError(path, number, f"expected a JSON object, got {json_type(value)}")
    return value


def parse_header(text: bytes | str, path: str) -> Header:
    data = _object(text, path, 1)
    try:
        if data.get("format") != FORMAT:
            got = describe(data["format"]) if "format" in data else "nothing"
            raise BadInput("format", f"expected {FORMAT!r}, got {got} (is this an opsref trace?)")
        for name in data:
            if name not in ("format", "machine", "config"):
                raise BadInput(name, "unknown header field (known: format, machine, config)")
        known = f"(known: {', '.join(MACHINES)})"
        if "machine" not in data:
            raise BadInput("machine", f"missing {known}")
        machine = data["machine"]
        if not isinstance(machine, str):
            raise BadInput("machine", f"expected a machine name, got {describe(machine)} {known}")
        if machine not in MACHINES:
            raise BadInput("machine", f"unknown machine {machine!r} {known}")
        if "config" not in data:
            raise BadInput("config", "missing")
        return Header(machine, protocol(machine).parse_config(data["config"], "config"))
    except BadInput as err:
        raise TraceError(path, 1, err) from None


def parse_event(text: bytes | str, path: str, number: int, proto: MachineProtocol | None = None) -> Event:
    data = _object(text, path, number)
    try:
        if "format" in data:
            raise BadInput("format", "a second header line (a trace has one header, on line 1)")
        if not data.keys() <= _EVENT_KEYS:
            extra = sorted(data.keys() - _EVENT_KEYS)[0]
            raise BadInput(extra, "unknown event field (known: call, args, result, snapshot)")
        if "call" not in data:
            raise BadInput("call", "missing")
        call = data["call"]
        proto = proto or protocol("ops_lifecycle")
        spec = (proto.calls.get(call) if isinstance(call, str) else None) or proto.call_spec(call)
        if "args" not in data:
            raise BadInput("args", "missing (every event records its arguments: {} when there are none)")
        args = spec.validate(data["args"])
        if "result" not in data:
            raise BadInput("result", "missing (every event records what the implementation answered)")
        result = validate_result(data["result"])
        snapshot = data.get("snapshot")
        if snapshot is not None and not isinstance(snapshot, dict):
            raise BadInput("snapshot", f"expected an object, got {describe(snapshot)}")
        return Event(number, spec.name, args, dict(result), snapshot)
    except BadInput as err:
        raise TraceError(path, number, err) from None


def read(stream: BinaryIO, path: str, limit: int = MAX_LINE_BYTES) -> tuple[Header, Iterator[Event]]:
    """The header, and the events one by one (so a million-line trace streams), each line read
    with the cap `limit` (so /dev/zero or a 300 MB line is refused, not held in memory)."""

    def chunk() -> bytes:
        try:
            return stream.read(65536)
        except OSError as err:
            raise InputError(f"cannot read {path}: {err.strerror or err}") from None

    lines = LineReader(chunk, limit)
    number = 0

    def line() -> bytes:
        nonlocal number
        number += 1
        try:
            return lines.readline()
        except LineTooLong as err:
            raise TraceError(path, number, f"the line is {err} (the longest line opsref reads)") from None

    first = line()
    if not first:
        raise TraceError(path, 1, "empty file: a trace starts with a header line")
    if not first.strip():
        raise TraceError(path, 1, "empty header line")
    header = parse_header(first, path)
    proto = protocol(header.machine)

    def events() -> Iterator[Event]:
        while raw := line():
            if not raw.strip():
                raise TraceError(path, number, "blank line (every line is one JSON object)")
            if not raw.endswith(b"\n") and raw.lstrip().startswith(b"{") and not raw.rstrip().endswith(b"}"):
                raise TraceError(path, number, "truncated last line (no closing brace)")
            yield parse_event(raw, path, number, proto)

    return header, events()


def write(path: Path, header: Header, events: list[Event]) -> None:
    with path.open("w", encoding="utf-8") as out:
        out.write(json.dumps(header.to_json()) + "\n")
        for e in events:
            out.write(json.dumps(e.to_json()) + "\n")

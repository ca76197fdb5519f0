"""Lines of JSON from outside: read with a cap, decoded strictly, described in JSON's words.

Every line opsref takes from someone else (a trace file, an implementation's answer, a
request to `opsref serve`) goes through `LineReader` and `decode`, so that a hostile or
broken peer meets the same limits everywhere (issue 15): a line holds at most
`MAX_LINE_BYTES`, is UTF-8, is nested at most `MAX_DEPTH` deep, holds integers a signed
64-bit integer can hold (what a Rust or TypeScript implementation can answer) and finite
numbers, and names each key of an object once (the schema, conformance/trace.schema.json,
allows no duplicate; Python's `json` would keep the last silently). Values are then
named as JSON names them (`json_type`), never by their Python types.
"""

from __future__ import annotations

import json
import math
from typing import Callable, Union

#: the longest line read, newline excluded: a trace event with a snapshot of thousands of ops fits
MAX_LINE_BYTES = 16 * 1024 * 1024
#: nesting of arrays and objects: the protocol's deepest value (an event's snapshot) is 4 deep
MAX_DEPTH = 32
#: the largest integer magnitude: a signed 64-bit integer's
MAX_INTEGER = 2**63 - 1
_MAX_DIGITS = len(str(MAX_INTEGER))

#: a JSON value as `decode` answers it (and as the protocol's messages are built): read it
#: with isinstance, as its type is JSON's, not the program's
Json = Union[None, bool, int, float, str, list["Json"], dict[str, "Json"]]
#: a JSON object: a protocol message, an answer, a trace line
JsonObject = dict[str, Json]


class BadJson(Exception):
    """A line that is not strict JSON; the message says where and why, in one line."""


class LineTooLong(Exception):
    """A line longer than the reader's cap (its start has been read and dropped)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"longer than {limit:,} bytes")
        self.limit = limit


class LineReader:
    """Lines from a source of byte chunks, never holding more than `limit` bytes of one line.

    `chunk()` returns the next bytes (b"" at the end); it may block, wait with a deadline or
    raise (the implementation's stdout does: conformance/process.py). `readline` answers a
    line with its newline, the last one without it, b"" at the end, like a file's readline.
    After `LineTooLong` the rest of that line is skipped, so a server can answer and go on."""

    def __init__(self, chunk: Callable[[], bytes], limit: int = MAX_LINE_BYTES) -> None:
        self._chunk = chunk
        self.limit = limit
        self._buffer = bytearray()
        self._scanned = 0      # bytes of the buffer known to hold no newline
        self._skipping = False  # dropping the rest of a line that was too long
        self._ended = False

    def pending(self) -> bool:
        """Bytes already read beyond the lines answered."""
        return bool(self._buffer)

    def has_line(self) -> bool:
        """A whole line already read: `readline` answers it without reading more (while
        the rest of a line too long is skipped, its end does not count: False)."""
        return not self._skipping and b"\n" in self._buffer

    def readline(self) -> bytes:
        while True:
            end = self._buffer.find(b"\n", self._scanned)
            if end >= 0:
                if self._skipping:
                    del self._buffer[:end + 1]
                    self._scanned, self._skipping = 0, False
                    continue
                if end > self.limit:
                    del self._buffer[:end + 1]
                    self._scanned = 0
                    raise LineTooLong(self.limit)
                line = bytes(self._buffer[:end + 1])
                del self._buffer[:end + 1]
                self._scanned = 0
                return line
            if self._skipping:
                self._buffer.clear()
            elif len(self._buffer) > self.limit:
                self._buffer.clear()
                self._skipping = True
                self._scanned = 0
                raise LineTooLong(self.limit)
            self._scanned = len(self._buffer)
            if self._ended:
                line = bytes(self._buffer)
                self._buffer.clear()
                self._scanned, self._skipping = 0, False
                return line
            data = self._chunk()
            if data:
                self._buffer += data
            else:
                self._ended = True


def json_type(value: object) -> str:
    """The JSON name of a decoded value's type: null, boolean, number, string, array, object."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__  # not from JSON: a bug of ours, named as Python names it


def _integer(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > _MAX_DIGITS or abs(value := int(text)) > MAX_INTEGER:
        raise BadJson(f"integer of {digits} digits: larger than a signed 64-bit integer (at most {MAX_INTEGER})")
    return value


def _number(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise BadJson(f"number {text[:30]} out of range")
    return value


def _constant(name: str) -> Json:
    raise BadJson(f"{name} is not JSON")


def _object(pairs: list[tuple[str, Json]]) -> JsonObject:
    value = dict(pairs)
    if len(value) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise BadJson(f"field {key}: duplicate key (a JSON object names each key once)")
            seen.add(key)
    return value


def _depth_within(value: Json, limit: int) -> bool:
    stack: list[tuple[Json, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > limit:
            return False
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return True


#: one decoder, built once (json.loads with hooks would build one per line)
_STRICT = json.JSONDecoder(object_pairs_hook=_object, parse_int=_integer, parse_float=_number,
                           parse_constant=_constant)


def decode(line: bytes | str) -> Json:
    """The value of one line of strict JSON, or `BadJson` saying what is wrong with it."""
    if isinstance(line, bytes):
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as err:
            raise BadJson(f"not UTF-8 (byte {err.start + 1} of the line)") from None
    else:
        text = line
    try:
        value: Json = _STRICT.decode(text)
    except json.JSONDecodeError as err:
        end = len(text.rstrip())
        if err.pos >= end:
            raise BadJson(f"malformed JSON at column {end + 1}: the line ends early ({err.msg}); truncated?") from None
        raise BadJson(f"malformed JSON at column {err.colno}: {err.msg}") from None
    except RecursionError:
        raise BadJson(f"nested more than {MAX_DEPTH} levels deep") from None
    # fewer brackets than the limit (counted at C speed, strings included) cannot nest deeper
    if text.count("[") + text.count("{") > MAX_DEPTH and not _depth_within(value, MAX_DEPTH):
        raise BadJson(f"nested more than {MAX_DEPTH} levels deep")
    return value


def describe(value: object) -> str:
    """A value for a message: its JSON type and its start (`object {"x": 1}`, `null`)."""
    if value is None:
        return "null"
    text = json.dumps(value)
    return f"{json_type(value)} {text if len(text) <= 40 else text[:37] + '...'}"

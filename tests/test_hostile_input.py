"""Absurd input to `opsref check` and `opsref serve` (issue 15, items 6-9): one clear line and
exit 2 for a bad trace or flag, an error answer (and serving on) for a bad request; never an
internal error, a traceback or unbounded memory. The strict JSON reading they share is tested
here too (conformance/jsonline.py)."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from opsref.conformance.jsonline import MAX_DEPTH, MAX_LINE_BYTES, BadJson, LineReader, LineTooLong, decode, json_type
from opsref.spec.registry import MACHINES

OPSREF = str(Path(sys.executable).with_name("opsref"))

HEADER = json.dumps({"format": "opsref.trace/1", "machine": "ops_lifecycle", "config": {"max_completed": 1}})
ACTIVE = json.dumps({"call": "active_count", "args": {}, "result": {"ok": 0}})


def limit_memory() -> None:
    """The child may use 1 GiB of address space: a reader that keeps a whole line dies of it."""
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


def opsref(*args: str, cwd: Path | None = None, stdin: bytes | None = None,
           env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    run = subprocess.run([OPSREF, *args], capture_output=True, timeout=60, cwd=cwd, input=stdin,
                         preexec_fn=limit_memory, env=env)
    return subprocess.CompletedProcess(run.args, run.returncode, run.stdout.decode("utf-8", "replace"),
                                       run.stderr.decode("utf-8", "replace"))


def one_line(run: subprocess.CompletedProcess[str], code: int) -> str:
    assert run.returncode == code, run.stdout + run.stderr
    assert "Traceback" not in run.stderr and "internal error" not in run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    return lines[0]


# --------------------------------------------------------------------------- opsref check


def header_with(max_completed: str) -> bytes:
    return (f'{{"format": "opsref.trace/1", "machine": "ops_lifecycle", "config": {{"max_completed": '
            f'{max_completed}}}}}\n{ACTIVE}\n').encode()


@pytest.mark.parametrize("digits", [20, 4301])
def test_check_refuses_an_integer_too_large_for_the_protocol(tmp_path: Path, digits: int) -> None:
    (tmp_path / "big.jsonl").write_bytes(header_with("9" * digits))
    line = one_line(opsref("check", "big.jsonl", cwd=tmp_path), 2)
    assert line.startswith("opsref check: big.jsonl:1: ")
    assert f"integer of {digits} digits" in line


def test_check_of_an_unreadable_file_is_bad_input() -> None:
    line = one_line(opsref("check", "/proc/self/mem"), 2)
    assert line.startswith("opsref check: cannot read /proc/self/mem") and "Input/output error" in line


@pytest.mark.parametrize("value", ["99999999999999999999", "9" * 5000])
def test_check_refuses_an_absurd_context(value: str) -> None:
    run = opsref("check", "--context", value, "-", stdin=f"{HEADER}\n".encode())
    assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr
    *usage, line = run.stderr.strip().splitlines()  # argparse's usage (one or more lines), then the reason
    assert usage and usage[0].startswith("usage: opsref check")
    assert line.startswith("opsref check: error: argument --context: expected a whole number from 1 to 1,000,000")


def test_check_of_an_endless_line_stops_at_the_cap_with_bounded_memory() -> None:
    line = one_line(opsref("check", "/dev/zero"), 2)
    assert line == f"opsref check: /dev/zero:1: the line is longer than {MAX_LINE_BYTES:,} bytes (the longest line opsref reads)"


def test_check_names_the_line_that_is_too_long(tmp_path: Path) -> None:
    with (tmp_path / "long.jsonl").open("wb") as out:
        out.write(f"{HEADER}\n{ACTIVE}\n".encode())
        out.write(b'{"call": "active_count", "args": {}, "result": {"ok": "' + b"x" * MAX_LINE_BYTES + b'"}}\n')
    line = one_line(opsref("check", "long.jsonl", cwd=tmp_path), 2)
    assert line.startswith("opsref check: long.jsonl:3: the line is longer than")


BAD_EVENTS: list[Any] = [
    pytest.param('{"call": "active_count", "call": "active_count", "args": {}, "result": {"ok": 0}}',
                 "field call: duplicate key", id="duplicate-call"),
    pytest.param('{"call": "snapshot", "args": {"id": "a", "id": "b"}, "result": {"ok": null}}',
                 "field id: duplicate key", id="duplicate-argument"),
    pytest.param('{"call": "active_count", "result": {"ok": 0}}', "field args: missing", id="missing-args"),
    pytest.param(HEADER, "field format: a second header line", id="second-header"),
    pytest.param('{"call": "snapshot", "args": {"id": {"x": 1}}, "result": {"ok": null}}',
                 'field args.id: expected a non-empty string (an operation id), got object {"x": 1}', id="object"),
    pytest.param('{"call": null, "args": {}, "result": {"ok": 0}}', "field call: expected a call name, got null",
                 id="null-call"),
    pytest.param('{"call": "active_count", "args": {}, "result": {"ok": 0}, "snapshot": [1]}',
                 "field snapshot: expected an object, got array [1]", id="array-snapshot"),
    pytest.param("[" * 100_000 + "]" * 100_000, f"nested more than {MAX_DEPTH} levels deep", id="deep"),
    pytest.param('{"call": "active_count", "args": {}, "result": {"ok": NaN}}', "NaN is not JSON", id="nan"),
    pytest.param('"active_count"', "expected a JSON object, got string", id="string-line"),
]


@pytest.mark.parametrize("event, message", BAD_EVENTS)
def test_check_names_what_is_wrong_with_an_event_in_json_words(tmp_path: Path, event: str, message: str) -> None:
    (tmp_path / "t.jsonl").write_text(f"{HEADER}\n{event}\n")
    line = one_line(opsref("check", "t.jsonl", cwd=tmp_path), 2)
    assert line.startswith("opsref check: t.jsonl:2: ") and message in line
    for python_name in ("NoneType", "dict", " list ", " str ", " int "):
        assert python_name not in line


@pytest.mark.parametrize("header, message", [
    ('{"format": "opsref.trace/1", "config": {}}', "field machine: missing"),
    ('{"format": "opsref.trace/1", "machine": 7, "config": {}}', "field machine: expected a machine name, got number 7"),
    ('{"format": "opsref.trace/1", "format": "opsref.trace/1", "machine": "ops_lifecycle", "config": {}}',
     "field format: duplicate key"),
])
def test_check_names_what_is_wrong_with_a_header(tmp_path: Path, header: str, message: str) -> None:
    (tmp_path / "t.jsonl").write_text(f"{header}\n")
    line = one_line(opsref("check", "t.jsonl", cwd=tmp_path), 2)
    assert line.startswith("opsref check: t.jsonl:1: ") and message in line and "None" not in line


# --------------------------------------------------------------------------- opsref serve


def valid_request(machine: str) -> bytes:
    call = "active_count" if machine == "ops_lifecycle" else "observe"
    args = {} if machine == "ops_lifecycle" else {"id": "a"}
    return json.dumps({"call": call, "args": args}).encode()


ABSURD_REQUESTS = {
    "deep": b"[" * 1000 + b"]" * 1000,
    "very-deep": b'{"call": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "huge-integer": b'{"call": "reset", "args": {"max_completed": ' + b"9" * 5000 + b"}}",
    "20-digit-reset": b'{"call": "reset", "args": {"max_completed": 100000000000000000000}}',
    "float-reset": b'{"call": "reset", "args": {"max_completed": 1e20}}',
    "largest-reset": b'{"call": "reset", "args": {"max_completed": 9223372036854775807}}',
    "not-utf8": b'{"call": "observe", "args": {"id": "\xff\xfe"}}',
    "duplicate-call": b'{"call": "reset", "call": "reset", "args": {}}',
    "missing-args": b'{"call": "reset"}',
    "nan": b'{"call": "reset", "args": {"max_completed": NaN}}',
}


@pytest.mark.parametrize("machine", sorted(MACHINES))
def test_serve_answers_every_absurd_request_and_keeps_serving(machine: str) -> None:
    names = sorted(ABSURD_REQUESTS)
    lines = [ABSURD_REQUESTS[n] for n in names] + [valid_request(machine)]
    # a strict locale: text streams would raise on the byte that is not UTF-8
    env = {**os.environ, "LC_ALL": "C", "PYTHONCOERCECLOCALE": "0", "PYTHONUTF8": "0",
           "PYTHONIOENCODING": "ascii:strict"}
    run = opsref("serve", "--machine", machine, stdin=b"\n".join(lines) + b"\n", env=env)
    assert run.returncode == 0 and run.stderr == "", run.stderr
    answers = [json.loads(a) for a in run.stdout.splitlines()]
    assert len(answers) == len(lines), run.stdout
    for name, answer in zip(names, answers):
        if name == "largest-reset" and "ok" in answer:
            continue  # an implementation that can hold it
        assert answer["error"]["kind"] in ("unsupported", "internal"), (name, answer)
        assert answer["error"]["message"], (name, answer)
    assert "ok" in answers[-1], answers[-1]


def test_serve_names_the_fault_of_each_bad_request() -> None:
    lines = [ABSURD_REQUESTS[n] for n in ("very-deep", "huge-integer", "not-utf8", "duplicate-call", "missing-args")]
    run = opsref("serve", stdin=b"\n".join(lines) + b"\n")
    messages = [json.loads(a)["error"]["message"] for a in run.stdout.splitlines()]
    assert f"nested more than {MAX_DEPTH} levels deep" in messages[0]
    assert "integer of 5000 digits" in messages[1]
    assert "not UTF-8" in messages[2]
    assert "field call: duplicate key" in messages[3]
    assert "field args: missing" in messages[4]


def test_serve_answers_a_line_past_the_cap_and_reads_the_next() -> None:
    long = b'{"call": "snapshot", "args": {"id": "' + b"x" * MAX_LINE_BYTES + b'"}}'
    run = opsref("serve", stdin=long + b"\n" + valid_request("ops_lifecycle") + b"\n")
    answers = [json.loads(a) for a in run.stdout.splitlines()]
    assert len(answers) == 2 and "longer than" in answers[0]["error"]["message"]
    assert answers[1] == {"ok": 0}


def test_serve_ends_quietly_when_its_reader_goes_away() -> None:
    proc = subprocess.Popen([OPSREF, "serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdin is not None and proc.stderr is not None
    proc.stdout.close()
    try:
        proc.stdin.write((valid_request("ops_lifecycle") + b"\n") * 1000)
        proc.stdin.close()
    except BrokenPipeError:
        pass
    assert proc.wait(timeout=30) == 0
    assert proc.stderr.read() == b""


# --------------------------------------------------------------------------- the shared reader and decoder


def reader(data: bytes, limit: int, chunk: int = 3) -> LineReader:
    pieces = [data[i:i + chunk] for i in range(0, len(data), chunk)]
    return LineReader(lambda: pieces.pop(0) if pieces else b"", limit)


def test_the_line_reader_keeps_newlines_and_a_last_line_without_one() -> None:
    r = reader(b"ab\ncd\nef", 10)
    assert [r.readline(), r.readline(), r.readline(), r.readline()] == [b"ab\n", b"cd\n", b"ef", b""]


def test_the_line_reader_refuses_a_long_line_and_can_skip_it() -> None:
    r = reader(b"abc\n" + b"x" * 50 + b"\nok\n", 10)
    assert r.readline() == b"abc\n"
    with pytest.raises(LineTooLong):
        r.readline()
    assert r.readline() == b"ok\n"


def test_the_line_reader_holds_no_more_than_the_cap_of_an_endless_line() -> None:
    calls = 0

    def zeros() -> bytes:
        nonlocal calls
        calls += 1
        return b"\0" * 7

    with pytest.raises(LineTooLong):
        LineReader(zeros, 100).readline()
    assert calls <= 100 // 7 + 2


@pytest.mark.parametrize("text, message", [
    (b'{"a": 1, "a": 2}', "field a: duplicate key"),
    (b'{"a": ' + b"1" * 25 + b"}", "integer of 25 digits"),
    (b'{"a": 9223372036854775808}', "integer of 19 digits"),
    (b'{"a": 1e400}', "out of range"),
    (b'{"a": Infinity}', "Infinity is not JSON"),
    (b'{"a": "\xc3"}', "not UTF-8 (byte 8 of the line)"),
    (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), f"nested more than {MAX_DEPTH} levels deep"),
    (b'{"a": 1', "truncated"),
])
def test_decode_is_strict(text: bytes, message: str) -> None:
    with pytest.raises(BadJson, match=message.replace("(", r"\(").replace(")", r"\)")):
        decode(text)


def test_decode_accepts_the_protocol_and_its_limits() -> None:
    assert decode(b'{"a": [9223372036854775807, -9223372036854775807, 0.5, null, true, "\xc3\xa9"]}') == {
        "a": [2**63 - 1, -(2**63 - 1), 0.5, None, True, "é"]}
    assert decode("[" * MAX_DEPTH + "]" * MAX_DEPTH) is not None


def test_json_types_have_json_names() -> None:
    values: list[Any] = [None, True, 1, 1.5, "s", [], {}]
    assert [json_type(v) for v in values] == [
        "null", "boolean", "number", "number", "string", "array", "object"]

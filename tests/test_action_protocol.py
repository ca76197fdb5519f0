"""The action protocol of the comms drain, mob adapter and runtime control plane:
vectors, check, drive and serve work for every machine, and catch a wrong answer."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from opsref.conformance import check
from opsref.conformance.actions import calls_for
from opsref.conformance.drive import drive_exhaustive, drive_random
from opsref.conformance.protocol import protocol, schema
from opsref.conformance.serve import InProcess
from opsref.conformance.trace import read
from opsref.conformance.vectors import generate_actions
from opsref.spec.machine import Action
from opsref.spec.registry import MACHINES

ACTION_MACHINES = [name for name in MACHINES if name != "ops_lifecycle"]
OPSREF = str(Path(sys.executable).with_name("opsref"))


@pytest.mark.parametrize("machine", ACTION_MACHINES)
def test_every_vector_replays_and_follows_the_schema(machine: str, tmp_path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(schema())
    count, missing = generate_actions(machine, "reference", tmp_path)
    assert not missing and count >= len(MACHINES[machine]("reference").actions)
    files = sorted(tmp_path.glob("cells/*/*.jsonl")) + sorted(tmp_path.glob("decisions/*.jsonl"))
    assert len(files) == count
    for path in files:
        lines = path.read_text().splitlines()
        for number, line in enumerate(lines, 1):
            assert not list(validator.iter_errors(json.loads(line))), f"{path}:{number}"
        with path.open("rb") as stream:
            header, events = read(stream, str(path))
            assert check.check(header, events, "reference").divergence is None, path


@pytest.mark.parametrize("machine", ACTION_MACHINES)
def test_impl_conforms_through_the_protocol(machine: str) -> None:
    impl = InProcess(machine)
    assert drive_exhaustive(impl, "reference", 3, 2, name=machine).failure is None
    assert drive_random(impl, "reference", 40, 25, 3, 0, machine=machine).failure is None
    assert impl.requests > 1000


def _refusing_nothing(action: Action) -> Action:
    return replace(action, guards=())


@pytest.mark.parametrize("machine,action", [
    ("comms_drain", "abort"), ("mob_adapter", "complete_operation"), ("runtime_control", "stop")])
def test_a_spec_that_differs_from_impl_is_a_mismatch(machine: str, action: str) -> None:
    """Drop every guard of one action from the spec: the driver finds the call the implementation refuses."""
    spec = MACHINES[machine]("reference")
    broken = spec.with_action(_refusing_nothing(spec.action(action)))
    failure = drive_exhaustive(InProcess(machine), "reference", 6, 1, machine=broken).failure
    assert failure is not None
    wrong = failure.outcome.events[failure.outcome.mismatch or 0]
    assert wrong.call == action and "error" in wrong.result


def test_a_trace_with_a_wrong_answer_is_a_divergence(tmp_path: Path) -> None:
    trace = tmp_path / "t.jsonl"
    lines: list[dict[str, Any]] = [
        {"format": "opsref.trace/1", "machine": "runtime_control", "config": {}},
        {"call": "register_runtime", "args": {}, "result": {"ok": None}},
        {"call": "accept_input", "args": {"input": "i"}, "result": {"ok": None}},
    ]
    trace.write_text("".join(json.dumps(x) + "\n" for x in lines))
    run = subprocess.run([OPSREF, "check", str(trace)], capture_output=True, text=True)
    assert run.returncode == 1
    assert '"kind": "not_ready"' in run.stdout and "state" in run.stdout


def test_a_bad_argument_is_one_line_with_file_line_and_field(tmp_path: Path) -> None:
    trace = tmp_path / "t.jsonl"
    trace.write_text(json.dumps({"format": "opsref.trace/1", "machine": "comms_drain", "config": {}}) + "\n"
                     + json.dumps({"call": "notify_drain_exited", "args": {"id": "a", "reason": "bored"},
                                   "result": {"ok": None}}) + "\n")
    run = subprocess.run([OPSREF, "check", str(trace)], capture_output=True, text=True)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert f"{trace}:2: field args.reason: expected one of idle_timeout" in run.stderr


def test_serve_and_drive_talk_over_stdio() -> None:
    run = subprocess.run([OPSREF, "drive", "--machine", "comms_drain", "--runs", "20", "--",
                          OPSREF, "serve", "--machine", "comms_drain"], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "conforms to the reference profile" in run.stdout


def test_no_action_takes_a_protocol_call_name() -> None:
    spec = MACHINES["comms_drain"]("reference")
    clashing = spec.with_action(replace(spec.action("abort"), name="reset"))
    with pytest.raises(ValueError, match="protocol call"):
        calls_for(replace(clashing, actions=(*clashing.actions, replace(spec.action("abort"), name="reset"))))
    assert protocol("runtime_control").calls["reset_runtime"].args == ()

"""The conformance oracle as CI and other implementations use it: `opsref check`,
`drive`, `serve`, `vectors`, `simulate` and `schema`, through the command line (exit
status, one-line errors, no tracebacks) and through the Python API where that is
faster. The JavaScript example (examples/js-registry) is a second implementation
that shares no code with the oracle; its deliberate bug must be caught."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from opsref.conformance import check as checking
from opsref.conformance.calls import RegistryConfig
from opsref.conformance.protocol import schema
from opsref.conformance.drive import run as drive_calls
from opsref.conformance.oracle import Oracle, agrees
from opsref.conformance.process import Implementation
from opsref.conformance.simulate import simulate
from opsref.conformance.trace import Event, Header, read, write
from opsref.conformance.vectors import DECISIONS
from opsref.spec import model
from tests.spec_helpers import REFERENCE, without_guard

ROOT = Path(__file__).resolve().parents[1]
TRACES = Path(__file__).resolve().parent / "traces"
OPSREF = str(Path(sys.executable).with_name("opsref"))
JS_SERVER = str(ROOT / "examples" / "js-registry" / "server.js")
NODE = shutil.which("node")
JS_BUG = "complete-from-provisioning"
SERVE = [OPSREF, "serve"]

needs_node = pytest.mark.skipif(NODE is None, reason="Node.js is not installed")

HEADER = json.dumps({"format": "opsref.trace/1", "machine": "ops_lifecycle",
                     "config": {"max_completed": 1, "max_concurrent": None}})
REGISTER_A = json.dumps({"call": "register_operation", "args": {"id": "a", "kind": "background_tool_op"},
                         "result": {"ok": None}})
SNAPSHOT_A = json.dumps({"call": "snapshot", "args": {"id": "a"}, "result": {"ok": None}})


def opsref(*args: str, cwd: Path | None = None, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    # the timeout only keeps a broken build from hanging CI; nothing asserts on time
    return subprocess.run([OPSREF, *args], capture_output=True, text=True, timeout=300, cwd=cwd, input=stdin)


def js(*flags: str) -> list[str]:
    assert NODE is not None
    return [NODE, JS_SERVER, *flags]


def trace_events(path: Path) -> tuple[Header, list[Event]]:
    with path.open("rb") as stream:
        header, events = read(stream, str(path))
        return header, list(events)


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{stderr}"
    assert "Traceback" not in stderr
    return lines[0]


# --------------------------------------------------------------------------- opsref check


def test_check_passes_a_trace_whose_every_result_and_snapshot_is_the_specs() -> None:
    run = opsref("check", str(TRACES / "agrees.jsonl"))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "17 events, all agree with the spec (reference profile)" in run.stdout
    assert run.stderr == ""


def test_check_reads_a_trace_from_stdin() -> None:
    run = opsref("check", "-", stdin=(TRACES / "agrees.jsonl").read_text())
    assert run.returncode == 0, run.stderr
    assert "all agree" in run.stdout


def test_check_reports_a_wrong_result_with_its_line_context_and_deciding_guard() -> None:
    path = str(TRACES / "wrong_result.jsonl")
    run = opsref("check", path)
    assert run.returncode == 1, run.stdout + run.stderr
    out = run.stdout
    assert out.startswith(f"{path}:5: divergence from the spec (reference profile) at event 4: "
                          'complete_operation(id="b")')
    assert "preceding events:" in out
    assert 'line 2: register_operation(id="a", kind="background_tool_op") -> {"ok": null}' in out
    assert 'line 4: provisioning_succeeded(id="a") -> {"ok": null}' in out
    assert ('expected result: {"error": {"kind": "invalid_transition", "id": "b", "status": "provisioning", '
            '"action": "complete_operation"}}') in out
    assert 'observed result: {"ok": null}' in out
    assert "refused by guard from_status_valid" in out
    assert "line 5:" not in out and "snapshot(" not in out  # it stops at the first divergence


def test_check_reports_a_wrong_snapshot_after_an_agreeing_result(tmp_path: Path) -> None:
    lines = (TRACES / "agrees.jsonl").read_text().splitlines()
    event = json.loads(lines[11])
    assert event["call"] == "wait_poll" and event["snapshot"]["operations"]["a"]["progress"] == 1
    event["snapshot"]["operations"]["a"]["progress"] = 2
    lines[11] = json.dumps(event)
    path = tmp_path / "snap.jsonl"
    path.write_text("\n".join(lines) + "\n")
    run = opsref("check", "snap.jsonl", cwd=tmp_path)
    assert run.returncode == 1
    assert run.stdout.startswith("snap.jsonl:12: divergence")
    assert '"progress": 1' in run.stdout.split("expected snapshot:")[1].split("observed snapshot:")[0]
    assert '"progress": 2' in run.stdout.split("observed snapshot:")[1]


def event_line(call: Any, args: Any, **rest: Any) -> str:
    return json.dumps({"call": call, "args": args, **rest})


OK = {"ok": None}

BAD_TRACES: list[Any] = [
    # (file name, content, "file:line:" expected, further text expected in the message)
    pytest.param("malformed.jsonl", HEADER + '\n{"call": "snapshot", "args": {"id": "a"} "result": {"ok": null}}\n',
                 "malformed.jsonl:2:", "malformed JSON", id="malformed-json"),
    pytest.param("unknown.jsonl", f"{HEADER}\n{REGISTER_A}\n{event_line('frobnicate', {}, result=OK)}\n",
                 "unknown.jsonl:3:", "field call: unknown call 'frobnicate'", id="unknown-call"),
    pytest.param("argtype.jsonl", f"{HEADER}\n{event_line('snapshot', {'id': 3}, result=OK)}\n",
                 "argtype.jsonl:2:", "field args.id: expected a non-empty string", id="wrong-arg-type"),
    pytest.param("noresult.jsonl", f"{HEADER}\n{event_line('snapshot', {'id': 'a'})}\n",
                 "noresult.jsonl:2:", "field result: missing", id="missing-result"),
    pytest.param("format.jsonl", '{"format": "opsref.trace/9", "machine": "ops_lifecycle", "config": {}}\n',
                 "format.jsonl:1:", "field format: expected 'opsref.trace/1'", id="unknown-header-format"),
    pytest.param("truncated.jsonl", f'{HEADER}\n{REGISTER_A}\n{{"call": "snapshot", "args": {{"id": "a"}}, "resu',
                 "truncated.jsonl:3:", "truncated last line", id="truncated-last-line"),
    pytest.param("empty.jsonl", "", "empty.jsonl:1:", "empty file", id="empty-file"),
    pytest.param("listcall.jsonl", f"{HEADER}\n{event_line(['snapshot'], {'id': 'a'}, result=OK)}\n",
                 "listcall.jsonl:2:", "field call: expected a call name, got array", id="call-is-a-list"),
    pytest.param("blank.jsonl", f"{HEADER}\n{REGISTER_A}\n\n{SNAPSHOT_A}\n",
                 "blank.jsonl:3:", "blank line", id="blank-line"),
    pytest.param("extra.jsonl", f"{HEADER}\n{event_line('active_count', {}, result={'ok': 0}, note=1)}\n",
                 "extra.jsonl:2:", "field note: unknown event field", id="unknown-event-field"),
    pytest.param("badids.jsonl", f"{HEADER}\n{event_line('wait_begin', {'ids': ['a', 7]}, result=OK)}\n",
                 "badids.jsonl:2:", "field args.ids[1]", id="wrong-list-item-type"),
    pytest.param("machine.jsonl", '{"format": "opsref.trace/1", "machine": ["ops_lifecycle"], "config": {}}\n',
                 "machine.jsonl:1:", "field machine", id="machine-is-a-list"),
]


@pytest.mark.parametrize("name, content, where, message", BAD_TRACES)
def test_check_rejects_bad_input_in_one_line_naming_file_line_and_field(
        tmp_path: Path, name: str, content: str, where: str, message: str) -> None:
    (tmp_path / name).write_text(content, encoding="utf-8")
    run = opsref("check", name, cwd=tmp_path)
    assert run.returncode == 2, run.stdout + run.stderr
    line = one_line(run.stderr)
    assert line.startswith(f"opsref check: {where} ")
    assert message in line
    assert run.stdout == ""


def test_check_names_a_missing_file_in_one_line(tmp_path: Path) -> None:
    run = opsref("check", "nowhere.jsonl", cwd=tmp_path)
    assert run.returncode == 2
    assert one_line(run.stderr) == "opsref check: cannot read nowhere.jsonl: No such file or directory"


def test_check_rejects_a_trace_that_is_not_utf8_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "latin1.jsonl").write_bytes(HEADER.encode() + b"\n" + REGISTER_A.encode()[:-1] + b', "x": "\xe9"}\n')
    run = opsref("check", "latin1.jsonl", cwd=tmp_path)
    assert run.returncode == 2
    assert "latin1.jsonl:2:" in one_line(run.stderr)


def test_check_reports_the_column_where_a_line_breaks_off(tmp_path: Path) -> None:
    event = SNAPSHOT_A[:-1]  # the closing brace is missing, the newline is there
    (tmp_path / "open.jsonl").write_text(f"{HEADER}\n{event}\n")
    run = opsref("check", "open.jsonl", cwd=tmp_path)
    assert run.returncode == 2
    assert f"malformed JSON at column {len(event) + 1}" in one_line(run.stderr)


def test_check_tells_a_number_from_a_boolean() -> None:
    header = Header("ops_lifecycle", RegistryConfig(1, None))
    events = [Event(2, "register_operation", {"id": "a", "kind": "background_tool_op"}, {"ok": None}),
              Event(3, "register_watcher", {"id": "a"}, {"ok": {"resolved": 0}})]
    assert checking.check(header, events, "reference").divergence is not None


# --------------------------------------------------------------------------- the seed's barrier


def test_the_seed_barrier_trace_passes_under_seed_and_diverges_at_wait_poll_under_reference(tmp_path: Path) -> None:
    config, calls = DECISIONS["barrier_survives_eviction"]
    seed = Oracle("seed", config)
    events = [Event(n + 2, name, args, seed.call(name, args)) for n, (name, args) in enumerate(calls)]
    write(tmp_path / "barrier.jsonl", Header("ops_lifecycle", config), events)

    as_seed = opsref("check", "barrier.jsonl", "--profile", "seed", cwd=tmp_path)
    assert as_seed.returncode == 0, as_seed.stdout
    assert "all agree with the spec (seed profile)" in as_seed.stdout

    as_reference = opsref("check", "barrier.jsonl", "--profile", "reference", cwd=tmp_path)
    assert as_reference.returncode == 1, as_reference.stdout
    out = as_reference.stdout
    assert out.startswith(f"barrier.jsonl:{len(events) + 1}: divergence from the spec (reference profile)")
    assert out.splitlines()[0].endswith("wait_poll()")
    assert 'expected result: {"ok": {"state": "done"}}' in out
    assert 'observed result: {"ok": {"state": "waiting"}}' in out
    assert "waiter was last written by complete_operation" in out


# --------------------------------------------------------------------------- opsref drive


@needs_node
@pytest.mark.parametrize("mode", ["random", "exhaustive"])
def test_drive_catches_the_js_bug_with_a_short_counterexample_that_check_replays(tmp_path: Path, mode: str) -> None:
    run = opsref("drive", "--mode", mode, "--out", "cex.jsonl", "--", *js("--bug", JS_BUG), cwd=tmp_path)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "MISMATCH" in run.stdout and "Traceback" not in run.stderr
    _, events = trace_events(tmp_path / "cex.jsonl")
    assert 1 <= len(events) <= 4
    assert events[-1].call == "complete_operation"
    assert events[-1].result == {"ok": None}  # the JS server accepted what the spec refuses
    replay = opsref("check", "cex.jsonl", cwd=tmp_path)
    assert replay.returncode == 1
    assert "from_status_valid" in replay.stdout


@needs_node
@pytest.mark.parametrize("mode, flags", [("random", ["--runs", "25"]), ("exhaustive", ["--depth", "2"])])
def test_the_js_registry_without_its_bug_conforms(tmp_path: Path, mode: str, flags: list[str]) -> None:
    run = opsref("drive", "--mode", mode, *flags, "--", *js(), cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "conforms to the reference profile" in run.stdout
    assert not list(tmp_path.glob("build/opsref-counterexample*"))  # no counterexample (the tape is kept: tape_cache)


@pytest.mark.parametrize("mode, flags", [("random", ["--runs", "25"]), ("exhaustive", ["--depth", "2"])])
def test_the_python_registry_served_over_stdio_conforms(tmp_path: Path, mode: str, flags: list[str]) -> None:
    run = opsref("drive", "--mode", mode, *flags, "--", *SERVE, cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "conforms to the reference profile" in run.stdout


def test_driving_the_python_registry_against_the_seed_profile_finds_a_reference_decision(tmp_path: Path) -> None:
    run = opsref("drive", "--profile", "seed", "--out", "cex.jsonl", "--", *SERVE, cwd=tmp_path)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "MISMATCH" in run.stdout and "(seed profile)" in run.stdout
    # what the registry answered is the reference's answer: the same trace agrees with the reference
    assert opsref("check", "cex.jsonl", "--profile", "seed", cwd=tmp_path).returncode == 1
    assert opsref("check", "cex.jsonl", "--profile", "reference", cwd=tmp_path).returncode == 0


MISBEHAVING = {
    "exits": ("import sys\nsys.exit(3)\n", "the implementation exited (status 3)"),
    "garbage": ("import sys\nfor line in sys.stdin:\n    print('hello', flush=True)\n",
                "response 1 (reset) is not JSON: 'hello'"),
    "hangs": ("import sys, time\nsys.stdin.readline()\ntime.sleep(60)\n",
              "no response to request 1 (reset) within 0.5 s"),
    "not-a-result": ("import sys\nfor line in sys.stdin:\n    print('{\"answer\": 42}', flush=True)\n",
                     "response 1 (reset) is not a protocol result"),
}


@pytest.mark.parametrize("name", sorted(MISBEHAVING))
def test_a_misbehaving_implementation_is_one_clear_finding(tmp_path: Path, name: str) -> None:
    script, message = MISBEHAVING[name]
    (tmp_path / "impl.py").write_text(script)
    run = opsref("drive", "--timeout", "0.5", "--", sys.executable, "impl.py", cwd=tmp_path)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "Traceback" not in run.stderr and run.stdout == ""
    banner, *rest = run.stderr.strip().splitlines()
    assert banner.startswith("opsref drive: ops_lifecycle, random, depth 30, 3 ids, profile reference: ")
    assert len(rest) == 1 and rest[0].startswith("opsref drive: ") and message in rest[0], run.stderr


def test_a_crashing_implementation_shows_the_end_of_its_stderr(tmp_path: Path) -> None:
    (tmp_path / "impl.py").write_text("import sys\nsys.stderr.write('boom: registry exploded\\n')\nsys.exit(4)\n")
    run = opsref("drive", "--", sys.executable, "impl.py", cwd=tmp_path)
    assert run.returncode == 1
    assert "the implementation exited (status 4)" in run.stderr
    assert "its stderr ends with:\n    boom: registry exploded" in run.stderr
    assert "Traceback" not in run.stderr


def test_an_unsupported_answer_is_a_mismatch_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "impl.py").write_text(
        "import json, sys\n"
        "for line in sys.stdin:\n"
        "    call = json.loads(line)['call']\n"
        "    answer = {'ok': None} if call == 'reset' else {'error': {'kind': 'unsupported', 'message': 'no'}}\n"
        "    print(json.dumps(answer), flush=True)\n")
    run = opsref("drive", "--out", "cex.jsonl", "--", sys.executable, "impl.py", cwd=tmp_path)
    assert run.returncode == 1, run.stderr
    assert "MISMATCH" in run.stdout and '"kind": "unsupported"' in run.stdout
    _, events = trace_events(tmp_path / "cex.jsonl")
    assert len(events) == 1  # shrunk to the first call, whatever it was


@pytest.mark.parametrize("args, message", [
    (["--", "/nonexistent/registry-server"], "opsref drive: cannot start /nonexistent/registry-server"),
    (["--"], "opsref drive: give the implementation's command after --"),
    ([], "opsref drive: give the implementation's command after --"),
])
def test_drive_without_a_runnable_command_is_bad_usage(tmp_path: Path, args: list[str], message: str) -> None:
    run = opsref("drive", *args, cwd=tmp_path)
    assert run.returncode == 2, run.stdout + run.stderr
    assert "Traceback" not in run.stderr
    assert run.stderr.strip().splitlines()[-1].startswith(message)


@pytest.mark.parametrize("args, message", [
    (["--config", "{nope"], "opsref drive: --config #1 is not JSON"),
    (["--config", '{"max_completed": 1}', "--config", '{"max_completed": -1}'],
     "opsref drive: bad configuration: field --config #2.max_completed: expected an integer >= 0"),
    (["--calls", "register_operation,bogus"], "opsref drive: --calls: unknown call 'bogus' for machine ops_lifecycle"),
    (["--machine", "comms_drain", "--exclude", "feed"], "opsref drive: --exclude: unknown call 'feed' for machine comms_drain"),
    (["--calls", ","], "expected call names separated by commas"),
])
def test_a_bad_drive_plan_is_one_line_and_bad_usage(tmp_path: Path, args: list[str], message: str) -> None:
    run = opsref("drive", *args, "--", *SERVE, cwd=tmp_path)
    assert run.returncode == 2, run.stdout + run.stderr
    assert "Traceback" not in run.stderr and message in run.stderr


def test_drive_runs_under_the_configurations_and_calls_given(tmp_path: Path) -> None:
    run = opsref("drive", "--runs", "20", "--config", '{"max_completed": 1, "max_concurrent": 1}',
                 "--calls", "register_operation,complete_operation,provisioning_succeeded,operations", "--", *SERVE,
                 cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "conforms to the reference profile" in run.stdout and "cells reached" in run.stdout


@needs_node
def test_a_counterexample_names_its_configuration_and_length_without_observation_reads(tmp_path: Path) -> None:
    run = opsref("drive", "--config", '{"max_completed": 3, "max_concurrent": null}', "--", *js("--bug", JS_BUG),
                 cwd=tmp_path)
    assert run.returncode == 1, run.stdout + run.stderr
    out = tmp_path / "build" / "opsref-counterexample-ops_lifecycle.jsonl"
    header, events = trace_events(out)
    observed = [e for e in events if e.call == "operations"]
    line = next(x for x in run.stdout.splitlines() if "counterexample of" in x)
    assert f"counterexample of {len(events) - len(observed)} call" in line
    assert f"and {len(observed)} reads the driver made to observe" in line and observed
    assert 'under config {"max_completed": 3, "max_concurrent": null}' in line


# --------------------------------------------------------------------------- opsref vectors


@dataclass(frozen=True)
class Corpora:
    reference: Path
    again: Path       # the same command run a second time
    seed: Path
    stdout: dict[str, str]
    returncode: dict[str, int]


@pytest.fixture(scope="module")
def corpora(tmp_path_factory: pytest.TempPathFactory) -> Corpora:
    """Three `opsref vectors` runs, side by side (each is a breadth-first search of a few seconds)."""
    root = tmp_path_factory.mktemp("vectors")
    runs = {"reference": ("reference", root / "reference"), "again": ("reference", root / "again"),
            "seed": ("seed", root / "seed")}
    procs = {name: subprocess.Popen([OPSREF, "vectors", "--profile", profile, "--out", str(out)],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for name, (profile, out) in runs.items()}
    stdout, codes = {}, {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=300)
        stdout[name], codes[name] = out + err, proc.returncode
    return Corpora(runs["reference"][1], runs["again"][1], runs["seed"][1], stdout, codes)


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def vector_files(root: Path) -> list[Path]:
    return sorted(root.rglob("*.jsonl"))


def test_vectors_cover_every_cell_of_the_matrix(corpora: Corpora) -> None:
    for name in ("reference", "seed"):
        assert corpora.returncode[name] == 0, corpora.stdout[name]
        out = corpora.stdout[name]
        assert "MISSING" not in out and "uncovered" not in out
        assert "full coverage" in out
        assert out.startswith("coverage: rows are calls")
    # the row of the guard the JS bug drops: refused from provisioning, accepted from running and retiring
    assert "complete_operation     NF         IT         ok         ok         IT" in corpora.stdout["reference"]


def test_committed_seed_barrier_trace_is_the_generated_one(corpora: Corpora) -> None:
    """The example trace in examples/traces is the seed corpus' barrier vector as generated today."""
    generated = (corpora.seed / "decisions" / "barrier_survives_eviction.jsonl").read_text()
    committed = ROOT / "examples" / "traces" / "seed_barrier_stuck.jsonl"
    assert committed.read_text() == generated


def test_vectors_are_deterministic_byte_for_byte(corpora: Corpora) -> None:
    first, second = tree(corpora.reference), tree(corpora.again)
    assert len(first) > 100 and "manifest.json" in first
    assert first == second


def test_the_manifest_lists_every_vector_written(corpora: Corpora) -> None:
    for root in (corpora.reference, corpora.seed):
        manifest = json.loads((root / "manifest.json").read_text())
        listed = sorted(v["file"] for v in manifest["vectors"])
        assert listed == sorted(str(p.relative_to(root)) for p in vector_files(root))
        assert {f"decisions/{name}.jsonl" for name in DECISIONS} <= set(listed)


def test_every_vector_replays_and_agrees_under_its_own_profile(corpora: Corpora) -> None:
    for profile, root in (("reference", corpora.reference), ("seed", corpora.seed)):
        files = vector_files(root)
        assert len(files) > 100
        for path in files:
            header, events = trace_events(path)
            assert events and events[-1].snapshot is not None, path
            result = checking.check(header, events, profile)
            assert result.divergence is None, checking.render(str(path), profile, result)
            assert result.events == len(events)


def test_the_reference_decision_vectors_diverge_under_the_seed_profile(corpora: Corpora) -> None:
    for name in DECISIONS:
        header, events = trace_events(corpora.reference / "decisions" / f"{name}.jsonl")
        assert checking.check(header, events, "seed").divergence is not None, name


def test_vectors_replay_through_the_cli(corpora: Corpora) -> None:
    path = corpora.reference / "decisions" / "ids_never_reused.jsonl"
    assert opsref("check", str(path)).returncode == 0
    assert opsref("check", str(path), "--profile", "seed").returncode == 1


def test_every_line_of_every_vector_follows_the_json_schema(corpora: Corpora) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(schema())
    checked = 0
    for root in (corpora.reference, corpora.seed):
        for path in vector_files(root):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                errors = [e.message for e in validator.iter_errors(json.loads(line))]
                assert not errors, f"{path}:{number}: {errors}"
                checked += 1
    assert checked > 500
    # and the schema is not vacuous: a bad argument type is refused
    assert not validator.is_valid({"call": "snapshot", "args": {"id": 3}, "result": {"ok": None}})


def test_the_committed_schema_is_what_opsref_schema_prints() -> None:
    run = opsref("schema")
    assert run.returncode == 0
    committed = json.loads((ROOT / "conformance" / "trace.schema.json").read_text())
    assert json.loads(run.stdout) == committed == schema()


def test_vectors_refuse_to_replace_a_folder_that_is_not_a_corpus(tmp_path: Path) -> None:
    (tmp_path / "keep").mkdir()
    (tmp_path / "keep" / "notes.txt").write_text("mine")
    run = opsref("vectors", "--out", "keep", cwd=tmp_path)
    assert run.returncode == 2
    assert "refusing to replace it" in one_line(run.stderr)
    assert [p.name for p in (tmp_path / "keep").iterdir()] == ["notes.txt"]
    assert (tmp_path / "keep" / "notes.txt").read_text() == "mine"


def test_vectors_refuse_an_out_path_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("mine")
    run = opsref("vectors", "--out", "taken", cwd=tmp_path)
    assert run.returncode == 2
    assert "taken" in one_line(run.stderr)


# --------------------------------------------------------------------------- the corpus on both implementations


def replay_corpus(command: list[str], root: Path) -> int:
    """Run every vector's calls on the implementation; return how many vectors ran."""
    files = vector_files(root)
    with Implementation(command) as impl:
        oracle = Oracle("reference")
        for path in files:
            header, events = trace_events(path)
            outcome = drive_calls(impl, oracle, header.config, [(e.call, e.args) for e in events])
            assert outcome.mismatch is None, f"{path}: call {outcome.mismatch} differs from the spec"
            for want, got in zip(events, outcome.events, strict=True):
                assert agrees(want.result, got.result), f"{path}:{want.line}: {got.result} != {want.result}"
            final = events[-1].snapshot
            assert impl.request("operations", {}) == {"ok": final}, path
    return len(files)


def test_the_python_registry_passes_every_reference_vector(corpora: Corpora) -> None:
    assert replay_corpus(SERVE, corpora.reference) > 100


@needs_node
def test_the_js_registry_passes_every_reference_vector(corpora: Corpora) -> None:
    assert replay_corpus(js(), corpora.reference) > 100


@needs_node
def test_the_buggy_js_registry_fails_the_reference_vectors(corpora: Corpora) -> None:
    path = corpora.reference / "cells" / "complete_operation" / "provisioning__invalid_transition.jsonl"
    header, events = trace_events(path)
    with Implementation(js("--bug", JS_BUG)) as impl:
        outcome = drive_calls(impl, Oracle("reference"), header.config, [(e.call, e.args) for e in events])
    assert outcome.mismatch == len(events) - 1


# --------------------------------------------------------------------------- opsref simulate


def test_simulate_finds_no_violation_in_the_reference() -> None:
    run = opsref("simulate", "--runs", "5", "--steps", "300")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "ops_lifecycle/reference: 5 run(s), 1,500 accepted transitions" in run.stdout
    assert ": no violation" in run.stdout


def test_simulate_finds_a_violated_invariant_in_the_seed() -> None:
    run = opsref("simulate", "--profile", "seed", "--runs", "50", "--steps", "300")
    assert run.returncode == 1, run.stdout + run.stderr
    head = run.stdout.splitlines()[0]
    assert "VIOLATED" in head
    named = head.split("VIOLATED ")[1].split(" in run ")[0].split(", ")
    assert set(named) <= {"barrier_satisfaction", "retired_ids_stay_retired",
                          "provisioning_failure_only_while_provisioning"}
    assert named


def test_simulate_catches_a_spec_variant_that_completes_from_any_status() -> None:
    broken = without_guard(REFERENCE, "complete_operation", "from_status_valid")
    result = simulate(broken, runs=200, steps=300, seed=0)
    assert result.violation is not None
    walk, named = result.violation.walk, result.violation.invariants
    assert walk[-1][0] == "complete_operation"
    # the interpreter, replaying the walk, sees every step accepted and exactly those
    # invariants broken by the last one (completing from provisioning breaks the active
    # count, completing a finished op its terminal record)
    state = model.initial_state(broken, result.violation.config)
    for n, (action, params) in enumerate(walk):
        step = model.step(broken, state, action, params)
        assert isinstance(step, model.Accepted), (n, action, params)
        broken_here = [inv.name for inv in model.violated_invariants(broken, step.state, state, action, params)]
        assert broken_here == (named if n == len(walk) - 1 else []), (n, action, broken_here)
        state = step.state
    assert set(named) & {"terminal_irreversibility", "active_count_consistency"}
    assert simulate(REFERENCE, runs=20, steps=300, seed=0).violation is None



def test_simulate_reports_the_walk_with_the_ids_it_named_after_fresh_ones_replaced_old() -> None:
    """The walk is kept as candidate numbers and the pool's renamings; the reported one
    must be the calls made: replayed on the interpreter, every step is accepted and the
    last breaks what simulate says."""
    broken = without_guard(REFERENCE, "peer_ready", "kind_is_mob_member_child")
    result = simulate(broken, runs=50, steps=2000, seed=5)  # a walk of 121 steps, three ids minted on it
    assert result.violation is not None
    walk = result.violation.walk
    named = {p["id"] for _, p in walk if "id" in p}
    assert named - {"a", "b", "c", "d"}, "no fresh id was minted: the test would not test the renaming"
    state = model.initial_state(broken, result.violation.config)
    for action, params in walk:
        step = model.step(broken, state, action, params)
        assert isinstance(step, model.Accepted), (action, params)
        before, state = state, step.state
    assert [inv.name for inv in model.violated_invariants(broken, state, before, *walk[-1])] == \
        result.violation.invariants == ["peer_ready_only_for_mob_members"]


def test_simulate_checks_init_before_the_walk_relies_on_it() -> None:
    """The walker re-checks only what a step can change, which is sound only from a state
    where every invariant holds: a machine whose Init breaks one is caught before any step."""
    from dataclasses import replace

    from opsref.spec.terms import lit

    broken = replace(REFERENCE, init=(("active_count", lit(1)),))
    result = simulate(broken, runs=3, steps=50, seed=0)
    assert result.violation is not None and result.violation.walk == []
    assert result.violation.invariants == ["active_count_consistency"]

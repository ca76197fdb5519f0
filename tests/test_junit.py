"""`--junit FILE` on prove, check, drive and mutants: the file parses back (with
junitparser and with xml.etree), and its counts are the command's own (its JSON report
or its result object). Small configurations only: one machine, a few runs."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import NamedTuple

from junitparser import Failure, JUnitXml, Skipped

from opsref import junit
from opsref.conformance.check import CheckResult
from opsref.proofs.mutants import MutationReport, Verdict, report_json
from opsref.proofs.report import MachineReport, Obligation, Report

OPSREF = str(Path(sys.executable).with_name("opsref"))
TRACES = Path(__file__).with_name("traces")


def opsref(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([OPSREF, *args], capture_output=True, text=True, timeout=300)


class Counts(NamedTuple):
    tests: int
    failures: int
    errors: int
    skipped: int


def read_back(path: Path) -> tuple[JUnitXml, Counts]:
    """The document parsed by junitparser, and its counts, which must be the same whether
    read off junitparser's attributes or counted in the elements xml.etree sees."""
    doc = JUnitXml.fromfile(str(path))
    declared = Counts(doc.tests, doc.failures, doc.errors, doc.skipped)
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    cases = root.findall("./testsuite/testcase")
    counted = Counts(len(cases), sum(c.find("failure") is not None for c in cases),
                     sum(c.find("error") is not None for c in cases), sum(c.find("skipped") is not None for c in cases))
    assert declared == counted
    for suite in root.findall("testsuite"):
        assert int(suite.get("tests", -1)) == len(suite.findall("testcase"))
    return doc, counted


def failures(doc: JUnitXml) -> dict[str, Failure]:
    return {case.name: r for suite in doc for case in suite for r in case.result if isinstance(r, Failure)}


# --------------------------------------------------------------------------- prove


def test_prove_junit_has_a_testcase_per_obligation_and_matches_the_json(tmp_path: Path) -> None:
    out = tmp_path / "prove.xml"
    run = opsref("prove", "--machine", "comms_drain", "--json", "--quiet", "--junit", str(out))
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    doc, counts = read_back(out)
    summary = report["summary"]
    assert counts == Counts(summary["proved"], 0, 0, 0)
    [suite] = list(doc)
    assert "comms_drain" in (suite.name or "")
    assert [c.name for c in suite] == [o["id"] for o in report["machines"][0]["obligations"]]


def test_prove_junit_gives_each_violation_its_counterexample(tmp_path: Path) -> None:
    out = tmp_path / "prove-seed.xml"
    run = opsref("prove", "--profile", "seed", "--machine", "comms_drain", "--json", "--quiet", "--junit", str(out))
    assert run.returncode == 1, run.stderr
    report = json.loads(run.stdout)
    summary = report["summary"]
    doc, counts = read_back(out)
    assert counts == Counts(summary["proved"] + summary["violated"] + summary["unknown"],
                            summary["violated"] + summary["unknown"], 0, 0)
    violated = {o["id"] for o in report["machines"][0]["obligations"] if o["result"] == "violated"}
    found = failures(doc)
    assert set(found) == violated and violated
    bmc = found["torn_down_sessions_are_frozen/bmc/default"]
    assert bmc.type == "violated"
    assert "shortest trace (3 steps) from Init" in (bmc.text or "") and "final state:" in (bmc.text or "")
    inductive = found["torn_down_sessions_are_frozen/register_session"]
    assert "pre-state:" in (inductive.text or "") and "post-state:" in (inductive.text or "")


def test_an_unknown_obligation_is_a_failure() -> None:
    unknown = Obligation("inv/act", "inv", "inductive", "act", "unknown", 60.0, "unbounded", None,
                         "z3 answered unknown (timeout)")
    proved = Obligation("inv/init", "inv", "initiation", None, "proved", 0.1, "unbounded")
    doc = junit.from_proofs(Report("reference", [MachineReport("m", [proved, unknown], "", 60.1)], 60.1))
    assert (doc.tests, doc.failures, doc.errors, doc.skipped) == (2, 1, 0, 0)
    failure = failures(doc)["inv/act"]
    assert failure.type == "unknown" and "timeout" in (failure.message or "")


# --------------------------------------------------------------------------- check


def test_check_junit_is_one_testcase_per_trace(tmp_path: Path) -> None:
    for name, code, failed in (("agrees", 0, 0), ("wrong_result", 1, 1)):
        out = tmp_path / f"{name}.xml"
        run = opsref("check", str(TRACES / f"{name}.jsonl"), "--junit", str(out))
        assert run.returncode == code, run.stderr
        doc, counts = read_back(out)
        assert counts == Counts(1, failed, 0, 0)
        if failed:
            failure = failures(doc)[str(TRACES / "wrong_result.jsonl")]
            assert "expected result" in (failure.text or "") and "observed result" in (failure.text or "")
            assert failure.text == run.stdout.rstrip("\n")  # the divergence as printed


def test_an_unwritable_junit_file_is_one_line_and_exit_two(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    run = opsref("check", str(TRACES / "agrees.jsonl"), "--junit", str(blocker / "report.xml"))
    assert run.returncode == 2
    assert "cannot write the JUnit report" in run.stderr and "Traceback" not in run.stderr


def test_text_xml_cannot_carry_is_replaced(tmp_path: Path) -> None:
    out = tmp_path / "control.xml"
    junit.write(junit.from_check("trace\x01.jsonl", "reference", CheckResult(3, None), ""), str(out))
    doc, counts = read_back(out)
    assert counts == Counts(1, 0, 0, 0)
    assert [c.name for suite in doc for c in suite] == ["trace\ufffd.jsonl"]


# --------------------------------------------------------------------------- drive

#: `opsref serve` for the comms drain with its 30th answer wrong
WRONG_ONCE = """
import json, sys
from opsref.conformance.serve import ActionServer
server, seen = ActionServer("comms_drain"), 0
for line in sys.stdin:
    seen += 1
    answer = server.answer(line)
    if seen == 30:
        answer = {"ok": "surprise"}
    sys.stdout.write(json.dumps(answer) + "\\n")
    sys.stdout.flush()
"""


def drive(tmp_path: Path, out: Path, *impl: str) -> subprocess.CompletedProcess[str]:
    return opsref("drive", "--machine", "comms_drain", "--runs", "5", "--depth", "10", "--timeout", "10",
                  "--out", str(tmp_path / "cx.jsonl"), "--junit", str(out), "--", *impl)


def test_drive_junit_is_one_testcase_per_run(tmp_path: Path) -> None:
    out = tmp_path / "conforms.xml"
    run = drive(tmp_path, out, OPSREF, "serve", "--machine", "comms_drain")
    assert run.returncode == 0, run.stdout + run.stderr
    doc, counts = read_back(out)
    assert counts == Counts(1, 0, 0, 0)
    assert "comms_drain random" in next(c.name for suite in doc for c in suite)


def test_drive_junit_failure_carries_the_counterexample(tmp_path: Path) -> None:
    out = tmp_path / "mismatch.xml"
    run = drive(tmp_path, out, sys.executable, "-c", WRONG_ONCE)
    assert run.returncode == 1, run.stdout + run.stderr
    doc, counts = read_back(out)
    assert counts == Counts(1, 1, 0, 0)
    [failure] = failures(doc).values()
    assert "mismatch under config" in (failure.message or "")
    assert "MISMATCH" in (failure.text or "") and '"surprise"' in (failure.text or "")
    assert failure.text == run.stdout.rstrip("\n")


def test_drive_junit_reports_an_implementation_that_fails(tmp_path: Path) -> None:
    out = tmp_path / "crash.xml"
    run = drive(tmp_path, out, sys.executable, "-c", "import sys; sys.exit(5)")
    assert run.returncode == 1, run.stdout + run.stderr
    doc, counts = read_back(out)
    assert counts == Counts(1, 1, 0, 0)
    [failure] = failures(doc).values()
    assert "the implementation failed" in (failure.message or "")


# --------------------------------------------------------------------------- mutants


def test_mutants_junit_counts_match_the_json_report(tmp_path: Path) -> None:
    reports = [
        MutationReport("comms_drain", [
            Verdict("a/drop-guard/0", "drop-guard", "drop a guard", "simulation", ["inv_a"]),
            Verdict("a/drop-effect/1", "drop-effect", "drop an effect", equivalent="the effect writes what it reads"),
            Verdict("b/swap-errors/0", "swap-errors", "swap two errors"),
        ], 3.0, ["comms_drain:gone/drop-guard/9"]),
        MutationReport("mob_adapter", [
            Verdict("c/drop-guard/0", "drop-guard", "drop a guard", "proof", ["inv_c/act"]),
        ], 1.0, []),
    ]
    summary = report_json(reports)
    out = tmp_path / "mutants.xml"
    junit.write(junit.from_mutants(reports), str(out))
    doc, counts = read_back(out)
    stale = len(summary["stale_equivalents"])
    assert counts == Counts(summary["mutants"] + stale, len(summary["survived"]) + stale, 0, summary["equivalent"])
    assert [s.name for s in doc] == ["mutants comms_drain", "mutants mob_adapter"]
    skipped = [r for suite in doc for c in suite for r in c.result if isinstance(r, Skipped)]
    assert [r.message for r in skipped] == ["equivalent: the effect writes what it reads"]
    assert set(failures(doc)) == {"b/swap-errors/0", "stale equivalence entry comms_drain:gone/drop-guard/9"}

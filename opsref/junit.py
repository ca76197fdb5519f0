"""`--junit FILE`: each command's result as JUnit XML, the report format CI servers show.

One module for the four commands, in the command-line package because it reads every
layer's result object (proofs' report, the mutation report, check's and drive's
results) and no layer should read another for it. Each result maps to test cases the
way a reader of the CI page expects:

- prove: a testsuite per machine, a testcase per obligation; `violated` is a failure
  with the counterexample, `unknown` (a timeout, or Z3's unknown) a failure too;
- check: one testcase per trace, a divergence its failure;
- drive: one testcase per run, a mismatch (or a crashing implementation) its failure;
- mutants: a testsuite per machine, a testcase per mutant: killed passes, a justified
  equivalent is skipped with the justification, a survivor (or a stale equivalence
  entry) fails.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from junitparser import Failure, JUnitXml, Skipped, TestCase, TestSuite

if TYPE_CHECKING:
    from opsref.conformance.check import CheckResult
    from opsref.proofs.mutants import MutationReport
    from opsref.proofs.report import Report

__all__ = ["JUnitXml", "from_check", "from_drive", "from_mutants", "from_proofs", "write"]

#: characters XML 1.0 cannot carry, even escaped (a hostile trace's text may hold them)
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_text(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def _case(name: str, classname: str, seconds: float | None = None) -> TestCase:
    return TestCase(_xml_text(name), _xml_text(classname), None if seconds is None else round(seconds, 3))


def _fail(case: TestCase, kind: str, message: str, text: str = "") -> TestCase:
    failure = Failure(_xml_text(message), kind)
    if text:
        failure.text = _xml_text(text)
    case.result = [failure]
    return case


def _suite(name: str, cases: list[TestCase]) -> TestSuite:
    suite = TestSuite(_xml_text(name))
    suite.add_testcases(cases)  # one statistics update for the whole suite
    return suite


def _document(suites: list[TestSuite], seconds: list[float] | None = None) -> JUnitXml:
    """The suites in one document; `seconds`, each suite's wall time, when the sum of its
    cases' times is not (a BMC or reachability job gives its time to each of its cases)."""
    xml = JUnitXml()
    for suite in suites:
        xml.add_testsuite(suite)
    xml.update_statistics()  # type: ignore[no-untyped-call]  # junitparser leaves it unannotated
    if seconds is not None:
        for suite, wall in zip(suites, seconds):
            suite.time = round(wall, 3)
        xml.time = round(sum(seconds), 3)
    return xml


def from_proofs(report: Report) -> JUnitXml:
    """A testsuite per machine, a testcase per obligation (`<machine>.<kind>` its class)."""
    from opsref.proofs.report import format_counterexample

    suites = []
    for m in report.machines:
        cases = []
        for o in m.obligations:
            case = _case(o.id, f"prove.{report.profile}.{m.machine}.{o.kind}", o.seconds)
            if o.result != "proved":
                lines = [o.note] + (format_counterexample(o.counterexample) if o.counterexample else [])
                _fail(case, o.result, f"{o.id}: {o.result}" + (f" — {o.note}" if o.note else ""),
                      "\n".join(line for line in lines if line))
            cases.append(case)
        suites.append(_suite(f"prove {m.machine} ({report.profile} profile)", cases))
    return _document(suites, [m.seconds for m in report.machines])


def from_check(path: str, profile: str, result: CheckResult, text: str) -> JUnitXml:
    """One testcase: the trace; its divergence (`text`, as printed) the failure."""
    case = _case(path, f"check.{profile}")
    if result.divergence is not None:
        d = result.divergence
        _fail(case, "divergence", f"{path}:{d.event.line}: divergence at event {result.events} ({d.what})", text)
    return _document([_suite(f"check {path} ({profile} profile)", [case])])


def from_drive(name: str, classname: str, seconds: float, failure: str | None, text: str) -> JUnitXml:
    """One testcase: the run; a mismatch or a failing implementation (`failure`, with the
    counterexample as printed in `text`) its failure."""
    case = _case(name, classname, seconds)
    if failure is not None:
        _fail(case, "mismatch", failure, text)
    return _document([_suite(f"drive {name}", [case])])


def from_mutants(reports: list[MutationReport]) -> JUnitXml:
    """A testsuite per machine, a testcase per mutant and per stale equivalence entry."""
    suites = []
    for r in reports:
        cases = []
        for v in r.verdicts:
            case = _case(v.mutant, f"mutants.{r.machine}.{v.operator}")
            if v.killed_by:
                case.system_out = _xml_text(f"killed by {v.killed_by}: {', '.join(v.evidence)}")
            elif v.equivalent:
                case.result = [Skipped(_xml_text(f"equivalent: {v.equivalent}"), "equivalent")]
            else:
                _fail(case, "survived", f"{v.mutant} survived: {v.description}",
                      "add an invariant, or justify it in proofs/equivalent_mutants.txt")
            cases.append(case)
        for entry in r.unknown_equivalents:
            cases.append(_fail(_case(f"stale equivalence entry {entry}", f"mutants.{r.machine}.stale"), "stale",
                               f"proofs/equivalent_mutants.txt lists {entry}: no such mutant any more, "
                               "or it is killed"))
        suites.append(_suite(f"mutants {r.machine}", cases))
    return _document(suites, [r.seconds for r in reports])


def write(xml: JUnitXml, path: str) -> None:
    """Write `xml` to `path`, creating its folder (OSError when that cannot be done)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    xml.write(str(target), pretty=True)

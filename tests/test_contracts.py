"""The contract check can fail: CrossHair finds the should-fail example's bug."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Mapping

from crosshair.condition_parser import ConditionExpr, ConditionExprType

from tests.contracts_check import conjoined


#: `make contracts`' own budget (CROSSHAIR_OPTS), so the test shows the check as CI runs
#: it finds the bug: the one search for the method's seven conditions finds it on its first
#: paths (the run takes under a second; one search per condition took 8 s)
PER_CONDITION_SECONDS = "1"


def test_crosshair_finds_the_broken_postcondition() -> None:
    """As `make contracts` runs it: one search for all of the method's seven conditions."""
    run = subprocess.run([sys.executable, "-m", "tests.contracts_check", "--analysis_kind", "PEP316",
                          "--per_condition_timeout", PER_CONDITION_SECONDS,
                          "tests.contract_mutants.ForgetsTheLiveSet.register_operation"],
                         capture_output=True, text=True, timeout=300, cwd=Path(__file__).parent.parent)
    assert run.returncode == 1, run.stdout + run.stderr
    assert '"post: spec.id in self._live and spec.id in self._used" yields false when calling register_operation' \
        in run.stdout, run.stdout


def above(line: int, bound: int) -> ConditionExpr:
    """A condition at `line`: x > bound."""
    def holds(bindings: Mapping[str, object]) -> bool:
        x = bindings["x"]
        return isinstance(x, int) and x > bound
    return ConditionExpr(ConditionExprType.POSTCONDITION, holds, "registry.py", line, f"x > {bound}")


def test_conditions_searched_together_report_the_one_that_is_false() -> None:
    first, second, third = above(10, 0), above(20, 5), above(30, 9)
    together = conjoined([first, second, third])
    assert together.evaluate is not None
    assert together.evaluate({"x": 10}) is True
    assert together.evaluate({"x": 3}) is False and together.line == 20
    assert together.evaluate({"x": 0}) is False and together.line == 10
    assert together.evaluate({"x": 7}) is False and together.line == 30

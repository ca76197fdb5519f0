"""`make contracts`: `crosshair check`, with each function's conditions checked in one search.

CrossHair checks every postcondition and class invariant of a method in a search of its
own (`crosshair.core.analyze_function`), each with the whole `--per_condition_timeout`,
and its search is deterministic: the eight searches of `register_operation` (six
invariants, two postconditions) walk the same paths in the same order (`--verbose` shows
the same verification status at every iteration of each). Here one search per function
checks all of its conditions on every path it walks, with twice the budget of one search
(`SEARCH_BUDGET`): for 22 to 24 of the 25 functions (three runs) it first walks the very
paths each search alone walked, then more; elsewhere it leaves their paths late, or where
a function's conditions branch on their own, its searches alone part ways with each other
too. It always walks more paths than any of them. `bench/contracts_paths.py` measures
that; 157 searches become 25.

A condition found false is reported at its own line, in CrossHair's words, as
`crosshair check` reports it. On one path, only the first false condition is reported
(fix it, and the next one shows).

usage: python -m tests.contracts_check <crosshair check arguments>
"""

from __future__ import annotations

import sys
from dataclasses import replace
from typing import Any, Callable, Mapping

import crosshair.core as core
from crosshair.condition_parser import ConditionExpr, ConditionExprType
from crosshair.main import main
from crosshair.options import AnalysisOptionSet

#: a function's one search gets this many times --per_condition_timeout: evaluating all of
#: its conditions on each path takes longer than one, and at twice the time the search
#: walks more paths than each search of one condition did (bench/contracts_paths.py)
SEARCH_BUDGET = 2

_search_per_condition: Callable[..., list[core.Checkable]] = core.analyze_function


def conjoined(posts: list[ConditionExpr]) -> ConditionExpr:
    """One postcondition: every one of `posts`. When one is false, the condition reports
    that one's place (CrossHair reads `line` and `filename` after evaluating it)."""
    together = ConditionExpr(ConditionExprType.POSTCONDITION, None, posts[0].filename, posts[0].line,
                             " and ".join(f"({p.expr_source})" for p in posts))

    def evaluate(bindings: Mapping[str, object]) -> bool:
        for post in posts:
            assert post.evaluate is not None  # analyze_function keeps only conditions that compiled
            if not post.evaluate(bindings):
                together.filename, together.line = post.filename, post.line
                return False
        return True

    together.evaluate = evaluate
    return together


def search_per_function(ctxfn: Any, options: AnalysisOptionSet = AnalysisOptionSet()) -> list[core.Checkable]:
    """`analyze_function`'s checkables, its searches of one function made one."""
    checkables = _search_per_condition(ctxfn, options)
    searches = [c for c in checkables if isinstance(c, core.ConditionCheckable)]
    if len(searches) < 2:
        return checkables
    first = searches[0]
    together = conjoined([s.conditions.post[0] for s in searches])
    others = [c for c in checkables if not isinstance(c, core.ConditionCheckable)]
    budget = first.options.per_condition_timeout * SEARCH_BUDGET
    return others + [replace(first, conditions=replace(first.conditions, post=[together]),
                             options=replace(first.options, per_condition_timeout=budget))]


def run(argv: list[str]) -> int:
    core.analyze_function = search_per_function  # analyze_class and analyze_module call it by this name
    try:
        main(["check", *argv])  # exits with crosshair check's status
    except SystemExit as done:
        return int(done.code or 0)
    finally:
        core.analyze_function = _search_per_condition
    return 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))

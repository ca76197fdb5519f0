"""Lock-step testing of a spec machine against its implementation (Hypothesis stateful).

The implementation is reached through its protocol binding (conformance/bindings.py:
one call per spec action, `observe` reads in the spec's vocabulary). Everything
else is generic and derived from the spec: the calls Hypothesis draws (every
action, its parameters drawn by sort), the comparison after each call (accepted on
both sides, or refused with the same error kind and the same values of every field
the spec's guard names), the state comparison over every id in play (every
observable field) and every spec invariant on each step. The registry's richer
lock-step test (tests/lockstep.py) also compares the completion feed and handles.
"""

from __future__ import annotations

from typing import Callable, Mapping

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from opsref.conformance.actions import observed_fields
from opsref.conformance.bindings import Binding
from opsref.conformance.oracle import as_json, snake
from opsref.spec.compiled import compile_machine
from opsref.spec.machine import Machine
from opsref.spec.model import Accepted, Value, initial_state
from opsref.spec.terms import BOOL, ID, INT, Param
from tests.disagreement import MISSING, Disagreement

Pools = Mapping[str, tuple[str, ...]]
Call = tuple[str, dict[str, Value]]


def param_strategy(param: Param, ids: tuple[str, ...], ints: tuple[int, ...],
                   pools: Pools | None = None) -> st.SearchStrategy[Value]:
    if param.sort == ID:
        return st.sampled_from((pools or {}).get(param.name, ids))
    if param.sort == BOOL:
        return st.booleans()
    if param.sort == INT:
        return st.sampled_from(ints)
    if param.sort.members:
        return st.sampled_from(param.sort.members)
    raise ValueError(f"no strategy for parameter {param.name} of sort {param.sort}")


def calls(machine: Machine, ids: tuple[str, ...], ints: tuple[int, ...],
          pools: Pools | None = None) -> st.SearchStrategy[tuple[str, dict[str, Value]]]:
    """Every action of `machine` with parameters drawn by sort (an id parameter from
    `pools[name]` when given: sessions and operations share the id sort)."""
    options = []
    for action in machine.actions:
        fields = {p.name: param_strategy(p, ids, ints, pools) for p in action.params}
        options.append(st.tuples(st.just(action.name), st.fixed_dictionaries(fields)))
    return st.one_of(*options)


def lockstep_for(machine: Machine, make: Callable[[], Binding], ids: tuple[str, ...] = ("a", "b", "c"),
                 ints: tuple[int, ...] = (0, 1, 2), setup: tuple[Call, ...] = (),
                 pools: Pools | None = None) -> type[RuleBasedStateMachine]:
    """A state machine test of `make()`'s implementation against `machine`. `setup` calls
    run first on both sides (e.g. registering most ids, so random calls reach deep states)."""
    spec = compile_machine(machine)  # the interpreter's equal (tests/test_compiled.py), and fast
    per_id, machine_wide = observed_fields(machine, True), observed_fields(machine, False)

    class Lockstep(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.state = initial_state(machine, {})
            self.impl = make()

        @initialize()
        def prepare(self) -> None:
            for action, params in setup:
                self.call(action, params)

        @rule(call=calls(machine, ids, ints, pools))
        def step(self, call: Call) -> None:
            self.call(*call)

        def call(self, action: str, params: dict[str, Value]) -> None:
            self.last = action
            result = spec.step(self.state, action, params)
            got = self.impl.act(action, {k: as_json(v) for k, v in params.items()})
            if isinstance(result, Accepted):
                if "ok" not in got:
                    raise Disagreement(action, "answer", "accepted", got)
                bad = spec.violated(result.state, self.state, action, params)
                assert not bad, f"{action}({params}) broke {[inv.name for inv in bad]}"  # the spec's own fault
                self.state = result.state
                return
            error = got.get("error")
            if not isinstance(error, dict):
                raise Disagreement(action, "answer", f"refused with {snake(result.error)}", got)
            for name, value in (("kind", snake(result.error)), *result.fields):
                if error.get(name, MISSING) != value:
                    raise Disagreement(action, f"error.{name}", value, error.get(name, MISSING))

        @invariant()
        def same_state(self) -> None:
            after = getattr(self, "last", "start")
            for key in ids:
                compare({f: self.state.get(machine, f, key) for f in per_id}, self.impl.observe(key), after, key)
            compare({f: self.state.get(machine, f) for f in machine_wide}, self.impl.observe_globals(), after, "globals")

    Lockstep.__name__ = f"Lockstep_{machine.name}"
    return Lockstep


def compare(want: Mapping[str, Value], shown: Mapping[str, object], after: str, what: str) -> None:
    """Every field of `want` as `shown`, or the first that differs as a `Disagreement`
    (field `<what>.<field>`, e.g. `a.phase`, `globals.runtime`)."""
    for name, value in want.items():
        have = shown.get(name, MISSING)
        if have != value:
            raise Disagreement(after, f"{what}.{name}", value, have)

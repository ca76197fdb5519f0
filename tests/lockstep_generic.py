"""Lock-step testing of any spec machine against its implementation (Hypothesis stateful).

A `Binding` says how to make one spec action's call on the implementation and how
to read the implementation's state back in the spec's vocabulary. Everything else
is generic and derived from the spec: the calls Hypothesis draws (every action,
its parameters drawn by sort), the comparison after each call (accepted on both
sides, or refused with the same error kind and the same values of every field the
spec's guard names), the state comparison over every id in play, and every spec
invariant on each step. The registry's richer lock-step test (tests/lockstep.py)
predates this harness and also compares the completion feed and barrier handles.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Protocol

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from spec import model
from spec.machine import Machine
from spec.compiled import compile_machine
from spec.model import Accepted, State, Value
from spec.terms import BOOL, ID, INT, Param

Outcome = tuple[str, dict[str, Value]]  # ("ok", {}) or (error kind, fields)
View = dict[str, Value]


class Binding(Protocol):
    """One fresh implementation, driven by spec actions."""

    def call(self, action: str, params: Mapping[str, Value]) -> Outcome:
        """Make the call; ("ok", {}) or the error's kind (the spec's name) and fields."""
        ...

    def view(self, key: str) -> View:
        """The implementation's state of `key` as spec field values (a subset of fields)."""
        ...

    def globals(self) -> View:
        """The implementation's machine-wide values as spec fields (may be empty)."""
        ...


Pools = Mapping[str, tuple[str, ...]]


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


def calls(machine: Machine, ids: tuple[str, ...], ints: tuple[int, ...], skip: frozenset[str] = frozenset(),
          pools: Pools | None = None) -> st.SearchStrategy[tuple[str, dict[str, Value]]]:
    """Every action of `machine` with parameters drawn by sort (an id parameter from
    `pools[name]` when given: sessions and operations share the id sort)."""
    options = []
    for action in machine.actions:
        if action.name in skip:
            continue
        fields = {p.name: param_strategy(p, ids, ints, pools) for p in action.params}
        options.append(st.tuples(st.just(action.name), st.fixed_dictionaries(fields)))
    return st.one_of(*options)


def fields_of(machine: Machine, state: State, key: str | None, names: tuple[str, ...]) -> View:
    """The spec's values of `names` at `key` (or the globals, for key None)."""
    return {f: state.get(machine, f, key) for f in names}


def lockstep_for(machine: Machine, make: Callable[[], Binding], spec_view: Callable[[State, str], View],
                 spec_globals: Callable[[State], View] = lambda state: {}, ids: tuple[str, ...] = ("a", "b", "c"),
                 ints: tuple[int, ...] = (0, 1, 2), skip: frozenset[str] = frozenset(),
                 setup: tuple[tuple[str, dict[str, Value]], ...] = (), pools: Pools | None = None,
                 ) -> type[RuleBasedStateMachine]:
    """A state machine test. `spec_view(state, key)` is what the implementation's
    `view(key)` must equal (the implementation may show more; only these keys are
    compared); `spec_globals` likewise for `globals()`. `setup` calls run first on
    both sides (e.g. registering most ids, so random calls reach deep states)."""

    spec = compile_machine(machine)  # the interpreter's equal (tests/test_compiled.py), and fast

    class Lockstep(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.state = model.initial_state(machine, {})
            self.impl = make()

        @initialize()
        def prepare(self) -> None:
            for action, params in setup:
                self.call(action, params)

        @rule(call=calls(machine, ids, ints, skip, pools))
        def step(self, call: tuple[str, dict[str, Value]]) -> None:
            self.call(*call)

        def call(self, action: str, params: dict[str, Value]) -> None:
            result = spec.step(self.state, action, params)
            want: Outcome = ("ok", {}) if isinstance(result, Accepted) else (snake(result.error), dict(result.fields))
            got = self.impl.call(action, params)
            what = f"{action}({params})"
            assert want[0] == got[0], f"{what}: spec says {want}, implementation says {got}"
            for name, value in want[1].items():
                assert got[1].get(name) == value, \
                    f"{what}: field {name}: spec {value!r}, implementation {got[1].get(name)!r}"
            if isinstance(result, Accepted):
                bad = spec.violated(result.state, self.state, action, params)
                assert not bad, f"{what} broke {[inv.name for inv in bad]}"
                self.state = result.state

        @invariant()
        def same_state(self) -> None:
            for key in ids:
                compare(spec_view(self.state, key), self.impl.view(key), key)
            compare(spec_globals(self.state), self.impl.globals(), "globals")

    Lockstep.__name__ = f"Lockstep_{machine.name}"
    return Lockstep


def compare(want: View, shown: View, what: str) -> None:
    have = {f: shown.get(f, "<not shown>") for f in want}
    assert have == want, f"{what}: spec {want}, implementation {have}"


def snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")


def error_outcome(err: Exception, fields: tuple[str, ...] = ("state",)) -> Outcome:
    """An implementation error as (kind, fields): enum-valued attributes by their value."""
    found: dict[str, Value] = {}
    for name in fields:
        if hasattr(err, name):
            value: Any = getattr(err, name)
            found[name] = getattr(value, "value", value)
    return str(getattr(err, "kind")), found

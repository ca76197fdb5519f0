"""Properties every machine has, checked on random walks of each: the compiled model
answers as the interpreter does (the lock-step tests and the oracle run the compiled
one), and a refused command changes nothing."""

from __future__ import annotations

import random
import pytest

from opsref.conformance.calls import Call, ProtocolConfig
from opsref.conformance.drive import random_sequences
from opsref.conformance.oracle import spec_value
from opsref.conformance.protocol import protocol
from opsref.spec import model
from opsref.spec.compiled import compile_machine
from opsref.spec.model import Accepted, Rejected
from opsref.spec.registry import MACHINES

OTHERS = [name for name in MACHINES if name != "ops_lifecycle"]  # the registry has tests/test_compiled.py


@pytest.mark.parametrize("name", OTHERS)
def test_compiled_model_agrees_with_the_interpreter_and_refusals_change_nothing(name: str) -> None:
    machine = MACHINES[name]("reference")
    compiled = compile_machine(machine)
    reads = protocol(name).reads
    refused = accepted = 0
    for _, calls in _walks(name, 40):
        state = model.initial_state(machine, {})
        for action, args in calls:
            if action in reads:
                continue
            params = {k: spec_value(v) for k, v in args.items()}
            want = model.step(machine, state, action, params)
            got = compiled.step(state, action, params)
            if isinstance(want, Rejected):
                assert isinstance(got, Rejected) and got.guard == want.guard and got.fields == want.fields
                copy = state.copy()
                assert compiled.apply(copy, action, params) is not None and copy == state
                refused += 1
                continue
            assert isinstance(got, Accepted) and got.state == want.state, f"{action}({params})"
            assert not model.violated_invariants(machine, want.state, state, action, params)
            state = want.state
            accepted += 1
    assert refused >= 10 and accepted > 100, (refused, accepted)


def _walks(name: str, count: int) -> list[tuple[ProtocolConfig, list[Call]]]:
    sequences = random_sequences(random.Random(11), ["a", "b", "c"], 30, name)
    return [next(sequences) for _ in range(count)]

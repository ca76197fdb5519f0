"""The killers `opsref mutants` runs on each spec mutant, cheapest first.

Mutant generation and the verdicts are `proofs.mutants`, which depends on the spec alone;
the two killers that run the mutant as an oracle (random walks, and differential runs
against `impl/`) live here, in the layer that owns simulation and the protocol.
"""

from __future__ import annotations

from opsref.conformance.drive import drive_exhaustive, first_sequences, run
from opsref.conformance.oracle import SpecInconsistent
from opsref.conformance.protocol import protocol
from opsref.conformance.serve import InProcess
from opsref.conformance.simulate import simulate
from opsref.conformance.trace import Event
from opsref.proofs.mutants import Killers, by_proof
from opsref.spec.machine import Machine


def by_simulation(mutant: Machine, runs: int = 30, steps: int = 300) -> list[str]:
    result = simulate(mutant, runs, steps, seed=1)
    return result.violation.invariants if result.violation else []


def by_differential(mutant: Machine, runs: int = 150, depth: int = 25) -> list[str]:
    """The first call where the mutant's answer differs from impl/'s (empty if none found):
    the same random sequences for every mutant, then every sequence over one id to the
    protocol's depth and over two ids to depth 3 (both pruned by the mutant's states)."""
    impl = InProcess(mutant.name)
    oracle = protocol(mutant.name).oracle(mutant.profile, None, mutant)
    try:
        for config, calls in first_sequences(mutant.name, 5, ("a", "b", "c"), depth, runs):
            outcome = run(impl, oracle, config, list(calls))
            if outcome.mismatch is not None:
                return [_first_difference(outcome.events, outcome.mismatch)]
        found = (drive_exhaustive(impl, mutant.profile, protocol(mutant.name).one_id_depth, 1, machine=mutant).failure
                 or drive_exhaustive(impl, mutant.profile, 3, 2, machine=mutant).failure)
    except SpecInconsistent as err:
        return [str(err)]
    return [] if found is None else [_first_difference(found.outcome.events, found.outcome.mismatch or 0)]


def _first_difference(events: list[Event], index: int) -> str:
    e = events[index]
    answer = str(e.result)
    answer = answer if len(answer) <= 200 else answer[:197] + "..."  # a feed read can hold 1,024 entries
    return f"{e.call}({', '.join(f'{k}={v}' for k, v in e.args.items())}) after {index} calls: impl answers {answer}"


KILLERS: Killers = (("simulation", by_simulation), ("differential", by_differential), ("proof", by_proof))

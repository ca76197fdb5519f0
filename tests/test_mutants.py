"""Spec mutation: generation is systematic, the killers work, the equivalence list is honest.

The full run (`make mutants`, in `make deep`) takes minutes; these tests check its parts."""

from __future__ import annotations

from collections import Counter

from opsref.conformance.killers import by_differential, by_simulation
from opsref.proofs.mutants import Mutant, generate, load_equivalent
from opsref.spec.ops_lifecycle import build
from opsref.spec.registry import MACHINES

MUTANTS = {m.id: m for m in generate(build("reference"))}


def mutant(id: str) -> Mutant:
    return MUTANTS[id]


def test_every_operator_produces_mutants_with_unique_ids() -> None:
    generated = generate(build("reference"))
    counts = Counter(m.operator for m in generated)
    assert set(counts) == {"drop-guard", "widen-from-set", "narrow-from-set", "drop-effect", "counter-by-one",
                           "swap-errors"}
    assert len({m.id for m in generated}) == len(generated)
    assert [m.id for m in generate(build("reference"))] == [m.id for m in generated]  # deterministic


def test_every_equivalence_entry_names_a_generated_mutant_with_a_reason() -> None:
    equivalent = load_equivalent()
    assert equivalent, "the equivalence list is empty"
    generated = {name: {m.id for m in generate(build_machine("reference"))} for name, build_machine in MACHINES.items()}
    for key, why in equivalent.items():
        owner, _, id = key.rpartition(":")
        assert id in generated[owner or "ops_lifecycle"], f"{key} is not generated"
        assert len(why) > 20


def test_simulation_kills_a_mutant_that_forgets_to_free_the_slot() -> None:
    found = by_simulation(mutant("complete_operation/drop-effect/3").machine)  # active_count − 1 dropped
    assert "active_count_consistency" in found


def test_the_differential_run_kills_a_swapped_error() -> None:
    evidence = by_differential(mutant("peer_ready/swap-errors/kind_is_mob_member_child/not_already_peer_ready").machine)
    assert evidence and "peer_ready" in evidence[0]


def test_the_differential_run_sees_a_change_the_spec_state_does_not_show() -> None:
    # progress is only visible in a snapshot taken after the call: the probes must catch it
    evidence = by_differential(mutant("report_progress/drop-effect/1").machine)
    assert evidence and "progress" in evidence[0]


def test_an_equivalent_mutant_survives_the_cheap_killers() -> None:
    listed = mutant("recover/drop-effect/6")
    assert listed.id in load_equivalent()
    assert by_simulation(listed.machine) == [] and by_differential(listed.machine) == []

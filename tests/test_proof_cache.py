"""The proof cache's keys: a change to what an obligation depends on changes its key,
and nothing else does (so a cache hit for a changed obligation is impossible)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from opsref.proofs import cache
from opsref.proofs.report import Obligation
from opsref.spec.machine import Machine
from opsref.spec.terms import TRUE
from tests.spec_helpers import REFERENCE, with_guard

EDITED = "register_operation"
EDIT = with_guard(REFERENCE, EDITED, "within_concurrency_limit", lambda g: replace(g, holds=TRUE))


def step_keys(machine: Machine) -> dict[str, str]:
    return {a.name: cache.step_key(machine, a) for a in machine.actions}


def test_editing_one_guard_changes_that_actions_key_and_the_whole_machine_keys_only() -> None:
    before, after = step_keys(REFERENCE), step_keys(EDIT)
    assert {name for name in before if before[name] != after[name]} == {EDITED}
    assert cache.initiation_key(EDIT) == cache.initiation_key(REFERENCE)
    config = REFERENCE.configs()[0]
    assert cache.bmc_key(EDIT, config, 10) != cache.bmc_key(REFERENCE, config, 10)
    assert cache.reachability_key(EDIT, 10) != cache.reachability_key(REFERENCE, 10)


def test_an_invariant_change_changes_every_unbounded_key() -> None:
    first = REFERENCE.invariants[0]
    changed = replace(REFERENCE, invariants=(replace(first, state=TRUE),) + REFERENCE.invariants[1:])
    assert cache.initiation_key(changed) != cache.initiation_key(REFERENCE)
    assert all(a != b for a, b in zip(step_keys(changed).values(), step_keys(REFERENCE).values()))


def test_prose_changes_no_key() -> None:
    reworded = with_guard(REFERENCE, EDITED, "within_concurrency_limit", lambda g: replace(g, reason="reworded"))
    reworded = replace(reworded, doc="another overview",
                       invariants=tuple(replace(i, sentence="reworded") for i in reworded.invariants))
    assert step_keys(reworded) == step_keys(REFERENCE)
    assert cache.initiation_key(reworded) == cache.initiation_key(REFERENCE)
    assert cache.bmc_key(reworded, REFERENCE.configs()[0], 10) == cache.bmc_key(REFERENCE, REFERENCE.configs()[0], 10)


def test_depth_and_configuration_are_part_of_the_bounded_keys() -> None:
    one, two = REFERENCE.configs()[:2]
    assert cache.bmc_key(REFERENCE, one, 10) != cache.bmc_key(REFERENCE, one, 9)
    assert cache.bmc_key(REFERENCE, one, 10) != cache.bmc_key(REFERENCE, two, 10)
    assert cache.reachability_key(REFERENCE, 10) != cache.reachability_key(REFERENCE, 9)


def test_only_decided_results_are_kept_and_a_damaged_entry_is_a_miss(tmp_path: Path) -> None:
    store = cache.ProofCache(tmp_path)
    proved = Obligation("i/a", "i", "inductive", "a", "proved", 0.5, "unbounded")
    unknown = Obligation("j/a", "j", "inductive", "a", "unknown", 60.0, "unbounded", None, "timeout")
    store.put("k1", [proved])
    store.put("k2", [proved, unknown])
    assert store.get("k1") == [proved] and store.get("k2") is None and store.hits == 1
    path = next(tmp_path.rglob("k1.json"))
    path.write_text("[{\"id\": 1", encoding="utf-8")
    assert store.get("k1") is None


def test_a_warm_run_reads_every_result_and_a_guard_edit_reproves_exactly_what_depends_on_it(tmp_path: Path) -> None:
    from opsref.proofs.run import prove_machine
    from opsref.spec.registry import MACHINES

    machine = MACHINES["comms_drain"]("reference")
    store = cache.ProofCache(tmp_path)
    cold = prove_machine(machine, store=store)
    assert store.hits == 0 and cold.obligations

    warm_store = cache.ProofCache(tmp_path)
    warm = prove_machine(machine, store=warm_store)
    assert warm_store.hits == len(cold.obligations)
    assert [(o.id, o.result) for o in warm.obligations] == [(o.id, o.result) for o in cold.obligations]

    edited_action = "notify_drain_exited"
    edited = machine.with_action(replace(machine.action(edited_action), guards=()))  # its one guard dropped
    edit_store = cache.ProofCache(tmp_path)
    after = prove_machine(edited, store=edit_store)
    depends = [o for o in after.obligations
               if o.kind in ("bmc", "reachability") or (o.kind in ("inductive", "ranking") and o.action == edited_action)]
    assert edit_store.hits == len(after.obligations) - len(depends) > 0
    # what was proved again is now stored too: a second run of the edited machine proves nothing
    again = cache.ProofCache(tmp_path)
    prove_machine(edited, store=again)
    assert again.hits == len(after.obligations)


def test_the_machine_digest_covers_semantics_not_prose() -> None:
    """Recorded proofs go stale when the meaning changes, not when a sentence does."""
    reworded = with_guard(REFERENCE, EDITED, "within_concurrency_limit", lambda g: replace(g, reason="reworded"))
    reworded = replace(reworded, doc="another overview",
                       invariants=tuple(replace(i, sentence="reworded") for i in reworded.invariants))
    assert reworded.digest == REFERENCE.digest
    assert EDIT.digest != REFERENCE.digest


def test_a_closure_fact_is_keyed_by_its_action_and_an_edit_asks_z3_about_that_action_only(tmp_path: Path) -> None:
    """BMC's one-step closure is kept per (configuration, action): an edit of one action
    changes that action's closure keys only, and the edited machine's BMC asks Z3 again
    about the edited action alone, with the same obligations as a run without facts."""
    from opsref.proofs.bmc import bounded_check
    from opsref.proofs.run import Facts
    from opsref.spec.machine import Action, CheckConfig
    from opsref.spec.registry import MACHINES

    machine = MACHINES["comms_drain"]("reference")
    names = tuple(i.name for i in REFERENCE.invariants)
    keys = {m.digest: {a.name: cache.closure_key(m, REFERENCE.configs()[0], a, 10, names) for a in m.actions}
            for m in (REFERENCE, EDIT)}
    before, after = keys[REFERENCE.digest], keys[EDIT.digest]
    assert {name for name in before if before[name] != after[name]} == {EDITED}

    class Recording(Facts):
        def put(self, config: CheckConfig, action: Action, invariants: tuple[str, ...]) -> None:
            asked.append(action.name)
            super().put(config, action, invariants)

    config = machine.configs()[0]
    store = cache.ProofCache(tmp_path)
    asked: list[str] = []
    cold = bounded_check(machine, 10, configs=(config,), facts=Recording(store, machine, 10))
    assert sorted(asked) == sorted(a.name for a in machine.actions)  # every closure asked and kept
    # the edit: the action's first guard written twice (a new action to the keys, the same steps)
    edited_action = "notify_drain_exited"
    action = machine.action(edited_action)
    edited = machine.with_action(replace(action, guards=action.guards + action.guards[:1]))
    asked.clear()
    warm = bounded_check(edited, 10, configs=(config,), facts=Recording(store, edited, 10))
    assert asked == [edited_action]
    fresh = bounded_check(edited, 10, configs=(config,))
    assert [(o.id, o.result, o.domain) for o in warm] == [(o.id, o.result, o.domain) for o in fresh]
    assert [(o.id, o.result) for o in cold] == [(o.id, o.result) for o in warm]
    assert {o.result for o in warm} == {"proved"}

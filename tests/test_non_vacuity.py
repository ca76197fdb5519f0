"""Every named invariant can fail: a deliberately broken variant of the spec
makes that invariant's proof come out `violated`, while the real spec proves it.

A variant is the real spec with one guard, effect or from-set changed, so the
proofs see exactly what a careless spec edit would give them.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

import pytest

from opsref.proofs.inductive import prove_unbounded
from opsref.proofs.report import Obligation
from opsref.spec.machine import Assign, AssignAll, AssignAt, Effect, Machine
from opsref.spec.ops_lifecycle import LIVE, WAITER, from_status
from opsref.spec.terms import ID, TRUE, Param, add, lit, read, sub, sym
from tests.spec_helpers import REFERENCE, with_effects, with_guard, without_guard

OP_ID = Param("id", ID)
Variant = tuple[str, str, Callable[[Machine], Machine]]  # (kind, action, breakage)


def _drop(field: str, kind: type[Effect] = Assign) -> Callable[[tuple[Effect, ...]], tuple[Effect, ...]]:
    return lambda effects: tuple(e for e in effects if not (isinstance(e, kind) and e.field == field))


BROKEN: dict[str, list[Variant]] = {
    "active_count_consistency": [
        ("inductive", "register_operation",
         lambda m: with_effects(m, "register_operation", _drop("active_count"))),
    ],
    "terminal_irreversibility": [
        ("inductive", "fail_operation", lambda m: without_guard(m, "fail_operation", "from_status_valid")),
    ],
    "barrier_satisfaction": [
        ("inductive", "complete_operation",
         lambda m: with_effects(m, "complete_operation", _drop("wait_active"))),
        # a member joins the waiting barrier unfinished: the pending set grows
        ("inductive", "wait_request",  # a barrier armed without a new request
         lambda m: with_effects(m, "wait_request", _drop("wait_requests"))),
        ("ranking", "register_operation",
         lambda m: with_effects(m, "register_operation", lambda es: es + (AssignAt("member", OP_ID, TRUE),))),
    ],
    "peer_ready_only_for_mob_members": [
        ("inductive", "peer_ready", lambda m: without_guard(m, "peer_ready", "kind_is_mob_member_child")),
    ],
    "completed_order_exact": [
        ("inductive", "complete_operation",
         lambda m: with_effects(m, "complete_operation", _drop("order", AssignAt))),
    ],
    "sequences_monotone": [
        ("inductive", "report_progress",
         lambda m: with_effects(m, "report_progress", lambda es: tuple(
             replace(e, value=sub(read("progress", e.key), lit(1))) if isinstance(e, AssignAt) else e for e in es))),
    ],
    "watchers_empty_on_terminal": [
        ("inductive", "register_watcher",
         lambda m: with_effects(m, "register_watcher", lambda es: tuple(
             replace(e, value=add(read("watchers", e.key), lit(1))) if isinstance(e, AssignAt) else e for e in es))),
    ],
    "untracked_ids_hold_no_state": [
        ("inductive", "collect_completed",
         lambda m: with_effects(m, "collect_completed", _drop("progress", AssignAll))),
    ],
    "retired_ids_stay_retired": [
        ("inductive", "register_operation", lambda m: without_guard(m, "register_operation", "id_never_registered")),
    ],
    "registration_order_exact": [
        ("inductive", "register_operation", lambda m: with_effects(m, "register_operation", _drop("registrations"))),
    ],
    "termination_in_registration_order": [
        ("inductive", "terminate_op", lambda m: without_guard(m, "terminate_op", "first_in_termination_order")),
    ],
    "completion_feed_exact": [
        ("inductive", "complete_operation",
         lambda m: with_effects(m, "complete_operation", _drop("feed_outcome", AssignAt))),
        ("inductive", "cancel_operation",  # a feed emptied on every completion keeps too few entries
         lambda m: with_effects(m, "cancel_operation", lambda es: tuple(
             replace(e, value=read("next_seq")) if e.field == "feed_head" else e for e in es))),
    ],
    "waiter_matches_barrier": [
        ("inductive", "wait_cancel", lambda m: with_effects(m, "wait_cancel", _drop("waiter"))),
    ],
    "wait_never_fails": [
        ("inductive", "wait_cancel", lambda m: with_effects(m, "wait_cancel", lambda es: tuple(
            replace(e, value=sym(WAITER, "failed")) if e.field == "waiter" else e for e in es))),
    ],
    "provisioning_failure_only_while_provisioning": [
        ("inductive", "provisioning_failed",
         lambda m: with_guard(m, "provisioning_failed", "from_status_valid",
                              lambda g: from_status("provisioning_failed", LIVE))),
    ],
}

CASES = [pytest.param(name, kind, action, breakage, id=f"{name}-{kind}-{action}")
         for name, variants in BROKEN.items() for kind, action, breakage in variants]


def test_every_invariant_has_a_breaking_variant() -> None:
    assert set(BROKEN) == {inv.name for inv in REFERENCE.invariants}


@pytest.mark.parametrize("invariant, kind, action, breakage", CASES)
def test_broken_variant_violates_the_invariant(invariant: str, kind: str, action: str,
                                               breakage: Callable[[Machine], Machine]) -> None:
    def focused(machine: Machine) -> list[Obligation]:
        """Only this invariant's obligations for this action: every invariant is still
        assumed, so they are the ones a full run proves (`make verify` proves the rest)."""
        return prove_unbounded(machine, actions=[action], invariants=frozenset({invariant}), initiation=False)

    real = {o.id: o for o in focused(REFERENCE) if o.invariant == invariant}
    broken = [o for o in focused(breakage(REFERENCE)) if o.invariant == invariant and o.kind == kind and o.action == action]
    assert broken, f"no {kind} obligation of {invariant} for {action}"
    assert [o.result for o in broken] == ["violated"], broken[0].note
    assert broken[0].counterexample is not None and broken[0].counterexample["action"] == action
    assert real[broken[0].id].result == "proved"

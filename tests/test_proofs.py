"""The proof engines on the real spec and on variants that must make them fail."""

from __future__ import annotations

from dataclasses import replace

from opsref.proofs.bmc import bounded_check, reachability
from opsref.spec.ops_lifecycle import CHECK_CONFIGS
from opsref.proofs.inductive import prove_unbounded
from opsref.spec import model
from opsref.spec.model import Accepted, Rejected
from opsref.spec.terms import FALSE, TRUE, le, read
from tests.spec_helpers import REFERENCE, fresh, run, with_guard

REG = "register_operation"


def _register(ident: str) -> tuple[str, dict[str, model.Value]]:
    return (REG, {"id": ident, "kind": "background_tool_op"})


def test_one_guard_change_alters_both_the_model_and_a_proof() -> None:
    """`within_concurrency_limit` written with <= instead of <: the model admits a
    third op under a limit of 2, and the inductive proof of active_count_consistency
    (which bounds the count by the limit) fails for register_operation."""
    loose = with_guard(REFERENCE, REG, "within_concurrency_limit",
                       lambda g: replace(g, holds=le(read("active_count"), read("max_concurrent"))))
    for machine, admitted in ((REFERENCE, False), (loose, True)):
        state = run(machine, fresh(machine, max_concurrent=2), [_register("a"), _register("b")])
        result = model.step(machine, state, *_register("c"))
        assert isinstance(result, Accepted if admitted else Rejected)
    proofs = {m: {o.id: o.result for o in prove_unbounded(m, actions=[REG])} for m in (REFERENCE, loose)}
    assert proofs[REFERENCE]["active_count_consistency/register_operation"] == "proved"
    assert proofs[loose]["active_count_consistency/register_operation"] == "violated"


def test_bmc_finds_the_shortest_trace_and_it_replays_on_the_model() -> None:
    """With register_operation's limit guard gone, max_concurrent=2 is exceeded by
    the third registration: three steps, no fewer."""
    broken = with_guard(REFERENCE, REG, "within_concurrency_limit", lambda g: replace(g, holds=TRUE))
    found = [o for o in bounded_check(broken, depth=4, configs=(CHECK_CONFIGS[1],))
             if o.invariant == "active_count_consistency"]
    assert [o.result for o in found] == ["violated"]
    cex = found[0].counterexample
    assert cex is not None and cex["replayed_on_model"] is True
    assert [s["action"] for s in cex["trace"]] == [REG, REG, REG]
    assert found[0].domain == {"ids": 3, "depth": 3}


def test_bmc_proves_the_reference_spec_to_depth_ten() -> None:
    results = bounded_check(REFERENCE, depth=10, configs=CHECK_CONFIGS[:1])
    assert {o.result for o in results} == {"proved"}
    assert {o.depth for o in results} == {10}


def test_a_guard_that_never_fails_is_a_reachability_failure() -> None:
    vacuous = with_guard(REFERENCE, "peer_ready", "not_already_peer_ready", lambda g: replace(g, holds=TRUE))
    results = {o.id: o for o in reachability(vacuous, depth=6)}
    assert results["raises/peer_ready/not_already_peer_ready"].result == "violated"
    assert results["error/AlreadyPeerReady"].result == "violated"
    assert results["enabled/peer_ready"].result == "proved"


def test_an_action_that_never_fires_is_a_reachability_failure() -> None:
    dead = with_guard(REFERENCE, "request_retire", "from_status_valid", lambda g: replace(g, holds=FALSE))
    results = {o.id: o for o in reachability(dead, depth=6)}
    assert results["enabled/request_retire"].result == "violated"
    assert "never enabled" in results["enabled/request_retire"].note

"""The registry's protocol is derived from the spec: every action is bound, and what the
driver draws reaches every observable (feed cursors around the watermark, an overflowed
feed, the wait's states)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from opsref.conformance.calls import RegistryConfig, count_arg
from opsref.conformance.drive import drive_random
from opsref.conformance.jsonline import Json, JsonObject
from opsref.conformance.oracle import Oracle, SpecInconsistent, check_bindings
from opsref.conformance.serve import InProcess, Server
from opsref.spec.machine import Action
from opsref.spec.ops_lifecycle import build


class InclusiveCursor(Server):
    """A feed read that returns the entry at `after` too."""

    def call(self, name: str, args: JsonObject) -> Json:
        if name == "feed" and count_arg(args, "after") > 0:
            return super().call(name, {"after": count_arg(args, "after") - 1})
        return super().call(name, args)


class SmallFeed(Server):
    """A feed that keeps 8 entries instead of max(4 × max_completed, 1024)."""

    def call(self, name: str, args: JsonObject) -> Json:
        value = super().call(name, args)
        if name == "feed":
            assert isinstance(value, dict) and isinstance(value["entries"], list) and isinstance(value["watermark"], int)
            watermark = value["watermark"]
            value["entries"] = [e for e in value["entries"] if isinstance(e, dict) and count_arg(e, "seq") > watermark - 8]
        return value


def test_every_spec_action_is_bound_to_the_protocol() -> None:
    check_bindings(build("reference"))
    check_bindings(build("seed"))


def test_an_action_the_protocol_does_not_reach_fails() -> None:
    machine = build("reference")
    extra = Action("forget_everything", (), (), (), "an action no protocol call reaches")
    grown = replace(machine, actions=(*machine.actions, extra))
    with pytest.raises(SpecInconsistent, match="forget_everything"):
        Oracle(machine=grown)


@pytest.mark.parametrize("broken", [InclusiveCursor, SmallFeed])
def test_feed_bugs_are_caught_with_default_settings(broken: type[Server]) -> None:
    result = drive_random(InProcess(server=broken()), "reference", runs=300, depth=30, id_count=3, seed=0)
    assert result.failure is not None
    assert result.failure.calls[-1][0] == "feed"


def scenario(profile: str, config: RegistryConfig, calls: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    oracle = Oracle(profile, config)
    return [oracle.call(name, args) for name, args in calls]


def register(*ids: str) -> list[tuple[str, dict[str, Any]]]:
    return [("register_operation", {"id": i, "kind": "background_tool_op"}) for i in ids]


def test_f1_terminate_owner_order() -> None:
    calls = register("b", "a") + [("terminate_owner", {})]
    assert scenario("seed", RegistryConfig(1), calls)[-1] == {"ok": {"terminated": ["a", "b"]}}
    assert scenario("reference", RegistryConfig(1), calls)[-1] == {"ok": {"terminated": ["b", "a"]}}
    assert scenario("seed+termination_in_registration_order", RegistryConfig(1), calls)[-1] == \
        {"ok": {"terminated": ["b", "a"]}}


def test_seed_order_is_the_json_encoding_of_the_ids() -> None:
    # "a!" < "a" as JSON keys ('!' sorts before the closing quote), although "a" < "a!" as strings
    calls = register("a", "a!") + [("terminate_owner", {})]
    assert scenario("seed", RegistryConfig(4), calls)[-1] == {"ok": {"terminated": ["a!", "a"]}}


def test_f2_a_satisfied_wait_whose_member_was_evicted() -> None:
    calls = register("a", "b") + [("wait_begin", {"ids": ["a"]}), ("terminate_owner", {}), ("wait_poll", {})]
    assert scenario("seed", RegistryConfig(1), calls)[-1] == {"ok": {"state": "failed"}}
    assert scenario("reference", RegistryConfig(1), calls)[-1] == {"ok": {"state": "done"}}


def test_f3_dropping_an_old_waiter_orphans_the_new_one() -> None:
    calls = register("a") + [("wait_begin", {"ids": ["a"]}), ("fail_operation", {"id": "a"})] + register("b") + [
        ("wait_begin", {"ids": ["b"]}), ("wait_poll", {})] + register("c") + [("wait_begin", {"ids": ["c"]}),
                                                                             ("complete_operation", {"id": "b"})]
    seed = scenario("seed", RegistryConfig(256), calls)
    assert seed[5] == {"ok": {"state": "failed"}}
    assert seed[7] == {"error": {"kind": "wait_already_active"}}  # the orphaned barrier still holds the slot
    reference = scenario("reference", RegistryConfig(256), calls)
    assert reference[5] == {"ok": {"state": "waiting"}}


def test_unknown_decision_in_a_profile_is_refused() -> None:
    with pytest.raises(ValueError, match="no decision 'nonsense'"):
        build("seed+nonsense")

"""Recovery refuses what it cannot trust (issue 15, item 5).

A persisted snapshot, corrupted in every field (wrong type, null, negative, huge,
duplicated, reordered, dropped, inconsistent with another field), either is refused
with `RecoveryError` naming the field and its rule, or recovers to a registry that,
read into the spec's state (`tests.registry_state`), satisfies every invariant of
`spec.ops_lifecycle` (checked by the compiled spec model) — and still does after one
more operation's whole lifecycle. Never a wrong registry, never an untyped error.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from typing import Any, Callable, Iterator

import pytest

from opsref.conformance.calls import RegistryConfig
from opsref.conformance.calls import alphabet
from opsref.conformance.oracle import Oracle
from opsref.conformance.serve import Server
from opsref.impl import (
    OperationKind, OperationPeerHandle, OperationResult, OperationSpec, OpsLifecycleConfig, OpsLifecycleRegistry,
    RecoveryError,
)
from opsref.spec.compiled import compile_machine
from opsref.spec.model import State, violated_invariants
from opsref.spec.ops_lifecycle import build
from tests.registry_state import Unrepresentable, spec_state_of

MACHINE = build("reference")
COMPILED = compile_machine(MACHINE)
TOP_LEVEL = {"snapshot", "format", "max_completed", "max_concurrent", "next_completion_seq", "operations", "completed_order",
             "registered_ids", "wait", "completion_entries"}

Path = tuple[str | int, ...]


def op(name: str, kind: OperationKind = OperationKind.BACKGROUND_TOOL_OP) -> OperationSpec:
    return OperationSpec(name, kind, "owner", f"op {name}", "test",
                         child_session_id="child" if kind is OperationKind.MOB_MEMBER_CHILD else None,
                         expect_peer_channel=kind is OperationKind.MOB_MEMBER_CHILD)


def running(registry: OpsLifecycleRegistry, name: str,
            kind: OperationKind = OperationKind.BACKGROUND_TOOL_OP) -> str:
    registry.register_operation(op(name, kind))
    registry.provisioning_succeeded(name)
    return name


# --------------------------------------------------------------------------- snapshots to corrupt


def round_trip(registry: OpsLifecycleRegistry) -> dict[str, Any]:
    """The snapshot as a file would give it back."""
    snapshot: dict[str, Any] = json.loads(json.dumps(registry.capture_persistence_snapshot()))
    return snapshot


def every_outcome() -> dict[str, Any]:
    """Live ops in each live status (with progress, a peer handoff, watchers), one retained op of
    each outcome, ops evicted and collected before, and an armed barrier."""
    r = OpsLifecycleRegistry(OpsLifecycleConfig(max_completed=8, max_concurrent=9))
    for name in ("collected-1", "collected-2"):
        r.complete_operation(running(r, name), OperationResult(name, "ok"))
    r.collect_completed()
    r.cancel_operation(running(r, "evicted"), "gone")
    r.complete_operation(running(r, "done"), OperationResult("done", "ok", is_error=False, duration_ms=5,
                                                             tokens_used=7))
    r.fail_operation(running(r, "failed"), "boom")
    r.register_operation(op("aborted"))
    r.abort_provisioning("aborted", None)
    r.mark_retired(running(r, "retired"))
    r.cancel_operation(running(r, "cancelled"), None)
    r.register_operation(op("provisioning"))
    r.register_watcher("provisioning")
    member = running(r, "member", OperationKind.MOB_MEMBER_CHILD)
    r.peer_ready(member, OperationPeerHandle("peer", "inproc://x"))
    r.report_progress(member)
    r.request_retire(member)
    r.report_progress(running(r, "busy"))
    r.begin_wait_all("run", ["done", "busy"])
    r.terminate_owner("shutdown")  # terminates provisioning, member and busy: evicts the oldest
    r.register_operation(op("late"))
    r.begin_wait_all("run", ["late", "retired"])
    return round_trip(r)


def feed_full() -> dict[str, Any]:
    """More completions than the feed holds (1,024), retention 1."""
    r = OpsLifecycleRegistry(OpsLifecycleConfig(max_completed=1))
    for n in range(1030):
        r.complete_operation(running(r, f"op{n}"), OperationResult(f"op{n}", "ok"))
    return round_trip(r)


def no_retention() -> dict[str, Any]:
    r = OpsLifecycleRegistry(OpsLifecycleConfig(max_completed=0, max_concurrent=1))
    r.cancel_operation(running(r, "a"), None)
    r.register_operation(op("b"))
    return round_trip(r)


def empty() -> dict[str, Any]:
    return round_trip(OpsLifecycleRegistry())


BASES: dict[str, Callable[[], dict[str, Any]]] = {
    "every_outcome": every_outcome, "feed_full": feed_full, "no_retention": no_retention, "empty": empty}


# --------------------------------------------------------------------------- corruptions


def nodes(value: Any, path: Path = ()) -> Iterator[tuple[Path, Any]]:
    """Every node of the JSON tree; of a long list, only the first two, a middle and the last two elements."""
    yield path, value
    if isinstance(value, dict):
        for key, child in value.items():
            yield from nodes(child, (*path, key))
    elif isinstance(value, list):
        picks = sorted({0, 1, len(value) // 2, len(value) - 2, len(value) - 1} & set(range(len(value))))
        for n in picks:
            yield from nodes(value[n], (*path, n))


def replaced(root: Any, path: Path, new: Any) -> Any:
    """`root` with the node at `path` replaced (containers on the path copied, the rest shared)."""
    if not path:
        return new
    head, rest = path[0], path[1:]
    copy: Any = dict(root) if isinstance(root, dict) else list(root)
    copy[head] = replaced(root[head], rest, new)
    return copy


DROP = object()


def variants(value: Any, strings: list[str]) -> Iterator[tuple[str, Any]]:
    """The corruptions of one node: each returns (what, the new node or DROP)."""
    for what, other in (("null", None), ("negative", -1), ("huge", 2**64), ("hundred-digit", 10**100),
                        ("five-thousand-digit", 10**5000), ("float", 1.5), ("string", "x"), ("true", True),
                        ("array", []), ("object", {})):
        if not (type(other) is type(value) and other == value):
            yield what, other
    if type(value) is int:
        yield from (("+1", value + 1), ("-1", value - 1), ("zero", 0), ("2**63", 2**63), ("negated", -value))
    if type(value) is bool:
        yield "flipped", not value
    if type(value) is str:
        for other in strings:
            if other != value:
                yield f"string {other!r}", other
    if isinstance(value, dict):
        for key in value:
            yield f"drop {key}", {k: v for k, v in value.items() if k != key}
        yield "extra key", {**value, "unexpected": 1}
    if isinstance(value, list) and value:
        yield "reversed", value[::-1]
        yield "first dropped", value[1:]
        yield "last dropped", value[:-1]
        yield "first duplicated", [value[0], *value]
        yield "last duplicated", [*value, value[-1]]
        yield "emptied", []
        if len(value) > 1:
            yield "first two swapped", [value[1], value[0], *value[2:]]
        yield "elements nulled", [None for _ in value]


def string_pool(snapshot: dict[str, Any]) -> list[str]:
    """Values a string field could be confused with: ids, statuses, kinds, outcome types."""
    seen: Counter[str] = Counter(v for _, v in nodes(snapshot) if type(v) is str)
    pool = [s for s, _ in seen.most_common(12)]
    return pool + ["completed", "running", "cancelled", "mob_member_child", "absent", ""]


def corruptions(snapshot: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    strings = string_pool(snapshot)
    for path, value in nodes(snapshot):
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path) or "snapshot"
        for what, new in variants(value, strings):
            yield f"{where}: {what}", replaced(snapshot, path, new)
    # two ops exchanging a field, each consistent on its own
    ops = snapshot["operations"]
    for a in range(len(ops)):
        for b in range(a + 1, len(ops)):
            for field in ("spec", "status", "completion_seq", "terminal_outcome", "peer_ready"):
                swapped = [dict(o) for o in ops]
                swapped[a][field], swapped[b][field] = ops[b][field], ops[a][field]
                yield f"operations[{a}] and [{b}] swap {field}", {**snapshot, "operations": swapped}


# --------------------------------------------------------------------------- the check


def violations(state: State) -> list[str]:
    return [inv.name for inv in COMPILED.violated(state)]


def check_recovered(registry: OpsLifecycleRegistry, what: str) -> None:
    """Every invariant holds on the recovered registry, and after one more operation's lifecycle."""
    try:
        state = spec_state_of(MACHINE, registry)
    except Unrepresentable as err:
        raise AssertionError(f"{what}: recovered to an inconsistent registry: {err}") from None
    assert not violations(state), f"{what}: recovered registry breaks {violations(state)}"
    if registry.config.max_concurrent == 0:
        return  # nothing can be registered
    fresh = "fresh-after-recovery"
    watermark = registry.completion_feed().watermark()
    registry.complete_operation(running(registry, fresh), OperationResult(fresh, "ok"))
    state = spec_state_of(MACHINE, registry)
    assert not violations(state), f"{what}: after one more lifecycle the registry breaks {violations(state)}"
    assert registry.completion_feed().list_since(watermark).entries[-1].operation_id == fresh, what


def outcome_of(snapshot: Any, what: str) -> str:
    """'refused <rule>' or 'recovered'; fails on anything else."""
    try:
        registry = OpsLifecycleRegistry.from_recovered(snapshot)
    except RecoveryError as err:
        assert err.rule and err.field, f"{what}: {err} names no field or rule"
        head = err.field.split(".")[0].split("[")[0]
        assert head in TOP_LEVEL, f"{what}: {err.field!r} is not a field of the snapshot"
        assert str(err).startswith(f"snapshot: {err.field}: "), what
        return f"refused {err.rule}"
    except Exception as err:  # noqa: BLE001 - an untyped error is the failure being tested
        raise AssertionError(f"{what}: untyped {type(err).__name__}: {str(err)[:200]}") from None
    check_recovered(registry, what)
    return "recovered"


@pytest.mark.parametrize("base", sorted(BASES))
def test_every_corruption_is_refused_by_name_or_recovers_to_a_state_satisfying_every_invariant(base: str) -> None:
    snapshot = BASES[base]()
    assert outcome_of(snapshot, "uncorrupted") == "recovered"
    tally: Counter[str] = Counter()
    for what, bad in corruptions(snapshot):
        tally[outcome_of(bad, what)] += 1
    assert tally["recovered"] > 0 and sum(tally.values()) - tally["recovered"] > 0, tally
    print(base, sum(tally.values()), dict(tally))


# --------------------------------------------------------------------------- the examples


def refused(snapshot: Any) -> RecoveryError:
    with pytest.raises(RecoveryError) as caught:
        OpsLifecycleRegistry.from_recovered(snapshot)
    return caught.value


def test_next_completion_seq_behind_the_feed_is_refused() -> None:
    snapshot = every_outcome()
    err = refused({**snapshot, "next_completion_seq": snapshot["next_completion_seq"] - 1})
    assert err.rule in ("completed_order_exact", "feed_exact")


def test_a_null_registered_id_is_refused_not_read_as_the_string_none() -> None:
    err = refused({**every_outcome(), "registered_ids": [None]})
    assert (err.field, err.rule) == ("registered_ids[0]", "type")


def test_a_dropped_registered_id_of_a_tracked_operation_is_refused() -> None:
    snapshot = every_outcome()
    err = refused({**snapshot, "registered_ids": [i for i in snapshot["registered_ids"] if i != "done"]})
    assert err.rule == "registered"


def test_status_completed_with_a_cancelled_outcome_is_refused() -> None:
    snapshot = every_outcome()
    n = next(k for k, o in enumerate(snapshot["operations"]) if o["status"] == "completed")
    ops = [dict(o) for o in snapshot["operations"]]
    ops[n]["terminal_outcome"] = {"outcome_type": "cancelled", "reason": None}
    err = refused({**snapshot, "operations": ops})
    assert (err.field, err.rule) == (f"operations[{n}].terminal_outcome", "outcome_matches_status")


def test_duplicate_operation_ids_are_refused() -> None:
    snapshot = every_outcome()
    err = refused({**snapshot, "operations": [*snapshot["operations"], snapshot["operations"][0]]})
    assert err.rule == "unique" and err.field.endswith(".spec.id")


def test_a_reversed_completed_order_is_refused() -> None:
    snapshot = every_outcome()
    err = refused({**snapshot, "completed_order": snapshot["completed_order"][::-1]})
    assert err.rule == "completed_order_exact"


def test_more_retained_operations_than_max_completed_is_refused() -> None:
    snapshot = every_outcome()
    err = refused({**snapshot, "max_completed": len(snapshot["completed_order"]) - 1})
    assert err.rule in ("completed_order_exact", "feed_exact")


@pytest.mark.parametrize("field", ["progress_count", "completion_seq", "watcher_count"])
def test_negative_counts_are_refused(field: str) -> None:
    snapshot = every_outcome()
    ops = [dict(o) for o in snapshot["operations"]]
    ops[0][field] = -1
    err = refused({**snapshot, "operations": ops})
    assert (err.field, err.rule) == (f"operations[0].{field}", "range")


@pytest.mark.parametrize("value", [-1, 10**20, 10**5000], ids=["negative", "20-digit", "5000-digit"])
def test_an_impossible_max_completed_is_a_typed_refusal(value: int) -> None:
    """Was ValueError (negative) and OverflowError (too large for the feed's deque)."""
    err = refused({**empty(), "max_completed": value})
    assert (err.field, err.rule) == ("max_completed", "range")
    assert len(str(err)) < 200


# --------------------------------------------------------------------------- the reading itself


@pytest.mark.parametrize("seed", range(12))
def test_a_recovered_registry_reads_as_the_spec_state_after_recover(seed: int) -> None:
    """The reading is right: registry and spec driven by the same calls, then both
    recovered, read as the same spec state (registration numbers compared by order)."""
    rng = random.Random(seed)
    config = RegistryConfig(rng.randint(0, 3), rng.choice([None, 2, 3]))
    oracle = Oracle("reference", config, checked=True)
    server = Server()
    server.answer(json.dumps({"call": "reset", "args": config.to_json()}))
    calls = [c for c in alphabet(["a", "b", "c", "d", "e"]) if c[0] != "persist_and_recover"]
    for _ in range(rng.randint(5, 60)):
        call, args = rng.choice(calls)
        server.answer(json.dumps({"call": call, "args": args}))
        oracle.call(call, args)
    server.answer(json.dumps({"call": "persist_and_recover", "args": {}}))
    oracle.call("persist_and_recover", {})
    mine, spec = spec_state_of(MACHINE, server.registry), oracle.state
    assert not violated_invariants(MACHINE, mine)
    for name in ("active_count", "next_seq", "order_head", "feed_head", "wait_active", "waiter"):
        assert mine.globals[name] == spec.globals[name], name
    # (`member` is left out: it means something only while a barrier waits, and recovery drops the barrier)
    for name in ("status", "kind", "peer_ready", "progress", "outcome", "seq", "watchers", "used"):
        assert mine.maps[name] == spec.maps[name], name
    window = range(spec.globals["feed_head"] + 1, spec.globals["next_seq"] + 1)  # type: ignore[operator]
    for name in ("order", "feed_outcome"):
        assert {s: mine.maps[name].get(s) for s in window} == {s: spec.maps[name].get(s) for s in window}, name
    by_number = sorted(spec.maps["registered"], key=lambda i: spec.maps["registered"][i])
    assert sorted(mine.maps["registered"], key=lambda i: mine.maps["registered"][i]) == by_number

"""The spec model and the registry in lock-step (Hypothesis stateful testing).

Every rule applies one API call to `impl` and the corresponding action(s) to the
spec model, then compares: the same acceptance, or the same error kind with the
same fields; after every step the same per-operation snapshots, active count,
feed watermark and barrier state, and every spec invariant holds on the model.

`lockstep_machine(registry_class)` builds the machine for any registry class, so
a deliberately broken subclass can be shown to fail it.
"""

from __future__ import annotations

import json
from typing import Callable

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from conformance.oracle import snake
from conformance.serve import PER_ID as SERVED_PER_ID
from impl import (
    InvalidTransitionError, MaxConcurrentExceededError, OperationKind, OperationPeerHandle, OperationProgressUpdate,
    OperationResult, OperationSpec, OpsLifecycleConfig, OpsLifecycleError, OpsLifecycleRegistry, WaitAllHandle,
)
from spec import model
from spec.model import Accepted, Rejected, State, Value, violated_invariants
from spec.ops_lifecycle import build

SPEC = build("reference")
IDS = ("a", "b", "c", "d")
KINDS = {OperationKind.MOB_MEMBER_CHILD: "mob_member_child", OperationKind.BACKGROUND_TOOL_OP: "background_tool_op"}
LIVE = ("provisioning", "running", "retiring")

#: per-id API calls: spec action -> how to make the same call on the registry
#: (the protocol server's table, plus register_watcher)
PER_ID: dict[str, Callable[[OpsLifecycleRegistry, str], object]] = {
    **SERVED_PER_ID, "register_watcher": lambda r, i: r.register_watcher(i),
}

Outcome = tuple[str, dict[str, Value]]  # ("ok", {}) or (error kind, fields)


def observed(call: Callable[[], object]) -> tuple[Outcome, object]:
    """Run a registry call; an error becomes (kind, the fields it carries)."""
    try:
        return ("ok", {}), call()
    except OpsLifecycleError as err:
        fields: dict[str, Value] = {}
        for name in ("id", "action", "limit", "active"):
            if hasattr(err, name):
                fields[name] = getattr(err, name)
        if isinstance(err, InvalidTransitionError):
            fields["status"] = err.status.value
        return (err.kind, fields), None


def expected(result: model.StepResult) -> Outcome:
    if isinstance(result, Accepted):
        return ("ok", {})
    return (snake(result.error), dict(result.fields))


def same(spec: Outcome, impl: Outcome, what: str) -> None:
    """Same acceptance, same error kind, and every field the spec names has the same value."""
    assert spec[0] == impl[0], f"{what}: spec says {spec}, registry says {impl}"
    for name, value in spec[1].items():
        assert impl[1].get(name) == value, f"{what}: field {name}: spec {value!r}, registry {impl[1].get(name)!r}"


def lockstep_machine(registry_class: type[OpsLifecycleRegistry]) -> type[RuleBasedStateMachine]:
    class Lockstep(RuleBasedStateMachine):
        state: State
        registry: OpsLifecycleRegistry

        def __init__(self) -> None:
            super().__init__()
            self.order: list[str] = []  # registration order, for terminate_owner
            self.handle: WaitAllHandle | None = None
            self.config: dict[str, Value] = {}

        @initialize(max_completed=st.integers(0, 3), max_concurrent=st.none() | st.integers(0, 3))
        def start(self, max_completed: int, max_concurrent: int | None) -> None:
            self.config = {"max_completed": max_completed, "has_limit": max_concurrent is not None,
                           "max_concurrent": max_concurrent or 0}
            self.state = model.initial_state(SPEC, self.config)
            self.registry = registry_class(OpsLifecycleConfig(max_completed, max_concurrent))

        def step(self, action: str, params: dict[str, Value]) -> model.StepResult:
            result = model.step(SPEC, self.state, action, params)
            if isinstance(result, Accepted):
                bad = violated_invariants(SPEC, result.state, self.state, action, params)
                assert not bad, f"spec invariant {[b.name for b in bad]} fails after {action}{params}"
                self.state = result.state
            return result

        # ------------------------------------------------------------ rules

        @rule(id=st.sampled_from(IDS), kind=st.sampled_from(sorted(KINDS, key=lambda k: k.value)))
        def register_operation(self, id: str, kind: OperationKind) -> None:
            spec = OperationSpec(id, kind, "owner", f"op {id}", "test",
                                 child_session_id=f"child-{id}" if kind is OperationKind.MOB_MEMBER_CHILD else None,
                                 expect_peer_channel=kind.expects_peer_channel())
            got, _ = observed(lambda: self.registry.register_operation(spec))
            want = expected(self.step("register_operation", {"id": id, "kind": KINDS[kind]}))
            same(want, got, f"register_operation({id})")
            if got[0] == "ok":
                self.order.append(id)

        @rule(action=st.sampled_from(sorted(PER_ID)), id=st.sampled_from(IDS))
        def per_id_call(self, action: str, id: str) -> None:
            got, _ = observed(lambda: PER_ID[action](self.registry, id))
            same(expected(self.step(action, {"id": id})), got, f"{action}({id})")

        @rule()
        def terminate_owner(self) -> None:
            got, _ = observed(lambda: self.registry.terminate_owner("owner gone"))
            assert got[0] == "ok"
            for id in self.order:  # one terminal transition per live op, registration order
                if self.state.get(SPEC, "status", id) in LIVE:
                    assert isinstance(self.step("terminate_op", {"id": id}), Accepted)

        @rule()
        def collect_completed(self) -> None:
            retained = sorted((self.state.get(SPEC, "seq", i), i, self.state.get(SPEC, "outcome", i)) for i in IDS
                              if self.state.get(SPEC, "outcome", i) != "none")
            got, collected = observed(self.registry.collect_completed)
            assert got[0] == "ok" and isinstance(self.step("collect_completed", {}), Accepted)
            assert isinstance(collected, list)
            assert [(i, o.status.value) for i, o in collected] == [(i, outcome) for _, i, outcome in retained]

        @rule(ids=st.lists(st.sampled_from(IDS), max_size=4))
        def wait_begin(self, ids: list[str]) -> None:
            got, handle = observed(lambda: self.registry.begin_wait_all("run", ids))
            params: dict[str, Value] = {"ids": frozenset(ids), "has_duplicate": len(set(ids)) != len(ids)}
            same(expected(self.step("wait_request", params)), got, f"wait_all({ids})")
            if isinstance(handle, WaitAllHandle):
                self.handle = handle

        @precondition(lambda self: self.handle is not None)
        @rule()
        def wait_cancel(self) -> None:
            assert self.handle is not None
            if not self.handle.done():
                self.handle.cancel()
                assert isinstance(self.step("wait_cancel", {}), Accepted)
            self.handle = None

        @rule()
        def persist_and_recover(self) -> None:
            snapshot = json.loads(json.dumps(self.registry.capture_persistence_snapshot()))
            self.registry = registry_class.from_recovered(snapshot)
            assert isinstance(self.step("recover", {}), Accepted)
            if self.handle is not None and not self.handle.done():
                self.handle = None  # the waiter does not survive a restart

        # ------------------------------------------------------------ comparisons

        @invariant()
        def same_operations(self) -> None:
            if not hasattr(self, "state"):
                return
            for id in IDS:
                snap = self.registry.snapshot(id)
                status = self.state.get(SPEC, "status", id)
                if snap is None:
                    assert status == "absent", f"{id}: registry has no record, spec says {status}"
                    continue
                want = (status, self.state.get(SPEC, "peer_ready", id), self.state.get(SPEC, "progress", id),
                        self.state.get(SPEC, "watchers", id), self.state.get(SPEC, "outcome", id))
                have = (snap.status.value, snap.peer_ready, snap.progress_count, snap.watcher_count,
                        snap.terminal_outcome.status.value if snap.terminal_outcome else "none")
                assert have == want, f"{id}: registry {have}, spec {want}"

        @invariant()
        def same_counters_feed_and_barrier(self) -> None:
            if not hasattr(self, "state"):
                return
            assert self.registry.active_count == self.state.get(SPEC, "active_count")
            feed = self.registry.completion_feed().list_since(0)
            assert feed.watermark == self.state.get(SPEC, "next_seq")
            assert [e.seq for e in feed.entries] == list(range(1, feed.watermark + 1))
            by_seq = {e.seq: (e.operation_id, e.terminal_outcome.status.value) for e in feed.entries}
            for id in IDS:  # every retained terminal op has its own entry in the feed
                if self.state.get(SPEC, "outcome", id) != "none":
                    want = (id, self.state.get(SPEC, "outcome", id))
                    seq = self.state.get(SPEC, "seq", id)
                    assert isinstance(seq, int) and by_seq.get(seq) == want
            assert self.registry.wait_active() == self.state.get(SPEC, "wait_active")
            if self.handle is not None:
                satisfied = self.state.get(SPEC, "wait_tokens") == 1 and not self.state.get(SPEC, "wait_active")
                assert self.handle.done() == satisfied, "barrier resolution differs from the spec's token"

    return Lockstep

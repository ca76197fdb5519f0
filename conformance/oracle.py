"""The oracle: what the spec says every protocol call returns.

It runs the spec machine (compiled, `spec.compiled`) and maps each protocol call to
its spec action(s), the way DESIGN's table does: `terminate_owner` is
`terminate_op` once per live op in registration order, `wait_begin` is
`wait_request` over the set of ids, `persist_and_recover` is `recover`. The values
a call returns (snapshots, the drained list, the feed) are read off the spec
state; the only bookkeeping kept beside it is what the machine abstracts away:
registration order of live ops, the feed's entries, and which wait the caller
holds. Every answer comes with a `Decision`: the spec guard or effects that made it.
"""

from __future__ import annotations

import re
from collections import deque
from itertools import islice
from dataclasses import dataclass, field
from typing import Any, Mapping

from conformance.calls import TRANSITIONS, Config
from spec.compiled import compile_machine
from spec.machine import Action, AssignAt, Guard, Machine
from spec.model import State, Value, initial_state
from spec.ops_lifecycle import LIVE, TERMINAL
from spec.registry import MACHINES
from spec.render import effect_text, guard_text
from spec.terms import Lit

Result = dict[str, Any]  # {"ok": value} or {"error": {"kind": ..., fields}}


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class SpecInconsistent(Exception):
    """The spec cannot answer a call the way the protocol maps it (only a broken spec does this)."""


@dataclass
class Decision:
    """Which spec actions a call ran and, for a refusal, the guard that refused it."""

    steps: list[tuple[str, Guard | None]] = field(default_factory=list)
    note: str = ""
    reads: tuple[tuple[str, str | None], ...] = ()  # (field read, the action that last wrote it)

    def explain(self, machine: Machine) -> list[str]:
        lines = []
        for action_name, refused in self.steps:
            action = machine.action(action_name)
            if refused is not None:
                lines.append(f"spec {machine.name}/{machine.profile}: {action_name} is refused by guard "
                             f"{guard_text(refused)} ({refused.reason})")
                continue
            guards = ", ".join(g.name for g in action.guards) or "none"
            lines.append(f"spec {machine.name}/{machine.profile}: {action_name} is accepted (guards hold: {guards}); "
                         f"effects: {'; '.join(effect_text(e) for e in action.effects[:6])}"
                         + (" ..." if len(action.effects) > 6 else ""))
        if self.note:
            lines.append(self.note)
        for name, writer in self.reads:
            if writer is None:
                lines.append(f"{name} still has its initial value")
                continue
            effects = [effect_text(e) for e in machine.action(writer).effects if e.field == name]
            lines.append(f"{name} was last written by {writer}: {'; '.join(effects)}")
        return lines


_BUILT: dict[str, Machine] = {}


def _machine(profile: str) -> Machine:
    """One machine object per profile, so its compiled form is built once."""
    if profile not in _BUILT:
        _BUILT[profile] = MACHINES["ops_lifecycle"](profile)
    return _BUILT[profile]


def _outcome_of(action: Action) -> str | None:
    """The terminal outcome an action writes, read off its effects (None if it writes none)."""
    for e in action.effects:
        if isinstance(e, AssignAt) and e.field == "outcome" and isinstance(e.value, Lit):
            return str(e.value.value)
    return None


class Oracle:
    """The spec's answer to each call of the protocol, for one profile and config."""

    def __init__(self, profile: str = "reference", config: Config = Config(), machine: Machine | None = None) -> None:
        self.machine = machine or _machine(profile)
        self.compiled = compile_machine(self.machine)
        self.outcomes = {a.name: _outcome_of(a) for a in self.machine.actions}
        self.writes = {a.name: {f: a.name for f in a.writes} for a in self.machine.actions}
        self.kinds = {error: snake(error) for error in self.machine.errors}
        self.reset(config)

    def reset(self, config: Config) -> None:
        self.config = config
        self.state: State = initial_state(self.machine, config.spec_config())
        self.live_order: dict[str, None] = {}
        self.feed: deque[tuple[int, str, str]] = deque(maxlen=max(4 * config.max_completed, 1024))
        self.wait: int | None = None  # the wait_request number of the last wait begun
        self._steps: list[tuple[str, Guard | None]] = []
        self._note = ""
        self._reads: tuple[tuple[str, str | None], ...] = ()
        self.last_writer: dict[str, str] = {}  # field -> the last accepted action that wrote it

    def clone(self) -> "Oracle":
        """An independent copy (same machine, same state and bookkeeping)."""
        other = Oracle.__new__(Oracle)
        other.machine, other.compiled, other.outcomes = self.machine, self.compiled, self.outcomes
        other.config = self.config
        other.state = self.state.copy()
        other.live_order = dict(self.live_order)
        other.feed = deque(self.feed, maxlen=self.feed.maxlen)
        other.wait = self.wait
        other.writes, other.kinds = self.writes, self.kinds
        other.last_writer = dict(self.last_writer)
        other._steps, other._note, other._reads = [], "", ()
        return other

    def bookkeeping(self) -> Any:
        """What the oracle keeps beside the spec state (part of a state's identity when pruning)."""
        return (tuple(self.live_order), self.wait, tuple(self.feed))

    @property
    def decision(self) -> Decision:
        """What decided the answer to the last call."""
        return Decision(list(self._steps), self._note, self._reads)

    # ------------------------------------------------------------ reading the state

    def _get(self, name: str, key: Value | None = None) -> Value:
        if key is None:
            return self.state.globals[name]
        return self.state.maps[name].get(key, self.machine.field(name).default.value)

    def snapshot(self, id: str) -> dict[str, Any] | None:
        status = self._get("status", id)
        if status == "absent":
            return None
        outcome = self._get("outcome", id)
        return {"status": status, "kind": self._get("kind", id), "peer_ready": self._get("peer_ready", id),
                "progress": self._get("progress", id), "watchers": self._get("watchers", id),
                "outcome": None if outcome == "none" else outcome}

    def operations(self) -> dict[str, Any]:
        tracked = sorted(str(i) for i in self.state.maps["status"])
        return {"active_count": self._get("active_count"),
                "operations": {i: self.snapshot(i) for i in tracked}}

    # ------------------------------------------------------------ stepping

    def _step(self, action: str, params: Mapping[str, Value]) -> Result | None:
        """Run one spec action in place; an error result if a guard refused it."""
        before = self.state.globals["next_seq"]
        refused = self.compiled.apply(self.state, action, params)
        self._steps.append((action, refused))
        if refused is not None:
            payload = self.compiled.payload(action, refused, self.state, params)
            return {"error": {"kind": self.kinds[refused.error], **dict(payload)}}
        self.last_writer.update(self.writes[action])
        if self.state.globals["next_seq"] != before:  # a terminal transition: one feed entry
            seq = self.state.globals["next_seq"]
            assert isinstance(seq, int)
            outcome = self.outcomes[action]
            self.feed.append((seq, str(params["id"]), str(outcome)))
        return None

    def call(self, name: str, args: Mapping[str, Any]) -> Result:
        """The spec's result for one (already validated) protocol call."""
        self._steps, self._note, self._reads = [], "", ()
        if name == "register_operation":
            error = self._step(name, {"id": args["id"], "kind": args["kind"]})
            if error is None:
                self.live_order[args["id"]] = None
            return error or {"ok": None}
        if name in TRANSITIONS:
            error = self._step(name, {"id": args["id"]})
            if error is None and self._get("status", args["id"]) not in LIVE:
                self.live_order.pop(args["id"], None)
            return error or {"ok": None}
        if name == "register_watcher":
            resolved = self._get("status", args["id"]) in TERMINAL
            return self._step(name, {"id": args["id"]}) or {"ok": {"resolved": resolved}}
        if name == "terminate_owner":
            terminated = list(self.live_order)
            for id in terminated:
                error = self._step("terminate_op", {"id": id})
                if error is not None:  # the spec refusing a live op is a spec bug (a mutant, say)
                    raise SpecInconsistent(f"terminate_owner: the spec refuses terminate_op({id}) on a live op: "
                                           f"{error}")
            self.live_order.clear()
            self._note = "terminate_owner = terminate_op on every live op, in registration order"
            return {"ok": {"terminated": terminated}}
        if name == "collect_completed":
            head, last = self._get("order_head"), self._get("next_seq")
            assert isinstance(head, int) and isinstance(last, int)
            drained = [str(self._get("order", s)) for s in range(head + 1, last + 1)]
            value = [{"id": i, "outcome": self._get("outcome", i)} for i in drained]
            self._step(name, {})
            return {"ok": value}
        if name == "wait_begin":
            ids = args["ids"]
            params: dict[str, Value] = {"ids": frozenset(ids), "has_duplicate": len(set(ids)) != len(ids)}
            error = self._step("wait_request", params)
            if error is not None:
                return error
            request = self._get("wait_request")
            assert isinstance(request, int)
            self.wait = request
            return {"ok": {"done": not self._get("wait_active")}}
        if name == "wait_poll":
            self._note = "wait_poll reads the wait's state off wait_active and wait_tokens"
            self._reads = tuple((f, self.last_writer.get(f)) for f in ("wait_active", "wait_tokens"))
            return {"ok": {"state": self._wait_state()}}
        if name == "wait_cancel":
            if self.wait is not None and self._get("wait_active"):
                self._step("wait_cancel", {})
            return {"ok": None}
        if name == "snapshot":
            return {"ok": self.snapshot(args["id"])}
        if name == "operations":
            return {"ok": self.operations()}
        if name == "active_count":
            return {"ok": self._get("active_count")}
        if name == "feed":
            last = self._get("next_seq")
            assert isinstance(last, int)
            newer = min(len(self.feed), max(0, last - args["after"]))  # feed seqs are consecutive, ending at last
            return {"ok": {"watermark": last, "entries": [
                {"seq": s, "id": i, "outcome": o} for s, i, o in reversed(list(islice(reversed(self.feed), newer)))]}}
        if name == "persist_and_recover":
            self._step("recover", {})
            self.live_order.clear()
            self.wait = None
            return {"ok": None}
        raise KeyError(name)

    def _wait_state(self) -> str:
        if self.wait is None:
            return "none"
        if self._get("wait_active"):
            return "waiting"
        tokens = self._get("wait_tokens")
        assert isinstance(tokens, int)
        return "done" if tokens >= 1 else "cancelled"


def same_json(a: Any, b: Any) -> bool:
    """JSON equality: unlike Python's ==, true is not 1 and 1.0 is not 1."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_json(v, b[k]) for k, v in a.items())
    if isinstance(a, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b))
    return bool(a == b)


def agrees(expected: Result, observed: Result) -> bool:
    """Same value, or the same error kind with every field the spec names equal."""
    if "ok" in expected:
        if "ok" not in observed:
            return False
        want_value, got_value = expected["ok"], observed["ok"]
        if want_value is None:  # the common case, decided without a recursive walk
            return got_value is None
        return same_json(want_value, got_value)
    if "error" not in observed or not isinstance(observed["error"], dict):
        return False
    want, got = expected["error"], observed["error"]
    for k, v in want.items():
        if k not in got:
            return False
        g = got[k]
        if type(v) is not type(g) or (v != g if type(v) in (str, int) else not same_json(v, g)):
            return False
    return True

"""The spec and the registry in lock-step, call by call (Hypothesis stateful testing).

Every rule is one protocol call drawn from the registry's alphabet
(`conformance.calls.alphabet`, derived from the protocol's call table, whose
bindings reach every spec action: `conformance.oracle.check_bindings`). The call
goes to the spec through the oracle, with every invariant checked after every spec
step, and to `impl` through `opsref serve`'s server; the answers must agree, and
after every call so must everything observable (operations, the held waiter, the
feed from every cursor up to the watermark).

Ids are slots: the alphabet names four, `a` to `d`, and a pseudo-call `register_fresh`
(about one step in twelve) points a slot at a fresh id and registers it. Ids are never
reused, so with fixed ids four registrations would exhaust a run; with slots a run keeps
registering new operations while calls keep landing on the few it has (Hypothesis's
fresh-ids-in-a-bundle idea, kept to one rule so the step budget goes to protocol calls).
A plain `register_operation` on a slot whose id is taken is a duplicate, refused: that
is behaviour too.

`lockstep_machine(registry_class)` builds the machine for any registry class, so a
deliberately broken subclass can be shown to fail it.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from opsref.conformance.calls import CALLS as CALL_SPECS
from opsref.conformance.calls import Call, RegistryConfig, alphabet
from opsref.conformance.oracle import Oracle, agrees
from opsref.conformance.serve import Server
from opsref.impl import OpsLifecycleRegistry
from tests.disagreement import answers_differ

SLOTS = ["a", "b", "c", "d"]
#: every protocol call over the slots, and a registration of a fresh id per slot and kind
CALLS: list[Call] = alphabet(SLOTS) + [("register_fresh", {"slot": args["id"], "kind": args["kind"]})
                                       for name, args in alphabet(SLOTS) if name == "register_operation"]


def lockstep_machine(registry_class: type[OpsLifecycleRegistry]) -> type[RuleBasedStateMachine]:
    class Lockstep(RuleBasedStateMachine):
        oracle: Oracle
        server: Server

        def ask(self, call: str, args: dict[str, Any], after: str | None = None) -> None:
            """One call on both sides; `after` names the change a read is checking (the
            last protocol call), which a `Disagreement` on the read reports."""
            observed = self.server.answer(json.dumps({"call": call, "args": args}))
            expected = self.oracle.call(call, args)
            if not agrees(expected, observed):
                read = "" if after is None else call + "".join(f"({k}={v})" for k, v in args.items())
                raise answers_differ(call if after is None else after, expected, observed, read)

        def __init__(self) -> None:
            super().__init__()
            self.ids = {slot: slot for slot in SLOTS}  # slot -> the id it names now
            self.minted = 0

        def bind(self, call: str, args: dict[str, Any]) -> dict[str, Any]:
            """The call's arguments with each slot replaced by the id it names."""
            kinds = {a.name: a.kind for a in CALL_SPECS[call].args}
            return {k: self.ids[v] if kinds.get(k) == "id" else [self.ids[x] for x in v] if kinds.get(k) == "ids" else v
                    for k, v in args.items()}

        @initialize(max_completed=st.integers(0, 3), max_concurrent=st.none() | st.integers(0, 3))
        def start(self, max_completed: int, max_concurrent: int | None) -> None:
            config = RegistryConfig(max_completed, max_concurrent)
            self.oracle = Oracle("reference", config, checked=True)
            self.server = Server(registry_class)
            self.server.answer(json.dumps({"call": "reset", "args": config.to_json()}))

        @rule(call=st.sampled_from(CALLS))
        def protocol_call(self, call: Call) -> None:
            name, args = call
            if name == "register_fresh":
                self.minted += 1
                self.ids[str(args["slot"])] = f"{args['slot']}{self.minted}"
                name, args = "register_operation", {"id": args["slot"], "kind": args["kind"]}
            self.last = name
            self.ask(name, self.bind(name, args))

        @invariant()
        def same_observables(self) -> None:
            if not hasattr(self, "oracle"):
                return
            last = getattr(self, "last", "reset")
            self.ask("operations", {}, last)
            self.ask("wait_poll", {}, last)  # an action, but one that changes nothing in the reference
            watermark = self.oracle.get("next_seq")
            assert isinstance(watermark, int)
            for after in range(watermark + 2):
                self.ask("feed", {"after": after}, last)

    return Lockstep

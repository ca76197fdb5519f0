"""`opsref vectors`: a test-vector corpus for other implementations' own CI.

Every vector is a trace file whose results are the spec's: an implementation
replays the calls and compares its answers (and the final snapshot). The corpus
covers every per-operation call from every status of its target operation, every
error kind each call can raise (derived from the spec's guards), the wait
barrier's outcomes, feed reads around the watermark, and a scenario per decision. Vectors are found by a
breadth-first search of the spec from Init, so each is a shortest one.
The output is deterministic: same spec, same bytes.
"""

from __future__ import annotations

import json
import shutil
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import AbstractSet

from opsref.conformance.calls import TRANSITIONS, Call, InputError, ProtocolConfig, RegistryConfig, alphabet, count_arg, text_arg
from opsref.conformance.drive import StateKey, feed_cursors, state_key
from opsref.conformance.oracle import READS, Oracle, Result, SpecOracle, error_kind, snake
from opsref.conformance.protocol import protocol
from opsref.conformance.trace import Event, Header, write
from opsref.spec.ops_lifecycle import STATUS

#: the per-operation calls of the coverage matrix (rows); columns are the target's status
PER_OP_CALLS = ("register_operation", *TRANSITIONS, "register_watcher")
#: protocol call -> the spec actions whose guards decide its errors
DECIDED_BY = {**{c: (c,) for c in PER_OP_CALLS}, "wait_begin": ("wait_request",)}
#: the configurations the corpus is searched under (the driver's are conformance.calls.CONFIGS)
VECTOR_CONFIGS = (RegistryConfig(1, None), RegistryConfig(1, 1))
MAX_DEPTH = 5  # the longest shortest vector has 5 calls; coverage fails loudly if that changes
IDS = ["a", "b"]

#: The scenario of each of the machine's decisions (spec.machine.Decision, same name), as
#: call sequences; the results come from the chosen profile.
DECISIONS: dict[str, tuple[RegistryConfig, list[Call]]] = {
    "barrier_survives_eviction": (
        RegistryConfig(1, None), [
            ("register_operation", {"id": "a", "kind": "background_tool_op"}),
            ("register_operation", {"id": "b", "kind": "background_tool_op"}),
            ("provisioning_succeeded", {"id": "a"}), ("provisioning_succeeded", {"id": "b"}),
            ("complete_operation", {"id": "a"}),
            ("wait_begin", {"ids": ["a", "b"]}),
            ("complete_operation", {"id": "b"}),
            ("snapshot", {"id": "a"}),
            ("wait_poll", {}),
        ]),
    "ids_never_reused": (
        RegistryConfig(256, None), [
            ("register_operation", {"id": "a", "kind": "background_tool_op"}),
            ("provisioning_succeeded", {"id": "a"}), ("complete_operation", {"id": "a"}),
            ("collect_completed", {}),
            ("register_operation", {"id": "a", "kind": "background_tool_op"}),
        ]),
    "provisioning_failed_only_while_provisioning": (
        RegistryConfig(256, None), [
            ("register_operation", {"id": "a", "kind": "background_tool_op"}),
            ("provisioning_succeeded", {"id": "a"}), ("provisioning_failed", {"id": "a"}),
        ]),
    "termination_in_registration_order": (
        RegistryConfig(256, None), [
            ("register_operation", {"id": "b", "kind": "background_tool_op"}),
            ("register_operation", {"id": "a", "kind": "background_tool_op"}),
            ("terminate_owner", {}),
        ]),
    "satisfied_wait_resolves_at_once": (
        RegistryConfig(1, None), [
            ("register_operation", {"id": "a", "kind": "background_tool_op"}),
            ("register_operation", {"id": "b", "kind": "background_tool_op"}),
            ("wait_begin", {"ids": ["a"]}),
            ("terminate_owner", {}),
            ("wait_poll", {}),
        ]),
    "dropped_waiter_cancels_only_its_own": (
        RegistryConfig(256, None), [
            ("register_operation", {"id": "a", "kind": "background_tool_op"}),
            ("wait_begin", {"ids": ["a"]}),
            ("fail_operation", {"id": "a"}),
            ("register_operation", {"id": "b", "kind": "background_tool_op"}),
            ("wait_begin", {"ids": ["b"]}),
            ("wait_poll", {}),
        ]),
}

#: The scenario of each decision of the machines of the action protocol (no configuration):
#: decision name -> (machine, calls); the results come from the chosen profile.
ACTION_DECISIONS: dict[str, tuple[str, list[Call]]] = {
    # the old drain task's straggling exit report stops the re-registered session's drain in the seed
    "teardown_is_final": ("comms_drain", [
        ("register_session", {"id": "s"}),
        ("set_peer_ingress_context", {"id": "s", "keep_alive": True, "comms_runtime": 1, "mob": 0}),
        ("unregister_session", {"id": "s"}),
        ("register_session", {"id": "s"}),
        ("set_peer_ingress_context", {"id": "s", "keep_alive": True, "comms_runtime": 1, "mob": 0}),
        ("notify_drain_exited", {"id": "s", "reason": "dismissed"}),
        ("observe", {"id": "s"}),
    ]),
    # a retired runtime's executor runs to drain it; the seed admits a new input during that run
    "drain_run_takes_no_input": ("runtime_control", [
        ("register_runtime", {}), ("runtime_ready", {}), ("attach", {}), ("accept_input", {"input": "i1"}),
        ("retire", {}), ("begin_run", {}), ("accept_input", {"input": "i2"}), ("observe", {"id": "i2"}),
    ]),
    # a retire leaves an input to drain; the seed's stop then abandons it, the reference refuses to stop
    "retired_runtimes_stop_once_drained": ("runtime_control", [
        ("register_runtime", {}), ("runtime_ready", {}), ("attach", {}), ("accept_input", {"input": "i1"}),
        ("retire", {}), ("stop", {}), ("observe", {"id": "i1"}),
    ]),
}


def decision_scenario(name: str) -> tuple[str, ProtocolConfig, list[Call]]:
    """(machine, config, calls) of the decision `name`, whichever machine it belongs to."""
    if name in DECISIONS:
        config, calls = DECISIONS[name]
        return "ops_lifecycle", config, calls
    machine, action_calls = ACTION_DECISIONS[name]
    return machine, protocol(machine).default_config, action_calls


def feed_overflow(config: RegistryConfig) -> tuple[list[Call], set[str]]:
    """Completions until the spec's feed has dropped two entries, then reads around the
    oldest entry kept and the watermark; with the feed cells those reads cover."""
    oracle = Oracle("reference", config)
    calls: list[Call] = []
    n = 0
    while oracle.number("feed_head") < 2:
        n += 1
        made: tuple[Call, ...] = (("register_operation", {"id": f"op{n}", "kind": "background_tool_op"}),
                                  ("cancel_operation", {"id": f"op{n}"}))
        for call in made:
            calls.append(call)
            oracle.call(*call)
    cursors = feed_cursors(oracle.number("feed_head"), oracle.number("next_seq"))
    return calls + [("feed", {"after": a}) for a in cursors], {feed_cell(oracle, a) for a in cursors}


def feed_cell(oracle: Oracle, after: int) -> str:
    """Where a feed cursor lies: below, at or above the watermark, or below the oldest entry kept."""
    watermark, head = oracle.number("next_seq"), oracle.number("feed_head")
    if after < head:
        return "before_oldest"
    return "below" if after < watermark else "at" if after == watermark else "above"


FEED_CELLS = ("below", "at", "above", "before_oldest")


def _result_kind(result: Result) -> str:
    return error_kind(result)


@dataclass(frozen=True)
class Vector:
    path: str          # relative to the corpus root
    call: str
    from_status: str   # status of the target op before the call ("-" for calls without one)
    result: str        # "ok" or the error kind
    config: RegistryConfig
    calls: tuple[Call, ...]
    description: str


def _events(oracle: Oracle, calls: list[Call] | tuple[Call, ...]) -> list[Event]:
    events = [Event(n + 2, name, args, oracle.call(name, args)) for n, (name, args) in enumerate(calls)]
    last = events[-1]
    events[-1] = Event(last.line, last.call, last.args, last.result, oracle.operations())
    return events


def search(profile: str) -> dict[tuple[str, str, str], Vector]:
    """Breadth first from Init over every config: the shortest vector for each
    (call, from-status, result kind), plus wait_begin's outcomes."""
    found: dict[tuple[str, str, str], Vector] = {}
    calls = alphabet(IDS)
    seen: set[tuple[RegistryConfig, StateKey]] = set()
    frontier: deque[tuple[RegistryConfig, Oracle, tuple[Call, ...]]] = deque(
        (config, Oracle(profile, config), ()) for config in VECTOR_CONFIGS)
    while frontier:
        config, oracle, path = frontier.popleft()
        for name, args in calls:
            status = str(oracle.state.maps["status"].get(text_arg(args, "id"), "absent")) if "id" in args else "-"
            after = oracle.clone()
            result = after.call(name, args)
            kind = _result_kind(result)
            if name == "wait_begin" and kind == "ok":
                ok = result["ok"]
                kind = "ok_done" if isinstance(ok, dict) and ok["done"] else "ok_waiting"
            if name == "feed":
                status = feed_cell(oracle, count_arg(args, "after"))
            if name in PER_OP_CALLS and status == "absent" and oracle.state.maps["used"].get(text_arg(args, "id")):
                status = "absent_used"  # untracked, but registered before (evicted or collected)
            key = (name, status, kind)
            if key not in found and (name in PER_OP_CALLS or name in ("wait_begin", "feed")):
                found[key] = Vector(f"cells/{name}/{status}__{kind}.jsonl", name, status, kind, config,
                                    path + ((name, args),), f"{name} on an op in {status}: {kind}")
            if len(path) + 1 < MAX_DEPTH and name not in READS:
                explored = (config, state_key(after))
                if explored not in seen:
                    seen.add(explored)
                    frontier.append((config, after, path + ((name, args),)))
    return found


def required_errors(oracle: Oracle) -> dict[str, set[str]]:
    """Every error kind each call can raise, read off the spec's guards."""
    return {call: {snake(g.error) for a in actions for g in oracle.machine.action(a).guards}
            for call, actions in DECIDED_BY.items()}


@dataclass
class Coverage:
    matrix: dict[str, dict[str, set[str]]]  # call -> from-status -> result kinds
    missing: list[str]

    @property
    def ok(self) -> bool:
        return not self.missing


def coverage(found: dict[tuple[str, str, str], Vector], oracle: Oracle,
             overflowed: AbstractSet[str] = frozenset()) -> Coverage:
    statuses = [*STATUS.members, "absent_used"]
    matrix: dict[str, dict[str, set[str]]] = {c: {s: set() for s in statuses} for c in PER_OP_CALLS}
    matrix["wait_begin"] = {"-": set()}
    matrix["feed"] = {cell: set() for cell in FEED_CELLS}
    for call, status, kind in found:
        matrix[call][status].add(kind)
    for cell in overflowed:  # the cells the overflowed-feed vector reads (feed_overflow)
        matrix["feed"][cell].add("ok_overflowed")
    missing = [f"{call} from {status}" for call in PER_OP_CALLS for status in statuses if not matrix[call][status]]
    for call, kinds in required_errors(oracle).items():
        raised = set().union(*matrix[call].values())
        missing += [f"{call} raising {kind}" for kind in sorted(kinds - raised)]
    for kind in ("ok_done", "ok_waiting"):
        if kind not in matrix["wait_begin"]["-"]:
            missing.append(f"wait_begin answering {kind}")
    missing += [f"feed with a cursor {cell} the watermark" for cell, kinds in matrix["feed"].items() if not kinds]
    return Coverage(matrix, missing)


CODES = {"ok": "ok", "ok_done": "done", "ok_waiting": "wait", "not_found": "NF", "already_registered": "AR",
         "max_concurrent_exceeded": "MC", "invalid_transition": "IT", "peer_not_expected": "PN",
         "already_peer_ready": "AP", "duplicate_wait_operation": "DW", "wait_already_active": "WA"}


def render_matrix(cov: Coverage) -> str:
    statuses = [*STATUS.members, "absent_used"]
    short = {"absent": "new", "provisioning": "prov", "running": "run", "absent_used": "used"}
    width = max(len(c) for c in cov.matrix) + 1
    lines = ["coverage: rows are calls, columns the status of the target op before the call "
             "(new = never registered, used = untracked but registered before); each cell lists the results a vector covers",
             " " * width + " ".join(f"{short.get(s, s):<10}" for s in statuses)]
    for call, row in cov.matrix.items():
        if call == "wait_begin":
            codes = "+".join(CODES.get(k, k) for k in sorted(row["-"]))
            lines.append(f"{call:<{width}}{codes}  (no target op)")
            continue
        if call == "feed":
            lines.append(f"{call:<{width}}" + "  ".join(f"{cell}: {'+'.join(sorted(row[cell])) or 'MISSING'}"
                                                       for cell in FEED_CELLS) + "  (the cursor against the watermark)")
            continue
        cells = ["+".join(CODES.get(k, k) for k in sorted(row[s])) or "MISSING" for s in statuses]
        lines.append(f"{call:<{width}}" + " ".join(f"{c:<10}" for c in cells))
    lines.append("codes: " + ", ".join(f"{v}={k}" for k, v in CODES.items()))
    return "\n".join(lines)


README = """# opsref test vectors ({profile} profile)

Generated by `opsref vectors --profile {profile}`; do not edit. Format: every `*.jsonl`
file is an `opsref.trace/1` trace (see conformance/PROTOCOL.md in the opsref repository):
a header line with the registry configuration, then one event per call with the
result the spec requires. The last event also carries `snapshot`, the registry's
`operations` value after the call.

To run a vector: create a registry with the header's config, make each call in order,
compare each answer with `result` (same `ok` value; or the same error `kind` and the
same value for every field the expected error names) and, after the last call, the
registry's operations with `snapshot`.

- `cells/<call>/<status>__<result>.jsonl` — `<call>` on an operation in `<status>`
  (`absent_used`: untracked but registered before) answering `<result>`; the shortest
  such sequence from a fresh registry.
- `cells/wait_begin/-__<result>.jsonl` — the wait barrier's answers and errors.
- `cells/feed/<cursor>__ok.jsonl` — the feed read with a cursor below, at or above the
  watermark; `before_oldest__overflowed` after more completions than the feed keeps.
- `decisions/*.jsonl` — the places where the reference differs from the seed.
- `manifest.json` — every vector with its call, status, result and description.
"""


ACTION_README = """# opsref test vectors: {machine} ({profile} profile)

Generated by `opsref vectors --machine {machine} --profile {profile}`; do not edit.
Every `*.jsonl` file is an `opsref.trace/1` trace of the action protocol (see
conformance/PROTOCOL.md in the opsref repository): a header line, then one event per
call with the result the spec requires; the last events are `observe` reads of every
id in play (and `observe_globals`), which show the state the spec requires.

- `cells/<call>/ok.jsonl` — the shortest sequence from Init in which `<call>` is accepted.
- `cells/<call>/<guard>.jsonl` — the shortest in which `<call>` is refused by `<guard>`
  (its error kind is in the event's result).
- `manifest.json` — every vector with its call, result and description.
"""

ACTION_IDS = ["a", "b"]
ACTION_DEPTH = 12


def search_actions(machine: str, profile: str) -> tuple[dict[tuple[str, str], tuple[Call, ...]], list[str]]:
    """Breadth first from Init, pruned by spec state: the shortest sequence for each
    (call, "ok" or the refusing guard); and what the spec allows but no vector shows."""
    proto = protocol(machine)
    root = proto.oracle(profile)
    calls = [c for c in proto.make_alphabet(ACTION_IDS) if c[0] not in proto.reads]
    wanted = [(a.name, "ok") for a in root.machine.actions] + [(a.name, g.name) for a, _, g in root.machine.guards()]
    found: dict[tuple[str, str], tuple[Call, ...]] = {}
    seen = {state_key(root)}
    frontier: deque[tuple[SpecOracle, tuple[Call, ...]]] = deque([(root, ())])
    while frontier and not all(w in found for w in wanted):  # breadth first: each found is a shortest
        oracle, path = frontier.popleft()
        for name, args in calls:
            after = oracle.clone()
            after.call(name, args)
            refused = after.ruling.steps[-1][1]
            key = (name, "ok" if refused is None else refused.name)
            found.setdefault(key, path + ((name, args),))
            if refused is None and len(path) + 1 < ACTION_DEPTH:
                explored = state_key(after)
                if explored not in seen:
                    seen.add(explored)
                    frontier.append((after, path + ((name, args),)))
    missing = [f"{call} {'accepted' if how == 'ok' else 'refused by ' + how}" for call, how in wanted
               if (call, how) not in found]
    return found, missing


def generate_actions(machine: str, profile: str, out: Path) -> tuple[int, list[str]]:
    """The vector corpus of a machine of the action protocol; (vectors written, uncovered)."""
    proto = protocol(machine)
    found, missing = search_actions(machine, profile)
    _prepare(out)
    manifest = []
    for (call, how), calls in sorted(found.items()):
        oracle = proto.oracle(profile)
        sequence = list(calls) + proto.make_probes(ACTION_IDS)
        events = [Event(n + 2, name, args, oracle.call(name, args)) for n, (name, args) in enumerate(sequence)]
        path = f"cells/{call}/{how}.jsonl"
        (out / path).parent.mkdir(parents=True, exist_ok=True)
        write(out / path, Header(machine, proto.default_config), events)
        result = events[len(calls) - 1].result
        manifest.append({"file": path, "call": call, "result": error_kind(result),
                         "guard": None if how == "ok" else how, "calls": len(calls),
                         "description": f"{call} {'accepted' if how == 'ok' else 'refused by guard ' + how}"})
    for name, (owner, scenario) in ACTION_DECISIONS.items():
        if owner != machine:
            continue
        oracle = proto.oracle(profile)
        events = [Event(n + 2, call, args, oracle.call(call, args)) for n, (call, args) in enumerate(scenario)]
        path = f"decisions/{name}.jsonl"
        (out / path).parent.mkdir(parents=True, exist_ok=True)
        write(out / path, Header(machine, proto.default_config), events)
        result = events[-1].result
        manifest.append({"file": path, "call": scenario[-1][0], "result": error_kind(result), "guard": None, "calls": len(scenario),
                         "description": f"decision {name}"})
    (out / "manifest.json").write_text(json.dumps({"machine": machine, "profile": profile, "vectors": manifest},
                                                  indent=1) + "\n")
    (out / "README.md").write_text(ACTION_README.format(machine=machine, profile=profile))
    return len(manifest), missing


def _prepare(out: Path) -> None:
    """An empty folder at `out`, replacing an earlier corpus but nothing else."""
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} exists and is not a folder")
    if out.exists() and any(out.iterdir()):
        if not (out / "manifest.json").is_file():
            raise InputError(f"{out} is not empty and holds no earlier corpus (manifest.json); "
                             "refusing to replace it")
        shutil.rmtree(out)  # an earlier corpus: replaced as a whole, so no stale vector survives
    out.mkdir(parents=True, exist_ok=True)


def generate(profile: str, out: Path) -> tuple[list[Vector], Coverage]:
    base = Oracle(profile)
    found = search(profile)
    overflow = RegistryConfig(1, None)
    overflow_calls, overflow_cells = feed_overflow(overflow)
    cov = coverage(found, base, overflow_cells)
    vectors = [found[k] for k in sorted(found)]
    titles = {d.name: d.title for d in base.machine.decisions}
    for name, (config, calls) in DECISIONS.items():
        last = calls[-1]
        vectors.append(Vector(f"decisions/{name}.jsonl", last[0], "-", "-", config, tuple(calls),
                              f"decision: {titles[name]}"))
    vectors.append(Vector("cells/feed/before_oldest__overflowed.jsonl", "feed", "before_oldest", "ok", overflow,
                          tuple(overflow_calls), "the feed after more completions than it keeps"))
    _prepare(out)
    manifest = []
    for v in vectors:
        oracle = Oracle(profile, v.config)
        path = out / v.path
        path.parent.mkdir(parents=True, exist_ok=True)
        write(path, Header("ops_lifecycle", v.config), _events(oracle, v.calls))
        manifest.append({"file": v.path, "call": v.call, "from_status": v.from_status, "result": v.result,
                         "calls": len(v.calls), "description": v.description})
    (out / "manifest.json").write_text(json.dumps({"profile": profile, "vectors": manifest}, indent=1) + "\n")
    (out / "README.md").write_text(README.format(profile=profile))
    return vectors, cov

"""`opsref drive`: generate call sequences, run them on an implementation, compare with the spec.

Two generators:

* **random** — sequences of `--depth` calls drawn over an id pool, for `--runs`
  runs with a seeded RNG. After every call that may change state the driver reads
  the implementation's whole observable state (`Plan.observation`), so a wrong state
  shows at the call that caused it. A call's name is drawn before its arguments, so
  every call is as likely as any other whatever its number of argument combinations;
  the reference spec steers the draw toward (call, guard, phase) cells no sequence has
  covered (`Cell`) and toward spec states none has entered, and a sequence ends in a
  state the spec lets nothing leave. The registry's generator also mints fresh ids
  (they are never reused), draws feed cursors around the watermark and, every 40th
  sequence, overflows the completion feed. A failing sequence is shrunk the way
  Hypothesis shrinks (cut after the mismatch, delete ever smaller chunks while it
  still fails, rename ids to the smallest pool ids);
* **exhaustive** — every sequence up to `--depth` (by default the depth at which the
  spec has entered every phase of the machine) over `--ids` ids, breadth first, so
  the first failure found is a shortest one. Every sequence ending in a call that may
  change state is followed by probes of everything observable. Sequences that reach
  a spec state already explored (taken before the probes, which may change it) are not
  extended unless pruning is off: an implementation whose later answers depend on
  history the spec does not record can escape this pruning, which is the price of
  finishing — random mode is the search for those.

Every sequence starts with `reset`. The counterexample is written as a trace
file that `opsref check` replays.
"""

from __future__ import annotations

import functools
import itertools
import random
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Protocol, Sequence

from opsref.conformance import tape_cache
from opsref.conformance.calls import CONFIGS, Call, ProtocolConfig, RegistryConfig, alphabet, ids_in
from opsref.conformance.jsonline import Json, JsonObject
from opsref.conformance.actions import ActionOracle
from opsref.conformance.oracle import READS, Oracle, Result, SpecOracle, agrees, spec_value
from opsref.conformance.protocol import MachineProtocol, protocol
from opsref.conformance.process import Implementation, ImplementationFailed
from opsref.conformance.trace import Event
from opsref.spec.machine import Machine
from opsref.spec.model import State, Value
from opsref.spec.ops_lifecycle import KIND



@dataclass(frozen=True)
class RandomDefaults:
    """`opsref drive`'s random mode by default: what the tests of caught bugs run too."""

    runs: int = 300
    depth: int = 30
    id_count: int = 3
    seed: int = 0


RANDOM_DEFAULTS = RandomDefaults()


def id_names(count: int) -> list[str]:
    return [chr(ord("a") + n) if n < 26 else f"op{n}" for n in range(count)]


@dataclass
class Outcome:
    events: list[Event]
    mismatch: int | None  # index of the first event whose result differs
    at_call: int | None = None  # index (into the calls, reads made to observe not counted) of that call

    @property
    def observations(self) -> int:
        """Events that are observation reads the driver added, not calls of the sequence."""
        return sum(e.observation for e in self.events)


#: a spec state as pruning compares it: every global, every map's entries
StateKey = tuple[tuple[Value, ...], tuple[frozenset[tuple[Value, Value]], ...]]


#: a spec state under the configuration it was reached in (what the driver's searches key on)
ConfiguredKey = tuple[ProtocolConfig, StateKey]


class Endpoint(Protocol):
    """Anything that answers protocol requests: a child process or an in-process server.
    Requests may be sent ahead of their answers (`send`, then `receive` for each)."""

    requests: int

    def request(self, call: str, args: JsonObject) -> Result: ...

    def send(self, requests: Sequence[Call]) -> None:
        """Queue requests; `receive` answers them in order."""

    def receive(self) -> Result: ...

    def settle(self) -> None:
        """Stop after a mismatch: the requests not yet answered are dropped or their answers read."""

    def verify_quiet(self) -> None:
        """Raise ImplementationFailed if it answered more than one line to a request."""


def run(impl: Endpoint, oracle: SpecOracle, config: ProtocolConfig, calls: list[Call], probes: list[Call] | None = None,
        reached: Callable[[SpecOracle], None] | None = None, observe: list[Call] | None = None,
        reads: frozenset[str] = frozenset()) -> Outcome:
    """Reset both sides, then make every call on both; stop at the first mismatch. With
    `observe`, those reads follow every call not in `reads` (so a wrong state shows where it
    arises, not only when a later call happens to refuse differently). With `probes`,
    `reached(oracle)` sees the state after `calls`, before the probes (which may change it:
    polling a waiter does), and then the probes are made too.

    No request depends on an answer, so all of them after `reset` are sent at once and
    compared as they come (`reset` goes alone: an extra line answering it is caught before
    the rest is sent). The first mismatch is the finding, as if each request had waited
    for the previous answer; `settle` deals with the requests already sent past it."""
    reset = impl.request("reset", config.to_json())
    if "ok" not in reset:
        impl.verify_quiet()
        raise ImplementationFailed(f"the implementation refused reset {config.to_json()}: {reset}")
    oracle.reset(config)
    # (call, args, observation read?, index of the call it belongs to)
    requests: list[tuple[str, JsonObject, bool, int]] = []
    for n, (name, args) in enumerate(calls + (probes or [])):
        requests.append((name, args, False, n))
        if observe and n < len(calls) and name not in reads:
            requests.extend((read, read_args, True, n) for read, read_args in observe)
    impl.send([(name, args) for name, args, _, _ in requests])
    events: list[Event] = []
    for name, args, observation, n in requests:
        if n == len(calls) and not observation and reached is not None:
            reached(oracle)  # the first probe: the state after the calls
        observed = impl.receive()
        expected = oracle.call(name, args)
        events.append(Event(len(events) + 2, name, args, observed, observation=observation))
        if not agrees(expected, observed):
            impl.settle()
            impl.verify_quiet()  # a second line read as this answer is the fault to report, not the mismatch
            return Outcome(events, len(events) - 1, n if observation else min(n, len(calls) - 1))
    if not probes and reached is not None:
        reached(oracle)
    return Outcome(events, None)


@dataclass
class Failure:
    config: ProtocolConfig
    calls: list[Call]
    outcome: Outcome
    #: why it is shown as it first failed, not shrunk (None: shrunk): it passed when run
    #: again, or the implementation failed while it was shrunk (on a request sent past the
    #: mismatch, say: Implementation.settle)
    unshrunk: str | None = None


@dataclass
class DriveResult:
    sequences: int
    requests: int
    seconds: float
    failure: Failure | None


class NotReproduced(Exception):
    """The failing sequence passed when it was run again: the implementation is not deterministic."""


NOT_REPRODUCED = "the mismatch did NOT repeat when the same sequence was run again: the implementation is not deterministic"


#: seconds spent deleting chunks before the shortest failure so far is reported (a mismatch
#: late in a long sequence, after the feed overflowed, would otherwise take many minutes)
SHRINK_BUDGET = 60.0


def shrink(attempt_run: Callable[[list[Call]], Outcome], calls: list[Call], ids: list[str],
           id_args: frozenset[str] = frozenset({"id", "ids"})) -> tuple[list[Call], Outcome]:
    """A shorter sequence that still fails: cut after the mismatch, delete chunks (for at
    most SHRINK_BUDGET seconds), rename ids. `attempt_run` runs a sequence on both sides."""
    deadline = time.perf_counter() + SHRINK_BUDGET

    def attempt(candidate: list[Call]) -> Outcome | None:
        outcome = attempt_run(candidate)
        return outcome if outcome.at_call is not None else None

    best = attempt(calls)
    if best is None or best.at_call is None:
        raise NotReproduced()
    calls = calls[: best.at_call + 1]
    chunk = max(len(calls) // 2, 1)
    while chunk >= 1 and time.perf_counter() < deadline:
        start = 0
        while start < len(calls) and time.perf_counter() < deadline:
            candidate = calls[:start] + calls[start + chunk:]
            found = attempt(candidate) if candidate else None
            if found is not None and found.at_call is not None:
                calls, best = candidate[: found.at_call + 1], found
            else:
                start += chunk
        chunk //= 2
    # rename: map the ids in order of first use onto the pool's first names
    seen: dict[str, str] = {}
    for _, args in calls:
        for name, value in args.items():
            if name in id_args:
                for one in ids_in(value):
                    seen.setdefault(one, ids[len(seen)] if len(seen) < len(ids) else one)

    def new_ids(value: Json) -> Json:
        return list[Json](seen[i] for i in ids_in(value)) if isinstance(value, list) else seen[str(value)]

    def rename(args: JsonObject) -> JsonObject:
        return {name: new_ids(value) if name in id_args else value for name, value in args.items()}

    renamed = [(name, rename(args)) for name, args in calls]
    found = attempt(renamed)
    if found is not None:
        calls, best = renamed[: (found.at_call or 0) + 1], found
    return calls, best


@dataclass(frozen=True)
class Plan:
    """What a drive draws from: the machine's protocol, the configurations to run under
    (`--config`, else the protocol's) and which calls (`--calls`, `--exclude`)."""

    proto: "MachineProtocol"
    configs: tuple[ProtocolConfig, ...] = ()
    only: frozenset[str] | None = None
    exclude: frozenset[str] = frozenset()

    @classmethod
    def of(cls, machine: str, configs: tuple[ProtocolConfig, ...] = (), only: frozenset[str] | None = None,
           exclude: frozenset[str] = frozenset()) -> "Plan":
        proto = protocol(machine)
        return cls(proto, configs or proto.configs, only, exclude)

    @property
    def filtered(self) -> bool:
        return self.only is not None or bool(self.exclude)

    def keeps(self, name: str) -> bool:
        return (self.only is None or name in self.only) and name not in self.exclude

    def alphabet(self, ids: list[str]) -> list[Call]:
        return [c for c in self.proto.make_alphabet(ids) if self.keeps(c[0])]

    def observation(self, ids: list[str]) -> list[Call]:
        """The reads that show the implementation's whole observable state for `ids`."""
        return [c for c in self.proto.make_observation(ids) if self.keeps(c[0])]


#: a coverage cell: (call, "ok" or the refusing guard, the phase(s) it was made from)
Cell = tuple[str, str, tuple[str, ...]]


#: where a call finds its phase: per phase field, the global (no ids), or the ids the call
#: names, and whether they are a list (whose phase is the set of theirs)
PhaseReads = tuple[tuple[str, tuple[str, ...] | None, bool], ...]


def _phase_reads(machine: Machine, call: Call, id_args: frozenset[str]) -> PhaseReads:
    """The machine's phase fields (`Machine.phases`) as `call` reads them: a global as it
    is, a per-id field at each id the call names (for a list of ids, the set of its phases).
    They depend on the call alone, so a guide works them out once per call."""
    out: list[tuple[str, tuple[str, ...] | None, bool]] = []
    for name in machine.phases:
        if machine.field(name).key is None:
            out.append((name, None, False))
            continue
        for arg, value in call[1].items():
            if arg in id_args:
                listed = isinstance(value, list)
                out.append((name, tuple(ids_in(value)) if listed else (str(value),), listed))
    return tuple(out)


def _phase(machine: Machine, state: State, reads: PhaseReads) -> tuple[str, ...]:
    out: list[str] = []
    for name, keys, listed in reads:
        if keys is None:
            out.append(str(state.get(machine, name)))
        elif listed:
            out.append("{" + ",".join(sorted({str(state.get(machine, name, one)) for one in keys})) + "}")
        else:
            out.append(str(state.get(machine, name, keys[0])))
    return tuple(out) or ("-",)


def _action_cell(oracle: ActionOracle, call: Call, params: dict[str, Value], reads: PhaseReads) -> Cell:
    """`step_cell` on an action machine's guide, the call's arguments already spec values
    and its phase reads worked out: the action applied in place and its refusing guard
    read off the result, which is what `call` and `ruling` say, without the answer and the
    record a guide never reads."""
    phase = _phase(oracle.machine, oracle.state, reads)
    refused = oracle.compiled.apply(oracle.state, call[0], params)
    return (call[0], "ok" if refused is None else refused.name, phase)


def step_cell(oracle: SpecOracle, call: Call, id_args: frozenset[str]) -> Cell:
    """Make `call` on `oracle` and return the cell it covered."""
    phase = _phase(oracle.machine, oracle.state, _phase_reads(oracle.machine, call, id_args))
    oracle.call(*call)
    refused = next((g.name for _, g in oracle.ruling.steps if g is not None), "ok")
    return (call[0], refused, phase)


def random_sequences(rng: random.Random, ids: list[str], depth: int, machine: str = "ops_lifecycle",
                     plan: Plan | None = None, reached: set[Cell] | None = None,
                     ) -> Iterator[tuple[ProtocolConfig, list[Call]]]:
    """Endless random sequences; `reached` collects the cells they cover. For the registry:
    registrations are weighted up so that ops exist to act on, and now and then the oldest
    id of the pool is swapped for a fresh one: ids are never reused, so a fixed pool would
    be used up early in a sequence."""
    plan = plan or Plan.of(machine)
    cells = reached if reached is not None else set()
    if not plan.proto.registrations:
        yield from _guided_sequences(rng, ids, depth, plan, cells)
        return
    for n in itertools.count():
        config = rng.choice(plan.configs)
        if n % LONG_EVERY == LONG_FIRST and not plan.filtered:
            yield config, _long_sequence(rng, ids, config)
            continue
        window, minted = list(ids), 0
        calls = by_call(plan.alphabet(window))
        id_args = plan.proto.id_args()
        guide = Oracle("reference", config)
        sequence: list[Call] = []
        for _ in range(depth):
            if rng.random() < 0.08:
                minted += 1
                window = window[1:] + [f"{ids[0]}{minted}"]
                calls = by_call(plan.alphabet(window))
            # every call is as likely as any other, whatever the number of its argument
            # combinations; registrations are weighted up so that ops exist to act on
            name = next(iter(calls)) if rng.random() < 0.2 else rng.choice(list(calls))  # registrations come first
            call = rng.choice(calls[name])
            call = _steer(rng, guide, call, window)
            if rng.random() < 0.5:  # half the time: a call that covers a cell no sequence has covered
                sample = [_steer(rng, guide, rng.choice(calls[other]), window) for other in rng.sample(list(calls), len(calls))]
                call = next((c for c in sample if step_cell(guide.clone(), c, id_args) not in cells), call)
            cells.add(step_cell(guide, call, id_args))
            sequence.append(call)
        yield config, sequence


def by_call(calls: list[Call]) -> dict[str, list[Call]]:
    """The alphabet grouped by call name (in the alphabet's order)."""
    out: dict[str, list[Call]] = {}
    for call in calls:
        out.setdefault(call[0], []).append(call)
    return out


#: one random sequence in LONG_EVERY (the LONG_FIRST-th first) is long enough to push
#: more completions through the feed than it holds
LONG_EVERY, LONG_FIRST = 40, 3


def _steer(rng: random.Random, guide: Oracle, call: Call, window: list[str]) -> Call:
    """Arguments drawn from the state the spec has reached (`guide`): a feed read gets a
    cursor around the watermark, below, at or above it (an implementation that reads
    `after` inclusively, or keeps too few entries, differs only for such cursors); most
    waits name tracked ops, so that barriers are armed, satisfied and replaced often."""
    if call[0] == "wait_begin" and rng.random() < 0.6:
        tracked = [i for i in window if guide.get("status", i) != "absent"]
        if tracked:
            return ("wait_begin", {"ids": rng.sample(tracked, rng.randint(1, min(2, len(tracked))))})
    if call[0] != "feed":
        return call
    watermark = guide.number("next_seq")
    head = guide.number("feed_head")
    choices = [0, watermark - 1, watermark, watermark + 1, head, head + 1, rng.randint(0, watermark + 1)]
    return ("feed", {"after": max(0, rng.choice(choices))})


def _long_sequence(rng: random.Random, ids: list[str], config: ProtocolConfig) -> list[Call]:
    """Registrations and terminal transitions of fresh ids until the feed has overflowed a
    few times, other calls mixed in; once it overflows, every step is followed by a read
    around the oldest entry kept, and the sequence ends with reads around it and the
    watermark."""
    limit = RegistryConfig.of(config).max_concurrent
    guide = Oracle("reference", config)
    capacity = guide.number("feed_capacity")
    if limit == 0:  # nothing can be registered, so nothing completes
        return [("feed", {"after": 0})]
    pool = alphabet(list(ids))
    live: list[str] = []
    sequence: list[Call] = []
    minted = 0
    # every way an op can end, by the status it is in (most calls of the sequence are accepted)
    endings = {"provisioning": ("provisioning_failed", "fail_operation", "cancel_operation", "abort_provisioning"),
               "running": ("complete_operation", "fail_operation", "cancel_operation", "mark_retired")}
    while guide.number("next_seq") <= capacity + 8:
        roll = rng.random()
        if roll < 0.4 or not live:
            minted += 1
            live.append(f"{ids[0]}{minted}")
            call: Call = ("register_operation", {"id": live[-1], "kind": rng.choice(KIND.members)})
        elif roll < 0.55 and len(live) > 1:
            call = ("provisioning_succeeded", {"id": rng.choice(live)})
        elif roll < 0.93:
            id = live.pop(rng.randrange(len(live)))
            call = (rng.choice(endings.get(str(guide.get("status", id)), endings["running"])), {"id": id})
        elif roll < 0.95:
            call, live = ("terminate_owner", {}), []
        else:
            call = _steer(rng, guide, rng.choice(pool), list(ids))
        if guide.number("active_count") == limit and call[0] == "register_operation":
            call, live = ("terminate_owner", {}), []
        before = guide.number("next_seq")
        guide.call(*call)
        sequence.append(call)
        read: Call | None = None
        if guide.number("next_seq") > capacity:  # overflowing: around the oldest entry kept
            read = ("feed", {"after": max(0, guide.number("feed_head") + rng.choice((-1, 0, 1)))})
        elif guide.number("next_seq") > before and rng.random() < 0.1:  # now and then: around the newest
            read = ("feed", {"after": max(0, guide.number("next_seq") - rng.choice((0, 1, 2)))})
        if read is not None:
            guide.call(*read)
            sequence.append(read)
    sequence += [("feed", {"after": a}) for a in feed_cursors(guide.number("feed_head"), guide.number("next_seq"))]
    return sequence


def feed_cursors(head: int, watermark: int) -> tuple[int, ...]:
    """Feed cursors from the start, around the oldest entry kept (`head` + 1) and around
    the watermark: the reads that show a feed kept too short, too long or read inclusively."""
    return tuple(sorted({0, max(0, head - 1), head, head + 1, max(0, watermark - 1), watermark}))


def _guide(proto: MachineProtocol, config: ProtocolConfig) -> SpecOracle:
    """The reference spec as a guide: it only steers, by rulings and states, so what its
    calls return is not computed."""
    guide = proto.oracle("reference", config)
    if isinstance(guide, ActionOracle):
        guide.evaluate_returns = False
    return guide


def _guided_sequences(rng: random.Random, ids: list[str], depth: int, plan: Plan, reached: set[Cell],
                      ) -> Iterator[tuple[ProtocolConfig, list[Call]]]:
    """Random sequences steered by the reference spec toward what no sequence has done yet.
    Each step looks at every call of the alphabet in the state reached (the spec's answer,
    its cell, the state it leads to) and draws from, in turn of preference: calls whose cell
    no sequence has covered; accepted calls into a known state where such a call waits;
    accepted calls into a spec state no sequence has entered (so
    walks go deep: an input's whole lifecycle is seven calls); any accepted call; any call
    (so refusals are exercised too) — always the call's name first, uniformly, then its
    arguments, so a call with many argument combinations is no likelier than one with none.
    A state from which no accepted call leads anywhere else (a destroyed or stopped runtime)
    ends the sequence once it has nothing new to cover, and the calls into it are avoided
    afterwards unless they cover something new."""
    proto = plan.proto
    calls = [c for c in plan.alphabet(ids) if c[0] not in proto.reads]
    params = {id(c): {k: spec_value(v) for k, v in c[1].items()} for c in calls}
    id_args = proto.id_args()
    reads: dict[int, PhaseReads] = {}  # by call, once the first guide gives the machine
    known: dict[ConfiguredKey, list[tuple[Call, Cell, ConfiguredKey]]] = {}  # state -> (call, cell, next state)
    entered: set[ConfiguredKey] = set()
    dead: set[ConfiguredKey] = set()  # states in which the spec accepts nothing
    while True:
        config = rng.choice(plan.configs)
        guide = _guide(proto, config)
        assert isinstance(guide, ActionOracle)  # the machines without registrations speak the action protocol
        if not reads:
            reads = {id(c): _phase_reads(guide.machine, c, id_args) for c in calls}
        sequence: list[Call] = []
        for _ in range(depth):
            key = (config, state_key(guide))
            entered.add(key)
            if len(known) > 100_000:
                known.clear()
            if key not in known:  # the same states recur: each one's options are computed once
                options = []
                after = guide.clone()
                for call in calls:
                    cell = _action_cell(after, call, params[id(call)], reads[id(call)])  # a refusal changes nothing
                    options.append((call, cell, key if cell[1] != "ok" else
                                    (config, _successor_key(after.state, guide.state, key[1]))))
                known[key] = options
            options = known[key]
            accepted = [o for o in options if o[1][1] == "ok"]
            lively = [o for o in accepted if o[2] not in dead and o[2] != key]
            if not lively:  # absorbing (nothing accepted leads anywhere else): start afresh
                dead.add(key)
                if not [o for o in options if o[1] not in reached]:
                    break
            roll = rng.random()
            pools = [[o for o in options if o[1] not in reached] if roll < 0.4 else [],
                     [o for o in lively if o[2] in known and any(c not in reached for _, c, _ in known[o[2]])]
                     if roll < 0.65 else [],
                     [o for o in lively if o[2] not in entered] if roll < 0.85 else [],
                     lively if roll < 0.95 else [], options]
            pool = next(p for p in pools if p)
            name = rng.choice(sorted({o[0][0] for o in pool}))
            call = rng.choice([o for o in pool if o[0][0] == name])[0]
            reached.add(_action_cell(guide, call, params[id(call)], reads[id(call)]))
            sequence.append(call)
        yield config, sequence


class Tape:
    """The random sequences of one plan, seed, id pool and depth, generated once and
    replayed after: they do not depend on what is driven (the reference spec steers them),
    and generating them steps the spec through the whole alphabet in each new state.
    Several drives with the same settings draw the same sequences: the tests' broken
    servers, each driven with the defaults; mutation runs, on every mutant; and, through
    `folder` (conformance/tape_cache.py), later processes. Each sequence comes with the
    cells it reached that no earlier one had."""

    def __init__(self, plan: Plan, seed: int, ids: tuple[str, ...], depth: int, folder: Path | None) -> None:
        self._plan, self._seed, self._ids, self._depth = plan, seed, ids, depth
        self._folder = folder
        self._name = tape_cache.key([plan.proto.machine, [c.to_json() for c in plan.configs],
                                     list[Json](sorted(plan.only)) if plan.only is not None else None,
                                     list[Json](sorted(plan.exclude)), seed, list[Json](ids), depth])
        kept = tape_cache.load(folder, self._name) if folder is not None else []
        if any(not 0 <= config < len(plan.configs) for config, _, _ in kept):
            kept = []
        self._made = [(plan.configs[config], calls, frozenset(cells)) for config, calls, cells in kept]
        self._kept = len(self._made)
        self._reached: set[Cell] = set()
        self._source: Iterator[tuple[ProtocolConfig, list[Call]]] | None = None
        self._generated = 0  # sequences the source has yielded

    def _generate(self) -> tuple[ProtocolConfig, list[Call], frozenset[Cell]]:
        if self._source is None:
            self._source = random_sequences(random.Random(self._seed), list(self._ids), self._depth,
                                            self._plan.proto.machine, self._plan, self._reached)
        before = set(self._reached)
        config, calls = next(self._source)
        self._generated += 1
        return config, calls, frozenset(self._reached - before)

    def __iter__(self) -> Iterator[tuple[ProtocolConfig, list[Call], frozenset[Cell]]]:
        for n in itertools.count():
            if n == len(self._made):
                while self._generated < n:  # past the kept ones: the source starts from the seed
                    self._generate()
                self._made.append(self._generate())
            yield self._made[n]

    def keep(self) -> None:
        """Write what was generated beyond what the folder held."""
        if self._folder is not None and len(self._made) > self._kept:
            index = {config: n for n, config in enumerate(self._plan.configs)}
            tape_cache.save(self._folder, self._name, [
                (index[config], calls, sorted(cells)) for config, calls, cells in self._made])
            self._kept = len(self._made)


_TAPES: dict[tuple[object, ...], Tape] = {}


def tape(plan: Plan, seed: int, ids: tuple[str, ...], depth: int,
         folder: Path | None = tape_cache.DEFAULT_FOLDER) -> Tape:
    """The process's tape for these settings (the plan by what it draws from: its machine,
    configurations and calls), read from `folder` if kept there."""
    key = (plan.proto.machine, plan.configs, plan.only, plan.exclude, seed, ids, depth, folder)
    if key not in _TAPES:
        if len(_TAPES) >= 16:
            _TAPES.clear()
        _TAPES[key] = Tape(plan, seed, ids, depth, folder)
    return _TAPES[key]


def first_sequences(machine: str, seed: int, ids: tuple[str, ...], depth: int, count: int,
                    ) -> list[tuple[ProtocolConfig, list[Call]]]:
    """The first `count` random sequences for a seed (from its tape)."""
    kept = tape(Plan.of(machine), seed, ids, depth)
    sequences = [(config, calls) for config, calls, _ in itertools.islice(kept, count)]
    kept.keep()
    return sequences


def observed_run(impl: Endpoint, oracle: SpecOracle, plan: Plan, ids: list[str], config: ProtocolConfig,
                 calls: list[Call]) -> Outcome:
    """`run`, reading the whole observable state after every call that may change it."""
    return run(impl, oracle, config, calls, observe=plan.observation(ids), reads=plan.proto.reads)


def drive_random(impl: Endpoint, profile: str, runs: int, depth: int, id_count: int, seed: int,
                 progress: Callable[[str], None] | None = None, machine: str = "ops_lifecycle",
                 plan: Plan | None = None, reached: set[Cell] | None = None,
                 cache: Path | None = tape_cache.DEFAULT_FOLDER) -> DriveResult:
    """`runs` sequences of the seed's tape (kept in `cache`), each run on both sides and
    observed; the first mismatch shrunk. `reached` collects the cells the sequences reach."""
    plan = plan or Plan.of(machine)
    oracle = plan.proto.oracle(profile)
    ids = id_names(id_count)
    cells = reached if reached is not None else set()
    sequences = tape(plan, seed, tuple(ids), depth, cache)
    try:
        return _drive_tape(impl, oracle, plan, ids, sequences, runs, cells, progress)
    finally:
        sequences.keep()


def _drive_tape(impl: Endpoint, oracle: SpecOracle, plan: Plan, ids: list[str], sequences: Tape, runs: int,
                cells: set[Cell], progress: Callable[[str], None] | None) -> DriveResult:
    started = last = time.perf_counter()
    for n, (config, calls, new_cells) in enumerate(sequences):
        if n >= runs:
            break
        cells |= new_cells
        window = _window(ids, calls, plan)
        outcome = observed_run(impl, oracle, plan, window, config, calls)
        if outcome.at_call is not None:
            def attempt(candidate: list[Call]) -> Outcome:
                return observed_run(impl, oracle, plan, _window(ids, candidate, plan), config, candidate)
            try:
                small, shrunk = shrink(attempt, calls, ids, plan.proto.id_args())
            except (NotReproduced, ImplementationFailed) as err:  # report what failed, as it failed
                why = (f"the implementation failed while the mismatch was being shrunk: {err}"
                       if isinstance(err, ImplementationFailed) else NOT_REPRODUCED)
                return DriveResult(n + 1, impl.requests, time.perf_counter() - started,
                                   Failure(config, calls[: outcome.at_call + 1], outcome, unshrunk=why))
            return DriveResult(n + 1, impl.requests, time.perf_counter() - started,
                               Failure(config, small, shrunk))
        now = time.perf_counter()
        if progress is not None and now - last > 2:
            last = now
            progress(f"  {n + 1}/{runs} sequences, {impl.requests} requests, {len(cells)} cells reached")
    return DriveResult(runs, impl.requests, time.perf_counter() - started, None)


def _window(ids: list[str], calls: list[Call], plan: Plan) -> list[str]:
    """The ids in play: the pool and every id a call of the sequence names (the registry's
    random mode mints fresh ones)."""
    id_args = plan.proto.id_args()
    seen = dict.fromkeys(ids)
    for _, args in calls:
        for name, value in args.items():
            if name in id_args:
                seen.update(dict.fromkeys(ids_in(value)))
    return list(seen)


def state_key(oracle: SpecOracle) -> StateKey:
    """The spec state (what pruning compares: the oracle keeps nothing beside it). Every
    state of a machine holds its fields in the machine's order (`initial_state`, kept by
    every copy and step), so the fields need no set, only each map's entries do."""
    s = oracle.state
    return tuple(s.globals.values()), tuple(frozenset(m.items()) for m in s.maps.values())


def _successor_key(after: State, base: State, base_key: StateKey) -> StateKey:
    """`state_key` of `after`, which one accepted call made from a copy of `base`, and
    `after` put back to `base`. A call writes one or two fields, so the maps it left
    equal to base's keep base's entry sets, and only the changed ones are copied back:
    cheaper than a fresh copy and a whole key for each of the alphabet's accepted calls."""
    globals_ = tuple(after.globals.values())
    if globals_ != base_key[0]:
        after.globals = dict(base.globals)
    maps = []
    for (name, entries), kept, kept_set in zip(after.maps.items(), base.maps.values(), base_key[1]):
        if entries == kept:
            maps.append(kept_set)
        else:
            maps.append(frozenset(entries.items()))
            after.maps[name] = dict(kept)
    return globals_, tuple(maps)


def drive_exhaustive(impl: Endpoint, profile: str, depth: int | None, id_count: int,
                     progress: Callable[[str], None] | None = None, machine: Machine | None = None,
                     name: str = "ops_lifecycle", plan: Plan | None = None, prune: bool = True) -> DriveResult:
    """Breadth first over every sequence up to `depth` (None: `phase_depth`), the first
    failure a shortest one. With `prune`, a sequence is not extended when an earlier one
    reached the same spec state (an implementation whose later answers depend on history
    the spec does not record can escape that; random mode is the search for those)."""
    plan = plan or Plan.of(machine.name if machine is not None else name)
    proto = plan.proto
    oracle = proto.oracle(profile, None, machine)
    ids = id_names(id_count)
    calls = plan.alphabet(ids)
    probes = proto.make_probes(ids)
    depth = depth or phase_depth(plan, ids)
    started = last = time.perf_counter()
    sequences = 0
    seen: set[ConfiguredKey] = set()
    frontier: deque[tuple[ProtocolConfig, list[Call]]] = deque((config, []) for config in plan.configs[:2])
    while frontier:  # breadth first over every config at once: the first failure is a shortest one
        config, prefix = frontier.popleft()
        for call in calls:
            sequence = prefix + [call]
            sequences += 1
            # after a call that may change state, look at everything observable: a difference
            # the spec state does not show (and pruning would hide) surfaces here
            keys: list[ConfiguredKey] = []
            outcome = run(impl, oracle, config, sequence, [] if call[0] in proto.reads else probes,
                          lambda reached: keys.append((config, state_key(reached))))
            if outcome.mismatch is not None:
                return DriveResult(sequences, impl.requests, time.perf_counter() - started,
                                   Failure(config, sequence, outcome))
            if len(sequence) < depth and call[0] not in proto.reads:
                key = keys[0]
                if not prune or key not in seen:
                    seen.add(key)
                    frontier.append((config, sequence))
            now = time.perf_counter()
            if progress is not None and now - last > 2:
                last = now
                progress(f"  {sequences} sequences, length {len(sequence)}, {len(seen)} states, "
                         f"{impl.requests} requests")
    return DriveResult(sequences, impl.requests, time.perf_counter() - started, None)


@functools.lru_cache(maxsize=32)
def _phase_depth(machine: str, ids: tuple[str, ...], configs: tuple[ProtocolConfig, ...], calls: tuple[str, ...],
                 limit: int) -> int:
    proto = protocol(machine)
    alphabet = [c for c in proto.make_alphabet(list(ids)) if c[0] in calls and c[0] not in proto.reads]
    found: dict[tuple[str, str], int] = {}
    fields = [proto.oracle().machine.field(f) for f in proto.oracle().machine.phases]
    every = {(f.name, m) for f in fields for m in f.sort.members}
    for config in configs:
        root = _guide(proto, config)  # the search reads states only (its clones inherit this)
        seen = {state_key(root)}
        frontier: deque[tuple[SpecOracle, int]] = deque([(root, 0)])
        while frontier and not every <= found.keys() and len(seen) < PHASE_STATES:
            oracle, length = frontier.popleft()
            if length >= limit:
                continue
            for call in alphabet:
                after = oracle.clone()
                after.call(*call)
                for f in after.machine.phases:
                    fld = after.machine.field(f)
                    keys = [None] if fld.key is None else sorted(after.state.ids())
                    for k in keys:
                        found.setdefault((f, str(after.state.get(after.machine, f, k))), length + 1)
                key = state_key(after)
                if key not in seen:
                    seen.add(key)
                    frontier.append((after, length + 1))
    return max(found.values(), default=1)


#: how far (calls, states) `phase_depth` searches the spec
PHASE_SEARCH, PHASE_STATES = 10, 20_000


def phase_depth(plan: Plan, ids: list[str]) -> int:
    """The shortest depth at which breadth-first search over the spec's states has reached
    every value of every phase field it reaches within PHASE_SEARCH calls: exhaustive mode's
    default depth, so that every phase of the machine is entered and probed."""
    calls = tuple(sorted({c[0] for c in plan.alphabet(ids)}))
    return _phase_depth(plan.proto.machine, tuple(ids), tuple(plan.configs[:2]), calls, PHASE_SEARCH)

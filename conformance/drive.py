"""`opsref drive`: generate call sequences, run them on an implementation, compare with the spec.

Two generators:

* **random** — sequences of `--depth` calls drawn over an id pool, for `--runs`
  runs with a seeded RNG: each call of the protocol equally likely whatever its
  number of argument combinations, arguments steered by the state the spec has
  reached (feed cursors below, at and above the watermark; waits on tracked ops),
  and every 40th sequence long enough to overflow the completion feed. A failing
  sequence is then shrunk the way Hypothesis shrinks (cut everything after the
  first mismatch, then delete ever smaller chunks while it still fails, then
  rename ids to the smallest pool ids), so the counterexample printed is short;
* **exhaustive** — every sequence up to `--depth` over `--ids` ids, breadth
  first, so the first failure found is a shortest one. Every sequence ending in a
  call that may change state is followed by probes of everything observable
  (operations, the wait, the feed). Sequences that reach a spec state already
  explored (taken before the probes, which may change it) are not extended: an
  implementation whose later answers depend on state it does not show in those
  probes can escape this pruning, which is the price of finishing.

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
from typing import TYPE_CHECKING, Any, Callable, Iterator, Protocol

from conformance.calls import CALLS, Config
from conformance.oracle import READS, agrees
from conformance.process import Implementation
from conformance.trace import Event
from spec.machine import Machine
from spec.ops_lifecycle import KIND

if TYPE_CHECKING:
    from conformance.protocol import MachineProtocol

Call = tuple[str, dict[str, Any]]

CONFIGS = (Config(1, None), Config(2, 1), Config(0, None), Config(3, 2))

#: the reads that show everything observable, made after each sequence in exhaustive mode
PROBES: list[Call] = [("operations", {}), ("wait_poll", {}), ("feed", {"after": 0}), ("feed", {"after": 1})]


def id_names(count: int) -> list[str]:
    return [chr(ord("a") + n) if n < 26 else f"op{n}" for n in range(count)]


#: feed cursors in the fixed alphabet: below, at and above the watermark of a short sequence
CURSORS = (0, 1, 2, 3)


def _domain(kind: str, members: tuple[str, ...], ids: list[str]) -> list[Any]:
    if kind == "id":
        return list(ids)
    if kind == "ids":
        return [[]] + [[i] for i in ids] + [list(p) for p in itertools.permutations(ids, 2)] + [[ids[0], ids[0]]]
    if kind == "count":
        return list(CURSORS)
    if kind == "bool":
        return [False, True]
    if kind == "kind":
        return list(KIND.members)
    if kind == "enum":
        return list(members)
    raise ValueError(f"no driver domain for argument kind {kind!r}")


def alphabet(ids: list[str]) -> list[Call]:
    """Every call of the protocol (`CALLS`, each bound to the spec) over small argument
    domains and the id pool, registrations first (random mode weights them up)."""
    out: list[Call] = []
    order = ["register_operation"] + [name for name in CALLS if name != "register_operation"]
    for name in order:
        spec = CALLS[name]
        names = [a.name for a in spec.args]
        for combo in itertools.product(*(_domain(a.kind, a.members, ids) for a in spec.args)):
            out.append((name, dict(zip(names, combo))))
    return out


@dataclass
class Outcome:
    events: list[Event]
    mismatch: int | None  # index of the first event whose result differs


class Endpoint(Protocol):
    """Anything that answers protocol requests: a child process or an in-process server."""

    requests: int

    def request(self, call: str, args: dict[str, Any]) -> dict[str, Any]: ...


def run(impl: Endpoint, oracle: Any, config: Any, calls: list[Call], probes: list[Call] | None = None,
        reached: Callable[[Any], None] | None = None) -> Outcome:
    """Reset both sides, then make every call on both; stop at the first mismatch. With
    `probes`, `reached(oracle)` sees the state after `calls`, before the probes (which may
    change it: polling a waiter does), and then the probes are made too."""
    reset = impl.request("reset", config.to_json())
    if "ok" not in reset:
        from conformance.process import ImplementationFailed
        raise ImplementationFailed(f"the implementation refused reset {config.to_json()}: {reset}")
    oracle.reset(config)
    events = []
    for n, (name, args) in enumerate(calls + (probes or [])):
        if n == len(calls) and reached is not None:
            reached(oracle)
        observed = impl.request(name, args)
        expected = oracle.call(name, args)
        events.append(Event(n + 2, name, args, observed))
        if not agrees(expected, observed):
            return Outcome(events, n)
    if not probes and reached is not None:
        reached(oracle)
    return Outcome(events, None)


@dataclass
class Failure:
    config: Any
    calls: list[Call]
    outcome: Outcome
    found_after: int  # sequences tried before the first failure
    reproduced: bool = True  # False: the sequence passed when run again (not shrunk)


@dataclass
class DriveResult:
    sequences: int
    requests: int
    seconds: float
    failure: Failure | None


class NotReproduced(Exception):
    """The failing sequence passed when it was run again: the implementation is not deterministic."""


#: seconds spent deleting chunks before the shortest failure so far is reported (a mismatch
#: late in a long sequence, after the feed overflowed, would otherwise take many minutes)
SHRINK_BUDGET = 60.0


def shrink(impl: Endpoint, oracle: Any, config: Any, calls: list[Call],
           ids: list[str], id_args: frozenset[str] = frozenset({"id", "ids"})) -> tuple[list[Call], Outcome]:
    """A shorter sequence that still fails: cut after the mismatch, delete chunks (for at
    most SHRINK_BUDGET seconds), rename ids."""
    deadline = time.perf_counter() + SHRINK_BUDGET
    def attempt(candidate: list[Call]) -> Outcome | None:
        outcome = run(impl, oracle, config, candidate)
        return outcome if outcome.mismatch is not None else None

    best = attempt(calls)
    if best is None or best.mismatch is None:
        raise NotReproduced()
    calls = calls[: best.mismatch + 1]
    chunk = max(len(calls) // 2, 1)
    while chunk >= 1 and time.perf_counter() < deadline:
        start = 0
        while start < len(calls) and time.perf_counter() < deadline:
            candidate = calls[:start] + calls[start + chunk:]
            found = attempt(candidate) if candidate else None
            if found is not None and found.mismatch is not None:
                calls, best = candidate[: found.mismatch + 1], found
            else:
                start += chunk
        chunk //= 2
    # rename: map the ids in order of first use onto the pool's first names
    seen: dict[str, str] = {}
    for _, args in calls:
        for name, value in args.items():
            if name in id_args:
                for one in (value if isinstance(value, list) else [value]):
                    seen.setdefault(one, ids[len(seen)] if len(seen) < len(ids) else one)

    def rename(args: dict[str, Any]) -> dict[str, Any]:
        return {name: ([seen[i] for i in value] if isinstance(value, list) else seen[value])
                if name in id_args else value for name, value in args.items()}

    renamed = [(name, rename(args)) for name, args in calls]
    found = attempt(renamed)
    if found is not None:
        calls, best = renamed[: (found.mismatch or 0) + 1], found
    return calls, best


def exhaustive_sequences(calls: list[Call], depth: int, configs: tuple[Any, ...] = CONFIGS,
                         ) -> Iterator[tuple[Any, list[Call]]]:
    """Every sequence of 1..depth calls, shortest first, for the first two configs (no pruning)."""
    for length in range(1, depth + 1):
        for config in configs[:2]:
            for combo in itertools.product(calls, repeat=length):
                yield config, list(combo)


def _protocol(name: str) -> "MachineProtocol":
    from conformance.protocol import protocol
    return protocol(name)


def random_sequences(rng: random.Random, ids: list[str], depth: int, machine: str = "ops_lifecycle",
                     ) -> Iterator[tuple[Any, list[Call]]]:
    """Endless random sequences. Registrations are weighted up so that ops exist to act on,
    and now and then the oldest id of the pool is swapped for a fresh one: ids are never
    reused, so a fixed pool would be used up early in a sequence."""
    proto = _protocol(machine)
    if not proto.registrations:
        yield from _guided_sequences(rng, ids, depth, machine)
        return
    for n in itertools.count():
        config = rng.choice(proto.configs)
        if n % LONG_EVERY == LONG_FIRST:
            yield config, _long_sequence(rng, ids, config)
            continue
        window, minted = list(ids), 0
        calls = by_call(proto.make_alphabet(window))
        guide = proto.oracle("reference", config)
        sequence: list[Call] = []
        for _ in range(depth):
            if rng.random() < 0.08:
                minted += 1
                window = window[1:] + [f"{ids[0]}{minted}"]
                calls = by_call(proto.make_alphabet(window))
            # every call is as likely as any other, whatever the number of its argument
            # combinations; registrations are weighted up so that ops exist to act on
            name = next(iter(calls)) if rng.random() < 0.2 else rng.choice(list(calls))  # registrations come first
            call = rng.choice(calls[name])
            call = _steer(rng, guide, call, window)
            guide.call(*call)
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


def _steer(rng: random.Random, guide: Any, call: Call, window: list[str]) -> Call:
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
    watermark = guide.get("next_seq")
    head = guide.get("feed_head")
    choices = [0, watermark - 1, watermark, watermark + 1, head, head + 1, rng.randint(0, watermark + 1)]
    return ("feed", {"after": max(0, rng.choice(choices))})


def _long_sequence(rng: random.Random, ids: list[str], config: Any) -> list[Call]:
    """Registrations and terminal transitions of fresh ids until the feed has overflowed a
    few times, other calls mixed in; once it overflows, every step is followed by a read
    around the oldest entry kept, and the sequence ends with reads around it and the
    watermark."""
    guide = _protocol("ops_lifecycle").oracle("reference", config)
    capacity = guide.get("feed_capacity")
    if config.max_concurrent == 0:  # nothing can be registered, so nothing completes
        return [("feed", {"after": 0})]
    pool = alphabet(list(ids))
    live: list[str] = []
    sequence: list[Call] = []
    minted = 0
    # every way an op can end, by the status it is in (most calls of the sequence are accepted)
    endings = {"provisioning": ("provisioning_failed", "fail_operation", "cancel_operation", "abort_provisioning"),
               "running": ("complete_operation", "fail_operation", "cancel_operation", "mark_retired")}
    while guide.get("next_seq") <= capacity + 8:
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
        if guide.get("active_count") == config.max_concurrent and call[0] == "register_operation":
            call, live = ("terminate_owner", {}), []
        before = guide.get("next_seq")
        guide.call(*call)
        sequence.append(call)
        read: Call | None = None
        if guide.get("next_seq") > capacity:  # overflowing: around the oldest entry kept
            read = ("feed", {"after": max(0, guide.get("feed_head") + rng.choice((-1, 0, 1)))})
        elif guide.get("next_seq") > before and rng.random() < 0.1:  # now and then: around the newest
            read = ("feed", {"after": max(0, guide.get("next_seq") - rng.choice((0, 1, 2)))})
        if read is not None:
            guide.call(*read)
            sequence.append(read)
    sequence += [("feed", {"after": a}) for a in feed_cursors(guide.number("feed_head"), guide.number("next_seq"))]
    return sequence


def feed_cursors(head: int, watermark: int) -> tuple[int, ...]:
    """Feed cursors from the start, around the oldest entry kept (`head` + 1) and around
    the watermark: the reads that show a feed kept too short, too long or read inclusively."""
    return tuple(sorted({0, max(0, head - 1), head, head + 1, max(0, watermark - 1), watermark}))


def _leads_somewhere(oracle: Any, call: Call, calls: list[Call]) -> bool:
    """After `call`, the spec still accepts some call."""
    after = oracle.clone()
    after.call(*call)
    return any("ok" in after.clone().call(*c) for c in calls)


def _guided_sequences(rng: random.Random, ids: list[str], depth: int, machine: str,
                      ) -> Iterator[tuple[Any, list[Call]]]:
    """Random sequences steered by the reference spec: three calls in four are drawn from
    those the spec accepts in the state reached so far, avoiding (mostly) a call after
    which the spec accepts nothing at all (destroying the runtime, say), so sequences get
    past the set-up a machine needs (register a runtime, accept an input, …) instead of
    being refused at the door; the rest are drawn from every call, so refusals are
    exercised too."""
    proto = _protocol(machine)
    calls = [c for c in proto.make_alphabet(ids) if c[0] not in proto.reads]
    while True:
        config = rng.choice(proto.configs)
        guide = proto.oracle("reference", config)
        sequence: list[Call] = []
        for _ in range(depth):
            choice = rng.choice(calls)
            if rng.random() < 0.75:
                accepted = [c for c in calls if "ok" in guide.clone().call(*c)]
                rng.shuffle(accepted)
                lively = [c for c in accepted[:3] if _leads_somewhere(guide, c, calls)]
                choice = (lively or accepted or [choice])[0] if rng.random() < 0.9 else \
                    (accepted or [choice])[0]
            guide.call(*choice)
            sequence.append(choice)
        yield config, sequence


@functools.lru_cache(maxsize=8)
def first_sequences(machine: str, seed: int, ids: tuple[str, ...], depth: int, count: int,
                    ) -> tuple[tuple[Any, tuple[Call, ...]], ...]:
    """The first `count` random sequences for a seed, computed once per process (they do
    not depend on the spec under test: mutation runs replay the same ones on every mutant)."""
    sequences = random_sequences(random.Random(seed), list(ids), depth, machine)
    return tuple((config, tuple(calls)) for config, calls in itertools.islice(sequences, count))


def drive_random(impl: Implementation, profile: str, runs: int, depth: int, id_count: int, seed: int,
                 progress: Callable[[str], None] | None = None, machine: str = "ops_lifecycle") -> DriveResult:
    proto = _protocol(machine)
    oracle = proto.oracle(profile)
    ids = id_names(id_count)
    rng = random.Random(seed)
    started = last = time.perf_counter()
    for n, (config, calls) in enumerate(random_sequences(rng, ids, depth, machine)):
        if n >= runs:
            break
        outcome = run(impl, oracle, config, calls)
        if outcome.mismatch is not None:
            try:
                small, shrunk = shrink(impl, oracle, config, calls, ids, proto.id_args())
            except NotReproduced:  # report what failed, as it failed
                return DriveResult(n + 1, impl.requests, time.perf_counter() - started,
                                   Failure(config, calls[: outcome.mismatch + 1], outcome, n + 1, reproduced=False))
            return DriveResult(n + 1, impl.requests, time.perf_counter() - started,
                               Failure(config, small, shrunk, n + 1))
        now = time.perf_counter()
        if progress is not None and now - last > 2:
            last = now
            progress(f"  {n + 1}/{runs} sequences, {impl.requests} requests")
    return DriveResult(runs, impl.requests, time.perf_counter() - started, None)


def state_key(oracle: Any) -> Any:
    """The spec state (what pruning compares: the oracle keeps nothing beside it)."""
    s = oracle.state
    return (tuple(sorted(s.globals.items())),
            tuple((name, tuple(sorted(m.items(), key=repr))) for name, m in sorted(s.maps.items())))


def drive_exhaustive(impl: Endpoint, profile: str, depth: int, id_count: int,
                     progress: Callable[[str], None] | None = None, machine: Machine | None = None,
                     name: str = "ops_lifecycle") -> DriveResult:
    proto = _protocol(machine.name if machine is not None else name)
    oracle = proto.oracle(profile, None, machine)
    ids = id_names(id_count)
    calls = proto.make_alphabet(ids)
    probes = proto.make_probes(ids)
    started = last = time.perf_counter()
    sequences = 0
    seen: set[Any] = set()
    frontier: deque[tuple[Any, list[Call]]] = deque((config, []) for config in proto.configs[:2])
    while frontier:  # breadth first over every config at once: the first failure is a shortest one
        config, prefix = frontier.popleft()
        for call in calls:
            sequence = prefix + [call]
            sequences += 1
            # after a call that may change state, look at everything observable: a difference
            # the spec state does not show (and pruning would hide) surfaces here
            keys: list[Any] = []
            outcome = run(impl, oracle, config, sequence, [] if call[0] in proto.reads else probes,
                          lambda reached: keys.append((config, state_key(reached))))
            if outcome.mismatch is not None:
                return DriveResult(sequences, impl.requests, time.perf_counter() - started,
                                   Failure(config, sequence, outcome, sequences))
            if len(sequence) < depth and call[0] not in proto.reads:
                key = keys[0]
                if key not in seen:
                    seen.add(key)
                    frontier.append((config, sequence))
            now = time.perf_counter()
            if progress is not None and now - last > 2:
                last = now
                progress(f"  {sequences} sequences, length {len(sequence)}, {len(seen)} states, "
                         f"{impl.requests} requests")
    return DriveResult(sequences, impl.requests, time.perf_counter() - started, None)

"""Benchmark: the registry under contention (issue 15, item 10; not a test).

1. register -> start -> complete cycles per second, summed over 1, 4 and 16 threads
   sharing one registry (goal: 16 threads no slower than half of one), plain and with
   a watcher per operation and a feed follower awaiting on its own event loop;
2. `capture_persistence_snapshot` with 10**6 retired ids (registered, then completed
   and evicted): how long it takes, how long it holds the registry lock, and the
   longest any caller was blocked while it ran (goal: < 10 ms). The caller is a thread
   doing cycles; its longest call during the captures is compared with its longest
   call without them (the interpreter's thread switch interval, 5 ms, bounds both).

Median of `--repeat` runs (default 3). `python bench/contention.py --quick` for a
short run.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import threading
import time

from opsref.impl import OperationKind, OperationResult, OperationSpec, OpsLifecycleConfig, OpsLifecycleRegistry


def spec(id: str) -> OperationSpec:
    return OperationSpec(id, OperationKind.BACKGROUND_TOOL_OP, "owner", id, "bench")


def cycle(registry: OpsLifecycleRegistry, id: str, watch: bool) -> None:
    registry.register_operation(spec(id))
    registry.provisioning_succeeded(id)
    if watch:
        registry.register_watcher(id)
    registry.complete_operation(id, OperationResult(id, "ok"))


def follower(registry: OpsLifecycleRegistry, stop: threading.Event) -> threading.Thread:
    """A feed consumer on its own event loop, polling with a timeout as a real one would."""
    async def follow() -> None:
        after = 0
        feed = registry.completion_feed()
        while not stop.is_set():
            try:
                after = await asyncio.wait_for(feed.wait_for_advance(after), 0.05)
            except asyncio.TimeoutError:
                pass
    thread = threading.Thread(target=lambda: asyncio.run(follow()), daemon=True)
    thread.start()
    return thread


def cycles_per_second(threads: int, total: int, busy: bool) -> float:
    registry = OpsLifecycleRegistry()
    start = threading.Barrier(threads + 1)
    per = total // threads
    stop = threading.Event()
    follow = follower(registry, stop) if busy else None

    def work(t: int) -> None:
        start.wait()
        for n in range(per):
            cycle(registry, f"t{t}-{n}", busy)

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    start.wait()
    t0 = time.perf_counter()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - t0
    stop.set()
    if follow is not None:
        follow.join()
    return per * threads / elapsed


def retired(ids: int) -> OpsLifecycleRegistry:
    registry = OpsLifecycleRegistry()  # default retention: all but the last 256 are evicted
    for n in range(ids):
        cycle(registry, f"retired-{n}", False)
    return registry


def longest_call(registry: OpsLifecycleRegistry, seconds: float | None, until: threading.Event | None,
                 tag: str) -> float:
    """Run cycles until `seconds` pass or `until` is set; the longest single call, in seconds."""
    worst, n = 0.0, 0
    end = time.perf_counter() + (seconds or 1e9)
    while time.perf_counter() < end and not (until is not None and until.is_set()):
        t0 = time.perf_counter()
        registry.register_operation(spec(f"{tag}{n}"))
        worst = max(worst, time.perf_counter() - t0)
        t0 = time.perf_counter()
        registry.provisioning_succeeded(f"{tag}{n}")
        registry.complete_operation(f"{tag}{n}", OperationResult("x", "ok"))
        worst = max(worst, time.perf_counter() - t0)
        n += 1
    return worst


def capture_figures(registry: OpsLifecycleRegistry, captures: int) -> tuple[float, float, float, float]:
    """(median capture s, longest lock hold s, longest caller call during captures s, without them s)."""
    baseline = longest_call(registry, 1.0, None, "base-")
    done = threading.Event()
    worst: list[float] = []
    caller = threading.Thread(target=lambda: worst.append(longest_call(registry, None, done, "during-")))
    caller.start()
    time.sleep(0.05)
    times, holds = [], []
    for _ in range(captures):
        t0 = time.perf_counter()
        registry.capture_persistence_snapshot()
        times.append(time.perf_counter() - t0)
        with registry._lock:  # the part that runs under the lock, timed on its own
            t0 = time.perf_counter()
            registry._state()
            holds.append(time.perf_counter() - t0)
        time.sleep(0.01)
    done.set()
    caller.join()
    return statistics.median(times), max(holds), worst[0], baseline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer cycles and 10**5 retired ids")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    total = 20_000 if args.quick else 120_000
    ids = 100_000 if args.quick else 1_000_000

    print(f"cycles/s (register -> start -> complete), {total:,} cycles per run, median of {args.repeat}")
    print("| threads | plain | with a watcher per op and a feed follower |")
    print("|---|---|---|")
    rates: dict[tuple[int, bool], float] = {}
    for threads in (1, 4, 16):
        for busy in (False, True):
            rates[threads, busy] = statistics.median(cycles_per_second(threads, total, busy)
                                                     for _ in range(args.repeat))
        print(f"| {threads} | {rates[threads, False]:,.0f} | {rates[threads, True]:,.0f} |", flush=True)
    for busy in (False, True):
        ratio = rates[16, busy] / rates[1, busy]
        print(f"16 threads / 1 thread ({'busy' if busy else 'plain'}): {ratio:.2f} (goal >= 0.5)")
    print(f"  filling {ids:,} retired ids ...", file=sys.stderr, flush=True)
    registry = retired(ids)
    capture, hold, blocked, baseline = capture_figures(registry, 5)
    print(f"snapshot capture at {ids:,} retired ids: {capture * 1000:.0f} ms; lock held at most "
          f"{hold * 1000:.2f} ms; longest caller call during captures {blocked * 1000:.1f} ms "
          f"(without captures {baseline * 1000:.1f} ms; goal < 10 ms)")


if __name__ == "__main__":
    main()

"""A bounded concurrency soak of the registry (`make soak`; not collected by pytest).

For `--seconds` (default 30): `--threads` worker threads run operations through
every path (abort, fail, cancel, retire, complete, or left live for
`terminate_owner`), registering watchers that tasks on `--loops` event loops await
with short timeouts (some watchers from two loops at once, some from a blocked
thread); feed followers on those loops poll `wait_for_advance` with timeouts;
a barrier thread arms `wait_all` over recent operations, awaited from a loop or
dropped; a chaos thread races `terminate_owner`, `collect_completed` and a
persistence snapshot, recovered and read into the spec's state.

At the end it checks: no deadlock (every thread ends), no lost wakeup (every
watcher, barrier and follower is woken once its operation, members or sequence
have finished), active count = live operations, every follower saw strictly
increasing sequence numbers, every watcher resolved exactly once with its
operation's outcome, every recovered snapshot and the final registry satisfy every
invariant of the spec. Exit 0 and the figures; 1 and the failures otherwise.

    python -m tests.soak_registry --seconds 30 --threads 16 --loops 3
"""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import itertools
import random
import sys
import threading
import time
from collections import Counter, deque
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Coroutine

from opsref.impl import (
    InvalidTransitionError, NotFoundError, OperationCompletionWatch, OperationKind, OperationResult, OperationSpec,
    OperationTerminalOutcome, OpsLifecycleConfig, OpsLifecycleRegistry, WaitAllHandle, WaitAlreadyActiveError,
)
from opsref.spec.compiled import compile_machine
from opsref.spec.ops_lifecycle import build
from tests.registry_state import spec_state_of

MACHINE = build("reference")
COMPILED = compile_machine(MACHINE)
GRACE = 30.0  # seconds anything may take to end or be woken once the soak stops
IN_FLIGHT = 256  # watcher waits pending at once: beyond it the loops (sharing the GIL) only fall behind


class Soak:
    def __init__(self, seconds: float, threads: int, loops: int, seed: int) -> None:
        self.seconds, self.threads, self.seed = seconds, threads, seed
        self.registry = OpsLifecycleRegistry(OpsLifecycleConfig(max_completed=64))
        self.stop = threading.Event()
        self.final = threading.Event()  # the last completion happened: followers drain and end
        self.lock = threading.Lock()
        self.failures: list[str] = []
        self.figures: Counter[str] = Counter()
        self.ids = itertools.count()
        self.recent: deque[str] = deque(maxlen=32)
        self.in_flight = 0
        self.watch_tasks: list[tuple[str, Future[OperationTerminalOutcome]]] = []
        self.wait_tasks: list[Future[str]] = []
        self.follower_tasks: list[Future[list[int]]] = []
        self.outcomes: dict[str, OperationTerminalOutcome] = {}  # op id -> outcome, as the feed reported it
        self.longest_capture = 0.0
        self.loops = [asyncio.new_event_loop() for _ in range(loops)]
        self.loop_threads = [threading.Thread(target=loop.run_forever, daemon=True) for loop in self.loops]

    # ------------------------------------------------------------ bookkeeping

    def fail(self, message: str) -> None:
        with self.lock:
            self.failures.append(message)

    def count(self, name: str, n: int = 1) -> None:
        with self.lock:
            self.figures[name] += n

    def submit(self, coro: Coroutine[Any, Any, Any], loop: asyncio.AbstractEventLoop | None = None) -> Future[Any]:
        return asyncio.run_coroutine_threadsafe(coro, loop or random.choice(self.loops))

    # ------------------------------------------------------------ waiters

    async def await_watch(self, id: str, watch: OperationCompletionWatch) -> OperationTerminalOutcome:
        """Await, a third of them with short timeouts, until resolved (a timed-out wait must not
        spoil the watch)."""
        patient = random.random() < 0.67
        while True:
            try:
                outcome = await asyncio.wait_for(watch.wait(), None if patient else random.uniform(0.01, 0.2))
            except asyncio.TimeoutError:
                self.count("watch timeouts")
                continue
            again = await watch.wait()  # resolved once: every later wait gives the same outcome
            if again != outcome:
                self.fail(f"watcher of {id} resolved twice: {outcome} then {again}")
            with self.lock:
                self.in_flight -= 1
            return outcome

    async def follow(self) -> list[int]:
        """A feed consumer: strictly increasing sequence numbers, contiguous within a batch."""
        feed = self.registry.completion_feed()
        after, seen = 0, list[int]()
        while True:
            stopping = self.final.is_set()
            try:
                await asyncio.wait_for(feed.wait_for_advance(after), random.uniform(0.001, 0.05))
            except asyncio.TimeoutError:
                self.count("feed timeouts")
            batch = feed.list_since(after)
            for entry in batch.entries:
                if entry.seq <= after:
                    self.fail(f"feed went back: {entry.seq} after {after}")
                if seen and entry.seq != after + 1:
                    self.count("feed overruns")  # fell behind the feed's capacity
                after = entry.seq
                seen.append(entry.seq)
                with self.lock:
                    self.outcomes[entry.operation_id] = entry.terminal_outcome
            if stopping and after >= feed.watermark():
                return seen

    async def await_barrier(self, handle: WaitAllHandle) -> str:
        if random.random() < 0.2:
            handle.cancel()
            return "cancelled"
        try:
            result = await asyncio.wait_for(handle.wait(), GRACE + self.seconds)
        except asyncio.TimeoutError:
            self.fail(f"wait_all over {handle.operation_ids} never woke (lost wakeup)")
            return "lost"
        except asyncio.CancelledError:
            return "cancelled"
        if [i for i, _ in result.outcomes] != handle.operation_ids:
            self.fail(f"wait_all answered {result.outcomes} for {handle.operation_ids}")
        return "satisfied"

    # ------------------------------------------------------------ actors

    def worker(self, rng: random.Random) -> None:
        r = self.registry
        while not self.stop.is_set():
            id = f"op{next(self.ids)}"
            kind = rng.choice(list(OperationKind))
            r.register_operation(OperationSpec(id, kind, "soak", id, "soak"))
            self.count("operations")
            self.recent.append(id)
            try:
                if rng.random() < 0.6 and self.in_flight < IN_FLIGHT:
                    self.watch(rng, id)
                self.drive(rng, id)
            except (InvalidTransitionError, NotFoundError):
                self.count("raced by terminate_owner")  # the chaos thread terminated it first

    def watch(self, rng: random.Random, id: str) -> None:
        watch = self.registry.register_watcher(id)
        loops = rng.sample(self.loops, 2 if rng.random() < 0.2 else 1)
        for loop in loops:
            with self.lock:
                self.in_flight += 1
                self.watch_tasks.append((id, self.submit(self.await_watch(id, watch), loop)))
        if rng.random() < 0.1:
            try:
                watch.result(timeout=0.001)  # a blocked thread gives up; the watch stays good
            except FutureTimeout:
                self.count("thread watch timeouts")

    def drive(self, rng: random.Random, id: str) -> None:
        r = self.registry
        path = rng.random()
        if path < 0.1:
            r.abort_provisioning(id, "soak")
            return
        if path < 0.15:
            return  # left live: terminate_owner ends it
        r.provisioning_succeeded(id)
        for _ in range(rng.randint(0, 2)):
            r.report_progress(id)
        if rng.random() < 0.3:
            r.request_retire(id)
        end = rng.choice(["complete", "fail", "cancel", "retire"])
        if end == "complete":
            r.complete_operation(id, OperationResult(id, "ok"))
        elif end == "fail":
            r.fail_operation(id, "soak")
        elif end == "cancel":
            r.cancel_operation(id, "soak")
        else:
            r.mark_retired(id)

    def barriers(self, rng: random.Random) -> None:
        while not self.stop.is_set():
            time.sleep(rng.uniform(0.005, 0.03))
            ids = list(dict.fromkeys(rng.sample(list(self.recent), min(3, len(self.recent)))))
            if not ids:
                continue
            try:
                handle = self.registry.begin_wait_all("soak", ids)
            except (NotFoundError, WaitAlreadyActiveError):
                self.count("wait_all refused")
                continue
            with self.lock:
                self.wait_tasks.append(self.submit(self.await_barrier(handle)))

    def chaos(self, rng: random.Random) -> None:
        r = self.registry
        while not self.stop.is_set():
            time.sleep(rng.uniform(0.005, 0.05))
            what = rng.choice(["terminate", "collect", "persist"])
            if what == "terminate":
                r.terminate_owner("soak")
            elif what == "collect":
                r.collect_completed()
            else:
                t0 = time.perf_counter()
                snapshot = r.capture_persistence_snapshot()
                self.longest_capture = max(self.longest_capture, time.perf_counter() - t0)
                recovered = OpsLifecycleRegistry.from_recovered(snapshot)  # a RecoveryError here is a failure
                broken = COMPILED.violated(spec_state_of(MACHINE, recovered))
                if broken:
                    self.fail(f"a snapshot taken under load recovers to a registry breaking {[i.name for i in broken]}")
            self.count(what)

    # ------------------------------------------------------------ the run

    def guarded(self, name: str, body: Any, *args: Any) -> threading.Thread:
        def run() -> None:
            try:
                body(*args)
            except Exception as err:  # noqa: BLE001 - any escape is a finding
                self.fail(f"{name}: {type(err).__name__}: {err}")
        thread = threading.Thread(target=run, name=name, daemon=True)
        thread.start()
        return thread

    def run(self) -> int:
        for t in self.loop_threads:
            t.start()
        self.follower_tasks = [self.submit(self.follow(), loop) for loop in self.loops for _ in range(2)]
        actors = [self.guarded(f"worker-{n}", self.worker, random.Random(self.seed * 1000 + n))
                  for n in range(self.threads)]
        actors.append(self.guarded("barriers", self.barriers, random.Random(self.seed - 1)))
        actors.append(self.guarded("chaos", self.chaos, random.Random(self.seed - 2)))
        t0 = time.perf_counter()
        time.sleep(self.seconds)
        self.stop.set()
        for actor in actors:
            actor.join(GRACE)
            if actor.is_alive():
                self.fail(f"{actor.name} did not end within {GRACE} s (deadlock?)")
                faulthandler.dump_traceback(file=sys.stderr)
        elapsed = time.perf_counter() - t0
        self.check_end()
        for loop in self.loops:
            loop.call_soon_threadsafe(loop.stop)
        self.report(elapsed)
        return 1 if self.failures else 0

    def check_end(self) -> None:
        r = self.registry
        live = [s.id for s in r.list_operations() if not s.status.is_terminal()]
        if r.active_count != len(live):
            self.fail(f"active count {r.active_count}, live operations {len(live)}")
        self.figures["left live at the end"] = len(live)
        r.terminate_owner("soak ended")  # now every watcher and barrier has something to wake for
        self.final.set()
        t0 = time.perf_counter()
        deadline = time.monotonic() + GRACE
        resolutions: Counter[int] = Counter()
        for n, (id, task) in enumerate(self.watch_tasks):
            try:
                outcome = task.result(max(0.0, deadline - time.monotonic()))
            except FutureTimeout:
                self.fail(f"a watcher of {id} was never woken (lost wakeup)")
                continue
            resolutions[n] += 1
            known = self.outcomes.get(id)
            if known is not None and known != outcome:
                self.fail(f"watcher of {id} got {outcome}, the feed says {known}")
        self.figures["watchers resolved"] = sum(resolutions.values())
        self.figures["ms to drain the watchers"] = int((time.perf_counter() - t0) * 1000)
        for wait in self.wait_tasks:
            try:
                self.figures[f"wait_all {wait.result(max(0.0, deadline - time.monotonic()))}"] += 1
            except FutureTimeout:
                self.fail("a wait_all was never woken (lost wakeup)")
        watermark = r.completion_feed().watermark()
        for follower in self.follower_tasks:
            try:
                seen = follower.result(max(0.0, deadline - time.monotonic()))
            except FutureTimeout:
                self.fail(f"a feed follower never reached the watermark {watermark} (lost wakeup)")
                continue
            if any(b <= a for a, b in zip(seen, seen[1:])):
                self.fail("a feed follower saw sequence numbers that do not strictly increase")
            if seen and seen[-1] != watermark:
                self.fail(f"a feed follower stopped at {seen[-1]}, the watermark is {watermark}")
        self.figures["completions"] = watermark
        if r.active_count != 0:
            self.fail(f"active count {r.active_count} after terminate_owner")
        broken = COMPILED.violated(spec_state_of(MACHINE, r))
        if broken:
            self.fail(f"the registry at the end breaks {[i.name for i in broken]}")

    def report(self, elapsed: float) -> None:
        f = self.figures
        print(f"soak: {elapsed:.1f} s, {self.threads} threads, {len(self.loops)} event loops, seed {self.seed}")
        print(f"  {f['operations']:,} operations ({f['operations'] / elapsed:,.0f}/s), {f['completions']:,} "
              f"completions; {len(self.watch_tasks):,} watcher waits, {f['watchers resolved']:,} resolved, "
              f"{f['watch timeouts']:,} timed out and retried, {f['thread watch timeouts']:,} thread timeouts; "
              f"{f['left live at the end']:,} live at the end, their watchers drained in "
              f"{f['ms to drain the watchers']:,} ms")
        print(f"  feed: {len(self.follower_tasks)} followers, {f['feed timeouts']:,} timed-out polls, "
              f"{f['feed overruns']:,} overruns; wait_all: {f['wait_all satisfied']:,} satisfied, "
              f"{f['wait_all cancelled']:,} cancelled, {f['wait_all refused']:,} refused")
        print(f"  raced: {f['terminate']:,} terminate_owner, {f['collect']:,} collect_completed, {f['persist']:,} "
              f"snapshots recovered (longest capture {self.longest_capture * 1000:.1f} ms), "
              f"{f['raced by terminate_owner']:,} calls lost a race to terminate_owner")
        for failure in self.failures[:20]:
            print(f"FAIL {failure}")
        print("soak: ok" if not self.failures else f"soak: {len(self.failures)} failures")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="bounded concurrency soak of impl's registry")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--loops", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    random.seed(args.seed)
    return Soak(args.seconds, args.threads, args.loops, args.seed).run()


if __name__ == "__main__":
    sys.exit(main())

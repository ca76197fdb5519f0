"""Benchmark: register -> start -> complete cycles per second on `impl` (not a test).

Measures the per-cycle time with 1,000 and with 1,000,000 tracked operations
(retained terminal ones, max_completed large enough to keep them all, plus a
variant with that many live ones), to show per-operation calls are O(1).
"""

from __future__ import annotations

import sys
import time

from opsref.impl import OperationKind, OperationResult, OperationSpec, OpsLifecycleConfig, OpsLifecycleRegistry

CYCLES = 20_000


def spec(n: int, tag: str) -> OperationSpec:
    return OperationSpec(f"{tag}{n}", OperationKind.BACKGROUND_TOOL_OP, "owner", f"op {n}", "bench")


def cycle(registry: OpsLifecycleRegistry, n: int) -> None:
    s = spec(n, "c")
    registry.register_operation(s)
    registry.provisioning_succeeded(s.id)
    registry.complete_operation(s.id, OperationResult(s.id, "ok"))


def per_cycle_us(tracked: int, live: bool) -> float:
    registry = OpsLifecycleRegistry(OpsLifecycleConfig(max_completed=tracked + CYCLES + 1))
    for n in range(tracked):  # fill: retained terminal ops, or live ones
        s = spec(n, "f")
        registry.register_operation(s)
        if not live:
            registry.cancel_operation(s.id)
    t0 = time.perf_counter()
    for n in range(CYCLES):
        cycle(registry, n)
    return (time.perf_counter() - t0) / CYCLES * 1e6


def main() -> None:
    print(f"register -> start -> complete, {CYCLES} cycles per row")
    print("| tracked ops | kind | µs per cycle | cycles/s |")
    print("|---|---|---|---|")
    for tracked in (1_000, 1_000_000):
        for live in (False, True):
            us = per_cycle_us(tracked, live)
            print(f"| {tracked:,} | {'live' if live else 'retained'} | {us:.1f} | {1e6 / us:,.0f} |", flush=True)
            print(f"  done: {tracked:,} {'live' if live else 'retained'}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()

"""Benchmark: wall time of the full `opsref prove`, per profile (not a test).

Runs the installed command as a user would, a few times each, and prints the
median and spread as Markdown rows for the README.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

OPSREF = str(Path(sys.executable).with_name("opsref"))
RUNS = int(os.environ.get("BENCH_RUNS", "3"))


def wall(profile: str) -> tuple[float, int]:
    t0 = time.perf_counter()
    done = subprocess.run([OPSREF, "prove", "--profile", profile, "--quiet", "--json", "--no-cache"],
                          capture_output=True, text=True, check=False)
    return time.perf_counter() - t0, done.returncode


def main() -> None:
    print(f"`opsref prove` wall time, {RUNS} runs each, {os.cpu_count()} cores")
    print("| profile | exit | median s | min s | max s |")
    print("|---|---|---|---|---|")
    for profile in ("reference", "seed"):
        times, codes = [], set()
        for n in range(RUNS):
            seconds, code = wall(profile)
            times.append(seconds)
            codes.add(code)
            print(f"  run {n + 1}/{RUNS} {profile}: {seconds:.1f} s (exit {code})", file=sys.stderr, flush=True)
        print(f"| {profile} | {'/'.join(map(str, sorted(codes)))} | {statistics.median(times):.1f} | "
              f"{min(times):.1f} | {max(times):.1f} |", flush=True)


if __name__ == "__main__":
    main()

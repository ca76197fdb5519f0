"""Benchmark: `opsref drive` requests per second against `opsref serve` and against the
Rust seed port, and how long the default drive takes to catch each of the two feed
bugs in the seed port (`--bug feed-inclusive`, `--bug feed-capacity-8`). Figures go in
the README; nothing here asserts a time.

Each figure is read off the driver's own summary line ("… N requests in T s (R
requests/s)"), the median of three runs.
"""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

OPSREF = str(Path(sys.executable).with_name("opsref"))
ROOT = Path(__file__).resolve().parent.parent
PORT = ROOT / "examples" / "rust-seed-registry" / "target" / "release" / "rust-seed-registry"
SUMMARY = re.compile(r"(?P<outcome>MISMATCH after (?P<sequences>\d+) sequences|conforms[^:]*: (?P<all>\d+) sequences),"
                     r" (?P<requests>\d+) requests in (?P<seconds>[\d.]+) s \((?P<rate>[\d,]+) requests/s\)")


def drive(profile: str, command: list[str], kept: str | None = None) -> dict[str, float]:
    """One drive; the sequences generated afresh (--no-cache) unless `kept`, a folder to
    run in, whose build/drive-cache/ holds the tape of an earlier drive."""
    with tempfile.TemporaryDirectory() as tmp:
        cache = [] if kept else ["--no-cache"]
        done = subprocess.run([OPSREF, "drive", "--profile", profile, "--out", f"{tmp}/cx.jsonl", *cache, "--", *command],
                              capture_output=True, text=True, cwd=kept)
    match = SUMMARY.search(done.stdout + done.stderr)
    if match is None:
        raise SystemExit(f"no summary from opsref drive ({done.returncode}):\n{done.stdout}{done.stderr}")
    return {"mismatch": float(done.returncode == 1), "sequences": float(match["sequences"] or match["all"]),
            "requests": float(match["requests"]), "seconds": float(match["seconds"]),
            "rate": float(match["rate"].replace(",", ""))}


def median(profile: str, command: list[str]) -> dict[str, float]:
    runs = [drive(profile, command) for _ in range(3)]
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]}


def main() -> None:
    subprocess.run(["cargo", "build", "--release", "--offline", "--quiet", "--manifest-path",
                    str(ROOT / "examples" / "rust-seed-registry" / "Cargo.toml")], check=True)
    serve = median("reference", [OPSREF, "serve"])
    print(f"drive vs opsref serve (reference, default 300 x 30 calls): {serve['requests']:,.0f} requests "
          f"in {serve['seconds']:.1f} s, {serve['rate']:,.0f} requests/s")
    with tempfile.TemporaryDirectory() as kept:
        drive("reference", [OPSREF, "serve"], kept)  # generates and keeps the tape
        replay = statistics.median(drive("reference", [OPSREF, "serve"], kept)["seconds"] for _ in range(3))
    print(f"the same, the sequences replayed from the kept tape (build/drive-cache/): {replay:.1f} s")
    port = median("seed", [str(PORT)])
    print(f"drive vs the Rust seed port (seed profile, same sequences): {port['requests']:,.0f} requests "
          f"in {port['seconds']:.1f} s, {port['rate']:,.0f} requests/s")
    for bug in ("feed-inclusive", "feed-capacity-8"):
        found = median("seed", [str(PORT), "--bug", bug])
        verdict = "caught" if found["mismatch"] else "NOT caught"
        print(f"--bug {bug}: {verdict} after {found['sequences']:.0f} sequences, {found['requests']:,.0f} "
              f"requests, {found['seconds']:.2f} s (including shrinking)")


if __name__ == "__main__":
    main()

"""`opsref drive` against implementations that misbehave (issue 15): it always ends, with
one clear finding and exit 1, and leaves no process behind."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from pathlib import Path

OPSREF = str(Path(sys.executable).with_name("opsref"))


def drive(tmp_path: Path, *impl: str, extra: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    return subprocess.run([OPSREF, "drive", "--out", str(tmp_path / "cx.jsonl"), *extra, "--", *impl],
                          capture_output=True, text=True, timeout=120)


def test_an_implementation_that_closes_stdout_and_keeps_running_is_reported(tmp_path: Path) -> None:
    script = "import os, sys, time\nsys.stdin.readline()\nos.close(1)\ntime.sleep(60)\n"
    started = time.monotonic()
    run = drive(tmp_path, sys.executable, "-c", script, extra=("--timeout", "2"))
    assert run.returncode == 1, run.stdout + run.stderr
    assert "closed its stdout" in run.stderr
    assert time.monotonic() - started < 30


FLAKY = """
import json, sys
from conformance.serve import Server
server, seen = Server(), 0
for line in sys.stdin:
    seen += 1
    answer = server.answer(line)
    if seen == 40:  # one wrong answer, never again
        answer = {"ok": "surprise"}
    sys.stdout.write(json.dumps(answer) + "\\n")
    sys.stdout.flush()
"""


def test_a_mismatch_that_does_not_repeat_is_reported_as_it_happened(tmp_path: Path) -> None:
    run = drive(tmp_path, sys.executable, "-c", FLAKY)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "MISMATCH" in run.stdout and "did NOT repeat" in run.stdout
    assert "Traceback" not in run.stderr and "internal error" not in run.stderr
    trace = (tmp_path / "cx.jsonl").read_text().splitlines()
    assert '"surprise"' in trace[-1]


def test_no_grandchild_outlives_the_driver(tmp_path: Path) -> None:
    marker = f"opsref-grandchild-{uuid.uuid4().hex}"
    sleeper = f"{sys.executable} -c 'import time; time.sleep(300)' {marker}"
    run = drive(tmp_path, "bash", "-c", f"{sleeper} & exec {OPSREF} serve", extra=("--runs", "3"))
    assert run.returncode == 0, run.stdout + run.stderr
    time.sleep(0.5)
    left = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True)
    assert left.stdout.strip() == "", f"left running: {left.stdout}"

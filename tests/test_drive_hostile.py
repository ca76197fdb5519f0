"""`opsref drive` against implementations that misbehave (issue 15): it always ends, with
one clear finding and exit 1, and leaves no process behind."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from opsref.conformance.jsonline import JsonObject

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
from opsref.conformance.serve import Server
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


def answering(answer: str, extra: str = "") -> str:
    """An implementation that answers every request with the bytes `answer` builds from `line`."""
    return ("import sys\n" + extra +
            "for line in sys.stdin.buffer:\n"
            f"    sys.stdout.buffer.write({answer} + b'\\n')\n"
            "    sys.stdout.buffer.flush()\n")


def one_finding(run: subprocess.CompletedProcess[str], code: int = 1) -> str:
    """The finding: the banner, then one line (and at most a bounded stderr tail)."""
    assert run.returncode == code, run.stdout + run.stderr
    assert "Traceback" not in run.stderr and "internal error" not in run.stderr
    findings = [line for line in run.stderr.splitlines() if line.startswith("opsref drive: ")][1:]
    assert len(findings) == 1, run.stderr
    return findings[0]


HOSTILE_ANSWERS = {
    "invalid-utf8": ("b'{\"ok\": \"\\xff\"}'", "is not JSON: '{\"ok\": \"\ufffd\"}' (not UTF-8 (byte 9 of the line))"),
    "huge-integer": ("b'{\"ok\": ' + b'9' * 4301 + b'}'", "integer of 4301 digits"),
    "deep": ("b'[' * 100000 + b']' * 100000", "(nested more than 32 levels deep)"),
    "duplicate-key": ("b'{\"ok\": null, \"ok\": null}'", "(field ok: duplicate key"),
    "long-line": ("b'{\"ok\": \"' + b'x' * (1 << 24) + b'\"}'", "response 1 (reset) is longer than 16,777,216 bytes"),
    "two-lines": ("b'{\"ok\": null}\\n{\"ok\": null}'",
                  "the implementation answered more than one line to a request (noticed after request 1 (reset))"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE_ANSWERS))
def test_a_hostile_answer_is_one_finding_naming_its_fault(tmp_path: Path, name: str) -> None:
    answer, message = HOSTILE_ANSWERS[name]
    run = drive(tmp_path, sys.executable, "-c", answering(answer))
    finding = one_finding(run)
    assert message in finding, run.stderr
    assert finding.startswith("opsref drive: response 1 (reset) ") or "more than one line" in finding


def test_two_lines_per_request_are_named_even_when_the_second_comes_late(tmp_path: Path) -> None:
    script = ("import sys, time\n"
              "for line in sys.stdin:\n"
              "    print('{\"ok\": null}', flush=True)\n"
              "    time.sleep(0.05)\n"
              "    print('{\"ok\": null}', flush=True)\n")
    finding = one_finding(drive(tmp_path, sys.executable, "-c", script))
    assert "answered more than one line to a request" in finding
    assert "refused" not in finding


def test_a_stderr_flood_without_newlines_shows_only_a_bounded_tail(tmp_path: Path) -> None:
    script = "import sys\nsys.stdin.readline()\nsys.stderr.write('e' * 20_000_000 + 'DNE'[::-1])\nsys.exit(5)\n"
    run = drive(tmp_path, sys.executable, "-c", script)
    assert "the implementation exited (status 5)" in run.stderr
    assert len(run.stderr) < 2000 and "END" in run.stderr


def test_a_timeout_that_is_not_a_number_of_seconds_is_bad_usage(tmp_path: Path) -> None:
    for value in ("inf", "nan", "1e300", "-1"):
        run = drive(tmp_path, OPSREF, "serve", extra=("--timeout", value))
        assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr
        assert "--timeout" in run.stderr


WRONG_THEN_EXIT = """
import json, sys
from opsref.conformance.serve import Server
server, seen = Server(), 0
for line in sys.stdin:
    seen += 1
    if seen == 41:  # the request after the wrong answer: one a lock-step driver would not send yet
        sys.exit(7)
    answer = server.answer(line)
    if seen == 40:
        answer = {"ok": "surprise"}
    sys.stdout.write(json.dumps(answer) + "\\n")
    sys.stdout.flush()
"""


def test_a_failure_on_a_request_sent_past_a_mismatch_leaves_the_mismatch_the_finding(tmp_path: Path) -> None:
    """The driver sends requests ahead of their answers (conformance/process.py), so the
    implementation may see requests after the one it answered wrongly; if it then dies, the
    wrong answer is still what is reported, as it happened."""
    run = drive(tmp_path, sys.executable, "-c", WRONG_THEN_EXIT)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "MISMATCH" in run.stdout and "shown unshrunk" in run.stdout, run.stdout + run.stderr
    assert "the implementation exited (status 7)" in run.stdout
    assert "Traceback" not in run.stderr and "internal error" not in run.stderr
    assert '"surprise"' in (tmp_path / "cx.jsonl").read_text().splitlines()[-1]


def test_requests_sent_ahead_never_deadlock_with_answers_longer_than_a_pipe_holds() -> None:
    """Thousands of requests queued at once (more than a pipe holds) against answers of
    100 KB each (more than a pipe holds): the window of unanswered requests keeps both
    sides moving. Without it, each side would wait forever on a full pipe."""
    from opsref.conformance.process import Implementation
    padded = answering("b'{\"ok\": null}' + b' ' * 100_000")
    impl = Implementation([sys.executable, "-c", padded], timeout=20)
    reset: JsonObject = {"max_completed": 1, "max_concurrent": None}
    requests = [("reset", reset)] * 3000
    assert sum(len(json.dumps({"call": c, "args": a})) + 1 for c, a in requests) > 2 * 65536  # a Linux pipe's capacity
    answers: list[JsonObject] = []

    def converse() -> None:
        impl.send(requests)
        answers.extend(impl.receive() for _ in requests)

    worker = threading.Thread(target=converse, daemon=True)
    worker.start()
    worker.join(60)
    stuck = worker.is_alive()
    impl.close()  # ends the implementation, which also frees a stuck worker
    assert not stuck, "the driver and the implementation wait on each other"
    assert answers == [{"ok": None}] * len(requests)
    assert impl.requests == len(requests)

"""`opsref prove` as CI runs it: exit status, the JSON schema, the seed's barrier
counterexample, readable output and bad usage."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from opsref.proofs.bmc import bounded_check
from opsref.spec.ops_lifecycle import CHECK_CONFIGS, build
from opsref.spec.registry import MACHINES, build_all
from opsref.proofs.report import MachineReport, Obligation, Report, render_summary, render_table
from opsref.spec.machine import Machine
from opsref.spec.terms import TRUE
from tests.spec_helpers import REFERENCE, with_guard

OPSREF = str(Path(sys.executable).with_name("opsref"))


def opsref(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([OPSREF, *args], capture_output=True, text=True, timeout=600, cwd=cwd)


#: the CLI's live reference run: the smallest machine, to a shallow depth. `make verify`
#: proves every machine to the full depth (10), once per CI run; what those proofs must
#: show is read off the recorded report below (kept current by `opsref docs --check`)
CLI_MACHINES = ("comms_drain",)
CLI_DEPTH = 3
RECORDED = Path(__file__).resolve().parent.parent / "docs" / "proofs" / "reference.json"


@pytest.fixture(scope="module")
def reference_run() -> subprocess.CompletedProcess[str]:
    machines = [arg for name in CLI_MACHINES for arg in ("--machine", name)]
    return opsref("prove", "--profile", "reference", "--json", "--no-cache", "--depth", str(CLI_DEPTH), *machines)


@pytest.fixture(scope="module")
def seed_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("seed")


@pytest.fixture(scope="module")
def seed_run(seed_folder: Path) -> subprocess.CompletedProcess[str]:
    """The smallest run that shows the seed's barrier counterexample: the registry's
    barrier invariant under one configuration, to the depth its trace needs, its
    counterexample also written as ITF (in `seed_folder`). What the seed violates on
    every machine is read off the recorded reports (tests/test_review.py), which
    `opsref docs --check` keeps current."""
    return opsref("prove", "--profile", "seed", "--json", "--quiet", "--no-cache", "--machine", "ops_lifecycle",
                  "--invariant", "barrier_satisfaction", "--config", "mc1", "--depth", "6", "--itf", "itf",
                  cwd=seed_folder)


def obligations(run: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    report = json.loads(run.stdout)
    return [o for m in report["machines"] for o in m["obligations"]]


def test_reference_is_all_proved_with_exit_zero(reference_run: subprocess.CompletedProcess[str]) -> None:
    assert reference_run.returncode == 0, reference_run.stderr
    report = json.loads(reference_run.stdout)
    assert report["profile"] == "reference"
    assert [m["machine"] for m in report["machines"]] == list(CLI_MACHINES)
    summary = report["summary"]
    assert summary["violated"] == 0 and summary["unknown"] == 0 and summary["proved"] == len(obligations(reference_run))
    assert "comms_drain: bmc default done" in reference_run.stderr  # progress on stderr, stdout is pure JSON


def schema_holds(found: list[dict[str, Any]], depth: int) -> None:
    for o in found:
        assert {"id", "invariant", "kind", "action", "result", "seconds", "domain"} <= set(o)
        assert o["result"] in ("proved", "violated", "unknown")
        assert o["domain"] == "unbounded" or (set(o["domain"]) == {"ids", "depth"} and o["domain"]["ids"] == 3)
    assert {o["domain"]["depth"] for o in found if o["kind"] == "bmc"} == {depth}


def test_json_obligations_follow_the_schema(reference_run: subprocess.CompletedProcess[str]) -> None:
    found = obligations(reference_run)
    assert {o["kind"] for o in found} == {"initiation", "inductive", "bmc", "reachability"}
    schema_holds(found, CLI_DEPTH)
    bmc = [o for o in found if o["kind"] == "bmc"]
    assert len(bmc) == sum(len(m.configs()) * len(m.invariants) for m in build_all("reference", list(CLI_MACHINES)))


def test_the_recorded_report_follows_the_schema_on_every_machine() -> None:
    """The full run (`make docs` records what `make verify` proves): every kind of
    obligation, and a bounded check per (invariant, configuration): ops_lifecycle has four
    (max_completed 1, 2 × with and without a limit), a machine without configurations one."""
    report = json.loads(RECORDED.read_text(encoding="utf-8"))
    found = [o for m in report["machines"] for o in m["obligations"]]
    assert {o["kind"] for o in found} == {"initiation", "inductive", "ranking", "bmc", "reachability"}
    schema_holds(found, 10)
    for m in build_all("reference"):
        bmc = [o for r in report["machines"] if r["machine"] == m.name for o in r["obligations"] if o["kind"] == "bmc"]
        assert len(bmc) == len(m.configs()) * len(m.invariants), m.name


def test_the_registry_is_proved_unbounded_and_reaches_every_action_and_error() -> None:
    """The engines' results on the reference registry, read off the recorded report (the
    proofs `make verify` makes, once per CI run; tests/test_proofs.py holds the engines'
    failures)."""
    found = [o for m in json.loads(RECORDED.read_text(encoding="utf-8"))["machines"]
             if m["machine"] == "ops_lifecycle" for o in m["obligations"]]
    unbounded = [o for o in found if o["domain"] == "unbounded"]
    assert {o["kind"] for o in unbounded} == {"initiation", "inductive", "ranking"}
    assert [o["id"] for o in found if o["result"] != "proved"] == []
    # one consecution obligation per (invariant, action), one ranking per action
    assert len([o for o in unbounded if o["action"] == "register_operation"]) == len(REFERENCE.invariants) + 1
    reached = {o["id"] for o in found if o["kind"] == "reachability"}
    assert {i for i in reached if i.startswith("error/")} == {f"error/{e}" for e in REFERENCE.errors}
    assert {i for i in reached if i.startswith("enabled/")} == {f"enabled/{a.name}" for a in REFERENCE.actions}


def test_seed_barrier_counterexample_is_a_short_eviction_trace(seed_run: subprocess.CompletedProcess[str]) -> None:
    assert seed_run.returncode == 1
    barrier = [o for o in obligations(seed_run) if o["invariant"] == "barrier_satisfaction" and o["kind"] == "bmc"]
    assert barrier and {o["result"] for o in barrier} == {"violated"}
    assert {o["invariant"] for o in obligations(seed_run)} == {"barrier_satisfaction"}  # the focus holds
    for o in barrier:
        cex = o["counterexample"]
        trace = cex["trace"]
        assert len(trace) <= 8 and o["domain"]["depth"] == len(trace)
        assert cex["replayed_on_model"] is True
        members = next(s["params"]["ids"] for s in trace if s["action"] == "wait_request")
        final = cex["state"]
        assert final["wait_active"] is True
        evicted = [m for m in members if final["ops"][m].get("status", "absent") == "absent"]
        assert evicted, "a barrier member must have been evicted while the barrier waits"


def test_the_seed_barrier_counterexample_is_written_as_itf_that_replays_on_the_spec(
        seed_run: subprocess.CompletedProcess[str], seed_folder: Path) -> None:
    assert seed_run.returncode == 1, seed_run.stdout + seed_run.stderr
    written = sorted((seed_folder / "itf").glob("*.itf.json"))
    assert [p.name for p in written] == ["ops_lifecycle.barrier_satisfaction.mc1.itf.json"]
    states = json.loads(written[0].read_text(encoding="utf-8"))["states"]
    assert len(states) == 6  # Init and the five steps of the barrier counterexample
    replay = opsref("check", "--profile", "seed", str(written[0]), cwd=seed_folder)
    assert replay.returncode == 1, replay.stdout + replay.stderr  # every state agrees; the last breaks the invariant
    assert "agrees with the spec at every step" in replay.stdout
    assert "the spec's state violates barrier_satisfaction" in replay.stdout


@pytest.fixture(scope="module")
def no_concurrency_limit() -> tuple[Machine, list[Obligation]]:
    """The reference without its concurrency limit, checked to depth 3 under a limit of 2
    (one BMC run, which both renderings below show)."""
    broken = with_guard(REFERENCE, "register_operation", "within_concurrency_limit", lambda g: replace(g, holds=TRUE))
    return broken, bounded_check(broken, depth=3, configs=(CHECK_CONFIGS[1],))


def test_table_shows_counterexamples_in_domain_words(no_concurrency_limit: tuple[Machine, list[Obligation]]) -> None:
    _, found = no_concurrency_limit
    text = render_table(Report("reference", [MachineReport("ops_lifecycle", found)], 1.0))
    assert "✗ active_count_consistency/bmc/mc1-limit2: violated" in text
    assert "shortest trace (3 steps) from Init, config max_completed=1, max_concurrent=2" in text
    assert "1. register_operation(id=op" in text and "final state:" in text
    assert "summary: " in text and " violated" in text


def test_summary_is_a_line_per_invariant_and_every_failure_in_full(
        no_concurrency_limit: tuple[Machine, list[Obligation]]) -> None:
    broken, found = no_concurrency_limit
    text = render_summary(Report("reference", [MachineReport("ops_lifecycle", found)], 1.0))
    lines = text.splitlines()
    heading = next(line for line in lines if line.startswith("machine ops_lifecycle"))
    assert f"{len(found)} obligations, {len(found) - 1} proved, 1 violated, 0 unknown" in heading
    rows = [line for line in lines if line.startswith(("  ✓ ", "  ✗ ")) and "/" not in line.split()[1]]
    assert len(rows) == len(broken.invariants)  # one line per invariant, none per obligation
    bad = next(line for line in rows if " active_count_consistency " in line)
    assert bad.startswith("  ✗ ") and "bmc 0/1 config (✗ shortest trace 3 steps)" in bad
    assert all(line.startswith("  ✓ ") and line.endswith("bmc 3") for line in rows if line is not bad)
    # the failure in full, as the verbose table shows it
    assert "  ✗ active_count_consistency/bmc/mc1-limit2: violated — shortest counterexample: 3 steps" in lines
    assert "1. register_operation(id=op" in text and "final state:" in text
    assert lines[-1].startswith("summary: ") and " 1 violated" in lines[-1]


@pytest.mark.parametrize("args, message", [
    (("prove", "--profile", "nope"), "unknown profile 'nope'"),
    (("prove", "--profile", "seed+nope"), "no decision 'nope'"),
    (("prove", "--depth", "0"), "expected a number >= 1"),
    (("prove", "--machine", "nope"), "invalid choice"),
    ((), "required: COMMAND"),
])
def test_bad_usage_exits_two_with_a_one_line_reason(args: tuple[str, ...], message: str) -> None:
    run = opsref(*args)
    assert run.returncode == 2
    assert message in run.stderr and "Traceback" not in run.stderr


def test_help_explains_the_proof_kinds_and_exit_status() -> None:
    run = opsref("prove", "--help")
    assert run.returncode == 0
    assert "unsat" in run.stdout and "Exit status" in run.stdout

"""Counterexamples written as ITF (`--itf`): `opsref prove`'s BMC traces and `opsref
drive`'s spec walk are ITF documents that `opsref check` replays on the spec (a BMC
trace to the invariant it breaks)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.test_conformance import JS_BUG, js, needs_node, opsref


def states_and_actions(path: Path) -> tuple[int, list[str]]:
    doc = json.loads(path.read_text(encoding="utf-8"))
    actions = [s.get("mbt::actionTaken") for s in doc["states"]]
    return len(doc["states"]), [a for a in actions if a and a != "init"]


def test_prove_writes_each_bmc_counterexample_as_itf_that_replays_on_the_spec(tmp_path: Path) -> None:
    run = opsref("prove", "--profile", "seed", "--machine", "ops_lifecycle", "--invariant", "barrier_satisfaction",
                 "--config", "mc1", "--depth", "6", "--quiet", "--itf", "itf", cwd=tmp_path)
    assert run.returncode == 1, run.stdout + run.stderr
    written = sorted((tmp_path / "itf").glob("*.itf.json"))
    assert [p.name for p in written] == ["ops_lifecycle.barrier_satisfaction.mc1.itf.json"]
    count, _ = states_and_actions(written[0])
    assert count == 6  # Init and the five steps of the barrier counterexample
    replay = opsref("check", "--profile", "seed", str(written[0]), cwd=tmp_path)
    assert replay.returncode == 1, replay.stdout + replay.stderr  # every state agrees; the last breaks the invariant
    assert "agrees with the spec at every step" in replay.stdout
    assert "the spec's state violates barrier_satisfaction" in replay.stdout


@needs_node
def test_drive_writes_the_spec_walk_along_its_counterexample_as_itf(tmp_path: Path) -> None:
    run = opsref("drive", "--mode", "exhaustive", "--out", "cex.jsonl", "--itf", "cex.itf.json", "--",
                 *js("--bug", JS_BUG), cwd=tmp_path)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "written as ITF to cex.itf.json" in run.stdout
    count, actions = states_and_actions(tmp_path / "cex.itf.json")
    assert count == len(actions) + 1 and actions  # Init, then one state per accepted spec step
    replay = opsref("check", "cex.itf.json", cwd=tmp_path)
    assert replay.returncode == 0, replay.stdout + replay.stderr

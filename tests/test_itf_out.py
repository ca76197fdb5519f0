"""Counterexamples written as ITF (`--itf`): `opsref drive`'s spec walk is an ITF
document that `opsref check` replays on the spec. (`opsref prove`'s BMC traces are
checked the same way in tests/test_cli.py, on the seed run its tests share, so that
the proof is run once.)"""

from __future__ import annotations

import json
from pathlib import Path

from tests.test_conformance import JS_BUG, js, needs_node, opsref


def states_and_actions(path: Path) -> tuple[int, list[str]]:
    doc = json.loads(path.read_text(encoding="utf-8"))
    actions = [s.get("mbt::actionTaken") for s in doc["states"]]
    return len(doc["states"]), [a for a in actions if a and a != "init"]


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

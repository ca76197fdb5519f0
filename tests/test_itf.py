"""ITF in and out (interop/itf.py): a walk of the spec written as ITF replays clean; one
variable changed at step k is a divergence at step k naming it; a step the spec refuses is
a divergence naming the refusing guard; malformed ITF is one line naming file, state and
field (exit 2); `opsref simulate --itf` writes its counterexample as ITF."""

from __future__ import annotations

import copy
import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from opsref.interop import itf
from opsref.interop.quint import STEP_OK, action_names
from opsref.spec.machine import Machine
from opsref.spec.model import Accepted, Value, initial_state, step
from opsref.spec.registry import MACHINES, build_all
from opsref.spec.terms import BOOL, ID, ID_SET, INT

OPSREF = str(Path(sys.executable).with_name("opsref"))
IDS = ["op0", "op1", "op2"]


def opsref(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([OPSREF, *args], capture_output=True, text=True, timeout=300)


def draw(rng: random.Random, sort: Any) -> Value:
    if sort == ID:
        return rng.choice(IDS)
    if sort == ID_SET:
        return frozenset(rng.sample(IDS, rng.randint(0, len(IDS))))
    if sort == BOOL:
        return rng.random() < 0.2
    if sort == INT:
        return rng.randint(0, 3)
    return str(rng.choice(sort.members))


def accepted_walk(machine: Machine, seed: int, length: int) -> tuple[dict[str, Value], list[tuple[str, dict[str, Value]]]]:
    """A random walk of `length` accepted steps (refused draws are skipped) under the
    machine's first check configuration."""
    rng = random.Random(seed)
    config: dict[str, Value] = dict(machine.configs()[0].as_dict())
    state = initial_state(machine, config)
    walk: list[tuple[str, dict[str, Value]]] = []
    # a destroyed runtime accepts nothing more: leave destroy out so the walk goes on
    actions = [a for a in machine.actions if a.name != "destroy"]
    for _ in range(length * 50):
        if len(walk) == length:
            break
        action = rng.choice(actions)
        params = {p.name: draw(rng, p.sort) for p in action.params}
        outcome = step(machine, state, action.name, params)
        if isinstance(outcome, Accepted):
            walk.append((action.name, params))
            state = outcome.state
    assert len(walk) == length, f"{machine.name}: only {len(walk)} accepted steps drawn"
    return config, walk


@pytest.mark.parametrize("name", sorted(MACHINES))
def test_a_spec_walk_written_as_itf_reads_back_and_replays_clean(name: str) -> None:
    machine = MACHINES[name]("reference")
    config, walk = accepted_walk(machine, seed=7, length=25)
    doc = itf.parse(itf.dumps(itf.trace(machine, config, walk, IDS)).encode(), "walk.itf.json")
    assert len(doc["states"]) == 26
    assert [s[itf.ACTION_TAKEN] for s in doc["states"][1:]] == [action_names(machine)[a] for a, _ in walk]
    assert itf.detect_machine(doc, build_all("reference"), "walk.itf.json").name == name
    result = itf.check(machine, doc, "walk.itf.json")
    assert result.clean, itf.render(result)
    assert sum(result.actions.values()) == 25


def _map_entry(value: Any, key: str) -> list[Any]:
    for entry in value["#map"]:
        if entry[0] == key:
            return list(entry)
    raise AssertionError(f"no key {key}")


@pytest.mark.parametrize("k", [1, 4, 9])
def test_a_tampered_global_at_step_k_is_a_divergence_at_step_k(k: int) -> None:
    machine = MACHINES["ops_lifecycle"]("reference")
    config, walk = accepted_walk(machine, seed=3, length=12)
    doc = itf.trace(machine, config, walk, IDS)
    tampered = copy.deepcopy(doc)
    old = int(tampered["states"][k]["registrations"]["#bigint"])
    tampered["states"][k]["registrations"] = {"#bigint": str(old + 1)}
    result = itf.check(machine, tampered, "t.itf.json")
    assert result.divergence is not None
    assert (result.divergence.step, result.divergence.variable) == (k, "registrations")
    assert (result.divergence.expected, result.divergence.observed) == (str(old), str(old + 1))
    assert itf.check(machine, doc, "t.itf.json").clean


def test_a_tampered_map_entry_is_named_with_its_key() -> None:
    machine = MACHINES["runtime_control"]("reference")
    config, walk = accepted_walk(machine, seed=5, length=10)
    doc = itf.trace(machine, config, walk, IDS)
    k = 6
    entries = doc["states"][k]["input"]["#map"]
    entries[1] = [entries[1][0], "consumed" if entries[1][1] != "consumed" else "none"]
    result = itf.check(machine, doc, "t.itf.json")
    assert result.divergence is not None
    assert result.divergence.step == k
    assert result.divergence.variable == f"input[{entries[1][0]}]"


def test_a_step_the_spec_refuses_is_a_divergence_naming_the_guard() -> None:
    machine = MACHINES["ops_lifecycle"]("reference")
    config, walk = accepted_walk(machine, seed=11, length=6)
    doc = itf.trace(machine, config, walk, IDS)
    # a seventh state claiming complete_operation of an id never registered
    extra = copy.deepcopy(doc["states"][-1])
    extra[itf.ACTION_TAKEN] = "complete_operation"
    fresh_id = next(i for i in IDS if _map_entry(extra["status"], i)[1] == "absent")
    extra[itf.NONDET_PICKS]["p_id"] = {"tag": "Some", "value": fresh_id}
    doc["states"].append(extra)
    result = itf.check(machine, doc, "t.itf.json")
    assert result.divergence is not None
    assert result.divergence.step == 7
    assert result.divergence.variable == "guard operation_tracked"
    assert "NotFound" in result.divergence.explanation


def test_step_ok_records_the_step_part_of_each_invariant() -> None:
    machine = MACHINES["ops_lifecycle"]("reference")
    config, walk = accepted_walk(machine, seed=2, length=8)
    doc = itf.trace(machine, config, walk, IDS)
    recorded = dict((name, ok) for name, ok in doc["states"][3][STEP_OK]["#map"])
    assert recorded["barrier_satisfaction"] is True and recorded["terminal_irreversibility"] is True
    doc["states"][3][STEP_OK]["#map"] = [[n, False if n == "barrier_satisfaction" else v]
                                         for n, v in doc["states"][3][STEP_OK]["#map"]]
    result = itf.check(machine, doc, "t.itf.json")
    assert result.divergence is not None
    assert (result.divergence.step, result.divergence.variable) == (3, f"{STEP_OK}[barrier_satisfaction]")


def test_check_accepts_an_itf_file_and_a_folder_and_reports_a_tampered_one(tmp_path: Path) -> None:
    machine = MACHINES["comms_drain"]("reference")
    for n in range(3):
        config, walk = accepted_walk(machine, seed=n, length=10)
        (tmp_path / f"{n}.itf.json").write_text(itf.dumps(itf.trace(machine, config, walk, IDS)))
    ok = opsref("check", str(tmp_path / "0.itf.json"))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "every step agrees with the spec" in ok.stdout
    folder = opsref("check", str(tmp_path))
    assert folder.returncode == 0, folder.stdout + folder.stderr
    assert "3 ITF traces, 30 steps replayed" in folder.stdout
    doc = json.loads((tmp_path / "2.itf.json").read_text())
    entry = doc["states"][5]["session"]["#map"][0]
    entry[1] = "torn_down" if entry[1] != "torn_down" else "registered"
    # an ITF object without the .itf.json suffix is recognised by its `states`
    (tmp_path / "tampered.json").write_text(json.dumps(doc))
    bad = opsref("check", str(tmp_path / "tampered.json"))
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "DIVERGENCE at step 5" in bad.stdout and "in session[" in bad.stdout


@pytest.mark.parametrize("mangle, message", [
    (lambda d: "{not json", "malformed JSON"),
    (lambda d: json.dumps({**d, "states": []}), "field states: missing or not a non-empty array"),
    (lambda d: json.dumps({**d, "states": [d["states"][0], {**d["states"][1], "runtime": 3}]}), "state 1 field runtime"),
    (lambda d: json.dumps({**d, "states": [d["states"][0], {**d["states"][1], itf.ACTION_TAKEN: "fly"}]}),
     "'fly' is no action of runtime_control"),
])
def test_malformed_itf_is_one_line_naming_file_state_and_field(tmp_path: Path, mangle: Any, message: str) -> None:
    machine = MACHINES["runtime_control"]("reference")
    config, walk = accepted_walk(machine, seed=1, length=3)
    doc = itf.trace(machine, config, walk, IDS)
    path = tmp_path / "bad.itf.json"
    path.write_text(mangle(doc))
    run = opsref("check", str(path))
    assert run.returncode == 2, run.stdout + run.stderr
    assert message in run.stderr and str(path) in run.stderr
    assert "Traceback" not in run.stderr and len(run.stderr.strip().splitlines()) == 1


def test_simulate_writes_its_counterexample_as_itf_that_check_replays(tmp_path: Path) -> None:
    out = tmp_path / "cex.itf.json"
    sim = opsref("simulate", "--profile", "seed", "--runs", "20", "--steps", "200", "--itf", str(out))
    assert sim.returncode == 1, sim.stdout + sim.stderr
    violated = sim.stdout.split("VIOLATED ", 1)[1].split(" in run")[0]
    seed = opsref("check", "--profile", "seed", str(out))
    assert seed.returncode == 1
    assert "agrees with the spec at every step" in seed.stdout and f"violates {violated}" in seed.stdout
    # the reference parts from the seed's walk no later than the step that breaks the seed:
    # it refuses a step, or a step leaves a field (e.g. barrier_done) where the seed does not
    reference = opsref("check", str(out))
    assert reference.returncode == 1 and "DIVERGENCE at step" in reference.stdout, reference.stdout
    step = int(reference.stdout.split("DIVERGENCE at step ", 1)[1].split(" ", 1)[0])
    assert step <= int(sim.stdout.split(" in run ", 1)[1].split(" after ", 1)[1].split(" steps", 1)[0])


def test_every_recorded_seed_counterexample_as_itf_replays_to_its_violation(tmp_path: Path) -> None:
    """`opsref export --itf-from docs/proofs/seed.json`: each BMC counterexample of the
    recorded seed report, as ITF, agrees with the seed spec step by step and ends in a state
    violating the invariant it was found for."""
    report = json.loads((Path(__file__).resolve().parent.parent / "docs" / "proofs" / "seed.json").read_text())
    expected = {(m["machine"], o["invariant"]) for m in report["machines"] for o in m["obligations"]
                if o["kind"] == "bmc" and o.get("counterexample")}
    assert ("ops_lifecycle", "barrier_satisfaction") in expected
    run = opsref("export", "--itf-from", "docs/proofs/seed.json", "--out", str(tmp_path))
    assert run.returncode == 0, run.stderr
    paths = sorted(tmp_path.glob("*.itf.json"))
    assert {(p.name.split(".")[0], p.name.split(".")[1]) for p in paths} == expected
    for path in paths:
        name, invariant = path.name.split(".")[:2]
        machine = MACHINES[name]("seed")
        result = itf.check(machine, itf.load(str(path)), str(path))
        assert result.divergence is None, itf.render(result)
        assert result.violation is not None and invariant in result.violation[2], itf.render(result)
        assert result.violation[0] == result.states - 1  # the last step breaks it, as BMC found it
    # under the reference a barrier keeps the outcome of a member that finishes (decision 1)
    barrier = opsref("check", str(tmp_path / "ops_lifecycle.barrier_satisfaction.mc1.itf.json"))
    assert barrier.returncode == 1
    assert "DIVERGENCE at step " in barrier.stdout and ") in barrier_done[" in barrier.stdout

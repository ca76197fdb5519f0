"""The Quint export (interop/quint.py): deterministic, derived from the machine data (every
action, guard and invariant; a changed guard changes the module), written by `opsref export
--quint`. Where Quint is installed (`make quint` installs it into tools/quint), Quint's own
--mbt traces of an export replay clean on the spec, and an export whose guard was dropped
takes steps the spec refuses, which the replay reports by that guard."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from opsref.interop import itf
from opsref.interop.quint import ALL_INVARIANTS, action_names, export, invariant_names
from opsref.spec.machine import Machine
from opsref.spec.registry import MACHINES, PROFILES

ROOT = Path(__file__).resolve().parent.parent
QUINT = ROOT / "tools" / "quint" / "node_modules" / ".bin" / "quint"
OPSREF = str(Path(sys.executable).with_name("opsref"))
needs_quint = pytest.mark.skipif(
    not QUINT.exists(), reason=f"Quint is not installed ({QUINT} missing; `make quint` installs it and runs "
                               "the same checks on every machine)")


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("name", sorted(MACHINES))
def test_the_export_is_deterministic_and_names_every_action_guard_and_invariant(name: str, profile: str) -> None:
    machine = MACHINES[name](profile)
    text = export(machine)
    assert text == export(MACHINES[name](profile))
    assert f"module {name} {{" in text
    for f in machine.fields:
        assert f"\n  var {f.name}: " in text
    actions = action_names(machine)
    for action in machine.actions:
        assert f"\n  action {actions[action.name]}" in text
        for g in action.guards:
            assert f"// {g.name} (else {g.error}):" in text
    names = invariant_names(machine)
    combined = text.split(f"val {ALL_INVARIANTS} = and {{ ", 1)[1].split(" }", 1)[0].split(", ")
    assert combined == [names[inv.name] for inv in machine.invariants]
    for inv in machine.invariants:
        assert f"\n  val {names[inv.name]} = " in text
    assert "\n  action step = any {" in text and "\n  action init = " in text


def test_an_action_named_like_a_field_gets_a_distinct_quint_name() -> None:
    machine = MACHINES["ops_lifecycle"]("reference")
    assert action_names(machine)["peer_ready"] == "do_peer_ready"
    assert "\n  action do_peer_ready(p_id: str): bool = all {" in export(machine)
    assert "\n  var peer_ready: str -> bool" in export(machine)


def _without_guards(machine: Machine, action: str) -> Machine:
    return machine.with_action(replace(machine.action(action), guards=()))


def test_the_export_follows_the_machine_data() -> None:
    machine = MACHINES["comms_drain"]("reference")
    changed = _without_guards(machine, "wait")
    before, after = export(machine), export(changed)
    wait_before = before.split("\n  action wait(", 1)[1].split("\n  }\n", 1)[0]
    wait_after = after.split("\n  action wait(", 1)[1].split("\n  }\n", 1)[0]
    assert "// session_registered (else " in wait_before
    assert "session_registered" not in wait_after
    # nothing else changes but the machine's digest in the header
    assert after.split("\n", 1)[1] == before.split("\n", 1)[1].replace(wait_before, wait_after)


def test_the_seed_and_reference_exports_differ_where_the_decisions_do() -> None:
    reference, seed = export(MACHINES["ops_lifecycle"]("reference")), export(MACHINES["ops_lifecycle"]("seed"))
    assert "id_never_registered" in reference and "id_never_registered" not in seed


def test_export_command_writes_one_module_per_machine(tmp_path: Path) -> None:
    run = subprocess.run([OPSREF, "export", "--quint", "--out", str(tmp_path), "--ids", "2"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{m}.qnt" for m in MACHINES)
    assert 'pure val IDS: Set[str] = Set("op0", "op1")' in (tmp_path / "comms_drain.qnt").read_text()
    one = subprocess.run([OPSREF, "export", "--quint", "--machine", "mob_adapter", "--profile", "seed",
                          "--out", str(tmp_path / "one")], capture_output=True, text=True, timeout=120)
    assert one.returncode == 0 and [p.name for p in (tmp_path / "one").iterdir()] == ["mob_adapter.qnt"]
    assert "profile seed" in (tmp_path / "one" / "mob_adapter.qnt").read_text()
    bad = subprocess.run([OPSREF, "export", "--quint", "--profile", "nonsense"], capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown profile" in bad.stderr


def _quint_traces(module: Path, out: Path, traces: int, steps: int, invariant: str = ALL_INVARIANTS) -> subprocess.CompletedProcess[str]:
    out.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [str(QUINT), "run", str(module), "--backend=typescript", f"--max-samples={traces}", f"--n-traces={traces}",
         f"--max-steps={steps}", "--seed=3", "--mbt", f"--out-itf={out}/{{seq}}.itf.json", f"--invariant={invariant}"],
        capture_output=True, text=True, timeout=300)


@needs_quint
def test_quints_own_traces_of_the_export_replay_clean_on_the_spec(tmp_path: Path) -> None:
    machine = MACHINES["mob_adapter"]("reference")
    module = tmp_path / "mob_adapter.qnt"
    module.write_text(export(machine))
    run = _quint_traces(module, tmp_path / "itf", traces=40, steps=15)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr
    assert "[ok] No violation found" in run.stdout
    paths = sorted((tmp_path / "itf").glob("*.itf.json"))
    assert len(paths) == 40
    taken: set[str] = set()
    for path in paths:
        result = itf.check(machine, itf.load(str(path)), str(path))
        assert result.clean, itf.render(result)
        taken |= set(result.actions)
    assert len(taken) >= len(machine.actions) - 1, sorted(taken)  # random walks reach (almost) every action
    # one of Quint's own states changed at step k: the replay stops at step k, naming the entry
    doc = itf.load(str(paths[0]))
    k = 9
    progress = doc["states"][k]["progress"]["#map"]
    progress[0] = [progress[0][0], {"#bigint": str(int(progress[0][1]["#bigint"]) + 7)}]
    result = itf.check(machine, doc, str(paths[0]))
    assert result.divergence is not None
    assert (result.divergence.step, result.divergence.variable) == (k, f"progress[{progress[0][0]}]")


@needs_quint
def test_an_export_without_a_guard_takes_steps_the_spec_refuses(tmp_path: Path) -> None:
    machine = MACHINES["comms_drain"]("reference")
    module = tmp_path / "comms_drain.qnt"
    module.write_text(export(_without_guards(machine, "wait")))
    run = _quint_traces(module, tmp_path / "itf", traces=20, steps=15, invariant="true")
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr
    refused = []
    for path in sorted((tmp_path / "itf").glob("*.itf.json")):
        result = itf.check(machine, itf.load(str(path)), str(path))
        if result.divergence is not None:
            refused.append(result.divergence)
    assert refused, "Quint never took wait on an unregistered session"
    assert all(d.variable == "guard session_registered" and d.action.startswith("wait(") for d in refused)

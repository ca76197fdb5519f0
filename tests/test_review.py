"""The review documents: generated from the spec, committed, and checked for drift."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from opsref.conformance import check as checking
from opsref.conformance.trace import read
from opsref.review import docs
from opsref.spec.ops_lifecycle import build

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def copy_docs(tmp_path: Path) -> Path:
    target = tmp_path / "docs"
    shutil.copytree(DOCS, target)
    return target


def test_committed_docs_are_what_the_spec_generates() -> None:
    assert docs.check(DOCS) == []


def test_an_edited_page_is_reported_with_its_file_and_line(tmp_path: Path) -> None:
    folder = copy_docs(tmp_path)
    page = folder / "spec" / "ops_lifecycle.md"
    lines = page.read_text().splitlines()
    lines[4] = "a reviewer's stray edit"
    page.write_text("\n".join(lines) + "\n")
    assert docs.check(folder) == [f"{page}:5: differs from what the spec generates (run opsref docs)"]


def test_proofs_recorded_for_another_spec_are_stale(tmp_path: Path) -> None:
    folder = copy_docs(tmp_path)
    report_path = folder / "proofs" / "reference.json"
    report = json.loads(report_path.read_text())
    report["machines"][0]["digest"] = "0" * 16
    report_path.write_text(json.dumps(report))
    problems = docs.check(folder)
    assert any("reference.json was not recorded for the current ops_lifecycle" in p for p in problems)


def test_a_page_no_longer_generated_is_reported(tmp_path: Path) -> None:
    folder = copy_docs(tmp_path)
    (folder / "spec" / "old_machine.md").write_text("# gone\n")
    assert any("old_machine.md is not generated" in p for p in docs.check(folder))


def test_the_page_names_every_action_guard_error_and_invariant() -> None:
    text = (DOCS / "spec" / "ops_lifecycle.md").read_text()
    machine = build("reference")
    assert "```mermaid\nstateDiagram-v2" in text
    for action in machine.actions:
        assert f"### {action.name}" in text
        for guard in action.guards:
            assert f"**{guard.name}**" in text and guard.error in text and guard.reason in text
    for inv in machine.invariants:
        assert f"### {inv.name}" in text and inv.sentence in text.lower() or inv.sentence[1:] in text


def test_every_divergence_trace_passes_under_seed_and_diverges_under_reference() -> None:
    from opsref.spec.registry import MACHINES
    traces = sorted((DOCS / "traces").glob("*.seed.jsonl"))
    decisions = [d.name for build_machine in MACHINES.values() for d in build_machine("reference").decisions]
    assert sorted(p.name.removesuffix(".seed.jsonl") for p in traces) == sorted(decisions)
    for path in traces:
        for profile, agrees in (("seed", True), ("reference", False)):
            with path.open("rb") as stream:
                header, events = read(stream, str(path))
                result = checking.check(header, events, profile)
            assert (result.divergence is None) == agrees, (path, profile)


def test_every_choice_is_listed_with_the_proofs_that_rest_on_it() -> None:
    from opsref.spec.registry import MACHINES
    page = (DOCS / "divergences.md").read_text()
    listed = 0
    for build_machine in MACHINES.values():
        machine = build_machine("reference")
        for choice in machine.choices:
            for name in choice.invariants:
                # a choice names invariants (or postconditions) that exist
                assert machine.postconditions(name) or machine.invariant(name)
                assert f"`{name}` (" in page
            assert f"(`{choice.name}`)" in page
            listed += 1
    assert listed >= 10


def test_every_machine_page_has_a_diagram_per_phase_field_and_its_protocol() -> None:
    from opsref.spec.registry import MACHINES
    for name, build_machine in MACHINES.items():
        page = (DOCS / "spec" / f"{name}.md").read_text()
        for phase in build_machine("reference").phases:
            assert f"## State diagram: `{phase}`" in page
        assert "## Protocol" in page
    runtime = (DOCS / "spec" / "runtime_control.md").read_text()
    assert "| `reset_runtime` | — | `{\"inputs_abandoned\"}` |" in runtime and "[*] --> initializing: register_runtime" in runtime


def test_the_recorded_seed_proofs_fail_exactly_the_decisions_invariants() -> None:
    """On every machine the seed profile breaks the invariants its decisions name and no
    other, and the reference proves everything (the recorded reports, kept current by
    `opsref docs --check`)."""
    from opsref.spec.registry import MACHINES
    reports = {p: json.loads((DOCS / "proofs" / f"{p}.json").read_text()) for p in ("reference", "seed")}
    for name, build_machine in MACHINES.items():
        failing = {p: {o["invariant"] for m in r["machines"] if m["machine"] == name for o in m["obligations"]
                       if o["result"] != "proved"} for p, r in reports.items()}
        assert failing["reference"] == set(), name
        assert failing["seed"] == {i for d in build_machine("reference").decisions for i in d.invariants}, name

"""The review documents: generated from the spec, committed, and checked for drift."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import re
from dataclasses import fields, is_dataclass, replace

import pytest

from opsref.conformance import check as checking
from opsref.conformance.trace import read
from opsref.review import diagram, docs, page
from opsref.spec.machine import PROSE, Action, Call, Invariant, Machine, Procedure
from opsref.spec.terms import Definition, Use
from opsref.spec.ops_lifecycle import build
from opsref.spec.registry import MACHINES
from opsref.spec.render import case_split, effects_text, text

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
    assert "```mermaid\nflowchart TD" in text
    for action in machine.actions:
        assert f"### {action.name}" in text
        for guard in action.guards:
            assert f"**{guard.name}** — {guard.error}" in text and guard.reason in text
    for inv in machine.invariants:
        assert f"### {inv.name}" in text and inv.sentence[1:] in text


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
    assert "| `reset_runtime` | — | `{\"inputs_abandoned\"}` |" in runtime
    assert 'v_absent -->|"register_runtime"| v_initializing' in runtime


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


# --------------------------------------------------------------------------- a page read alone


def sections(text: str, level: str = "### ") -> dict[str, str]:
    """A page's sections at one heading level, by heading."""
    out = {}
    for chunk in text.split("\n" + level)[1:]:
        heading, _, body = chunk.partition("\n")
        out[heading] = body.split("\n## ")[0]
    return out


def committed(name: str) -> str:
    return (DOCS / "spec" / f"{name}.md").read_text()


@pytest.mark.parametrize("name", list(MACHINES))
def test_every_page_opens_with_an_overview_and_contents_that_link_its_sections(name: str) -> None:
    machine = MACHINES[name]("reference")
    text = committed(name)
    overview = text.split("## Contents")[0]
    assert machine.doc.strip().split("\n\n")[0].replace("\n", " ") in overview
    assert f"{len(machine.actions)} actions and {len(machine.invariants)} invariants" in overview
    assert "Recorded proofs: under `reference`" in overview
    contents = text.split("## Contents\n\n")[1].split("\n\n")[0].splitlines()
    headings = [line[3:] for line in text.splitlines() if line.startswith("## ") and line != "## Contents"]
    assert contents == [f"- [{h}](#{page.anchor(h)})" for h in headings]
    for required in ("State", "Init and assumptions", "Transitions", "Protocol", "Invariants: requirements",
                     "Proof results", *(f"State diagram: `{phase}`" for phase in machine.phases)):
        assert required in headings, (name, required)


def test_anchors_follow_the_markdown_rule() -> None:
    assert page.anchor("State diagram: `status`") == "state-diagram-status"
    assert page.anchor("Invariants: requirements") == "invariants-requirements"


def test_init_lists_every_field_the_configurations_and_the_assumptions() -> None:
    machine = build("reference")
    init = sections(committed("ops_lifecycle"), "## ")["Init and assumptions"]
    for f in machine.fields:
        value = text(dict(machine.init).get(f.name, f.default))
        if f.rigid:
            assert f"`{f.name}` (default `{value}`)" in init
        else:
            where = "" if f.key is None else "[k]" if f.key.name == "id" else "[n]"
            assert f"{f.name}{where} = {value}" in init, f.name
    assert "`max_completed ≥ 0`" in init and "`feed_capacity ≥ 1`" in init
    for config in machine.configs():
        assert f"| `{config.tag}` | {config.label} |" in init


@pytest.mark.parametrize("name", list(MACHINES))
def test_ghost_fields_are_marked_in_the_state_table_and_explained(name: str) -> None:
    machine = MACHINES[name]("reference")
    state = sections(committed(name), "## ")["State"]
    assert "*ghost* is proof bookkeeping" in state
    rows = {line.split(" | ")[0]: line for line in state.splitlines() if line.startswith("| `")}
    for f in machine.fields:
        row = next(line for key, line in rows.items() if key.startswith(f"| `{f.name}`"))
        assert ("*(ghost)*" in row) == f.ghost, f.name


@pytest.mark.parametrize("name", list(MACHINES))
def test_the_diagram_draws_fewer_edges_than_moves_and_loses_none(name: str) -> None:
    machine = MACHINES[name]("reference")
    text = committed(name)
    for phase in machine.phases:
        d = diagram.summarise(machine, phase)
        moves, _ = diagram.reachable_moves(machine, phase)
        drawn = sections(text, "## ")[f"State diagram: `{phase}`"]
        block = drawn.split("```mermaid\n")[1].split("```")[0]
        arrows = [line for line in block.splitlines() if "-->" in line]
        assert sum(line.split("-->")[0].count("&") + 1 for line in arrows) == d.drawn
        assert d.drawn < len(moves), (name, phase)
        members = {diagram.TERMINAL: set(d.terminal), diagram.OTHERS: set(d.others)}
        for (src, dst), names in moves.items():
            for moved_by in names:
                # every move is on an edge naming its action, from its value or a cluster holding it
                assert any(moved_by in e.actions
                           and any(s == src or src in members.get(s, ()) for s in e.sources)
                           and (e.target == dst or dst in members.get(e.target, ())) for e in d.edges), \
                    (name, phase, src, dst, moved_by)
        for action in machine.actions:
            assert action.name in drawn, (name, phase, action.name)


def test_the_ops_lifecycle_diagram_groups_terminal_states_and_summarises_removal() -> None:
    d = diagram.summarise(build("reference"), "status")
    assert d.terminal == ("completed", "failed", "aborted", "cancelled", "retired", "terminated")
    assert d.moves == 26 and d.drawn <= 10
    removal = {e.sources: e.actions for e in d.edges if e.target == "absent"}
    assert removal == {(diagram.TERMINAL,): ("collect_completed",), (diagram.OTHERS,): ("recover",)}


def decision_anchors(body: str) -> set[str]:
    note = body.split("> **Seed differs:**")[1].split("\n")[0]
    return {part.split(")")[0] for part in note.split("../divergences.md#")[1:]}


@pytest.mark.parametrize("name", list(MACHINES))
def test_seed_notes_appear_exactly_at_the_actions_and_invariants_the_decisions_affect(name: str) -> None:
    reference, seed = MACHINES[name]("reference"), MACHINES[name]("seed")
    text = committed(name)
    noted = {heading for heading, body in sections(text).items() if "> **Seed differs:**" in body}

    def shallow(x: object) -> object:
        """Spec data with each use of a definition or call of a procedure as its name and
        arguments: what a page shows at the place of use (the definition's own
        differences are noted where it is defined)."""
        if isinstance(x, (Use, Call)):
            return (x.definition.name if isinstance(x, Use) else x.procedure.name, shallow(x.args))
        if is_dataclass(x) and not isinstance(x, type):
            return tuple((f.name, shallow(getattr(x, f.name))) for f in fields(x) if f.name not in PROSE)
        if isinstance(x, tuple):
            return tuple(shallow(v) for v in x)
        return x

    def semantics(a: Action) -> object:
        return shallow((a.params, a.guards, a.body, a.returns)), a.label

    def formulas(i: Invariant) -> object:
        return shallow((i.state, i.step, i.ranking))

    def body(d: object) -> object:
        return shallow(d.body if isinstance(d, Definition) else d.effects)  # type: ignore[attr-defined]

    seed_named = {d.name: body(d) for d in seed.named()}
    changed_actions = {a.name for a in reference.actions if semantics(a) != semantics(seed.action(a.name))}
    changed_procedures = {d.name for d in reference.named()
                          if isinstance(d, Procedure) and body(d) != seed_named.get(d.name)}
    changed_definitions = {d.name for d in reference.named()
                           if isinstance(d, Definition) and body(d) != seed_named.get(d.name)}
    changed_invariants = {i.name for i in reference.invariants if formulas(i) != formulas(seed.invariant(i.name))}
    named = {i for d in reference.decisions for i in d.invariants}
    assert noted == changed_actions | changed_procedures | changed_invariants | named
    definitions = text.split("## Definitions", 1)[1].split("\n## ", 1)[0] if "## Definitions" in text else ""
    noted_definitions = {m.group(1) for m in re.finditer(
        r'<a id="(\w+)"></a>[^\n]*\n  > \*\*Seed differs', definitions)}
    assert noted_definitions == changed_definitions
    assert bool(noted | noted_definitions) == bool(reference.decisions)


def test_the_seed_notes_of_ops_lifecycle_name_their_decisions_and_show_the_seeds_version() -> None:
    by_heading = sections(committed("ops_lifecycle"))
    assert decision_anchors(by_heading["register_operation"]) == {"ids_never_reused"}
    assert "> - guard id_never_registered: ¬used[id], else AlreadyRegistered" in by_heading["register_operation"]
    # the terminal actions call FinalizeTerminal in both profiles: the seed's differences
    # are noted once, at the procedures, not at each of the seven actions
    assert "Seed differs" not in by_heading["complete_operation"] + by_heading["wait_poll"]
    assert decision_anchors(by_heading["FinalizeTerminal"]) == {"barrier_survives_eviction"}
    assert decision_anchors(by_heading["SatisfyBarrier"]) == {"satisfied_wait_resolves_at_once"}
    assert "then signalled else waiter" in by_heading["SatisfyBarrier"]
    assert decision_anchors(by_heading["PollWaiter"]) == {"satisfied_wait_resolves_at_once"}
    assert decision_anchors(by_heading["provisioning_failed"]) == {"provisioning_failed_only_while_provisioning"}
    assert decision_anchors(by_heading["wait_never_fails"]) == {
        "satisfied_wait_resolves_at_once", "dropped_waiter_cancels_only_its_own"}
    assert "Seed differs" not in by_heading["report_progress"] + by_heading["active_count_consistency"]
    divergences = (DOCS / "divergences.md").read_text()
    for d in build("reference").decisions:
        assert f'<a id="{d.name}"></a>' in divergences


def test_invariants_are_printed_by_role_with_what_the_role_means() -> None:
    machine = build("reference")
    reports = docs.load_reports(DOCS)
    moved = machine.invariants[0].name
    reclassified = replace(machine, invariants=tuple(
        replace(i, role="strengthening") if i.name == moved else i for i in machine.invariants))
    parts = sections(page.render(reclassified, reports), "## ")
    assert f"### {moved}" in parts["Invariants: strengthening"]
    assert f"### {moved}" not in parts["Invariants: requirements"]
    assert "so that the requirements are inductive" in parts["Invariants: strengthening"]
    assert all(f"### {i.name}" in parts["Invariants: requirements"] for i in machine.invariants
               if i.name != moved and i.role == "requirement")
    # a classification is not semantics: the recorded proofs stay current
    assert reclassified.digest == machine.digest
    with pytest.raises(ValueError, match="role 'lemma'"):
        replace(machine.invariants[0], role="lemma")


def test_a_loop_of_implications_on_one_subject_reads_as_a_table() -> None:
    machine = build("reference")
    split = case_split(machine.invariant("terminal_irreversibility").state)  # type: ignore[arg-type]
    assert split is not None and split.subject == "status[j]" and split.column == "outcome[j]"
    assert split.rows[0] == (("absent", "provisioning", "running", "retiring"), "none")
    assert case_split(machine.invariant("peer_ready_only_for_mob_members").state) is None  # type: ignore[arg-type]
    table = sections(committed("ops_lifecycle"))["terminal_irreversibility"]
    assert "| status[j] | outcome[j] |" in table and "| completed | `completed` |" in table


def test_the_definitions_section_prints_every_definition_and_procedure_once() -> None:
    machine: Machine = build("reference")
    section = "\n".join(page.definitions_section(machine))
    for d in machine.named():
        marker = f'<a id="{d.name}"></a>' if isinstance(d, Definition) else f"### {d.name}\n"
        assert section.count(marker) == 1, d.name


def test_a_run_of_conditional_writes_under_one_condition_prints_as_one_block() -> None:
    collect = build("reference").action("collect_completed")
    lines = effects_text(collect.effects)
    assert lines[0] == "for every j with Terminal(j):"
    assert "status[j] := absent" in lines[2] and lines[-1] == "order_head := next_seq"
    # the same writes with status first: the later writes would see another condition, so no block
    reordered = (collect.effects[7], *collect.effects[:7], *collect.effects[8:])
    assert effects_text(reordered)[:2] == [
        "status[j] := if Terminal(j) then absent else status[j] for every j",
        "for every j with Terminal(j):"]
    # entries at one key and globals under the same condition share the block
    evict = effects_text(build("reference").action("fail_operation").effects)
    head = evict.index("if Beyond(order_head, max_completed), at k = order[order_head + 1]:")
    assert evict[head + 2].endswith("status[k] := absent, order_head := order_head + 1")

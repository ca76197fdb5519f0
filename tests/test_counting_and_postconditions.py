"""`card` wherever a machine reads it — a guard, an effect, a postcondition — carried over
unbounded ids by ghost bijections the prover adds itself, and postconditions (`Action.ensures`)
proved per action and reported apart from the invariants.

runtime_control is the example: its reports count the ledger directly (no ghost counter
fields), and which inputs a report moves and how many it counts are its actions'
postconditions.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from opsref.proofs.cache import ProofCache
from opsref.proofs.inductive import count_name, counted_sets, prove_unbounded
from opsref.proofs.report import MachineReport, Report, is_postcondition, render_summary, render_table
from opsref.spec import model
from opsref.spec.comms_drain import build as build_drain
from opsref.spec.machine import Assign, AssignAll, Effect, Guard, Machine
from opsref.spec.model import Accepted
from opsref.spec.runtime_control import INPUT, build, inputs_in, j, LiveInputs, x
from opsref.spec.terms import add, card, eq, ge, lit, sym

RC = build()
LIVE = count_name(counted_sets(RC)[0])
RESET_COUNTS = "reset_runtime/ensures/reports_count_the_inputs_they_move"


def results(machine: Machine, actions: list[str], initiation: bool = False) -> dict[str, str]:
    return {o.id: o.result for o in prove_unbounded(machine, 20000, actions=actions, initiation=initiation)}


def with_effects(machine: Machine, action: str, effects: tuple[Effect, ...]) -> Machine:
    return machine.with_action(replace(machine.action(action), body=effects))


def test_runtime_control_counts_the_ledger_itself() -> None:
    """No counter field stands in for a count: the reports read `card` of the ledger, and the
    prover carries the two counted sets (non-terminal inputs; accepted or staged ones)."""
    assert not [f.name for f in RC.fields if f.name.endswith("_count")]
    assert [count_name(q) for q in counted_sets(RC)] == [
        "#{j | input[j] ∈ {accepted, queued, staged, applied, applied_pending_consumption}}",
        "#{j | input[j] ∈ {accepted, staged}}"]


def test_a_report_counted_off_the_ledger_is_proved_for_any_number_of_inputs() -> None:
    found = results(RC, ["reset_runtime", "accept_input"], initiation=True)
    assert found[RESET_COUNTS] == "proved"
    assert found[f"{LIVE}/init"] == found[f"{LIVE}/reset_runtime"] == found[f"{LIVE}/accept_input"] == "proved"
    assert set(found.values()) == {"proved"}


def test_a_report_that_miscounts_is_caught_by_its_postcondition() -> None:
    reset = RC.action("reset_runtime")
    miscounted = tuple(replace(e, value=add(LiveInputs(), lit(1)))
                       if isinstance(e, Assign) and e.field == "report_abandoned" else e for e in reset.effects)
    found = results(with_effects(RC, "reset_runtime", miscounted), ["reset_runtime"])
    assert {name for name, result in found.items() if result != "proved"} == {RESET_COUNTS}


def test_a_count_of_infinitely_many_ids_is_not_assumed_finite() -> None:
    """The ghost of a count is proved, not assumed: a count of the inputs never accepted (every
    id at Init) has no bijection onto 0..n-1, and its Init obligation says so."""
    recover = RC.action("recover")
    never_seen = tuple(replace(e, value=inputs_in("none")) if isinstance(e, Assign) and e.field == "report_requeued"
                       else e for e in recover.effects)
    found = results(with_effects(RC, "recover", never_seen), [], initiation=True)
    assert found["#{j | input[j] = none}/init"] == "violated"


def test_a_count_no_construction_follows_is_unknown_not_proved() -> None:
    """stop sending every input, the never-accepted ones too, to accepted makes the live set
    infinite: no ghost follows it, and the count's obligation for stop is not proved."""
    stop = RC.action("stop")
    flooded = tuple(AssignAll("input", j, sym(INPUT, "accepted")) if isinstance(e, AssignAll) else e
                    for e in stop.effects)
    found = prove_unbounded(with_effects(RC, "stop", flooded), 20000, actions=["stop"], initiation=False)
    [live] = [o for o in found if o.id == f"{LIVE}/stop"]
    assert live.result == "unknown" and "ghost bijection cannot follow" in live.note


def test_a_count_of_a_state_an_earlier_effect_changed_is_refused() -> None:
    """A count in an effect reads the state the earlier effects left; no ghost follows that
    intermediate state, so the prover refuses it rather than read the pre-state's count."""
    reset = RC.action("reset_runtime")
    moved_first = tuple(sorted(reset.effects, key=lambda e: not isinstance(e, AssignAll)))
    with pytest.raises(ValueError, match="before the effects that write what it counts"):
        prove_unbounded(with_effects(RC, "reset_runtime", moved_first), 20000, actions=["reset_runtime"])


def test_a_count_over_an_action_parameter_is_refused() -> None:
    accept = RC.action("accept_input")
    counted_param = Guard("counts_its_parameter", ge(card(j, eq(j, x)), lit(0)), "ValidationFailed", "a test guard")
    broken = RC.with_action(replace(accept, guards=(*accept.guards, counted_param)))
    with pytest.raises(ValueError, match="without action parameters"):
        counted_sets(broken)


def test_the_spec_model_counts_the_ledger_in_a_report() -> None:
    state = model.initial_state(RC, {})
    for action, params in [("register_runtime", {}), ("runtime_ready", {}), ("accept_input", {"input": "a"}),
                           ("accept_input", {"input": "b"}), ("queue_input", {"input": "b"}),
                           ("recover", {})]:
        result = model.step(RC, state, action, params)
        assert isinstance(result, Accepted), (action, result)
        state = result.state
    assert (state.get(RC, "report_recovered"), state.get(RC, "report_requeued")) == (2, 1)


def test_postconditions_are_their_actions_obligations_reported_apart(tmp_path: Path) -> None:
    drain = build_drain()
    found = prove_unbounded(drain, 20000, actions=["stop_drain"], initiation=False)
    [post] = [o for o in found if is_postcondition(o)]
    assert (post.id, post.invariant, post.action, post.result) == (
        "stop_drain/ensures/stop_commands_stop_running_drains", "stop_commands_stop_running_drains",
        "stop_drain", "proved")
    assert not any(is_postcondition(o) for o in found if o is not post)
    assert post.to_json()["section"] == "postcondition"
    store = ProofCache(tmp_path)
    store.put("k" * 64, found)
    cached = store.get("k" * 64)
    assert cached is not None and [is_postcondition(o) for o in cached] == [is_postcondition(o) for o in found]
    report = Report("reference", [MachineReport("comms_drain", found)], 0.0)
    summary = render_summary(report).splitlines()
    heading = next(n for n, line in enumerate(summary) if line.startswith("  postconditions — "))
    assert summary[heading + 1] == "  ✓ stop_drain/ensures/stop_commands_stop_running_drains"
    assert not any("stop_commands_stop_running_drains" in line for line in summary[:heading])
    rows = [line.split() for line in render_table(report).splitlines() if line.startswith("  ")]
    assert rows[-1][:3] == ["stop_drain/ensures/stop_commands_stop_running_drains", "postcondition", "proved"]


def test_a_postcondition_an_effect_breaks_is_violated_with_a_step_counterexample() -> None:
    drain = build_drain()
    stop = drain.action("stop_drain")
    found = prove_unbounded(drain.with_action(replace(stop, body=())), 20000, actions=["stop_drain"],
                            initiation=False)
    [bad] = [o for o in found if o.result != "proved"]
    assert bad.id == "stop_drain/ensures/stop_commands_stop_running_drains" and bad.result == "violated"
    assert bad.note.startswith("postcondition stop_commands_stop_running_drains of stop_drain does not hold")
    assert bad.counterexample is not None and bad.counterexample["action"] == "stop_drain"


def test_a_count_added_to_one_action_changes_every_step_key() -> None:
    """A count one action starts reading is a ghost every action must preserve (its
    `#{…}/<action>` obligations) and that Init must establish: a warm run may not reuse
    their earlier results."""
    from opsref.proofs import cache
    recover = RC.action("recover")
    counts_queued = tuple(replace(e, value=inputs_in("queued")) if isinstance(e, Assign)
                          and e.field == "report_requeued" else e for e in recover.effects)
    edited = with_effects(RC, "recover", counts_queued)
    assert "#{j | input[j] = queued}" in [count_name(q) for q in counted_sets(edited)]
    assert cache.initiation_key(edited) != cache.initiation_key(RC)
    assert cache.step_key(edited, edited.action("accept_input")) != cache.step_key(RC, RC.action("accept_input"))


def test_two_machines_enumerations_of_one_name_keep_their_own_members() -> None:
    """comms_drain and runtime_control both name an enumeration `runtime_state`, with
    different members; proved in one process (`--jobs 1`, a test run), each keeps its own."""
    from opsref.proofs.encode import Universe
    for machine in (build_drain(), RC, build_drain()):
        [sort] = [s for s in machine.sorts if s.name == "runtime_state"]
        consts = Universe.make(machine, None).enums["runtime_state"][1]
        assert [str(c).split(".", 1)[1] for c in consts.values()] == list(consts) == list(sort.members)

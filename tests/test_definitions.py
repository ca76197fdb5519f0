"""Named definitions and procedures: a use means its expansion to every reader that
computes, pages print each definition once, and naming a formula changes no digest."""

from __future__ import annotations

import inspect
import re

import pytest

from opsref.review.page import render
from opsref.spec import comms_drain, mob_adapter, ops_lifecycle, runtime_control
from opsref.spec.compiled import compile_machine
from opsref.spec.machine import Action, Assign, AssignAt, Call, Procedure, flatten
from opsref.spec.model import evaluate, initial_state, step, Accepted
from opsref.spec.render import text
from opsref.spec.terms import (
    ID, INT, Definition, Param, Use, Var, add, and_, exists, expand, forall, lit, read, walk,
)

x = Var("x")
j = Var("j")


def test_a_use_means_the_body_with_the_arguments_in_place() -> None:
    positive = Definition("Positive", (x,), and_(read("member", x)))
    use = positive(Param("id", ID))
    assert use.expansion == and_(read("member", Param("id", ID)))
    assert text(use) == "Positive(id)"


def test_arguments_are_put_in_all_at_once() -> None:
    """Swapping parameters must not rewrite one argument by the next."""
    a, b = Var("a"), Var("b")
    before = Definition("Before", (a, b), read("order", add(read("registered", a), read("registered", b))))
    swapped = before(b, a).expansion
    assert swapped == read("order", add(read("registered", b), read("registered", a)))


def test_an_argument_captured_by_the_body_is_refused() -> None:
    some = Definition("Some", (x,), exists(j, and_(read("member", j), read("member", x))))
    with pytest.raises(ValueError, match="bound in the body"):
        _ = some(j).expansion


def test_a_call_in_an_action_is_flattened_and_kept_as_written() -> None:
    bump = Procedure("Bump", (x,), (AssignAt("progress", x, add(read("progress", x), lit(1))),))
    i = Param("id", ID)
    action = Action("twice", (i,), (), (bump(i), bump(i)), "bump twice")
    assert action.body == (Call(bump, (i,)), Call(bump, (i,)))
    assert action.effects == flatten(action.body) == 2 * (AssignAt("progress", i, add(read("progress", i), lit(1))),)
    assert action.writes == ("progress",)


def test_naming_a_formula_changes_no_digest() -> None:
    """Digests are taken over meaning: the machine with its actions' procedure calls
    expanded and its definitions inlined has the same digest."""
    machine = ops_lifecycle.build("reference")
    inlined = machine
    for a in machine.actions:
        inlined = inlined.with_action(Action(a.name, a.params, a.guards, a.effects, a.doc, a.label, a.returns))
    assert any(isinstance(e, Call) for a in machine.actions for e in a.body)
    assert not any(isinstance(e, Call) for a in inlined.actions for e in a.body)
    assert inlined.digest == machine.digest
    changed = machine.with_action(Action("complete_operation", (Param("id", ID),), (), (), ""))
    assert changed.digest != machine.digest


def test_every_reader_that_computes_sees_through_a_use() -> None:
    """The interpreter and the compiled model agree with the expansion on real states."""
    machine = ops_lifecycle.build("reference")
    state = initial_state(machine, {"max_completed": 2, "has_limit": False, "max_concurrent": 0, "feed_capacity": 4})
    for a, args in (("register_operation", {"id": "a", "kind": "background_tool_op"}),
                    ("provisioning_succeeded", {"id": "a"}), ("complete_operation", {"id": "a"})):
        result = step(machine, state, a, args)
        assert isinstance(result, Accepted)
        state = result.state
    terminal = ops_lifecycle.Terminal
    for node in (terminal(Param("id", ID)), forall(j, ops_lifecycle.Live(j))):
        assert evaluate(machine, node, state, {"id": "a"}) == evaluate(machine, expand(node), state, {"id": "a"})
    assert evaluate(machine, terminal(Param("id", ID)), state, {"id": "a"}) is True
    compiled = compile_machine(machine)
    assert compiled.violated(state) == []
    fresh = initial_state(machine, {"max_completed": 2, "has_limit": False, "max_concurrent": 0, "feed_capacity": 4})
    for a, args in (("register_operation", {"id": "a", "kind": "background_tool_op"}),
                    ("provisioning_succeeded", {"id": "a"}), ("complete_operation", {"id": "a"})):
        result = compiled.step(fresh, a, args)
        assert isinstance(result, Accepted)
        fresh = result.state
    assert fresh.maps["status"] == state.maps["status"] and fresh.globals == state.globals


def test_a_page_prints_each_definition_once_and_uses_it_by_name() -> None:
    machine = ops_lifecycle.build("reference")
    page = render(machine, {})
    definitions = page[page.index("## Definitions"):page.index("## Transitions")]
    transitions = page[page.index("## Transitions"):]
    assert definitions.count("### FinalizeTerminal") == 1
    assert definitions.count("FinalizeTerminal(x: id, to: status, outcome: outcome):") == 1
    terminal_actions = [a.name for a in machine.actions
                        if any(isinstance(e, Call) and e.procedure.name == "FinalizeTerminal" for e in a.body)]
    assert len(terminal_actions) == 7
    assert transitions.count("\nFinalizeTerminal(id, ") == 7
    assert "active_count := active_count − 1" not in transitions  # the procedure's effects are not repeated
    names = [d.name for d in machine.named()]
    assert len(names) == len(set(names))
    for d in machine.named():  # a definition is listed after everything its body uses
        inner = d.body if isinstance(d, Definition) else None
        if inner is not None:
            for node in walk(inner):
                if isinstance(node, Use):
                    assert names.index(node.definition.name) < names.index(d.name)


@pytest.mark.parametrize("module", [ops_lifecycle, runtime_control, comms_drain, mob_adapter],
                         ids=lambda m: m.__name__.rsplit(".", 1)[1])
def test_every_action_is_found_by_grepping_its_name(module: object) -> None:
    """Issue 17: actions are written out one by one, never generated in loops over
    names, so a reviewer finds each where its name is written as the first argument of
    `Action(` (ops_lifecycle, runtime_control) or of a named builder (`registry_call(`)."""
    source = inspect.getsource(module)  # type: ignore[arg-type]
    strict = module in (ops_lifecycle, runtime_control)
    for profile in ("reference", "seed"):
        for a in module.build(profile).actions:  # type: ignore[attr-defined]
            call = r"Action\(" if strict else r"\w+\("
            assert re.search(call + r'\s*"' + re.escape(a.name) + '"', source), f"{a.name} is not written out"

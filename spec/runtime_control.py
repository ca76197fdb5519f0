"""The runtime control plane of one runtime and its input ledger (seed 003), as data.

The runtime's state is one scalar (`absent` until it is registered: the seed's
NotFound); the ledger maps every input id to its lifecycle state (`none` until
accepted). Runtimes share nothing in the control plane, so one runtime is the
whole machine; proofs hold for any number of inputs.

Seed 003 gives the traits, errors and report shapes but none of the rules; the
reference chooses them (recorded in docs/divergences.md):

* accept only in idle / attached / running; an input id is accepted once;
* input progress (queue, stage, apply, pending consumption, consume, supersede,
  coalesce) also while retired: a retired runtime drains what it holds;
* retire abandons the inputs never queued and leaves the rest to drain; stop
  needs a drained, retired runtime;
* reset abandons every non-terminal input; destroy does too and is terminal;
* recycle (reset the driver, keep the ledger) sends staged and applied inputs
  back to the queue and transfers every non-terminal input;
* recover sends staged and applied inputs back to the queue, abandons those
  pending consumption, and turns a running runtime idle.

Four counters hold how many inputs are accepted, admitted (queued, staged or
applied), in flight (staged or applied) and pending consumption; state
invariants tie each to the ledger by `card`, so a report read off a counter is a
count of the inputs it moved.
"""

from __future__ import annotations

from spec.machine import (
    Action, Assign, AssignAll, AssignAt, Choice, Effect, Guard, Invariant, Machine, StateField, check_profile,
)
from spec.terms import (
    ID, INT, ActionIs, Param, Term, Var, add, and_, at_pre, card, enum, eq, forall, implies, ite, lit, lt, ne,
    one_of, or_, read, sym,
)

RUNTIME = enum("runtime_state", "absent", "initializing", "idle", "attached", "running", "retired", "stopped",
               "destroyed")
INPUT = enum("input_state", "none", "accepted", "queued", "staged", "applied", "applied_pending_consumption",
             "consumed", "superseded", "coalesced", "abandoned")
REPORT = enum("report", "none", "retire", "reset", "recycle", "recover", "destroy")

ERRORS = ("NotFound", "InvalidState", "NotReady", "Destroyed", "ValidationFailed")

TERMINAL = ("consumed", "superseded", "coalesced", "abandoned")
LIVE_INPUT = ("accepted", "queued", "staged", "applied", "applied_pending_consumption")
SERVING = ("idle", "attached", "running")          # may accept input
DRAINING = (*SERVING, "retired")                    # inputs may progress
CLOSED = ("retired", "stopped", "destroyed")        # never serve again

#: the counted sets of inputs: counter field -> the input states it counts
COUNTED = {
    "accepted_count": ("accepted",),
    "admitted_count": ("queued", "staged", "applied"),
    "in_flight_count": ("staged", "applied"),
    "pending_consumption_count": ("applied_pending_consumption",),
}

x = Param("input", ID)
j = Var("j")

FIELDS = (
    StateField("runtime", RUNTIME, sym(RUNTIME, "absent"), doc="the runtime's state; absent until registered"),
    StateField("input", INPUT, sym(INPUT, "none"), ID, doc="each input's lifecycle state; none until accepted"),
    *(StateField(name, INT, lit(0), doc=f"number of inputs {' / '.join(states)}", ghost=True)
      for name, states in COUNTED.items()),
    StateField("report", REPORT, sym(REPORT, "none"), doc="the last report returned"),
    StateField("report_abandoned", INT, lit(0), doc="the last report's inputs_abandoned"),
    StateField("report_pending_drain", INT, lit(0), doc="the last RetireReport's inputs_pending_drain"),
    StateField("report_transferred", INT, lit(0), doc="the last RecycleReport's inputs_transferred"),
    StateField("report_recovered", INT, lit(0), doc="the last RecoveryReport's inputs_recovered"),
    StateField("report_requeued", INT, lit(0), doc="the last RecoveryReport's inputs_requeued"),
)


def runtime() -> Term:
    return read("runtime")


def runtime_not(member: str) -> Term:
    """The runtime is in any state but `member`."""
    return one_of(runtime(), RUNTIME, tuple(m for m in RUNTIME.members if m != member))


def state_of(key: Term) -> Term:
    return read("input", key)


def counted(name: str, key: Term) -> Term:
    return one_of(state_of(key), INPUT, COUNTED[name])


def live_inputs() -> Term:
    """Non-terminal inputs, as the sum of the disjoint counters."""
    return add(read("accepted_count"), read("admitted_count"), read("pending_consumption_count"))


# --------------------------------------------------------------------------- guards


def registered() -> Guard:
    return Guard("runtime_registered", runtime_not("absent"), "NotFound",
                 "a runtime id never registered is NotFound, distinct from a destroyed one")


def in_states(name: str, allowed: tuple[str, ...], error: str = "InvalidState", why: str = "") -> Guard:
    return Guard(name, one_of(runtime(), RUNTIME, allowed), error,
                 why or f"legal only while the runtime is {', '.join(allowed)}", (("state", runtime()),))


def not_destroyed() -> Guard:
    return Guard("runtime_not_destroyed", runtime_not("destroyed"), "Destroyed", "a destroyed runtime takes no input")


def input_from(allowed: tuple[str, ...]) -> Guard:
    return Guard("input_from_state", one_of(state_of(x), INPUT, allowed), "ValidationFailed",
                 f"legal only for an input in the ledger that is {', '.join(allowed)}")


# --------------------------------------------------------------------------- effects


def move_input(sources: tuple[str, ...], to: str) -> tuple[Effect, ...]:
    """Move input `x` from one of `sources` to `to`, updating just the counters whose set
    it enters or leaves (a move within or outside a counted set leaves it alone)."""
    effects: list[Effect] = []
    for name, states in COUNTED.items():
        crossing = tuple(s for s in sources if (s in states) != (to in states))
        if crossing:
            step = lit(1) if to in states else lit(-1)
            effects.append(Assign(name, add(read(name), ite(one_of(state_of(x), INPUT, crossing), step, lit(0)))))
    return (*effects, AssignAt("input", x, sym(INPUT, to)))


def pointwise(mapping: dict[str, str]) -> AssignAll:
    """Every input in a state of `mapping` moves to its image; the others stay."""
    value: Term = state_of(j)
    for source, target in mapping.items():
        value = ite(eq(state_of(j), sym(INPUT, source)), sym(INPUT, target), value)
    return AssignAll("input", j, value)


def report(kind: str, **counts: Term) -> tuple[Effect, ...]:
    return (Assign("report", sym(REPORT, kind)), *(Assign(f"report_{k}", v) for k, v in counts.items()))


def zero(*names: str) -> tuple[Effect, ...]:
    return tuple(Assign(n, lit(0)) for n in names)


def set_runtime(state: str) -> Assign:
    return Assign("runtime", sym(RUNTIME, state))


INPUT_MOVES = {
    "queue_input": (("accepted",), "queued"),
    "stage_input": (("queued",), "staged"),
    "apply_input": (("staged",), "applied"),
    "mark_pending_consumption": (("applied",), "applied_pending_consumption"),
    "consume_input": (("applied", "applied_pending_consumption"), "consumed"),
    "supersede_input": (("accepted", "queued"), "superseded"),
    "coalesce_input": (("accepted", "queued"), "coalesced"),
}

RUNTIME_MOVES = {
    "runtime_ready": (("initializing",), "idle", "the driver finished initializing"),
    "attach": (("idle",), "attached", "an executor attaches"),
    "detach": (("attached",), "idle", "the executor detaches"),
    "begin_run": (("idle", "attached"), "running", "a run starts"),
    "end_run": (("running",), "idle", "the run ends"),
}

ABANDON_ALL = {s: "abandoned" for s in LIVE_INPUT}
REQUEUE = {"staged": "queued", "applied": "queued"}


def actions() -> tuple[Action, ...]:
    out: list[Action] = [
        Action("register_runtime", (), (
            Guard("runtime_new", eq(runtime(), sym(RUNTIME, "absent")), "InvalidState",
                  "a runtime id is registered once", (("state", runtime()),)),
        ), (set_runtime("initializing"),), "admit the runtime; its driver starts initializing"),
    ]
    for name, (allowed, to, doc) in RUNTIME_MOVES.items():
        out.append(Action(name, (), (registered(), in_states("from_state", allowed)), (set_runtime(to),), doc))
    out.append(Action("accept_input", (x,), (
        registered(), not_destroyed(),
        in_states("accepting", SERVING, "NotReady", "input is accepted only while idle, attached or running "
                  "(never after retire, stop or destroy)"),
        Guard("input_new", eq(state_of(x), sym(INPUT, "none")), "ValidationFailed",
              "an input id enters the ledger once"),
    ), (AssignAt("input", x, sym(INPUT, "accepted")), Assign("accepted_count", add(read("accepted_count"), lit(1)))),
        "the driver accepts an input into the ledger"))
    for name, (allowed, to) in INPUT_MOVES.items():
        out.append(Action(name, (x,), (
            registered(), not_destroyed(),
            in_states("draining", DRAINING, "NotReady", "inputs progress while the runtime serves or drains"),
            input_from(allowed),
        ), move_input(allowed, to), f"the input moves to {to}"))
    pending = read("admitted_count")
    out += [
        Action("retire", (), (registered(), in_states("from_state", SERVING)), (
            *report("retire", abandoned=read("accepted_count"),
                    pending_drain=add(pending, read("pending_consumption_count"))),
            pointwise({"accepted": "abandoned"}), *zero("accepted_count"), set_runtime("retired"),
        ), "no new input; inputs never queued are abandoned, the rest drain"),
        Action("stop", (), (registered(), in_states("from_state", ("retired",)), Guard(
            "drained", eq(live_inputs(), lit(0)), "InvalidState", "a retired runtime stops once drained",
            (("state", runtime()),))), (set_runtime("stopped"),), "a drained, retired runtime stops"),
        Action("reset_runtime", (), (registered(), in_states("from_state", SERVING)), (
            *report("reset", abandoned=live_inputs()), pointwise(ABANDON_ALL), *zero(*COUNTED),
            set_runtime("idle"),
        ), "the seed's reset: abandon every pending input; the runtime is idle again (renamed: `reset` is "
           "the conformance protocol's own call)"),
        Action("recycle", (), (registered(), in_states("from_state", SERVING)), (
            *report("recycle", transferred=live_inputs()), pointwise(REQUEUE), *zero("in_flight_count"),
            set_runtime("idle"),
        ), "a new driver instance takes over every pending input; staged and applied ones are queued again"),
        Action("recover", (), (registered(), Guard(
            "recoverable", runtime_not("destroyed"),
            "InvalidState", "a destroyed runtime cannot be recovered", (("state", runtime()),))), (
            *report("recover", recovered=live_inputs(), requeued=read("in_flight_count"),
                    abandoned=read("pending_consumption_count")),
            pointwise({**REQUEUE, "applied_pending_consumption": "abandoned"}),
            *zero("in_flight_count", "pending_consumption_count"),
            Assign("runtime", ite(eq(runtime(), sym(RUNTIME, "running")), sym(RUNTIME, "idle"), runtime())),
        ), "after a crash: staged and applied inputs are queued again, those pending consumption abandoned"),
        Action("destroy", (), (registered(), Guard(
            "not_yet_destroyed", runtime_not("destroyed"),
            "InvalidState", "Destroyed is terminal", (("state", runtime()),))), (
            *report("destroy", abandoned=live_inputs()), pointwise(ABANDON_ALL), *zero(*COUNTED),
            set_runtime("destroyed"),
        ), "terminal: every pending input is abandoned"),
    ]
    return tuple(out)


# --------------------------------------------------------------------------- invariants


def was(key: Term, states: tuple[str, ...]) -> Term:
    return at_pre(one_of(state_of(key), INPUT, states))


def moves_exactly(mapping: dict[str, str]) -> Term:
    """Every input in a source state moves to its image and no other input changes."""
    def image(k: Term) -> Term:
        value: Term = at_pre(state_of(k))
        for source, target in mapping.items():
            value = ite(at_pre(eq(state_of(k), sym(INPUT, source))), sym(INPUT, target), value)
        return value
    return forall(j, eq(state_of(j), image(j)))


#: how far along its lifecycle an input is (terminal states last)
STAGE = {"none": 0, "accepted": 1, "queued": 2, "staged": 3, "applied": 4, "applied_pending_consumption": 5,
         **{t: 6 for t in TERMINAL}}


def stage(t: Term) -> Term:
    value: Term = lit(0)
    for member, n in STAGE.items():
        if n:
            value = ite(eq(t, sym(INPUT, member)), lit(n), value)
    return value


def reports(action: str, moved: dict[str, str], **counts: tuple[str, ...]) -> Term:
    claims = [eq(read(f"report_{k}"), at_pre(add(*(read(c) for c in names)))) for k, names in counts.items()]
    kind = sym(REPORT, action.removesuffix("_runtime"))
    return implies(ActionIs(action), and_(eq(read("report"), kind), moves_exactly(moved), *claims))


def invariants() -> tuple[Invariant, ...]:
    live = ("accepted_count", "admitted_count", "pending_consumption_count")
    return (
        *(Invariant(
            f"{name}_consistency",
            f"{name} is the number of inputs in {' or '.join(states)}",
            state=eq(read(name), card(j, counted(name, j))),
        ) for name, states in COUNTED.items()),
        Invariant(
            "destroyed_is_terminal",
            "a destroyed runtime stays destroyed",
            step=implies(at_pre(eq(runtime(), sym(RUNTIME, "destroyed"))), eq(runtime(), sym(RUNTIME, "destroyed"))),
        ),
        Invariant(
            "closed_runtimes_never_serve_again",
            "once retired, stopped or destroyed a runtime never serves again, and no input enters its ledger",
            step=and_(
                implies(at_pre(one_of(runtime(), RUNTIME, CLOSED)), one_of(runtime(), RUNTIME, CLOSED)),
                forall(j, implies(and_(at_pre(eq(state_of(j), sym(INPUT, "none"))),
                                       eq(state_of(j), sym(INPUT, "accepted"))),
                                  at_pre(one_of(runtime(), RUNTIME, SERVING))))),
        ),
        Invariant(
            "inputs_only_move_forward",
            "an input enters the ledger only as accepted, by accept_input, and only moves forward along its "
            "lifecycle, except that recycle and recover send staged and applied inputs back to the queue",
            step=forall(j, and_(
                implies(and_(at_pre(eq(state_of(j), sym(INPUT, "none"))), ne(state_of(j), sym(INPUT, "none"))),
                        and_(ActionIs("accept_input"), eq(state_of(j), sym(INPUT, "accepted")))),
                implies(lt(stage(state_of(j)), at_pre(stage(state_of(j)))),
                        and_(or_(ActionIs("recycle"), ActionIs("recover")), eq(state_of(j), sym(INPUT, "queued")),
                             was(j, ("staged", "applied")))))),
        ),
        Invariant(
            "terminal_inputs_never_change",
            "an input in a terminal state never changes again",
            step=forall(j, implies(was(j, TERMINAL), eq(state_of(j), at_pre(state_of(j))))),
        ),
        Invariant(
            "reports_count_the_inputs_they_move",
            "each report moves exactly the inputs its rule names, and its counts are the numbers of inputs in "
            "the sets they name, before the move: abandoned and requeued count the inputs it moved; pending "
            "drain, transferred and recovered the non-terminal inputs it carries over (counted by the counters "
            "the consistency invariants tie to the ledger)",
            step=and_(
                reports("retire", {"accepted": "abandoned"}, abandoned=("accepted_count",),
                        pending_drain=("admitted_count", "pending_consumption_count")),
                reports("reset_runtime", ABANDON_ALL, abandoned=live),
                reports("destroy", ABANDON_ALL, abandoned=live),
                reports("recycle", REQUEUE, transferred=live),
                reports("recover", {**REQUEUE, "applied_pending_consumption": "abandoned"},
                        recovered=live, requeued=("in_flight_count",),
                        abandoned=("pending_consumption_count",))),
        ),
        Invariant(
            "no_live_input_outside_a_working_runtime",
            "before it is ready, and once stopped or destroyed, a runtime holds no non-terminal input",
            state=implies(one_of(runtime(), RUNTIME, ("absent", "initializing", "stopped", "destroyed")),
                          forall(j, not_live(j))),
        ),
        Invariant(
            "no_input_before_registration",
            "a runtime that is absent or initializing has an empty ledger",
            state=implies(one_of(runtime(), RUNTIME, ("absent", "initializing")),
                          forall(j, eq(state_of(j), sym(INPUT, "none")))),
        ),
    )


CHOICES = (
    Choice("one_runtime_per_machine", "One runtime is the whole machine",
           "the machine is one runtime and its ledger; the control plane is independent copies of it keyed by "
           "runtime id",
           "seed 003's control plane shares nothing between runtimes, so every rule is about one runtime; a "
           "proof for one holds for each"),
    Choice("one_error_family", "Driver and control-plane errors in one family",
           "input calls answer with the driver's errors (NotFound, Destroyed, NotReady{state}, ValidationFailed), "
           "runtime calls with the control plane's (NotFound, InvalidState{state}); StoreError, "
           "RecoveryCorruption and Internal are not modelled",
           "the seed has two error enums for two layers the reference folds into one machine"),
    Choice("accept_while_serving", "Input is accepted only while idle, attached or running",
           "accept_input needs idle, attached or running (NotReady{state} otherwise, Destroyed when destroyed); an "
           "input id already in the ledger is refused as ValidationFailed",
           "retire promises 'no new input'; the seed's AcceptOutcome (not shown) may deduplicate instead of "
           "refusing a known id", ("closed_runtimes_never_serve_again",)),
    Choice("retire_drains", "Retire abandons what was never queued and drains the rest",
           "retire (from idle, attached, running) abandons accepted inputs and reports the queued, staged, "
           "applied and pending-consumption ones as pending drain; they keep progressing while retired; stop "
           "needs a retired runtime with no non-terminal input",
           "the seed's 'no new input, drain existing' with RetireReport's two counts",
           ("reports_count_the_inputs_they_move", "no_live_input_outside_a_working_runtime")),
    Choice("reset_reopens_nothing", "Reset and recycle only from a serving runtime",
           "reset abandons every non-terminal input and recycle requeues staged and applied ones, both from "
           "idle, attached or running, leaving the runtime idle; a retired, stopped or destroyed runtime is "
           "InvalidState",
           "resetting a retired runtime to idle would let it accept input again",
           ("closed_runtimes_never_serve_again",)),
    Choice("recycle_transfers_all", "Recycle transfers every pending input",
           "RecycleReport.inputs_transferred counts every non-terminal input the new driver takes over; only "
           "staged and applied inputs change state (back to queued); accepted and pending-consumption inputs "
           "keep theirs",
           "the seed: 'reset driver and recover state'; work applied and awaiting consumption is not redone",
           ("reports_count_the_inputs_they_move",)),
    Choice("recover_after_crash", "Recover requeues in-flight work and abandons unconsumed work",
           "recover (any state but destroyed) requeues staged and applied inputs, abandons those pending "
           "consumption, and turns a running runtime idle; inputs_recovered counts every non-terminal input",
           "the crashed run cannot be resumed; RecoveryReport's three counts",
           ("reports_count_the_inputs_they_move",)),
)


def not_live(k: Term) -> Term:
    return one_of(state_of(k), INPUT, ("none", *TERMINAL))


def build(profile: str = "reference") -> Machine:
    check_profile(profile)
    return Machine(
        name="runtime_control",
        doc=__doc__ or "",
        profile=profile,
        sorts=(RUNTIME, INPUT, REPORT),
        fields=FIELDS,
        init=(),
        assumptions=(),
        actions=actions(),
        invariants=invariants(),
        errors=ERRORS,
        phases=("runtime", "input"),
        choices=CHOICES,
    )


"""The runtime control plane of one runtime and its input ledger (seed 003), as data: a
runtime is registered, initializes, serves (idle, attached to an executor, running),
and can be retired, stopped, reset, recycled, recovered and destroyed; its ledger takes
each input through accepted, queued, staged, applied and consumed (or superseded,
coalesced, abandoned). Retire, reset, recycle, recover and destroy answer reports that
count the inputs they abandon, leave to drain, transfer or requeue.

The runtime's state is one scalar (`absent` until it is registered: the seed's
NotFound); the ledger maps every input id to its lifecycle state (`none` until
accepted). Runtimes share nothing in the control plane, so one runtime is the
whole machine; proofs hold for any number of inputs.

Seed 003 gives the traits, errors and report shapes and a sentence per call; the
rules come from upstream meerkat-runtime at the seed's commit (e7c3d2c0, where
`traits.rs` is the seed): its machine catalog's runtime transitions and its
in-memory driver's `finalize_retire`, `reset_cleanup`, `recycle_preserving_work`
and recover.

* accept only in idle / attached / running, never during a run that drains a
  retired runtime (decision `drain_run_takes_no_input`); an id is accepted once;
* input progress (queue, stage, apply, pending consumption, consume, supersede,
  coalesce) also while retired: a retired runtime drains what it holds;
* a run begins from idle, attached or retired (a retired runtime's executor
  runs to drain it) and ends in the state it began in;
* retire (seed: "no new input, drain existing") abandons nothing when an
  executor is attached (attached, or a run begun attached or retired) and
  reports every non-terminal input as pending drain; with no executor to drain
  them it abandons them all; retiring a retired runtime changes nothing and
  reports again what it still has to drain (upstream `RetireAlreadyRetired`);
* stop (upstream `StopRuntimeExecutor`, then the executor's exit) from idle,
  attached, running or retired abandons every non-terminal input and returns
  no report; a retired runtime, or a run draining it, stops only once drained
  (decision `retired_runtimes_stop_once_drained`);
* reset (from initializing, idle, attached, retired) abandons every
  non-terminal input and leaves the runtime idle; destroy abandons them too and
  is terminal;
* recover (from any state but running and destroyed; the state is kept) queues
  accepted and staged inputs again and keeps the others; recycle ("reset driver
  and recover state", from idle, attached, retired) does the same, transfers
  every non-terminal input and leaves the runtime idle (attached stays attached).

A report's counts are counts of the ledger (`card`) taken before the report's
action moves anything, so a report is a count of the inputs it moves by
construction; the prover carries each counted set with a ghost bijection of its
own (proofs/inductive.py).
"""

from __future__ import annotations

from opsref.spec.machine import (
    Action, Assign, AssignAll, AssignAt, Choice, Decision, Effect, Guard, Invariant, Machine, Postcondition,
    StateField, check_profile,
)
from opsref.spec.terms import (
    ID, INT, ActionIs, Definition, Param, Term, Var, and_, at_pre, card, enum, eq, forall, implies, ite, lit, lt, ne,
    not_, one_of, or_, read, sym,
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
RUN_ORIGINS = ("idle", "attached", "retired")       # where a run may begin (and so end)
RETIRABLE = (*SERVING, "retired")                   # upstream RetireRequestedFromIdle, RetireAlreadyRetired
STOPPABLE = (*SERVING, "retired")                   # upstream StopRuntimeExecutor{Idle,Attached,Running,Retired}
ENDED = ("stopped", "destroyed")                    # never serve again
RESETTABLE = ("initializing", "idle", "attached", "retired")    # upstream Reset
RECYCLABLE = ("idle", "attached", "retired")                    # upstream RecycleFrom{IdleOrRetired,Attached}
RECOVERABLE = ("initializing", "idle", "attached", "retired", "stopped")  # upstream Recover{Initializing,...}

x = Param("input", ID)
j = Var("j")

FIELDS = (
    StateField("runtime", RUNTIME, sym(RUNTIME, "absent"), doc="the runtime's state; absent until registered"),
    StateField("input", INPUT, sym(INPUT, "none"), ID, doc="each input's lifecycle state; none until accepted"),
    StateField("run_began_in", RUNTIME, sym(RUNTIME, "absent"), ghost=True,
               doc="the state the current run began in (upstream `pre_run_phase`), read by end_run and retire; "
                   "absent while no run is in progress"),
    StateField("report", REPORT, sym(REPORT, "none"), doc="the last report returned"),
    StateField("report_abandoned", INT, lit(0), doc="the last report's inputs_abandoned"),
    StateField("report_pending_drain", INT, lit(0), doc="the last RetireReport's inputs_pending_drain"),
    StateField("report_transferred", INT, lit(0), doc="the last RecycleReport's inputs_transferred"),
    StateField("report_recovered", INT, lit(0), doc="the last RecoveryReport's inputs_recovered"),
    StateField("report_requeued", INT, lit(0), doc="the last RecoveryReport's inputs_requeued"),
)


def runtime() -> Term:
    return read("runtime")


def runtime_is(*members: str) -> Term:
    return one_of(runtime(), RUNTIME, members)


def runtime_not(member: str) -> Term:
    """The runtime is in any state but `member`."""
    return one_of(runtime(), RUNTIME, tuple(m for m in RUNTIME.members if m != member))


def run_began_in(*members: str) -> Term:
    return one_of(read("run_began_in"), RUNTIME, members)


# --------------------------------------------------------------------------- vocabulary
# Named definitions, written once and read by name in the actions, the invariants and
# the review page.

DrainingRun = Definition(
    "DrainingRun", (), and_(runtime_is("running"), run_began_in("retired")),
    "a run is draining a retired runtime (upstream `DrainQueuedRun`)")
RetiredOrDraining = Definition(
    "RetiredOrDraining", (), or_(runtime_is("retired"), DrainingRun()),
    "the runtime is retired, or a run is draining it")
ExecutorAttached = Definition(
    "ExecutorAttached", (), or_(runtime_is("attached"), and_(runtime_is("running"), run_began_in("attached", "retired"))),
    "an executor is attached to drain the runtime: it is attached, or runs a run begun attached or retired "
    "(upstream: retire finds the attachment's wake channel; a run begun idle has none)")
RetireDrains = Definition(
    "RetireDrains", (), or_(ExecutorAttached(), runtime_is("retired")),
    "retire leaves the inputs to drain: an executor is attached, or the runtime is already retired (a retired "
    "runtime holds non-terminal inputs only if an executor took them over when it retired; retire without one "
    "abandoned them all)")


def state_of(key: Term) -> Term:
    return read("input", key)


def inputs_in(*states: str) -> Term:
    """The number of inputs in one of `states`."""
    return card(j, one_of(state_of(j), INPUT, states))


ABANDON_ALL = {s: "abandoned" for s in LIVE_INPUT}
#: recover and recycle (upstream in-memory recover): accepted and staged inputs are queued again;
#: queued, applied and pending-consumption ones keep their state
RECOVER = {"accepted": "queued", "staged": "queued"}

LiveInputs = Definition("LiveInputs", (), inputs_in(*LIVE_INPUT), "the number of non-terminal inputs")
RequeuedInputs = Definition("RequeuedInputs", (), inputs_in(*RECOVER),
                            "the number of inputs recover and recycle queue again (accepted or staged)")


# --------------------------------------------------------------------------- guards


def registered() -> Guard:
    return Guard("runtime_registered", runtime_not("absent"), "NotFound",
                 "a runtime id never registered is NotFound, distinct from a destroyed one")


def in_states(name: str, allowed: tuple[str, ...], error: str = "InvalidState", why: str = "") -> Guard:
    return Guard(name, runtime_is(*allowed), error,
                 why or f"legal only while the runtime is {', '.join(allowed)}", (("state", runtime()),))


def not_destroyed() -> Guard:
    return Guard("runtime_not_destroyed", runtime_not("destroyed"), "Destroyed", "a destroyed runtime takes no input")


def input_from(allowed: tuple[str, ...]) -> Guard:
    return Guard("input_from_state", one_of(state_of(x), INPUT, allowed), "ValidationFailed",
                 f"legal only for an input in the ledger that is {', '.join(allowed)}")


def input_progress(allowed: tuple[str, ...]) -> tuple[Guard, ...]:
    """The guards of every input move: a live, undestroyed runtime that serves or drains,
    and input `x` in one of the `allowed` states."""
    return (registered(), not_destroyed(),
            in_states("draining", DRAINING, "NotReady", "inputs progress while the runtime serves or drains"),
            input_from(allowed))


# --------------------------------------------------------------------------- effects


def move_input(to: str) -> tuple[Effect, ...]:
    """Move input `x` to `to` (its guard names the states it moves from)."""
    return (AssignAt("input", x, sym(INPUT, to)),)


def image(mapping: dict[str, str], of: Term) -> Term:
    """The state an input in state `of` moves to under `mapping` (itself when unmapped)."""
    value: Term = of
    for source, target in mapping.items():
        value = ite(eq(of, sym(INPUT, source)), sym(INPUT, target), value)
    return value


def pointwise(mapping: dict[str, str], when: Term | None = None) -> AssignAll:
    """Every input in a state of `mapping` moves to its image (only if `when` holds); the others stay."""
    moved = image(mapping, state_of(j))
    return AssignAll("input", j, moved if when is None else ite(when, moved, state_of(j)))


def report(kind: str, **counts: Term) -> tuple[Effect, ...]:
    return (Assign("report", sym(REPORT, kind)), *(Assign(f"report_{k}", v) for k, v in counts.items()))


def returned(*counts: str) -> tuple[tuple[str, Term], ...]:
    """The report the call returns: each count as its effects recorded it (seed 003's
    RetireReport, ResetReport, RecycleReport, RecoveryReport, DestroyReport fields)."""
    return tuple((f"inputs_{c}", read(f"report_{c}")) for c in counts)


def set_runtime(state: str) -> Assign:
    return Assign("runtime", sym(RUNTIME, state))


def recover_inputs() -> tuple[Effect, ...]:
    """RECOVER on the ledger."""
    return (pointwise(RECOVER),)


def actions(adopted: frozenset[str]) -> tuple[Action, ...]:
    out: list[Action] = [
        Action("register_runtime", (), (
            Guard("runtime_new", eq(runtime(), sym(RUNTIME, "absent")), "InvalidState",
                  "a runtime id is registered once", (("state", runtime()),)),
        ), (set_runtime("initializing"),), "admit the runtime; its driver starts initializing"),
    ]
    out += [
        Action("runtime_ready", (), (registered(), in_states("from_state", ("initializing",))),
               (set_runtime("idle"),), "the driver finished initializing"),
        Action("attach", (), (registered(), in_states("from_state", ("idle",))),
               (set_runtime("attached"),), "an executor attaches"),
        Action("detach", (), (registered(), in_states("from_state", ("attached",))),
               (set_runtime("idle"),), "the executor detaches"),
        Action("begin_run", (), (registered(), in_states("from_state", RUN_ORIGINS)), (
            Assign("run_began_in", runtime()), set_runtime("running"),
        ), "a run starts (upstream Prepare from idle or attached; DrainQueuedRun from retired)"),
        Action("end_run", (), (registered(), in_states("from_state", ("running",))), (
            Assign("runtime", read("run_began_in")), Assign("run_began_in", sym(RUNTIME, "absent")),
        ), "the run ends; the runtime returns to the state the run began in",
            ensures=(Postcondition("ends_where_the_run_began", "the runtime is back in the state the run began in",
                                   eq(runtime(), at_pre(read("run_began_in")))),)),
    ]
    accepting = [registered(), not_destroyed(),
                 in_states("accepting", SERVING, "NotReady", "input is accepted only while idle, attached or "
                           "running (never after retire, stop or destroy)")]
    if "drain_run_takes_no_input" in adopted:
        accepting.append(Guard("not_draining", not_(DrainingRun()), "NotReady",
                               "a run that drains a retired runtime takes no new input", (("state", runtime()),)))
    out.append(Action("accept_input", (x,), (
        *accepting,
        Guard("input_new", eq(state_of(x), sym(INPUT, "none")), "ValidationFailed",
              "an input id enters the ledger once"),
    ), (AssignAt("input", x, sym(INPUT, "accepted")),), "the driver accepts an input into the ledger"))
    out += [
        Action("queue_input", (x,), input_progress(("accepted",)),
               move_input("queued"), "the input moves to queued"),
        Action("stage_input", (x,), input_progress(("queued",)),
               move_input("staged"), "the input moves to staged"),
        Action("apply_input", (x,), input_progress(("staged",)),
               move_input("applied"), "the input moves to applied"),
        Action("mark_pending_consumption", (x,), input_progress(("applied",)),
               move_input("applied_pending_consumption"), "the input moves to applied_pending_consumption"),
        Action("consume_input", (x,), input_progress(("applied", "applied_pending_consumption")),
               move_input("consumed"), "the input moves to consumed"),
        Action("supersede_input", (x,), input_progress(("accepted", "queued")),
               move_input("superseded"), "the input moves to superseded"),
        Action("coalesce_input", (x,), input_progress(("accepted", "queued")),
               move_input("coalesced"), "the input moves to coalesced"),
    ]
    drains = RetireDrains()
    stopping = [registered(), in_states("from_state", STOPPABLE)]
    if "retired_runtimes_stop_once_drained" in adopted:
        stopping.append(Guard(
            "drained", or_(not_(RetiredOrDraining()), eq(LiveInputs(), lit(0))), "InvalidState",
            "a retired runtime, or a run draining it, stops only once every pending input has drained",
            (("state", runtime()),)))
    out += [
        Action("retire", (), (registered(), in_states("from_state", RETIRABLE)), (
            *report("retire", abandoned=ite(drains, lit(0), LiveInputs()),
                    pending_drain=ite(drains, LiveInputs(), lit(0))),
            pointwise(ABANDON_ALL, not_(drains)),
            Assign("run_began_in", sym(RUNTIME, "absent")), set_runtime("retired"),
        ), "no new input; an attached executor drains every non-terminal input, and with none to drain them "
           "they are abandoned; on a retired runtime nothing changes", returns=returned("abandoned", "pending_drain"),
           ensures=(counts_moved(
               "retire", "with an executor to drain them (or already retired) retire moves no input and reports "
               "every non-terminal one pending drain; without one it abandons them all and reports them abandoned",
               implies(at_pre(drains), and_(moves_exactly({}), reported("abandoned", lit(0)),
                                            reported("pending_drain", LiveInputs()))),
               implies(not_(at_pre(drains)), and_(moves_exactly(ABANDON_ALL), reported("abandoned", LiveInputs()),
                                                  reported("pending_drain", lit(0))))),)),
        Action("stop", (), tuple(stopping), (
            pointwise(ABANDON_ALL), Assign("run_began_in", sym(RUNTIME, "absent")), set_runtime("stopped"),
        ), "the executor stops and every non-terminal input is abandoned; no report",
            ensures=(Postcondition("stop_abandons_every_pending_input",
                                   "stop abandons exactly the non-terminal inputs and moves no other",
                                   moves_exactly(ABANDON_ALL)),)),
        Action("reset_runtime", (), (registered(), in_states("from_state", RESETTABLE)), (
            *report("reset", abandoned=LiveInputs()), pointwise(ABANDON_ALL), set_runtime("idle"),
        ), "the seed's reset: abandon every pending input; the runtime is idle again (renamed: `reset` is "
           "the conformance protocol's own call)", returns=returned("abandoned"),
           ensures=(counts_moved("reset", "reset abandons every non-terminal input and reports how many",
                                 moves_exactly(ABANDON_ALL), reported("abandoned", LiveInputs())),)),
        Action("recycle", (), (registered(), in_states("from_state", RECYCLABLE)), (
            *report("recycle", transferred=LiveInputs()), *recover_inputs(),
            Assign("runtime", ite(runtime_is("attached"), sym(RUNTIME, "attached"), sym(RUNTIME, "idle"))),
        ), "a new driver instance takes over every pending input and recovers it (accepted and staged "
           "inputs are queued again)", returns=returned("transferred"),
           ensures=(counts_moved("recycle", "recycle queues accepted and staged inputs again, moves no other, and "
                                 "reports every non-terminal input transferred",
                                 moves_exactly(RECOVER), reported("transferred", LiveInputs())),)),
        Action("recover", (), (registered(), in_states("from_state", RECOVERABLE)), (
            *report("recover", recovered=LiveInputs(), requeued=RequeuedInputs(), abandoned=lit(0)),
            *recover_inputs(),
        ), "replay the ledger: accepted and staged inputs are queued again, the others keep their state, and "
           "so does the runtime", returns=returned("recovered", "abandoned", "requeued"),
           ensures=(counts_moved("recover", "recover queues accepted and staged inputs again and reports them "
                                 "requeued, moves no other, abandons none, and reports every non-terminal input "
                                 "recovered",
                                 moves_exactly(RECOVER), reported("recovered", LiveInputs()),
                                 reported("requeued", RequeuedInputs()), reported("abandoned", lit(0))),)),
        Action("destroy", (), (registered(), Guard(
            "not_yet_destroyed", runtime_not("destroyed"),
            "InvalidState", "Destroyed is terminal", (("state", runtime()),))), (
            *report("destroy", abandoned=LiveInputs()), pointwise(ABANDON_ALL),
            Assign("run_began_in", sym(RUNTIME, "absent")), set_runtime("destroyed"),
        ), "terminal: every pending input is abandoned", returns=returned("abandoned"),
            ensures=(counts_moved("destroy", "destroy abandons every non-terminal input and reports how many",
                                  moves_exactly(ABANDON_ALL), reported("abandoned", LiveInputs())),)),
    ]
    return tuple(out)


# --------------------------------------------------------------------------- invariants


def was(key: Term, states: tuple[str, ...]) -> Term:
    return at_pre(one_of(state_of(key), INPUT, states))


def moves_exactly(mapping: dict[str, str]) -> Term:
    """Every input in a source state moves to its image and no other input changes."""
    return forall(j, eq(state_of(j), image(mapping, at_pre(state_of(j)))))


#: how far along its lifecycle an input is (terminal states last)
STAGE = {"none": 0, "accepted": 1, "queued": 2, "staged": 3, "applied": 4, "applied_pending_consumption": 5,
         **{t: 6 for t in TERMINAL}}


def stage(t: Term) -> Term:
    value: Term = lit(0)
    for member, n in STAGE.items():
        if n:
            value = ite(eq(t, sym(INPUT, member)), lit(n), value)
    return value


def reported(count: str, before: Term) -> Term:
    """The report's `count` equals `before`, a term read on the pre-state."""
    return eq(read(f"report_{count}"), at_pre(before))


def counts_moved(kind: str, sentence: str, *claims: Term) -> Postcondition:
    """The postcondition `reports_count_the_inputs_they_move` of the action reporting `kind`: its
    report is of that kind, and the `claims` (which inputs it moves, what its counts are) hold."""
    return Postcondition("reports_count_the_inputs_they_move", sentence,
                         and_(eq(read("report"), sym(REPORT, kind)), *claims))




def invariants() -> tuple[Invariant, ...]:
    return (
        Invariant(
            "destroyed_is_terminal",
            "a destroyed runtime stays destroyed",
            step=implies(at_pre(runtime_is("destroyed")), runtime_is("destroyed")),
        ),
        Invariant(
            "closed_runtimes_reopen_only_by_reset_or_recycle",
            "a stopped or destroyed runtime never serves again; a retired one is idle or attached again only "
            "through reset or recycle; and no input enters a ledger unless the runtime is idle, attached or "
            "running",
            step=and_(
                implies(at_pre(runtime_is(*ENDED)), runtime_is(*ENDED)),
                implies(and_(at_pre(runtime_is("retired")), runtime_is("idle", "attached")),
                        or_(ActionIs("reset_runtime"), ActionIs("recycle"))),
                forall(j, implies(and_(at_pre(eq(state_of(j), sym(INPUT, "none"))),
                                       eq(state_of(j), sym(INPUT, "accepted"))),
                                  at_pre(runtime_is(*SERVING))))),
        ),
        Invariant(
            "runs_end_where_they_began",
            "a run is in progress exactly while the runtime is running, and it began in idle, attached or retired",
            state=and_(implies(runtime_is("running"), run_began_in(*RUN_ORIGINS)),
                       implies(not_(runtime_is("running")), run_began_in("absent"))),
        ),
        Invariant(
            "retired_runtimes_take_no_input",
            "no input enters the ledger of a retired runtime, not even during a run that drains it",
            step=forall(j, implies(and_(at_pre(eq(state_of(j), sym(INPUT, "none"))), ne(state_of(j), sym(INPUT, "none"))),
                                   at_pre(not_(RetiredOrDraining())))),
        ),
        Invariant(
            "retired_runtimes_drain_their_inputs",
            "once a runtime is retired (or runs to drain), a pending input is abandoned only by reset or "
            "destroy: it otherwise drains",
            step=forall(j, implies(and_(at_pre(RetiredOrDraining()), was(j, LIVE_INPUT),
                                        eq(state_of(j), sym(INPUT, "abandoned"))),
                                   or_(ActionIs("reset_runtime"), ActionIs("destroy")))),
        ),
        Invariant(
            "inputs_only_move_forward",
            "an input enters the ledger only as accepted, by accept_input, and only moves forward along its "
            "lifecycle, except that recycle and recover send staged inputs back to the queue",
            step=forall(j, and_(
                implies(and_(at_pre(eq(state_of(j), sym(INPUT, "none"))), ne(state_of(j), sym(INPUT, "none"))),
                        and_(ActionIs("accept_input"), eq(state_of(j), sym(INPUT, "accepted")))),
                implies(lt(stage(state_of(j)), at_pre(stage(state_of(j)))),
                        and_(or_(ActionIs("recycle"), ActionIs("recover")), eq(state_of(j), sym(INPUT, "queued")),
                             was(j, ("staged",)))))),
        ),
        Invariant(
            "terminal_inputs_never_change",
            "an input in a terminal state never changes again",
            step=forall(j, implies(was(j, TERMINAL), eq(state_of(j), at_pre(state_of(j))))),
        ),
        Invariant(
            "no_live_input_outside_a_working_runtime",
            "before it is ready, and once stopped or destroyed, a runtime holds no non-terminal input",
            state=implies(runtime_is("absent", "initializing", "stopped", "destroyed"), forall(j, not_live(j))),
        ),
        Invariant(
            "no_input_before_registration",
            "a runtime that is absent or initializing has an empty ledger",
            state=implies(runtime_is("absent", "initializing"), forall(j, eq(state_of(j), sym(INPUT, "none")))),
        ),
    )


DECISIONS = (
    Decision(
        "drain_run_takes_no_input", "A run that drains a retired runtime takes no new input",
        seed="A retired runtime's executor starts a run to drain it (upstream `DrainQueuedRun`: Retired to "
             "Running, ending Retired again), and input admission reads the runtime state alone: Running is "
             "open to ingress, so `accept_input` during that run admits the input into the retired runtime's "
             "ledger.",
        reference="`accept_input` during a run begun in retired is `NotReady{state: running}`; inputs still "
                  "progress and the run ends retired.",
        why="Seed 003 defines retire as 'no new input, drain existing' (line 173): a drain run is part of "
            "draining, not a way back to serving; reset and recycle are.",
        invariants=("retired_runtimes_take_no_input",)),
    Decision(
        "retired_runtimes_stop_once_drained", "A retired runtime stops only once drained",
        seed="Upstream's stop (`StopRuntimeExecutor`, accepted from Idle, Attached, Running and Retired, then "
             "`RuntimeExecutorExited` to Stopped) ends in the driver's `stop_runtime_cleanup`, which abandons "
             "every non-terminal input whatever the state; so stopping a retired runtime abandons the inputs "
             "its retire reported as pending drain.",
        reference="`stop` from idle, attached or running abandons every non-terminal input as upstream does; "
                  "from retired, or during a run that drains a retired runtime, it is `InvalidState{state}` "
                  "while any input is non-terminal, and a drained one stops.",
        why="Seed 003 promises that the inputs a retire leaves pending drain 'will be processed before "
            "stopping' (RetireReport, lines 89-91) and defines retire as 'drain existing' (line 173); a stop "
            "that abandons them breaks the count the retire report just gave.",
        invariants=("retired_runtimes_drain_their_inputs",)),
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
           "the seed has two error enums for two layers the reference folds into one machine, and documents "
           "InvalidState{state} as 'invalid state for this operation'. Upstream does not use it for that: its "
           "control plane answers a retire, recycle, reset, recover or destroy that its machine refuses with "
           "Internal(the machine's rejection text), and its stop with ValidationFailed{reason}; the reference "
           "answers the seed's typed, comparable InvalidState{state} instead, so on these refusals a port of "
           "upstream differs in the error kind (the seed profile does not model it)"),
    Choice("accept_while_serving", "Input only while serving, as upstream; a repeated id is refused",
           "accept_input needs idle, attached or running (NotReady{state} otherwise, Destroyed when destroyed); an "
           "input id already in the ledger is refused as ValidationFailed",
           "the states are not open: they are upstream's (its driver's `accept_resolved_input` admits input only "
           "where the lifecycle classification accepts it, idle, attached and running, and answers "
           "NotReady{state} elsewhere, initializing included, the very error the seed's own test displays) and "
           "retire promises 'no new input'. What the seed leaves open is a repeated id: its AcceptOutcome (not "
           "shown) can deduplicate by idempotency key, which the machine does not model, so it refuses a known "
           "id", ("closed_runtimes_reopen_only_by_reset_or_recycle",)),
    Choice("recover_without_a_store", "Recover is the in-memory driver's",
           "recover and recycle replay the ledger as upstream's in-memory driver does: accepted and staged "
           "inputs are queued again and applied or pending-consumption ones keep their state (so nothing is "
           "abandoned); the persistent driver's store-backed replay, which settles an applied input by its "
           "boundary receipt (consumed when committed, queued when missing), is not modelled",
           "the machine has no store and no boundary receipts; the seed's RecoveryReport has the counts of both",
           ("reports_count_the_inputs_they_move",)),
)


def not_live(k: Term) -> Term:
    return one_of(state_of(k), INPUT, ("none", *TERMINAL))


def build(profile: str = "reference") -> Machine:
    adopted = check_profile(profile, DECISIONS)
    return Machine(
        name="runtime_control",
        doc=__doc__ or "",
        profile=profile,
        sorts=(RUNTIME, INPUT, REPORT),
        fields=FIELDS,
        init=(),
        assumptions=(),
        actions=actions(adopted),
        invariants=invariants(),
        errors=ERRORS,
        phases=("runtime", "input"),
        choices=CHOICES,
        decisions=DECISIONS,
    )

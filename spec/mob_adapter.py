"""The mob member adapter on top of the ops registry (seed 002), as data: the adapter a
mob uses to track each member's child session as an operation in an ops-lifecycle
registry. It binds a session to a registry, resolves the session's one live operation
(registering a fresh one when needed), moves it through provisioning, progress, peer
handoff, retirement and abortion with the registry's own rules, and clears the binding
when the member is done; the environment may retire or complete operations directly.

The state is the composition the adapter sees: every MobMemberChild operation's
registry state (status, peer-ready, progress; the registry's own rules are read
from `spec.ops_lifecycle.ALLOWED_FROM`, not restated) with the child session it
belongs to and the registry that holds it, plus each child session's binding
(`bound`, and `binding`: the registry index its calls go to; 0 is the adapter's
fallback registry). Every mutation goes through the adapter, except the
environment's registry calls `request_retire` and `complete_operation`, and a
direct registration of a member's operation (left Provisioning) while its
session has none live.

Seed 002 is upstream lukacf/meerkat `meerkat-mob/src/runtime/ops_adapter.rs` at
v0.5.0 (6cf1232c; the file last changed in c051fa0c), `MobOpsAdapter`. The registry
it calls is `RuntimeOpsLifecycleRegistry` of that tag, whose guards for the calls
the adapter makes are the ones `ALLOWED_FROM` holds.

The adapter resolves "the live operation of a session" in the session's current
registry. Its answers, as seed 002 writes them:

* provision / progress / peer-ready reuse that operation or register a new one
  (id `op`, fresh), and canonicalize Provisioning to Running before updating it;
* resolving the live operation alone (`active_operation_id_for_session`) registers
  nothing, canonicalizes it the same way and answers its id;
* registry refusals the seed swallows are no-ops (already Running, already
  peer-ready, already Retiring or Retired, unknown or terminal on abort); every
  other registry error becomes `MobError::Internal` (here `Internal`);
* retire with no live operation changes nothing — not even the binding; retire of a
  live operation still in Provisioning is refused (`Internal`) and keeps the binding;
* abort, whatever the registry said short of an error, clears the binding.

The seed resolves operations per registry, so "at most one live operation per
child session" holds per registry: a binding cleared by an abort of an unknown
id (or a re-bind) hides a live operation in the old registry from the adapter.
"""

from __future__ import annotations

from opsref.spec.machine import (
    Action, Assign, AssignAll, AssignAt, Choice, Effect, Guard, Invariant, Machine, Postcondition, StateField,
    check_profile,
)
from opsref.spec.ops_lifecycle import ALLOWED_FROM, LIVE, NO_OP, STATUS, TERMINAL
from opsref.spec.terms import (
    BOOL, FALSE, ID, INT, TRUE, ActionIs, Lit, Param, Sort, Term, Var, add, and_, at_pre, eq, exists, forall, implies, ite,
    lit, ne, not_, one_of, or_, read, sym, the,
)

s = Param("session", ID)
o = Param("op", ID)
r = Param("registry", INT)
k = Var("k")
k2 = Var("k2")

ERRORS = ("Internal", "NotFound", "InvalidTransition", "AlreadyRegistered")
TEXT = Sort("text")  # an error's action name

FIELDS = (
    StateField("status", STATUS, sym(STATUS, "absent"), ID, doc="the operation's registry status; absent if untracked"),
    StateField("child", ID, NO_OP, ID, doc="the child session the operation belongs to"),
    StateField("reg", INT, lit(0), ID, doc="the registry holding the operation (0: the adapter's fallback)"),
    StateField("peer_ready", BOOL, FALSE, ID, doc="the member's peer channel was reported ready"),
    StateField("progress", INT, lit(0), ID, doc="progress reports recorded"),
    StateField("bound", BOOL, FALSE, ID, doc="the child session has a registry binding"),
    StateField("binding", INT, lit(0), ID, doc="the registry a session's calls go to (0: fallback)"),
    StateField("found_live", BOOL, FALSE, doc="whether the last retire found a live operation (read by its effects)",
               ghost=True),
)


def status(x: Term) -> Term:
    return read("status", x)


def live(x: Term) -> Term:
    return one_of(status(x), STATUS, LIVE)


def member_op(x: Term, session: Term) -> Term:
    """`x` is a live operation of `session` in the registry the session's calls go to."""
    return and_(live(x), eq(read("child", x), session), eq(read("reg", x), read("binding", session)))


def has_live(session: Term) -> Term:
    return exists(k, member_op(k, session))


def accepts(call: str, x: Term) -> Term:
    return one_of(status(x), STATUS, ALLOWED_FROM[call])


# --------------------------------------------------------------------------- shared steps


def fresh_op_if_needed() -> Guard:
    return Guard("new_op_id_unused", or_(has_live(s), eq(status(o), sym(STATUS, "absent"))), "Internal",
                 "registering a new operation under a tracked id is AlreadyRegistered, reported as Internal")


def canonicalize() -> AssignAll:
    """The session's live operation still Provisioning moves to Running (seed 002:
    ensure_running_before_live_update)."""
    return AssignAll("status", k, ite(and_(member_op(k, s), accepts("provisioning_succeeded", k)),
                                      sym(STATUS, "running"), status(k)))


def resolve_or_register() -> tuple[Effect, ...]:
    """Reuse the session's live operation, else register `op` for it; then canonicalize
    Provisioning to Running (seed: ensure_operation + ensure_running_before_live_update).
    `status` is written last: the other writes read whether a live operation exists."""
    new = not_(has_live(s))
    return (
        AssignAt("child", o, ite(new, s, read("child", o))),
        AssignAt("reg", o, ite(new, read("binding", s), read("reg", o))),
        AssignAt("status", o, ite(new, sym(STATUS, "provisioning"), status(o))),
        canonicalize(),
    )


def on_live(name: str, value: Term) -> AssignAll:
    """Write `name` of the session's live operation (there is exactly one after resolving)."""
    return AssignAll(name, k, ite(member_op(k, s), value, read(name, k)))


# --------------------------------------------------------------------------- postconditions


def past_provisioning() -> Postcondition:
    """Shared by the calls that canonicalize (seed 002: ensure_running_before_live_update)."""
    return Postcondition("live_operation_past_provisioning",
                         "the session's live operation, if any, is past Provisioning",
                         forall(k, implies(member_op(k, s), ne(status(k), sym(STATUS, "provisioning")))))


def leaves_a_live_operation() -> Postcondition:
    return Postcondition("live_updates_leave_one_live_operation",
                         "the session has a live operation in its registry", has_live(s))


def fabricates_nothing() -> Postcondition:
    return Postcondition("retire_and_abort_fabricate_nothing", "no operation is created",
                         forall(k, implies(at_pre(eq(status(k), sym(STATUS, "absent"))),
                                           eq(status(k), sym(STATUS, "absent")))))


def clear_binding() -> tuple[Effect, ...]:
    return (AssignAt("bound", s, FALSE), AssignAt("binding", s, lit(0)))


def registry_call(name: str, to: str, doc: str) -> Action:
    """A registry call made outside the adapter; the registry's own guards, in its order."""
    return Action(name, (o,), (
        Guard("operation_tracked", ne(status(o), sym(STATUS, "absent")), "NotFound", "the registry knows the operation",
              (("id", o),)),
        Guard("from_status_valid", accepts(name, o), "InvalidTransition",
              f"the registry allows {name} only from {', '.join(ALLOWED_FROM[name])}",
              (("id", o), ("status", status(o)), ("action", Lit(name, TEXT)))),
    ), (AssignAt("status", o, sym(STATUS, to)),), doc)


# --------------------------------------------------------------------------- actions


def actions() -> tuple[Action, ...]:
    in_registry = and_(ne(status(o), sym(STATUS, "absent")), eq(read("reg", o), read("binding", s)))
    return (
        Action("bind_session_registry", (s, r), (), (AssignAt("bound", s, TRUE), AssignAt("binding", s, r)),
               "route the child session's operations to registry `registry` (0: the fallback)"),
        Action("active_operation_id_for_session", (s,), (), (canonicalize(),),
               "resolve the session's live operation without registering one, canonicalized to Running; "
               "returns its id, or none (\"\") when the session has no live operation in its registry "
               "(seed 002: Option<OperationId>)",
               returns=(("operation", the(k, member_op(k, s))),),
               ensures=(past_provisioning(), fabricates_nothing())),
        Action("mark_member_provisioned", (s, o), (
            fresh_op_if_needed(),
            Guard("live_op_can_run", not_(exists(k, and_(member_op(k, s), not_(or_(
                accepts("provisioning_succeeded", k), eq(status(k), sym(STATUS, "running"))))))),
                "Internal", "provisioning_succeeded on a live operation past Running is an InvalidTransition the "
                "adapter reports as Internal (only 'already Running' is swallowed)"),
        ), resolve_or_register(), "the member is provisioned: its live operation runs (registered if none); "
           "returns the operation's id (seed 002: OperationId)", returns=(("operation", the(k, member_op(k, s))),),
           ensures=(past_provisioning(), Postcondition(
               "live_updates_leave_one_live_operation", "the session has a live operation in its registry, running",
               exists(k, and_(member_op(k, s), eq(status(k), sym(STATUS, "running"))))))),
        Action("report_member_progress", (s, o), (fresh_op_if_needed(),), (
            *resolve_or_register(),
            on_live("progress", add(read("progress", k), lit(1))),
        ), "record progress on the member's live operation (registered if none)",
            ensures=(past_provisioning(), leaves_a_live_operation())),
        Action("mark_member_peer_ready", (s, o), (fresh_op_if_needed(),), (
            *resolve_or_register(),
            on_live("peer_ready", TRUE),
        ), "the member's peer is ready (already ready: swallowed as AlreadyPeerReady)",
            ensures=(past_provisioning(), leaves_a_live_operation())),
        Action("mark_member_retired", (s,), (
            Guard("live_op_can_retire", not_(exists(k, and_(member_op(k, s), eq(status(k), sym(STATUS, "provisioning"))))),
                  "Internal", "request_retire on a live operation still Provisioning is an InvalidTransition the "
                  "adapter reports as Internal, keeping the binding (seed 002: only Retiring and Retired are "
                  "swallowed)"),
        ), (
            Assign("found_live", has_live(s)),
            on_live("status", sym(STATUS, "retired")),
            AssignAt("bound", s, and_(read("bound", s), not_(read("found_live")))),
            AssignAt("binding", s, ite(read("found_live"), lit(0), read("binding", s))),
        ), "request_retire then mark_retired on the live operation, then clear the binding; with no live "
           "operation nothing happens",
            ensures=(fabricates_nothing(), Postcondition(
                "abort_and_retire_clear_the_binding",
                "retire of a session with a live operation retires it and clears the binding; retire of a session "
                "without one changes nothing",
                and_(implies(at_pre(has_live(s)), and_(
                         not_(read("bound", s)), eq(read("binding", s), lit(0)),
                         forall(k, implies(at_pre(member_op(k, s)), eq(status(k), sym(STATUS, "retired")))))),
                     implies(not_(at_pre(has_live(s))), and_(
                         eq(read("bound", s), at_pre(read("bound", s))),
                         eq(read("binding", s), at_pre(read("binding", s))),
                         forall(k, eq(status(k), at_pre(status(k)))))))))),
        Action("abort_member_provision", (s, o), (
            Guard("abort_not_refused", not_(and_(in_registry, live(o), not_(accepts("abort_provisioning", o)))),
                  "Internal", "abort_provisioning of a live operation past Provisioning is an InvalidTransition "
                  "reported as Internal (unknown ids and terminal operations are swallowed)"),
        ), (
            AssignAt("status", o, ite(and_(in_registry, accepts("abort_provisioning", o)),
                                      sym(STATUS, "aborted"), status(o))),
            *clear_binding(),
        ), "abort a provisioning operation in the session's registry, then clear the binding",
            ensures=(fabricates_nothing(), Postcondition(
                "abort_and_retire_clear_the_binding", "abort clears the session's binding",
                and_(not_(read("bound", s)), eq(read("binding", s), lit(0)))))),
        Action("register_member_operation", (s, o), (
            Guard("operation_untracked", eq(status(o), sym(STATUS, "absent")), "AlreadyRegistered",
                  "the registry refuses an id it tracks (ids are one space here: Choice fresh_operation_ids)"),
            Guard("session_has_no_live_operation", not_(has_live(s)), "Internal",
                  "environment scope: the runtime registers a member's operation only while the session has no live "
                  "one in its registry (with two, seed 002 answers every adapter call with Internal)"),
        ), (
            AssignAt("child", o, s), AssignAt("reg", o, read("binding", s)),
            AssignAt("status", o, sym(STATUS, "provisioning")),
        ), "the runtime registers the member's operation in the session's registry, Provisioning, without the "
           "adapter (environment: seed 002's own abort test does this)"),
        registry_call("request_retire", "retiring", "another part of the runtime asks the member to wind down "
                      "(environment: the registry call, not the adapter)"),
        registry_call("complete_operation", "completed",
                      "the member's work finished (environment: the registry call, not the adapter)"),
    )


# --------------------------------------------------------------------------- invariants


def invariants() -> tuple[Invariant, ...]:
    return (
        Invariant(
            "one_live_operation_per_child_session",
            "within one registry, a child session has at most one live operation",
            state=forall(k, forall(k2, implies(
                and_(live(k), live(k2), eq(read("child", k), read("child", k2)), eq(read("reg", k), read("reg", k2))),
                eq(k, k2)))),
        ),
        Invariant(
            "no_operation_left_provisioning",
            "the adapter leaves no operation in Provisioning: only a registration made without it is Provisioning "
            "(and provision, progress, peer-ready and resolving the live operation ensure the session's live "
            "operation is past it: their postcondition live_operation_past_provisioning)",
            step=forall(k, implies(and_(eq(status(k), sym(STATUS, "provisioning")),
                                        at_pre(ne(status(k), sym(STATUS, "provisioning")))),
                                   ActionIs("register_member_operation"))),
        ),
        Invariant(
            "untracked_operations_carry_nothing",
            "an id the registries do not track has no session, registry, progress or peer state",
            state=forall(k, implies(eq(status(k), sym(STATUS, "absent")), and_(
                eq(read("child", k), NO_OP), eq(read("reg", k), lit(0)), eq(read("progress", k), lit(0)),
                not_(read("peer_ready", k))))),
        ),
        Invariant(
            "operations_keep_their_session_and_registry",
            "a tracked operation never changes child session or registry, and a terminal one never changes status",
            step=forall(k, and_(
                implies(at_pre(ne(status(k), sym(STATUS, "absent"))),
                        and_(eq(read("child", k), at_pre(read("child", k))), eq(read("reg", k), at_pre(read("reg", k))))),
                implies(at_pre(one_of(status(k), STATUS, TERMINAL)), eq(status(k), at_pre(status(k)))))),
        ),
    )


CHOICES = (
    Choice("one_live_op_per_registry", "At most one live operation per child session — per registry",
           "the claim is proved per registry; across registries the seed allows two: an abort of an id the "
           "session's registry does not know still clears the binding, and the next provision registers a new "
           "operation in the fallback while the old one lives on in the bound registry (a re-bind does the same)",
           "the reference follows the seed here; the seed's adapter resolves operations only in the session's "
           "current registry (registry_for_session), so no claim across registries is the seed's",
           ("one_live_operation_per_child_session",)),
    Choice("adapter_only_mutations", "Which mutations the environment makes",
           "besides the adapter, the registry calls modelled are request_retire, complete_operation and a direct "
           "registration of a member's operation while its session has none live (as seed 002's abort test "
           "does); every registry takes every registration (the adapter's fallback has the default configuration, "
           "with no concurrency limit; a bound registry's limit, which the adapter would report as Internal, is "
           "not modelled); retention (eviction of old terminal operations) and operations of other kinds are "
           "not modelled: the adapter filters other kinds out and never acts on a terminal operation",
           "the registries bound to sessions and the rest of the runtime are outside seed 002; a second live "
           "operation registered directly would break the one-live-operation claim",
           ("one_live_operation_per_child_session", "no_operation_left_provisioning")),
    Choice("fresh_operation_ids", "Operation ids are globally fresh",
           "a new operation takes the action's `op`, which must be untracked in every registry; a tracked one "
           "is refused as Internal, the way the adapter reports a registry's AlreadyRegistered",
           "each of the seed's registries checks only its own ids, but the adapter names a new operation with "
           "OperationId::new(), a fresh uuid, so its registrations never collide; one id space across registries "
           "says the same and keeps an id's registry unambiguous", ("operations_keep_their_session_and_registry",)),
    Choice("retire_without_operation", "Retire of a session with no live operation",
           "changes nothing at all, not even the binding (the seed returns before clearing it)",
           "seed 002 mark_member_retired", ("abort_and_retire_clear_the_binding",
                                           "retire_and_abort_fabricate_nothing")),
)


def build(profile: str = "reference") -> Machine:
    check_profile(profile)
    return Machine(
        name="mob_adapter",
        doc=__doc__ or "",
        profile=profile,
        sorts=(STATUS,),
        fields=FIELDS,
        init=(),
        assumptions=(),
        actions=actions(),
        invariants=invariants(),
        errors=ERRORS,
        phases=("status",),
        choices=CHOICES,
    )

"""The ops-lifecycle registry (seed 001: `RuntimeOpsLifecycleRegistry`), as data: the
registry of an agent runtime's child and background operations. An operation is
registered in Provisioning, runs, may be asked to retire, and ends in exactly one
terminal status (Completed, Failed, Aborted, Cancelled, Retired, Terminated) with a
completion sequence number and a completion-feed entry; the registry counts the live
operations against an optional limit, keeps the newest `max_completed` terminal ones
(FIFO), resolves watchers, and lets one caller at a time wait for a set of operations
(`wait_all`, a barrier). `terminate_owner` ends every live operation; recovery from a
snapshot keeps only the terminal ones.

Two profiles share this one definition and differ only in the decisions below
(`DECISIONS`); every difference is chosen by `build(profile)` from the decisions
the profile adopts, and nowhere else.

* ``seed`` — what the seed implementation does.
* ``reference`` — what this project stands behind:

  1. **Barrier outcomes are held by the barrier.** When a barrier member becomes
     terminal while `wait_all` waits, the barrier records it as finished
     (`barrier_done`). Eviction or `collect_completed` may then drop the op from
     the registry, but the barrier no longer needs it: the wait still completes.
     The seed re-reads member statuses instead, so an evicted member is never
     terminal again and the waiter hangs forever (decision 1). We keep retention
     strictly FIFO and bounded rather than pinning members, because pinning
     would let retention exceed `max_completed` without bound.
  2. **An id is registered at most once.** `register_operation` refuses an id
     that was ever registered, even after eviction, collection or recovery, with
     `AlreadyRegistered`. Ids are unique tokens (the seed mints UUIDs); reusing
     one lets a late call meant for the old operation act on the new one, and
     makes a finished operation look like it restarted (decision 2).
  3. **`provisioning_failed` only fails an op that is still Provisioning.** Once
     provisioning succeeded, a failure is `fail_operation`'s business; the seed
     routes both through one transition and reports `fail_operation` in the
     error (decision 3).
  4. **`terminate_owner` goes in registration order**, not in the seed's sorted
     (JSON-encoded) id order.
  5. **A satisfied wait resolves at once**: the seed reads the outcomes when the
     future is next polled and fails if a member was evicted meanwhile.
  6. **Dropping a future cancels only its own request**: the seed's drop clears
     a newer request's sender too, leaving its barrier armed with no one to tell.

Everything the protocol lets an implementation see is state here: registration
order (`registered`), the completion feed (`order`, `feed_outcome`, `feed_head`,
its capacity) and the caller's wait_all future (`waiter`).

Calls that act on many operations are decomposed into single-operation steps, as
DESIGN's table says for `terminate_owner` ("one transition per op"):
`terminate_owner` is `terminate_op` applied while any op is live (`SWEEPS`), whose
guard `first_in_termination_order` picks the next one. `collect_completed`,
`wait_request` and `recover` rewrite per-id fields pointwise.

How to read this file: the state, then the vocabulary (named definitions such as
`Terminal(x)` and procedures such as `FinalizeTerminal(x, to, outcome)`, written
once), then `vocabulary(adopted)`, the one place where the profiles differ, then
every action written out, then the invariants and the decisions.
"""

from __future__ import annotations

from dataclasses import dataclass

from opsref.spec.machine import (
    Action, Assign, AssignAll, AssignAt, CheckConfig, Decision, Effect, Guard, Invariant, Machine, Procedure, Ranking,
    StateField, check_profile,
)
from opsref.spec.terms import (
    BOOL, FALSE, ID, ID_SET, INT, TRUE, ActionIs, Contains, Definition, Lit, Param, Sort, Term, Var,
    add, and_, at_pre, card, enum, eq, exists, forall, ge, gt, implies, in_range, ite, le,
    key_before, lit, lt, ne, not_, one_of, or_, read, sub, sym,
)


STATUS = enum(
    "status", "absent", "provisioning", "running", "retiring", "completed", "failed",
    "aborted", "cancelled", "retired", "terminated",
)
KIND = enum("kind", "mob_member_child", "background_tool_op")
OUTCOME = enum("outcome", "none", "completed", "failed", "aborted", "cancelled", "retired", "terminated")
#: The caller's wait_all future (the last accepted `wait_all`): `signalled` = its
#: barrier was satisfied and the seed has not yet read the outcomes (that happens
#: when it is polled); `orphaned` = its sender was dropped without a value.
WAITER = enum("waiter", "none", "waiting", "signalled", "orphaned", "done", "failed", "cancelled")
TEXT = Sort("text")

LIVE = ("provisioning", "running", "retiring")
TERMINAL = ("completed", "failed", "aborted", "cancelled", "retired", "terminated")
NO_OP = Lit("", ID)

ERRORS = (
    "NotFound", "AlreadyRegistered", "MaxConcurrentExceeded", "InvalidTransition",
    "PeerNotExpected", "AlreadyPeerReady", "DuplicateWaitOperation", "WaitAlreadyActive",
)

i = Param("id", ID)
j = Var("j")
k = Var("k")
s = Var("s", INT)


def status(x: Term) -> Term:
    return read("status", x)


def g(name: str) -> Term:
    return read(name)


def waiter_is(*states: str) -> Term:
    return one_of(g("waiter"), WAITER, states)


# --------------------------------------------------------------------------- state

FIELDS = (
    StateField("status", STATUS, sym(STATUS, "absent"), ID, doc="lifecycle status; absent when untracked"),
    StateField("kind", KIND, sym(KIND, "background_tool_op"), ID, doc="operation kind given at registration"),
    StateField("peer_ready", BOOL, FALSE, ID, doc="peer handoff reported (MobMemberChild only)"),
    StateField("progress", INT, lit(0), ID, doc="number of progress reports"),
    StateField("outcome", OUTCOME, sym(OUTCOME, "none"), ID, doc="terminal outcome kind; none while live"),
    StateField("seq", INT, lit(0), ID, doc="completion sequence number; 0 while live"),
    StateField("watchers", INT, lit(0), ID, doc="pending completion watchers"),
    StateField("used", BOOL, FALSE, ID, doc="the id has been registered at some time (survives eviction)"),
    StateField("member", BOOL, FALSE, ID, doc="member of the current wait_all barrier"),
    StateField("barrier_done", BOOL, FALSE, ID, doc="barrier member whose outcome the barrier holds"),
    StateField("registered", INT, lit(0), ID, doc="registration number: the op was the n-th registration; 0 when untracked"),
    StateField("order", ID, NO_OP, INT, doc="the op completed with each sequence number (completed_order and the feed)"),
    StateField("feed_outcome", OUTCOME, sym(OUTCOME, "none"), INT,
               doc="the completion feed: the outcome completed with each sequence number"),
    StateField("registrations", INT, lit(0), doc="number of registrations accepted"),
    StateField("active_count", INT, lit(0), doc="number of live operations"),
    StateField("next_seq", INT, lit(0), doc="last completion sequence number issued"),
    StateField("order_head", INT, lit(0), doc="sequence number of the last op dropped from completed_order"),
    StateField("feed_head", INT, lit(0), doc="sequence number of the last entry dropped from the completion feed"),
    StateField("waiter", WAITER, sym(WAITER, "none"), doc="the caller's wait_all future, as wait_poll reports it"),
    StateField("wait_active", BOOL, FALSE, doc="a wait_all barrier is waiting"),
    StateField("wait_requests", INT, lit(0), ghost=True,
               doc="number of wait_all requests accepted (the current request id; proof bookkeeping)"),
    StateField("max_completed", INT, lit(256), rigid=True, doc="retained terminal operations (FIFO)"),
    StateField("has_limit", BOOL, FALSE, rigid=True, doc="a concurrency limit is configured"),
    StateField("max_concurrent", INT, lit(0), rigid=True, doc="the concurrency limit, when configured"),
    StateField("feed_capacity", INT, lit(1024), rigid=True, doc="completion feed entries kept (the newest)"),
)


def configuration(max_completed: int, max_concurrent: int | None) -> dict[str, bool | int]:
    """The rigid fields for a registry built with these settings: the seed sizes its
    completion feed `max(4 × max_completed, 1024)` (seed 001, `with_config`)."""
    return {"max_completed": max_completed, "has_limit": max_concurrent is not None,
            "max_concurrent": max_concurrent or 0, "feed_capacity": max(4 * max_completed, 1024)}


#: Per-id fields that eviction, collection and recovery reset; status goes last
#: because the pointwise conditions read it.
FORGOTTEN_ON_REMOVAL = ("kind", "peer_ready", "progress", "outcome", "seq", "watchers", "registered", "status")
ASSUMPTIONS = (ge(g("max_completed"), lit(0)), ge(g("max_concurrent"), lit(0)), ge(g("feed_capacity"), lit(1)))

# --------------------------------------------------------------------------- vocabulary
# Named definitions, written once and read by name in the actions, the invariants and
# the review page (Quint's `def`s). These are the same under every profile.

x = Var("x")
y = Var("y")
head = Var("head", INT)
capacity = Var("capacity", INT)
when = Var("when", BOOL)
to = Var("to", STATUS)
outcome = Var("outcome", OUTCOME)

Tracked = Definition("Tracked", (x,), ne(status(x), sym(STATUS, "absent")), "the registry tracks the id")
Live = Definition("Live", (x,), one_of(status(x), STATUS, LIVE), "provisioning, running or retiring")
Terminal = Definition("Terminal", (x,), one_of(status(x), STATUS, TERMINAL), "finished with an outcome")
Beyond = Definition(
    "Beyond", (head, capacity), gt(sub(g("next_seq"), head), capacity),
    "the completions after `head` (up to next_seq) are more than `capacity`: drop the oldest")
Window = Definition(
    "Window", (head, capacity), and_(le(lit(0), head), le(head, g("next_seq")), le(sub(g("next_seq"), head), capacity)),
    "`head` trails next_seq by at most `capacity`: the retained completions are a bounded suffix")

AllTerminal = Definition("AllTerminal", (Var("ids", ID_SET),),
                         forall(j, implies(Contains(Var("ids", ID_SET), j), Terminal(j))),
                         "every id of the set is terminal")

ForgetIf = Procedure(
    "ForgetIf", (x, when),
    tuple(AssignAt(f.name, x, ite(when, f.default, read(f.name, x)))
          for name in FORGOTTEN_ON_REMOVAL for f in FIELDS if f.name == name),
    "when `when` holds, forget op `x` (eviction): every per-op field back to its default")


def forget_all(condition: Term) -> tuple[Effect, ...]:
    """Forget the state of every op satisfying `condition` (over j): collection and recovery."""
    return tuple(AssignAll(f.name, j, ite(condition, f.default, read(f.name, j)))
                 for name in FORGOTTEN_ON_REMOVAL for f in FIELDS if f.name == name)


def operation_tracked() -> Guard:
    return Guard("operation_tracked", Tracked(i), "NotFound",
                 "every call on an untracked id is refused before anything else", (("id", i),))


def from_status(label: str, allowed: tuple[str, ...]) -> Guard:
    return Guard(
        "from_status_valid", one_of(status(i), STATUS, allowed), "InvalidTransition",
        f"{label} is legal only from {', '.join(allowed)}",
        (("id", i), ("status", status(i)), ("action", Lit(label, TEXT))),
    )


def ending(st: str) -> tuple[Term, Term]:
    """The status and the outcome of a terminal transition to `st` (FinalizeTerminal's arguments)."""
    return sym(STATUS, st), sym(OUTCOME, st)


#: The statuses each per-operation call accepts (reference profile); the mob
#: adapter's spec reads the registry's answers from here too.
ALLOWED_FROM: dict[str, tuple[str, ...]] = {
    "provisioning_succeeded": ("provisioning",),
    "abort_provisioning": ("provisioning",),
    "request_retire": ("running",),
    "mark_retired": ("running", "retiring"),
    "complete_operation": ("running", "retiring"),
    "report_progress": ("running", "retiring"),
    "peer_ready": ("running", "retiring"),
}


# --------------------------------------------------------------------------- decisions
# Everything the profiles disagree on, chosen here and nowhere else: one block per
# decision (DECISIONS below says what each is and why). The actions and invariants
# further down are written once for every profile, in terms of this vocabulary.


@dataclass(frozen=True)
class Vocabulary:
    """The profile-dependent definitions, procedures and guards."""

    Finished: Definition
    TerminatedBefore: Definition
    SatisfyBarrier: Procedure
    FinalizeTerminal: Procedure
    ArmBarrier: Procedure
    PollWaiter: Procedure
    register_guards: tuple[Guard, ...]
    provisioning_failed_from: tuple[str, ...]
    provisioning_failed_label: str


def vocabulary(adopted: frozenset[str]) -> Vocabulary:
    ids = Param("ids", ID_SET)

    # decision barrier_survives_eviction: the barrier holds its finished members
    # (`barrier_done`), recorded when a member finishes and when the wait begins;
    # the seed re-reads each member's current status instead
    holds_outcomes = "barrier_survives_eviction" in adopted
    finished = Definition(
        "Finished", (x,), read("barrier_done", x) if holds_outcomes else Terminal(x),
        "barrier member `x` has finished, as the satisfaction check sees it")
    hold_outcome: tuple[Effect, ...] = (
        AssignAt("barrier_done", x, or_(read("barrier_done", x), and_(g("wait_active"), read("member", x)))),
    ) if holds_outcomes else ()
    hold_finished_members: tuple[Effect, ...] = (
        AssignAll("barrier_done", j, and_(Contains(ids, j), Terminal(j))),
    ) if holds_outcomes else ()

    # decision ids_never_reused: an id that was ever registered is refused
    register_guards = (
        Guard("not_already_registered", eq(status(i), sym(STATUS, "absent")), "AlreadyRegistered",
              "an id is tracked at most once (checked first)", (("id", i),)),
        *((Guard("id_never_registered", not_(read("used", i)), "AlreadyRegistered",
                 "an evicted or collected id stays retired: ids are never reused (decision 2)", (("id", i),)),)
          if "ids_never_reused" in adopted else ()),
        Guard("within_concurrency_limit", or_(not_(g("has_limit")), lt(g("active_count"), g("max_concurrent"))),
              "MaxConcurrentExceeded", "a configured limit caps the number of live operations",
              (("limit", g("max_concurrent")), ("active", g("active_count")))),
    )

    # decision provisioning_failed_only_while_provisioning: the seed routes it through
    # fail_operation's transition (any live status) and reports fail_operation
    only_provisioning = "provisioning_failed_only_while_provisioning" in adopted

    # decision termination_in_registration_order: the seed goes in the order of its
    # DSL's map keys, the JSON-encoded ids
    terminated_before = Definition(
        "TerminatedBefore", (x, y),
        lt(read("registered", x), read("registered", y))
        if "termination_in_registration_order" in adopted else key_before(x, y),
        "terminate_owner reaches live op `x` before live op `y`")

    # decision satisfied_wait_resolves_at_once: the seed's future reads the outcomes only
    # when it is next polled (`signalled`), and fails then if a member is gone
    at_once = "satisfied_wait_resolves_at_once" in adopted
    all_finished = Definition("AllMembersFinished", (), forall(j, implies(read("member", j), finished(j))),
                              "every member of the barrier has finished")
    satisfy = Procedure("SatisfyBarrier", (), (
        Assign("waiter", ite(and_(and_(g("wait_active"), all_finished()), waiter_is("waiting")),
                             sym(WAITER, "done" if at_once else "signalled"), g("waiter"))),
        Assign("wait_active", and_(g("wait_active"), not_(all_finished()))),
    ), "seed 001 `maybe_satisfy_wait`: once every member has finished, clear the barrier and send "
       "the WaitAllSatisfied token to the waiting future (its move out of `waiting`)")
    poll_outcome = ite(forall(j, implies(read("member", j), Terminal(j))), sym(WAITER, "done"), sym(WAITER, "failed"))
    poll = Procedure("PollWaiter", (), () if at_once else (
        Assign("waiter", ite(waiter_is("signalled"), poll_outcome,
                             ite(waiter_is("orphaned"), sym(WAITER, "failed"), g("waiter")))),
    ), "seed `WaitAllFuture::poll`: a signalled future reads every member's outcome and fails when one is "
       "gone; an orphaned one fails (channel dropped)" if not at_once else
       "nothing: the future resolved when its barrier was satisfied")

    # decision dropped_waiter_cancels_only_its_own: the new future replaces the caller's
    # old one, which is dropped after it; in the seed, dropping an old future that was
    # signalled or orphaned but never polled clears whatever sender is pending: the new one
    members_terminal = AllTerminal(ids)
    new_waiter: Term = ite(members_terminal, sym(WAITER, "done"), sym(WAITER, "waiting"))
    if "dropped_waiter_cancels_only_its_own" not in adopted:
        new_waiter = ite(and_(not_(members_terminal), waiter_is("signalled", "orphaned")),
                         sym(WAITER, "orphaned"), new_waiter)
    arm = Procedure("ArmBarrier", (ids,), (
        Assign("wait_requests", add(g("wait_requests"), lit(1))),
        Assign("wait_active", not_(members_terminal)),
        AssignAll("member", j, Contains(ids, j)),
        Assign("waiter", new_waiter),
        *hold_finished_members,
    ), "wait_all: a new request; resolved at once if every member is terminal, else the barrier is armed")

    finalize = Procedure("FinalizeTerminal", (x, to, outcome), (
        AssignAt("status", x, to),
        AssignAt("outcome", x, outcome),
        Assign("active_count", sub(g("active_count"), lit(1))),
        AssignAt("watchers", x, lit(0)),
        Assign("next_seq", add(g("next_seq"), lit(1))),
        AssignAt("seq", x, g("next_seq")),
        AssignAt("order", g("next_seq"), x),
        AssignAt("feed_outcome", g("next_seq"), outcome),
        Assign("feed_head", ite(Beyond(g("feed_head"), g("feed_capacity")), add(g("feed_head"), lit(1)),
                                g("feed_head"))),
        *hold_outcome,
        ForgetIf(read("order", add(g("order_head"), lit(1))), Beyond(g("order_head"), g("max_completed"))),
        Assign("order_head", ite(Beyond(g("order_head"), g("max_completed")), add(g("order_head"), lit(1)),
                                 g("order_head"))),
        satisfy(),
    ), "seed 001 `finalize_terminal`: status and outcome, active −1, watchers resolved, the next completion "
       "sequence, one completion feed entry (the oldest dropped beyond the feed's capacity), the "
       "completed_order entry, FIFO eviction of the oldest retained op, then the barrier re-check")

    return Vocabulary(
        Finished=finished, TerminatedBefore=terminated_before, SatisfyBarrier=satisfy,
        FinalizeTerminal=finalize, ArmBarrier=arm, PollWaiter=poll, register_guards=register_guards,
        provisioning_failed_from=("provisioning",) if only_provisioning else LIVE,
        provisioning_failed_label="provisioning_failed" if only_provisioning else "fail_operation",
    )


#: Calls of the protocol that act on many operations: the call applies the action
#: to every op the predicate (over j) holds for, one step at a time, while any is
#: left; the action's guards must accept exactly one of them at each step (the
#: order is the spec's, never the oracle's).
SWEEPS = {"terminate_owner": ("terminate_op", Live(j))}

# --------------------------------------------------------------------------- actions


def actions(v: Vocabulary) -> tuple[Action, ...]:
    kind = Param("kind", KIND)
    ids = Param("ids", ID_SET)
    has_duplicate = Param("has_duplicate", BOOL)
    return (
        Action("register_operation", (i, kind), v.register_guards, (
            AssignAt("status", i, sym(STATUS, "provisioning")),
            AssignAt("kind", i, kind),
            AssignAt("used", i, TRUE),
            Assign("registrations", add(g("registrations"), lit(1))),
            AssignAt("registered", i, g("registrations")),
            Assign("active_count", add(g("active_count"), lit(1))),
        ), "admit a new operation in Provisioning; it counts as active"),
        Action("provisioning_succeeded", (i,),
               (operation_tracked(), from_status("provisioning_succeeded", ALLOWED_FROM["provisioning_succeeded"])),
               (AssignAt("status", i, sym(STATUS, "running")),), "the operation started running"),
        Action("provisioning_failed", (i,),
               (operation_tracked(), from_status(v.provisioning_failed_label, v.provisioning_failed_from)),
               (v.FinalizeTerminal(i, *ending("failed")),),
               "provisioning could not finish (decision 3: only an op still provisioning can fail this way)",
               v.provisioning_failed_label if v.provisioning_failed_label != "provisioning_failed" else ""),
        Action("fail_operation", (i,), (operation_tracked(), from_status("fail_operation", LIVE)),
               (v.FinalizeTerminal(i, *ending("failed")),), "the operation failed"),
        Action("abort_provisioning", (i,),
               (operation_tracked(), from_status("abort_provisioning", ALLOWED_FROM["abort_provisioning"])),
               (v.FinalizeTerminal(i, *ending("aborted")),), "provisioning was abandoned before the operation ran"),
        Action("cancel_operation", (i,), (operation_tracked(), from_status("cancel_operation", LIVE)),
               (v.FinalizeTerminal(i, *ending("cancelled")),), "the operation was cancelled"),
        Action("request_retire", (i,), (operation_tracked(), from_status("request_retire", ALLOWED_FROM["request_retire"])),
               (AssignAt("status", i, sym(STATUS, "retiring")),), "ask a running operation to wind down"),
        Action("mark_retired", (i,), (operation_tracked(), from_status("mark_retired", ALLOWED_FROM["mark_retired"])),
               (v.FinalizeTerminal(i, *ending("retired")),), "the operation retired"),
        Action("complete_operation", (i,),
               (operation_tracked(), from_status("complete_operation", ALLOWED_FROM["complete_operation"])),
               (v.FinalizeTerminal(i, *ending("completed")),), "the operation finished with a result"),
        Action("report_progress", (i,),
               (operation_tracked(), from_status("report_progress", ALLOWED_FROM["report_progress"])),
               (AssignAt("progress", i, add(read("progress", i), lit(1))),), "count one progress report"),
        Action("peer_ready", (i,), (
            operation_tracked(),
            Guard("kind_is_mob_member_child", eq(read("kind", i), sym(KIND, "mob_member_child")), "PeerNotExpected",
                  "only a mob member child has a peer channel to hand off", (("id", i),)),
            Guard("not_already_peer_ready", not_(read("peer_ready", i)), "AlreadyPeerReady",
                  "the peer handoff happens once", (("id", i),)),
            from_status("peer_ready", ALLOWED_FROM["peer_ready"]),
        ), (AssignAt("peer_ready", i, TRUE),), "the child's peer channel is ready"),
        Action("register_watcher", (i,), (operation_tracked(),), (
            AssignAt("watchers", i, ite(Terminal(i), read("watchers", i), add(read("watchers", i), lit(1)))),
        ), "watch for the terminal outcome; on a terminal op the watch is already resolved"),
        Action("terminate_op", (i,), (
            operation_tracked(),
            from_status("terminate_owner", LIVE),
            Guard("first_in_termination_order", forall(k, implies(and_(Live(k), ne(k, i)), v.TerminatedBefore(i, k))),
                  "InvalidTransition", "terminate_owner reaches the live operations one at a time, in its order "
                  "(decision)", (("id", i), ("status", status(i)), ("action", Lit("terminate_owner", TEXT)))),
        ), (v.FinalizeTerminal(i, *ending("terminated")),),
            "one step of terminate_owner: terminate the live operation it reaches first", "terminate_owner"),
        Action("collect_completed", (), (), (
            *forget_all(Terminal(j)),
            Assign("order_head", g("next_seq")),
        ), "drain every retained terminal operation, in completion order"),
        Action("wait_request", (ids, has_duplicate), (
            Guard("members_distinct", not_(has_duplicate), "DuplicateWaitOperation",
                  "a barrier names each operation once", ()),
            Guard("no_wait_active", not_(g("wait_active")), "WaitAlreadyActive",
                  "one wait_all barrier at a time", ()),
            Guard("members_tracked", forall(j, implies(Contains(ids, j), Tracked(j))), "NotFound",
                  "every member must be tracked when the wait begins", ()),
        ), (v.ArmBarrier(ids),), "wait_all: resolve at once if every member is terminal, else arm the barrier"),
        Action("wait_poll", (), (), (v.PollWaiter(),), "poll the caller's wait_all future once"),
        Action("wait_cancel", (), (), (
            # dropping a future that still waits on its barrier (or, in the seed, an orphaned
            # one whose barrier is still armed) clears the barrier without a token
            Assign("wait_active", and_(g("wait_active"), not_(waiter_is("waiting", "orphaned")))),
            Assign("waiter", ite(waiter_is("waiting", "signalled", "orphaned"), sym(WAITER, "cancelled"),
                                 g("waiter"))),
        ), "the caller drops its wait_all future without polling it"),
        Action("recover", (), (), (
            *forget_all(Live(j)),
            AssignAll("watchers", j, lit(0)),
            Assign("active_count", lit(0)),
            Assign("wait_active", FALSE),
            Assign("waiter", sym(WAITER, "none")),
        ), "restart from a persisted snapshot: only terminal operations survive, no future does"),
    )


# --------------------------------------------------------------------------- invariants


def invariants(v: Vocabulary) -> tuple[Invariant, ...]:
    outcome_matches_status = and_(*(
        implies(eq(status(j), sym(STATUS, st)),
                eq(read("outcome", j), sym(OUTCOME, st if st in TERMINAL else "none")))
        for st in STATUS.members
    ))
    pre_status = at_pre(status(j))
    # the step delivers the WaitAllSatisfied token: the caller's future leaves `waiting`
    # resolved, or a new request resolves at once
    resolved = ("done", "signalled")
    emitted = and_(waiter_is(*resolved), or_(ne(g("wait_requests"), at_pre(g("wait_requests"))),
                                             not_(at_pre(waiter_is(*resolved)))))
    return (
        Invariant(
            "active_count_consistency",
            "active_count is the number of operations in provisioning, running or retiring, "
            "and never exceeds a configured max_concurrent",
            state=and_(eq(g("active_count"), card(j, Live(j))),
                       implies(g("has_limit"), le(g("active_count"), g("max_concurrent")))),
        ),
        Invariant(
            "terminal_irreversibility",
            "a terminal operation keeps its status, outcome and sequence number until it is "
            "evicted or collected, and its outcome kind always matches its status",
            state=forall(j, outcome_matches_status),
            step=forall(j, implies(one_of(pre_status, STATUS, TERMINAL), or_(
                and_(eq(status(j), pre_status), eq(read("outcome", j), at_pre(read("outcome", j))),
                     eq(read("seq", j), at_pre(read("seq", j)))),
                eq(status(j), sym(STATUS, "absent"))))),
        ),
        Invariant(
            "barrier_satisfaction",
            "an active barrier always has an unfinished member, every member is still tracked or "
            "finished, a wait_all future is resolved only when every member finished, each request is "
            "satisfied at most once (only a new request arms a barrier), and the set of unfinished "
            "members only shrinks while the barrier waits",
            state=and_(
                implies(g("wait_active"), exists(j, and_(read("member", j), not_(v.Finished(j))))),
                forall(j, implies(and_(g("wait_active"), read("member", j)),
                                  and_(or_(Tracked(j), v.Finished(j)),
                                       implies(Terminal(j), v.Finished(j))))),
                implies(g("wait_active"), not_(waiter_is(*resolved))),
            ),
            step=and_(implies(emitted, forall(j, implies(read("member", j), v.Finished(j)))),
                      implies(and_(g("wait_active"), not_(at_pre(g("wait_active")))),
                              ne(g("wait_requests"), at_pre(g("wait_requests"))))),
            ranking=Ranking(
                active=g("wait_active"),
                same_episode=eq(g("wait_requests"), at_pre(g("wait_requests"))),
                pending=and_(read("member", j), not_(v.Finished(j))),
                var=j,
            ),
        ),
        Invariant(
            "peer_ready_only_for_mob_members",
            "only a MobMemberChild operation is ever peer-ready",
            state=forall(j, implies(read("peer_ready", j), eq(read("kind", j), sym(KIND, "mob_member_child")))),
        ),
        Invariant(
            "completed_order_exact",
            "completed_order holds exactly the retained terminal operations, oldest first by "
            "completion sequence, and never more than max_completed of them",
            state=and_(
                Window(g("order_head"), g("max_completed")),
                forall(j, implies(Terminal(j), and_(lt(g("order_head"), read("seq", j)),
                                                    le(read("seq", j), g("next_seq")),
                                                    eq(read("order", read("seq", j)), j)))),
                in_range(s, g("order_head"), g("next_seq"),
                         and_(Terminal(read("order", s)), eq(read("seq", read("order", s)), s))),
            ),
        ),
        Invariant(
            "sequences_monotone",
            "the completion sequence, the wait request id and every op's progress count never go back",
            state=forall(j, and_(ge(read("progress", j), lit(0)),
                                 implies(not_(Terminal(j)), eq(read("seq", j), lit(0))))),
            step=and_(
                ge(g("next_seq"), at_pre(g("next_seq"))), ge(g("order_head"), at_pre(g("order_head"))),
                ge(g("wait_requests"), at_pre(g("wait_requests"))),
                forall(j, implies(and_(one_of(pre_status, STATUS, LIVE), Tracked(j)),
                                  ge(read("progress", j), at_pre(read("progress", j))))),
            ),
        ),
        Invariant(
            "watchers_empty_on_terminal",
            "only a live operation has pending watchers; a terminal transition resolves them all",
            state=forall(j, implies(not_(Live(j)), eq(read("watchers", j), lit(0)))),
        ),
        Invariant(
            "untracked_ids_hold_no_state",
            "an untracked id carries no kind, peer handoff, progress, outcome, sequence or registration number",
            role="strengthening",  # needed by peer_ready_only_for_mob_members: registration never resets peer_ready
            state=forall(j, implies(eq(status(j), sym(STATUS, "absent")), and_(
                eq(read("kind", j), sym(KIND, "background_tool_op")), not_(read("peer_ready", j)),
                eq(read("progress", j), lit(0)), eq(read("outcome", j), sym(OUTCOME, "none")),
                eq(read("seq", j), lit(0)), eq(read("registered", j), lit(0))))),
        ),
        Invariant(
            "registration_order_exact",
            "every tracked operation has its own registration number, at most the number of "
            "registrations, and that number never changes while it is tracked",
            state=and_(
                le(lit(0), g("registrations")),
                forall(j, implies(Tracked(j), and_(lt(lit(0), read("registered", j)),
                                                   le(read("registered", j), g("registrations"))))),
                forall(j, forall(k, implies(and_(Tracked(j), Tracked(k), ne(j, k)),
                                            ne(read("registered", j), read("registered", k))))),
            ),
            step=and_(ge(g("registrations"), at_pre(g("registrations"))),
                      forall(j, implies(and_(ne(pre_status, sym(STATUS, "absent")), Tracked(j)),
                                        eq(read("registered", j), at_pre(read("registered", j)))))),
        ),
        Invariant(
            "termination_in_registration_order",
            "terminate_owner terminates the live operations in the order they were registered (decision)",
            step=implies(ActionIs("terminate_op"), forall(k, implies(
                and_(one_of(at_pre(status(k)), STATUS, LIVE), ne(k, i)),
                lt(at_pre(read("registered", i)), at_pre(read("registered", k)))))),
        ),
        Invariant(
            "completion_feed_exact",
            "the completion feed holds the newest completions, exactly feed_capacity of them once there "
            "were that many, one per sequence number in order, each with the outcome its op completed "
            "with; an entry never changes",
            state=and_(
                Window(g("feed_head"), g("feed_capacity")),
                or_(and_(eq(g("feed_head"), lit(0)), le(g("next_seq"), g("feed_capacity"))),
                    eq(sub(g("next_seq"), g("feed_head")), g("feed_capacity"))),
                in_range(s, g("feed_head"), g("next_seq"), ne(read("feed_outcome", s), sym(OUTCOME, "none"))),
                forall(j, implies(Terminal(j), eq(read("feed_outcome", read("seq", j)), read("outcome", j)))),
            ),
            step=and_(
                ge(g("feed_head"), at_pre(g("feed_head"))),
                in_range(s, lit(0), at_pre(g("next_seq")), and_(
                    eq(read("feed_outcome", s), at_pre(read("feed_outcome", s))),
                    eq(read("order", s), at_pre(read("order", s))))),
            ),
        ),
        Invariant(
            "waiter_matches_barrier",
            "the caller's future waits exactly while its barrier is armed: no armed barrier without "
            "a future to satisfy, which would refuse every later wait_all (decision)",
            state=eq(waiter_is("waiting"), g("wait_active")),
        ),
        Invariant(
            "wait_never_fails",
            "a wait_all future resolves done, or cancelled when its caller drops it; it never fails (decision)",
            state=not_(waiter_is("failed", "orphaned")),
        ),
        Invariant(
            "retired_ids_stay_retired",
            "an id that was registered and is no longer tracked is never tracked again (decision 2)",
            state=forall(j, implies(Tracked(j), read("used", j))),
            step=forall(j, implies(and_(at_pre(read("used", j)), eq(pre_status, sym(STATUS, "absent"))),
                                   eq(status(j), sym(STATUS, "absent")))),
        ),
        Invariant(
            "provisioning_failure_only_while_provisioning",
            "provisioning_failed only ever fails an operation that was still provisioning (decision 3)",
            step=implies(ActionIs("provisioning_failed"), forall(j, implies(
                and_(eq(status(j), sym(STATUS, "failed")), ne(pre_status, sym(STATUS, "failed"))),
                eq(pre_status, sym(STATUS, "provisioning"))))),
        ),
    )


DECISIONS = (
    Decision(
        "barrier_survives_eviction", "A wait_all barrier holds the outcomes of its finished members",
        seed="`maybe_satisfy_wait` re-reads each member's current status. When a finished member is evicted "
             "(FIFO retention) or collected before the last member finishes, it is no longer terminal, so the "
             "barrier is never satisfied and `wait_all` waits forever.",
        reference="When a member becomes terminal while the barrier waits (or is terminal when the wait "
                  "begins), the barrier records it as finished (`barrier_done`); eviction and "
                  "`collect_completed` cannot undo that, so the wait completes when the last member finishes. "
                  "Retention stays strictly FIFO and bounded by `max_completed`.",
        why="A waiter that can hang forever because of an unrelated completion is a liveness bug; pinning "
            "members in retention instead would let retention grow past `max_completed` without bound.",
        invariants=("barrier_satisfaction",)),
    Decision(
        "ids_never_reused", "An id is registered at most once",
        seed="`register_operation` only refuses an id that is currently tracked: an id that was evicted, "
             "collected or lost in recovery can be registered again.",
        reference="`register_operation` refuses any id that was ever registered, with `AlreadyRegistered` "
                  "(the set of used ids survives eviction, collection and recovery).",
        why="Ids are unique tokens (the seed mints UUIDs). Reuse lets a late call meant for the old operation "
            "act on the new one, and makes a finished operation look as if it restarted.",
        invariants=("retired_ids_stay_retired",)),
    Decision(
        "provisioning_failed_only_while_provisioning", "provisioning_failed only fails an op still provisioning",
        seed="`provisioning_failed` is the same transition as `fail_operation` (allowed from any live status) "
             "and reports `fail_operation` in `InvalidTransition`.",
        reference="`provisioning_failed` is legal only from Provisioning; on a running or retiring op it is "
                  "`InvalidTransition` with action `provisioning_failed`. Failing a running op is "
                  "`fail_operation`'s business.",
        why="The call's name is a claim about the phase; accepting it later hides a caller bug and mislabels "
            "the failure in the outcome history.",
        invariants=("provisioning_failure_only_while_provisioning",)),
    Decision(
        "termination_in_registration_order", "terminate_owner terminates live operations in registration order",
        seed="`owner_termination_targets` walks `operation_ids()`, the keys of the DSL's `op_statuses` map: a "
             "BTreeMap keyed by the JSON-encoded id, so operations are terminated (and get their completion "
             "sequence numbers, feed entries and FIFO retention slots) in sorted id order.",
        reference="`terminate_owner` terminates the live operations oldest registration first, so sequence "
                  "numbers, the feed and eviction follow the order the operations were started in.",
        why="Sorted id order is an artifact of the map the seed's DSL keeps; for minted ids (UUIDs) it is random. "
            "Registration order is the one order a caller can predict, and it makes FIFO retention after a "
            "shutdown keep the operations started last.",
        invariants=("termination_in_registration_order",)),
    Decision(
        "satisfied_wait_resolves_at_once", "A satisfied wait_all resolves when its barrier is satisfied",
        seed="`maybe_satisfy_wait` only sends the token; `WaitAllFuture::poll` reads every member's outcome later "
             "(`collect_wait_outcomes`). If a member was evicted in between (the same `terminate_owner` can "
             "satisfy the barrier and then evict the member), the wait fails with `Internal(\"wait_all completed "
             "without terminal outcome …\")`. A future dropped before that poll counts as cancelled.",
        reference="The future resolves `done` when its barrier is satisfied, with the outcomes the barrier holds "
                  "(decision `barrier_survives_eviction`); a later poll, eviction or drop cannot change that.",
        why="A barrier that was satisfied has done its job; failing it afterwards because of retention, which "
            "the caller does not control, turns a success into an internal error.",
        invariants=("wait_never_fails",)),
    Decision(
        "dropped_waiter_cancels_only_its_own", "Dropping a wait_all future cancels only its own request",
        seed="`cancel_wait_all_internal`'s `_ =>` branch clears `pending_wait` whichever request it belongs to. "
             "When a satisfied but unpolled future is dropped after a newer `wait_all` armed its barrier, the "
             "newer future loses its sender and fails (`channel dropped`) while its barrier stays armed, so every "
             "later `wait_all` is refused with `WaitAlreadyActive` until its members finish.",
        reference="Dropping a future cancels its own request only: a newer future keeps waiting and is satisfied "
                  "as usual. Upstream (meerkat v0.8.26) has since made the same fix.",
        why="One caller's clean-up must not break another caller's wait, and an armed barrier with no future to "
            "satisfy blocks the registry's only barrier slot.",
        invariants=("waiter_matches_barrier", "wait_never_fails")),
)


def _config(max_completed: int, max_concurrent: int | None) -> CheckConfig:
    limit = "no limit" if max_concurrent is None else f"max_concurrent={max_concurrent}"
    values = {**configuration(max_completed, max_concurrent), "feed_capacity": 2}
    return CheckConfig(f"mc{max_completed}" + ("" if max_concurrent is None else f"-limit{max_concurrent}"),
                       f"max_completed={max_completed}, {limit}, feed_capacity=2", tuple(values.items()))


#: Bounded checks run with retention 1 and 2 (eviction happens within a few steps),
#: with and without a concurrency limit of 2, and a feed of 2 entries, smaller than
#: any real registry's, so that the feed overflows within a few steps too.
CHECK_CONFIGS = (_config(1, None), _config(1, 2), _config(2, None), _config(2, 2))


def build(profile: str = "reference") -> Machine:
    v = vocabulary(check_profile(profile, DECISIONS))
    return Machine(
        name="ops_lifecycle",
        doc=__doc__ or "",
        profile=profile,
        sorts=(STATUS, KIND, OUTCOME, WAITER),
        fields=FIELDS,
        init=(),
        assumptions=ASSUMPTIONS,
        actions=actions(v),
        invariants=invariants(v),
        errors=ERRORS,
        phases=("status",),
        decisions=DECISIONS,
        check_configs=CHECK_CONFIGS,
    )

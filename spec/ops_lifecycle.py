"""The ops-lifecycle machine (seed 001: `RuntimeOpsLifecycleRegistry`), as data.

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
guard `first_in_termination_order` picks the next one. `collect_completed`, `wait_request` and `recover` rewrite per-id fields
pointwise.
"""

from __future__ import annotations

from opsref.spec.machine import (
    Action, check_profile, CheckConfig, Decision, Assign, AssignAll, AssignAt, Effect, Guard, Invariant, Machine, Ranking, StateField,
)
from opsref.spec.terms import (
    BOOL, FALSE, ID, ID_SET, INT, TRUE, ActionIs, Contains, Lit, Param, Sort, Term, Var,
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


def tracked(x: Term) -> Term:
    return ne(status(x), sym(STATUS, "absent"))


def live(x: Term) -> Term:
    return one_of(status(x), STATUS, LIVE)


def terminal(x: Term) -> Term:
    return one_of(status(x), STATUS, TERMINAL)


def g(name: str) -> Term:
    return read(name)


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
    StateField("wait_request", INT, lit(0), ghost=True,
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

# --------------------------------------------------------------------------- guards


def operation_tracked() -> Guard:
    return Guard("operation_tracked", tracked(i), "NotFound",
                 "every call on an untracked id is refused before anything else", (("id", i),))


def from_status(label: str, allowed: tuple[str, ...]) -> Guard:
    return Guard(
        "from_status_valid", one_of(status(i), STATUS, allowed), "InvalidTransition",
        f"{label} is legal only from {', '.join(allowed)}",
        (("id", i), ("status", status(i)), ("action", Lit(label, TEXT))),
    )


# --------------------------------------------------------------------------- effects


Adopted = frozenset[str]  # the decisions a profile adopts (spec.machine.check_profile)


def finished(x: Term, adopted: Adopted) -> Term:
    """Whether barrier member `x` has finished, as the satisfaction guard sees it."""
    if "barrier_survives_eviction" not in adopted:
        return terminal(x)  # seed: re-read the member's current status
    return read("barrier_done", x)


def waiter_is(*states: str) -> Term:
    return one_of(g("waiter"), WAITER, states)


def satisfaction_effects(adopted: Adopted) -> tuple[Effect, ...]:
    """seed 001 `maybe_satisfy_wait`: once every member has finished, clear the barrier
    and send the `WaitAllSatisfied` token to the waiting future (the token is the
    future's move out of `waiting`). The seed's future reads the outcomes only when it
    is next polled (`signalled`); the reference resolves it at once (decision)."""
    all_finished = forall(j, implies(read("member", j), finished(j, adopted)))
    satisfies = and_(g("wait_active"), all_finished)
    resolved = "done" if "satisfied_wait_resolves_at_once" in adopted else "signalled"
    return (
        Assign("waiter", ite(and_(satisfies, waiter_is("waiting")), sym(WAITER, resolved), g("waiter"))),
        Assign("wait_active", and_(g("wait_active"), not_(all_finished))),
    )


def removal(key: Term, when: Term) -> tuple[Effect, ...]:
    """Forget one op's state (eviction): every forgotten field back to its default."""
    defaults = {f.name: f.default for f in FIELDS}
    return tuple(AssignAt(name, key, ite(when, defaults[name], read(name, key))) for name in FORGOTTEN_ON_REMOVAL)


def removal_where(condition: Term) -> tuple[Effect, ...]:
    """Forget the state of every op satisfying `condition` (over j)."""
    defaults = {f.name: f.default for f in FIELDS}
    return tuple(AssignAll(name, j, ite(condition, defaults[name], read(name, j))) for name in FORGOTTEN_ON_REMOVAL)


def finalize_terminal(to: str, adopted: Adopted) -> tuple[Effect, ...]:
    """seed 001 `finalize_terminal`: status and outcome, active −1, watchers resolved,
    next completion sequence, one completion feed entry (the oldest dropped beyond
    the feed's capacity), completed_order entry, FIFO eviction of the oldest
    retained op, then the barrier re-check."""
    barrier_capture: tuple[Effect, ...] = ()
    if "barrier_survives_eviction" in adopted:
        barrier_capture = (AssignAt("barrier_done", i, or_(read("barrier_done", i),
                                                            and_(g("wait_active"), read("member", i)))),)
    victim = read("order", add(g("order_head"), lit(1)))
    over_capacity = beyond(g("order_head"), g("max_completed"))
    return (
        AssignAt("status", i, sym(STATUS, to)),
        AssignAt("outcome", i, sym(OUTCOME, to)),
        Assign("active_count", sub(g("active_count"), lit(1))),
        AssignAt("watchers", i, lit(0)),
        Assign("next_seq", add(g("next_seq"), lit(1))),
        AssignAt("seq", i, g("next_seq")),
        AssignAt("order", g("next_seq"), i),
        AssignAt("feed_outcome", g("next_seq"), sym(OUTCOME, to)),
        Assign("feed_head", ite(beyond(g("feed_head"), g("feed_capacity")), add(g("feed_head"), lit(1)),
                                g("feed_head"))),
        *barrier_capture,
        *removal(victim, over_capacity),
        Assign("order_head", ite(over_capacity, add(g("order_head"), lit(1)), g("order_head"))),
        *satisfaction_effects(adopted),
    )


def beyond(head: Term, capacity: Term) -> Term:
    """The completions after `head` (up to next_seq) are more than `capacity`: drop the oldest."""
    return gt(sub(g("next_seq"), head), capacity)


def window(head: Term, capacity: Term) -> Term:
    """`head` trails next_seq by at most `capacity`: the retained completions are a bounded suffix."""
    return and_(le(lit(0), head), le(head, g("next_seq")), le(sub(g("next_seq"), head), capacity))


def terminal_action(name: str, allowed: tuple[str, ...], to: str, adopted: Adopted, doc: str,
                    label: str = "", guards: tuple[Guard, ...] = ()) -> Action:
    return Action(name, (i,), (operation_tracked(), from_status(label or name, allowed), *guards),
                  finalize_terminal(to, adopted), doc, label)


def terminated_before(a: Term, b: Term, adopted: Adopted) -> Term:
    """`terminate_owner` reaches live op `a` before live op `b`: in registration order
    (reference), or in the order of the seed's DSL map keys, the JSON-encoded ids."""
    if "termination_in_registration_order" in adopted:
        return lt(read("registered", a), read("registered", b))
    return key_before(a, b)


#: Calls of the protocol that act on many operations: the call applies the action
#: to every op the predicate (over j) holds for, one step at a time, while any is
#: left; the action's guards must accept exactly one of them at each step (the
#: order is the spec's, never the oracle's).
SWEEPS = {"terminate_owner": ("terminate_op", live(j))}


def status_action(name: str, allowed: tuple[str, ...], effects: tuple[Effect, ...], doc: str) -> Action:
    return Action(name, (i,), (operation_tracked(), from_status(name, allowed)), effects, doc)


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

# --------------------------------------------------------------------------- actions


def actions(adopted: Adopted) -> tuple[Action, ...]:
    kind = Param("kind", KIND)
    ids = Param("ids", ID_SET)
    has_duplicate = Param("has_duplicate", BOOL)
    register_guards = [
        Guard("not_already_registered", eq(status(i), sym(STATUS, "absent")), "AlreadyRegistered",
              "an id is tracked at most once (checked first)", (("id", i),)),
    ]
    if "ids_never_reused" in adopted:
        register_guards.append(Guard(
            "id_never_registered", not_(read("used", i)), "AlreadyRegistered",
            "an evicted or collected id stays retired: ids are never reused (decision 2)", (("id", i),)))
    register_guards.append(Guard(
        "within_concurrency_limit", or_(not_(g("has_limit")), lt(g("active_count"), g("max_concurrent"))),
        "MaxConcurrentExceeded", "a configured limit caps the number of live operations",
        (("limit", g("max_concurrent")), ("active", g("active_count")))))

    if "provisioning_failed_only_while_provisioning" not in adopted:
        provisioning_failed = terminal_action(
            "provisioning_failed", LIVE, "failed", adopted,
            "seed: the same transition as fail_operation, reported as fail_operation (decision 3)",
            label="fail_operation")
    else:
        provisioning_failed = terminal_action(
            "provisioning_failed", ("provisioning",), "failed", adopted,
            "provisioning could not finish; only an op still provisioning can fail this way (decision 3)")

    all_members_terminal = forall(j, implies(Contains(ids, j), terminal(j)))
    # the new future replaces the caller's old one, which is dropped after it; in the
    # seed, dropping an old future that was signalled or orphaned but never polled
    # clears whatever sender is pending, i.e. the new one (decision)
    new_waiter: Term = ite(all_members_terminal, sym(WAITER, "done"), sym(WAITER, "waiting"))
    if "dropped_waiter_cancels_only_its_own" not in adopted:
        new_waiter = ite(and_(not_(all_members_terminal), waiter_is("signalled", "orphaned")),
                         sym(WAITER, "orphaned"), new_waiter)
    wait_effects: list[Effect] = [
        Assign("wait_request", add(g("wait_request"), lit(1))),
        Assign("wait_active", not_(all_members_terminal)),
        AssignAll("member", j, Contains(ids, j)),
        Assign("waiter", new_waiter),
    ]
    if "barrier_survives_eviction" in adopted:
        wait_effects.append(AssignAll("barrier_done", j, and_(Contains(ids, j), terminal(j))))
    # seed `WaitAllFuture::poll`: a signalled future reads every member's outcome and
    # fails with Internal when one is gone; an orphaned one fails (channel dropped)
    poll_outcome: Term = ite(forall(j, implies(read("member", j), terminal(j))), sym(WAITER, "done"),
                             sym(WAITER, "failed"))
    poll = Assign("waiter", ite(waiter_is("signalled"), poll_outcome,
                                ite(waiter_is("orphaned"), sym(WAITER, "failed"), g("waiter"))))

    return (
        Action("register_operation", (i, kind), tuple(register_guards), (
            AssignAt("status", i, sym(STATUS, "provisioning")),
            AssignAt("kind", i, kind),
            AssignAt("used", i, TRUE),
            Assign("registrations", add(g("registrations"), lit(1))),
            AssignAt("registered", i, g("registrations")),
            Assign("active_count", add(g("active_count"), lit(1))),
        ), "admit a new operation in Provisioning; it counts as active"),
        status_action("provisioning_succeeded", ALLOWED_FROM["provisioning_succeeded"],
                      (AssignAt("status", i, sym(STATUS, "running")),), "the operation started running"),
        provisioning_failed,
        terminal_action("fail_operation", LIVE, "failed", adopted, "the operation failed"),
        terminal_action("abort_provisioning", ALLOWED_FROM["abort_provisioning"], "aborted", adopted,
                        "provisioning was abandoned before the operation ran"),
        terminal_action("cancel_operation", LIVE, "cancelled", adopted, "the operation was cancelled"),
        status_action("request_retire", ALLOWED_FROM["request_retire"],
                      (AssignAt("status", i, sym(STATUS, "retiring")),), "ask a running operation to wind down"),
        terminal_action("mark_retired", ALLOWED_FROM["mark_retired"], "retired", adopted, "the operation retired"),
        terminal_action("complete_operation", ALLOWED_FROM["complete_operation"], "completed", adopted,
                        "the operation finished with a result"),
        status_action("report_progress", ALLOWED_FROM["report_progress"],
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
            AssignAt("watchers", i, ite(terminal(i), read("watchers", i), add(read("watchers", i), lit(1)))),
        ), "watch for the terminal outcome; on a terminal op the watch is already resolved"),
        terminal_action("terminate_op", LIVE, "terminated", adopted,
                        "one step of terminate_owner: terminate the live operation it reaches first",
                        label="terminate_owner", guards=(Guard(
                            "first_in_termination_order",
                            forall(k, implies(and_(live(k), ne(k, i)), terminated_before(i, k, adopted))),
                            "InvalidTransition", "terminate_owner reaches the live operations one at a time, "
                            "in its order (decision)",
                            (("id", i), ("status", status(i)), ("action", Lit("terminate_owner", TEXT)))),)),
        Action("collect_completed", (), (), (
            *removal_where(terminal(j)),
            Assign("order_head", g("next_seq")),
        ), "drain every retained terminal operation, in completion order"),
        Action("wait_request", (ids, has_duplicate), (
            Guard("members_distinct", not_(has_duplicate), "DuplicateWaitOperation",
                  "a barrier names each operation once", ()),
            Guard("no_wait_active", not_(g("wait_active")), "WaitAlreadyActive",
                  "one wait_all barrier at a time", ()),
            Guard("members_tracked", forall(j, implies(Contains(ids, j), tracked(j))), "NotFound",
                  "every member must be tracked when the wait begins", ()),
        ), tuple(wait_effects), "wait_all: resolve at once if every member is terminal, else arm the barrier"),
        Action("wait_poll", (), (), (poll,) if "satisfied_wait_resolves_at_once" not in adopted else (),
               "poll the caller's wait_all future once"
               + ("" if "satisfied_wait_resolves_at_once" not in adopted else
                  " (it resolved when its barrier was satisfied: polling changes nothing)")),
        Action("wait_cancel", (), (), (
            # dropping a future that still waits on its barrier (or, in the seed, an orphaned
            # one whose barrier is still armed) clears the barrier without a token
            Assign("wait_active", and_(g("wait_active"), not_(waiter_is("waiting", "orphaned")))),
            Assign("waiter", ite(waiter_is("waiting", "signalled", "orphaned"), sym(WAITER, "cancelled"),
                                 g("waiter"))),
        ), "the caller drops its wait_all future without polling it"),
        Action("recover", (), (), (
            *removal_where(live(j)),
            AssignAll("watchers", j, lit(0)),
            Assign("active_count", lit(0)),
            Assign("wait_active", FALSE),
            Assign("waiter", sym(WAITER, "none")),
        ), "restart from a persisted snapshot: only terminal operations survive, no future does"),
    )


# --------------------------------------------------------------------------- invariants


def invariants(adopted: Adopted) -> tuple[Invariant, ...]:
    outcome_matches_status = and_(*(
        implies(eq(status(j), sym(STATUS, st)),
                eq(read("outcome", j), sym(OUTCOME, st if st in TERMINAL else "none")))
        for st in STATUS.members
    ))
    pre_status = at_pre(status(j))
    # the step delivers the WaitAllSatisfied token: the caller's future leaves `waiting`
    # resolved, or a new request resolves at once
    resolved = ("done", "signalled")
    emitted = and_(waiter_is(*resolved), or_(ne(g("wait_request"), at_pre(g("wait_request"))),
                                             not_(at_pre(waiter_is(*resolved)))))
    return (
        Invariant(
            "active_count_consistency",
            "active_count is the number of operations in provisioning, running or retiring, "
            "and never exceeds a configured max_concurrent",
            state=and_(eq(g("active_count"), card(j, live(j))),
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
                implies(g("wait_active"), exists(j, and_(read("member", j), not_(finished(j, adopted))))),
                forall(j, implies(and_(g("wait_active"), read("member", j)),
                                  and_(or_(tracked(j), finished(j, adopted)),
                                       implies(terminal(j), finished(j, adopted))))),
                implies(g("wait_active"), not_(waiter_is(*resolved))),
            ),
            step=and_(implies(emitted, forall(j, implies(read("member", j), finished(j, adopted)))),
                      implies(and_(g("wait_active"), not_(at_pre(g("wait_active")))),
                              ne(g("wait_request"), at_pre(g("wait_request"))))),
            ranking=Ranking(
                active=g("wait_active"),
                same_episode=eq(g("wait_request"), at_pre(g("wait_request"))),
                pending=and_(read("member", j), not_(finished(j, adopted))),
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
                window(g("order_head"), g("max_completed")),
                forall(j, implies(terminal(j), and_(lt(g("order_head"), read("seq", j)),
                                                    le(read("seq", j), g("next_seq")),
                                                    eq(read("order", read("seq", j)), j)))),
                in_range(s, g("order_head"), g("next_seq"),
                         and_(terminal(read("order", s)), eq(read("seq", read("order", s)), s))),
            ),
        ),
        Invariant(
            "sequences_monotone",
            "the completion sequence, the wait request id and every op's progress count never go back",
            state=forall(j, and_(ge(read("progress", j), lit(0)),
                                 implies(not_(terminal(j)), eq(read("seq", j), lit(0))))),
            step=and_(
                ge(g("next_seq"), at_pre(g("next_seq"))), ge(g("order_head"), at_pre(g("order_head"))),
                ge(g("wait_request"), at_pre(g("wait_request"))),
                forall(j, implies(and_(one_of(pre_status, STATUS, LIVE), tracked(j)),
                                  ge(read("progress", j), at_pre(read("progress", j))))),
            ),
        ),
        Invariant(
            "watchers_empty_on_terminal",
            "only a live operation has pending watchers; a terminal transition resolves them all",
            state=forall(j, implies(not_(live(j)), eq(read("watchers", j), lit(0)))),
        ),
        Invariant(
            "untracked_ids_hold_no_state",
            "an untracked id carries no kind, peer handoff, progress, outcome, sequence or registration number",
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
                forall(j, implies(tracked(j), and_(lt(lit(0), read("registered", j)),
                                                   le(read("registered", j), g("registrations"))))),
                forall(j, forall(k, implies(and_(tracked(j), tracked(k), ne(j, k)),
                                            ne(read("registered", j), read("registered", k))))),
            ),
            step=and_(ge(g("registrations"), at_pre(g("registrations"))),
                      forall(j, implies(and_(ne(pre_status, sym(STATUS, "absent")), tracked(j)),
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
                window(g("feed_head"), g("feed_capacity")),
                or_(and_(eq(g("feed_head"), lit(0)), le(g("next_seq"), g("feed_capacity"))),
                    eq(sub(g("next_seq"), g("feed_head")), g("feed_capacity"))),
                in_range(s, g("feed_head"), g("next_seq"), ne(read("feed_outcome", s), sym(OUTCOME, "none"))),
                forall(j, implies(terminal(j), eq(read("feed_outcome", read("seq", j)), read("outcome", j)))),
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
            state=forall(j, implies(tracked(j), read("used", j))),
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
    adopted = check_profile(profile, DECISIONS)
    return Machine(
        name="ops_lifecycle",
        doc=__doc__ or "",
        profile=profile,
        sorts=(STATUS, KIND, OUTCOME, WAITER),
        fields=FIELDS,
        init=(),
        assumptions=ASSUMPTIONS,
        actions=actions(adopted),
        invariants=invariants(adopted),
        errors=ERRORS,
        phases=("status",),
        decisions=DECISIONS,
        check_configs=CHECK_CONFIGS,
    )

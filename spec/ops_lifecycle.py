"""The ops-lifecycle machine (seed 001: `RuntimeOpsLifecycleRegistry`), as data.

Two profiles share this one definition and differ only in the three decisions
DESIGN lists; every difference is chosen by `build(profile)` below and nowhere else.

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

Calls that act on many operations are decomposed into single-operation steps, as
DESIGN's table says for `terminate_owner` ("one transition per op"):
`terminate_owner` is `terminate_op` applied to every live op in registration
order. `collect_completed`, `wait_request` and `recover` rewrite per-id fields
pointwise.
"""

from __future__ import annotations

from spec.machine import (
    Action, check_profile, CheckConfig, Decision, Assign, AssignAll, AssignAt, Effect, Guard, Invariant, Machine, Ranking, StateField,
)
from spec.terms import (
    BOOL, FALSE, ID, ID_SET, INT, TRUE, ActionIs, Contains, Lit, Param, Sort, Term, Var,
    add, and_, at_pre, card, enum, eq, exists, forall, ge, gt, implies, in_range, ite, le,
    lit, lt, ne, not_, one_of, or_, read, sub, sym,
)


STATUS = enum(
    "status", "absent", "provisioning", "running", "retiring", "completed", "failed",
    "aborted", "cancelled", "retired", "terminated",
)
KIND = enum("kind", "mob_member_child", "background_tool_op")
OUTCOME = enum("outcome", "none", "completed", "failed", "aborted", "cancelled", "retired", "terminated")
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
    StateField("order", ID, NO_OP, INT, doc="completed_order, indexed by completion sequence"),
    StateField("active_count", INT, lit(0), doc="number of live operations"),
    StateField("next_seq", INT, lit(0), doc="last completion sequence number issued"),
    StateField("order_head", INT, lit(0), doc="sequence number of the last op dropped from completed_order"),
    StateField("wait_active", BOOL, FALSE, doc="a wait_all barrier is waiting"),
    StateField("wait_request", INT, lit(0), doc="number of wait_all requests accepted (the current request id)"),
    StateField("wait_tokens", INT, lit(0), doc="WaitAllSatisfied tokens emitted for the current request"),
    StateField("max_completed", INT, lit(256), rigid=True, doc="retained terminal operations (FIFO)"),
    StateField("has_limit", BOOL, FALSE, rigid=True, doc="a concurrency limit is configured"),
    StateField("max_concurrent", INT, lit(0), rigid=True, doc="the concurrency limit, when configured"),
)

#: Per-id fields that eviction, collection and recovery reset; status goes last
#: because the pointwise conditions read it.
FORGOTTEN_ON_REMOVAL = ("kind", "peer_ready", "progress", "outcome", "seq", "watchers", "status")

ASSUMPTIONS = (ge(g("max_completed"), lit(0)), ge(g("max_concurrent"), lit(0)))

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


def finished(x: Term, profile: str) -> Term:
    """Whether barrier member `x` has finished, as the satisfaction guard sees it."""
    if profile == "seed":
        return terminal(x)  # seed: re-read the member's current status
    return read("barrier_done", x)


def satisfaction_effects(profile: str) -> tuple[Effect, ...]:
    """seed 001 `maybe_satisfy_wait`: emit the token once every member has finished."""
    all_finished = forall(j, implies(read("member", j), finished(j, profile)))
    satisfies = and_(g("wait_active"), all_finished)
    return (
        Assign("wait_tokens", ite(satisfies, add(g("wait_tokens"), lit(1)), g("wait_tokens"))),
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


def finalize_terminal(to: str, profile: str) -> tuple[Effect, ...]:
    """seed 001 `finalize_terminal`: status and outcome, active −1, watchers resolved,
    next completion sequence and completed_order entry, FIFO eviction of the
    oldest retained op, then the barrier re-check."""
    barrier_capture: tuple[Effect, ...] = ()
    if profile == "reference":
        barrier_capture = (AssignAt("barrier_done", i, or_(read("barrier_done", i),
                                                            and_(g("wait_active"), read("member", i)))),)
    victim = read("order", add(g("order_head"), lit(1)))
    over_capacity = gt(sub(g("next_seq"), g("order_head")), g("max_completed"))
    return (
        AssignAt("status", i, sym(STATUS, to)),
        AssignAt("outcome", i, sym(OUTCOME, to)),
        Assign("active_count", sub(g("active_count"), lit(1))),
        AssignAt("watchers", i, lit(0)),
        Assign("next_seq", add(g("next_seq"), lit(1))),
        AssignAt("seq", i, g("next_seq")),
        AssignAt("order", g("next_seq"), i),
        *barrier_capture,
        *removal(victim, over_capacity),
        Assign("order_head", ite(over_capacity, add(g("order_head"), lit(1)), g("order_head"))),
        *satisfaction_effects(profile),
    )


def terminal_action(name: str, allowed: tuple[str, ...], to: str, profile: str, doc: str,
                    label: str = "") -> Action:
    return Action(name, (i,), (operation_tracked(), from_status(label or name, allowed)),
                  finalize_terminal(to, profile), doc, label)


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


def actions(profile: str) -> tuple[Action, ...]:
    k = Param("kind", KIND)
    ids = Param("ids", ID_SET)
    has_duplicate = Param("has_duplicate", BOOL)
    register_guards = [
        Guard("not_already_registered", eq(status(i), sym(STATUS, "absent")), "AlreadyRegistered",
              "an id is tracked at most once (checked first)", (("id", i),)),
    ]
    if profile == "reference":
        register_guards.append(Guard(
            "id_never_registered", not_(read("used", i)), "AlreadyRegistered",
            "an evicted or collected id stays retired: ids are never reused (decision 2)", (("id", i),)))
    register_guards.append(Guard(
        "within_concurrency_limit", or_(not_(g("has_limit")), lt(g("active_count"), g("max_concurrent"))),
        "MaxConcurrentExceeded", "a configured limit caps the number of live operations",
        (("limit", g("max_concurrent")), ("active", g("active_count")))))

    if profile == "seed":
        provisioning_failed = terminal_action(
            "provisioning_failed", LIVE, "failed", profile,
            "seed: the same transition as fail_operation, reported as fail_operation (decision 3)",
            label="fail_operation")
    else:
        provisioning_failed = terminal_action(
            "provisioning_failed", ("provisioning",), "failed", profile,
            "provisioning could not finish; only an op still provisioning can fail this way (decision 3)")

    all_members_terminal = forall(j, implies(Contains(ids, j), terminal(j)))
    wait_effects: list[Effect] = [
        Assign("wait_request", add(g("wait_request"), lit(1))),
        Assign("wait_tokens", ite(all_members_terminal, lit(1), lit(0))),
        Assign("wait_active", not_(all_members_terminal)),
        AssignAll("member", j, Contains(ids, j)),
    ]
    if profile == "reference":
        wait_effects.append(AssignAll("barrier_done", j, and_(Contains(ids, j), terminal(j))))

    return (
        Action("register_operation", (i, k), tuple(register_guards), (
            AssignAt("status", i, sym(STATUS, "provisioning")),
            AssignAt("kind", i, k),
            AssignAt("used", i, TRUE),
            Assign("active_count", add(g("active_count"), lit(1))),
        ), "admit a new operation in Provisioning; it counts as active"),
        status_action("provisioning_succeeded", ALLOWED_FROM["provisioning_succeeded"],
                      (AssignAt("status", i, sym(STATUS, "running")),), "the operation started running"),
        provisioning_failed,
        terminal_action("fail_operation", LIVE, "failed", profile, "the operation failed"),
        terminal_action("abort_provisioning", ALLOWED_FROM["abort_provisioning"], "aborted", profile,
                        "provisioning was abandoned before the operation ran"),
        terminal_action("cancel_operation", LIVE, "cancelled", profile, "the operation was cancelled"),
        status_action("request_retire", ALLOWED_FROM["request_retire"],
                      (AssignAt("status", i, sym(STATUS, "retiring")),), "ask a running operation to wind down"),
        terminal_action("mark_retired", ALLOWED_FROM["mark_retired"], "retired", profile, "the operation retired"),
        terminal_action("complete_operation", ALLOWED_FROM["complete_operation"], "completed", profile,
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
        terminal_action("terminate_op", LIVE, "terminated", profile,
                        "one step of terminate_owner: terminate one live operation", label="terminate_owner"),
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
        Action("wait_cancel", (), (), (Assign("wait_active", FALSE),),
               "the waiter went away: clear the barrier without a token"),
        Action("recover", (), (), (
            *removal_where(live(j)),
            AssignAll("watchers", j, lit(0)),
            Assign("active_count", lit(0)),
            Assign("wait_active", FALSE),
        ), "restart from a persisted snapshot: only terminal operations survive"),
    )


# --------------------------------------------------------------------------- invariants


def invariants(profile: str) -> tuple[Invariant, ...]:
    outcome_matches_status = and_(*(
        implies(eq(status(j), sym(STATUS, st)),
                eq(read("outcome", j), sym(OUTCOME, st if st in TERMINAL else "none")))
        for st in STATUS.members
    ))
    pre_status = at_pre(status(j))
    emitted = or_(
        and_(ne(g("wait_request"), at_pre(g("wait_request"))), eq(g("wait_tokens"), lit(1))),
        and_(eq(g("wait_request"), at_pre(g("wait_request"))), gt(g("wait_tokens"), at_pre(g("wait_tokens")))),
    )
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
            "finished, the token is emitted only when every member finished and at most once per "
            "request, and the set of unfinished members only shrinks while the barrier waits",
            state=and_(
                implies(g("wait_active"), exists(j, and_(read("member", j), not_(finished(j, profile))))),
                forall(j, implies(and_(g("wait_active"), read("member", j)),
                                  and_(or_(tracked(j), finished(j, profile)),
                                       implies(terminal(j), finished(j, profile))))),
                le(lit(0), g("wait_tokens")), le(g("wait_tokens"), lit(1)),
                implies(g("wait_active"), eq(g("wait_tokens"), lit(0))),
            ),
            step=implies(emitted, forall(j, implies(read("member", j), finished(j, profile)))),
            ranking=Ranking(
                active=g("wait_active"),
                same_episode=eq(g("wait_request"), at_pre(g("wait_request"))),
                pending=and_(read("member", j), not_(finished(j, profile))),
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
                le(lit(0), g("order_head")), le(g("order_head"), g("next_seq")),
                le(sub(g("next_seq"), g("order_head")), g("max_completed")),
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
            "an untracked id carries no kind, peer handoff, progress, outcome or sequence number",
            state=forall(j, implies(eq(status(j), sym(STATUS, "absent")), and_(
                eq(read("kind", j), sym(KIND, "background_tool_op")), not_(read("peer_ready", j)),
                eq(read("progress", j), lit(0)), eq(read("outcome", j), sym(OUTCOME, "none")),
                eq(read("seq", j), lit(0))))),
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
)


def _config(max_completed: int, max_concurrent: int | None) -> CheckConfig:
    limit = "no limit" if max_concurrent is None else f"max_concurrent={max_concurrent}"
    return CheckConfig(f"mc{max_completed}" + ("" if max_concurrent is None else f"-limit{max_concurrent}"),
                       f"max_completed={max_completed}, {limit}",
                       (("max_completed", max_completed), ("has_limit", max_concurrent is not None),
                        ("max_concurrent", max_concurrent or 0)))


#: Bounded checks run with retention 1 and 2 (eviction happens within a few steps),
#: with and without a concurrency limit of 2.
CHECK_CONFIGS = (_config(1, None), _config(1, 2), _config(2, None), _config(2, 2))


def build(profile: str = "reference") -> Machine:
    check_profile(profile)
    return Machine(
        name="ops_lifecycle",
        doc=__doc__ or "",
        profile=profile,
        sorts=(STATUS, KIND, OUTCOME),
        fields=FIELDS,
        init=(),
        assumptions=ASSUMPTIONS,
        actions=actions(profile),
        invariants=invariants(profile),
        errors=ERRORS,
        phases=("status",),
        decisions=DECISIONS,
        check_configs=CHECK_CONFIGS,
    )

"""The comms drain and peer-ingress ownership of each session (seed 004), as data.

Per session: whether it is registered (or torn down), its runtime state (only
`destroyed` matters here), the drain's phase and mode, and who owns its peer
ingress — a tagged union `unattached | session_owned(runtime) | mob_owned(runtime,
mob)`, stored as a kind plus two integer ids (0 for none). Commands are the seed's
`SetPeerIngressContext`, `NotifyDrainExited`, `Abort`, `AbortAll` and `Wait`, plus
the environment's registration, teardown and destruction of a session.

Where seed 004 leaves a rule to its DSL (not part of the seed), the reference
chooses, and says so in the guard or effect's reason:

* a session attach may replace a session owner and a mob attach may replace any
  owner; only a session attach over a mob-owned ingress is refused (a downgrade);
* `SetPeerIngressContext` with a runtime spawns the drain when it is not running
  (mode `persistent_host` with keep-alive, `attached_session` without); without a
  runtime and without keep-alive it detaches and stops a running drain;
* `NotifyDrainExited` on a registered session whose drain is not running changes
  nothing (the report is observation-shaped, like the post-teardown one).
"""

from __future__ import annotations

from spec.machine import (
    Action, AssignAll, AssignAt, Choice, Effect, Guard, Invariant, Machine, StateField, check_profile,
)
from spec.terms import (
    BOOL, ID, INT, ActionIs, Lit, Param, Term, Var, and_, at_pre, enum, eq, forall, implies, ite, lit,
    ne, not_, or_, read, sym, TRUE,
)

SESSION = enum("session", "absent", "registered", "torn_down")
RUNTIME = enum("runtime_state", "initializing", "idle", "attached", "running", "retired", "stopped", "destroyed")
PHASE = enum("drain_phase", "inactive", "running", "stopped", "exited_respawnable")
MODE = enum("drain_mode", "timed", "attached_session", "persistent_host")
OWNER = enum("owner", "unattached", "session_owned", "mob_owned")
REASON = enum("exit_reason", "idle_timeout", "dismissed", "failed", "aborted", "session_shutdown")

ERRORS = ("AlreadyRegistered", "NotReady", "Destroyed", "ValidationFailed")

i = Param("id", ID)
j = Var("j")
keep_alive = Param("keep_alive", BOOL)
runtime_id = Param("comms_runtime", INT)   # 0: no comms runtime given
mob_id = Param("mob", INT)                 # 0: no mob id given
reason = Param("reason", REASON)

#: the per-session drain fields a destroyed or torn-down session must never see change
DRAIN_FIELDS = ("phase", "mode", "owner", "owner_runtime", "owner_mob")

FIELDS = (
    StateField("session", SESSION, sym(SESSION, "absent"), ID, doc="registered in the sessions map, or torn down"),
    StateField("runtime", RUNTIME, sym(RUNTIME, "initializing"), ID, doc="the session's runtime state"),
    StateField("phase", PHASE, sym(PHASE, "inactive"), ID, doc="the drain's phase"),
    StateField("mode", MODE, sym(MODE, "timed"), ID, doc="how the drain was spawned"),
    StateField("owner", OWNER, sym(OWNER, "unattached"), ID, doc="who owns the peer ingress (the union's tag)"),
    StateField("owner_runtime", INT, lit(0), ID, doc="the owner's comms runtime id; 0 when unattached"),
    StateField("owner_mob", INT, lit(0), ID, doc="the owning mob's id; 0 unless mob-owned"),
)


def field(name: str, key: Term = i) -> Term:
    return read(name, key)


def registered(x: Term) -> Term:
    return eq(field("session", x), sym(SESSION, "registered"))


def destroyed(x: Term) -> Term:
    return eq(field("runtime", x), sym(RUNTIME, "destroyed"))


def running(x: Term) -> Term:
    return eq(field("phase", x), sym(PHASE, "running"))


def session_registered() -> Guard:
    return Guard("session_registered", registered(i), "NotReady",
                 "every command but a drain-exit report needs a registered session (seed: NotReady{Destroyed})",
                 (("state", Lit("destroyed", RUNTIME)),))


def not_destroyed() -> Guard:
    return Guard("session_not_destroyed", not_(destroyed(i)), "Destroyed",
                 "no drain mutation on a destroyed session (DrainBindingInvariant)")


def exit_phase(why: Term) -> Term:
    """A running drain that exits: a persistent host that failed may be respawned, anything else stops."""
    respawn = and_(eq(field("mode"), sym(MODE, "persistent_host")), eq(why, sym(REASON, "failed")))
    return ite(respawn, sym(PHASE, "exited_respawnable"), sym(PHASE, "stopped"))


def actions() -> tuple[Action, ...]:
    attach = ne(runtime_id, lit(0))
    as_mob = and_(attach, ne(mob_id, lit(0)))
    detach = and_(not_(attach), not_(keep_alive))
    new_owner = ite(attach, ite(as_mob, sym(OWNER, "mob_owned"), sym(OWNER, "session_owned")),
                    ite(detach, sym(OWNER, "unattached"), field("owner")))
    spawn = and_(attach, not_(running(i)))
    ingress: tuple[Effect, ...] = (
        AssignAt("owner_runtime", i, ite(attach, runtime_id, ite(detach, lit(0), field("owner_runtime")))),
        AssignAt("owner_mob", i, ite(as_mob, mob_id, ite(or_(attach, detach), lit(0), field("owner_mob")))),
        AssignAt("owner", i, new_owner),
        AssignAt("mode", i, ite(spawn, ite(keep_alive, sym(MODE, "persistent_host"), sym(MODE, "attached_session")),
                                field("mode"))),
        AssignAt("phase", i, ite(spawn, sym(PHASE, "running"),
                                 ite(and_(detach, running(i)), sym(PHASE, "stopped"), field("phase")))),
    )
    stop_if_running = ite(and_(running(i), not_(destroyed(i))), sym(PHASE, "stopped"), field("phase"))
    return (
        Action("register_session", (i,), (
            Guard("session_new", eq(field("session"), sym(SESSION, "absent")), "AlreadyRegistered",
                  "a session id is registered once"),
        ), (AssignAt("session", i, sym(SESSION, "registered")), AssignAt("runtime", i, sym(RUNTIME, "idle"))),
            "the runtime registers a session (environment)"),
        Action("destroy_runtime", (i,), (session_registered(),),
               (AssignAt("runtime", i, sym(RUNTIME, "destroyed")),),
               "the session's runtime reaches Destroyed (environment; terminal)"),
        Action("unregister_session", (i,), (session_registered(),), (
            AssignAt("session", i, sym(SESSION, "torn_down")),
            AssignAt("runtime", i, sym(RUNTIME, "initializing")),
            *(AssignAt(name, i, next(f.default for f in FIELDS if f.name == name)) for name in DRAIN_FIELDS),
        ), "teardown: the unregister path aborts the drain task and removes the session's entry"),
        Action("set_peer_ingress_context", (i, keep_alive, runtime_id, mob_id), (
            session_registered(), not_destroyed(),
            Guard("no_downgrade", not_(and_(attach, not_(as_mob), eq(field("owner"), sym(OWNER, "mob_owned")))),
                  "ValidationFailed", "a session attach never downgrades a mob-owned ingress"),
        ), ingress,
            "attach the session or a mob as ingress owner (with a runtime), or detach (neither runtime nor "
            "keep-alive); spawn the drain when attaching and it is not running, stop it on detach"),
        Action("stop_drain", (i,), (session_registered(), not_destroyed(), Guard(
            "drain_running", running(i), "ValidationFailed", "only a running drain can be stopped (StopDrain)")),
            (AssignAt("phase", i, sym(PHASE, "stopped")),), "the DSL's StopDrain on one session"),
        Action("notify_drain_exited", (i, reason), (Guard(
            "not_destroyed_if_registered", or_(not_(registered(i)), not_(destroyed(i))), "Destroyed",
            "a drain-exit report on a destroyed session is refused as Destroyed; after teardown it is a "
            "benign no-op"),), (
            AssignAt("phase", i, ite(and_(registered(i), running(i)), exit_phase(reason), field("phase"))),
        ), "the drain task reports that it exited"),
        Action("abort", (i,), (session_registered(),), (AssignAt("phase", i, stop_if_running),),
               "stop the session's drain if it runs (a destroyed session's StopDrain is refused: nothing changes)"),
        Action("abort_all", (), (), (
            AssignAll("phase", j, ite(and_(registered(j), running(j), not_(destroyed(j))),
                                      sym(PHASE, "stopped"), read("phase", j))),
        ), "stop every running drain"),
        Action("wait", (i,), (session_registered(),), (
            AssignAt("phase", i, ite(and_(running(i), not_(destroyed(i))), exit_phase(sym(REASON, "failed")),
                                     field("phase"))),
        ), "await the drain task; a task that ended without reporting is taken as Failed (safety net)"),
    )


def requested_is_current() -> Term:
    """The SetPeerIngressContext call names exactly the owner the session already has."""
    as_mob = ne(mob_id, lit(0))
    kind = ite(as_mob, sym(OWNER, "mob_owned"), sym(OWNER, "session_owned"))
    return and_(ne(runtime_id, lit(0)), eq(at_pre(read("owner", i)), kind),
                eq(at_pre(read("owner_runtime", i)), runtime_id),
                eq(at_pre(read("owner_mob", i)), ite(as_mob, mob_id, lit(0))))


def was_running(x: Term) -> Term:
    return eq(at_pre(read("phase", x)), sym(PHASE, "running"))


def exit_phase_pre(failed: Term) -> Term:
    respawn = and_(eq(at_pre(read("mode", i)), sym(MODE, "persistent_host")), failed)
    return ite(respawn, sym(PHASE, "exited_respawnable"), sym(PHASE, "stopped"))


def unchanged(names: tuple[str, ...], x: Term) -> Term:
    return and_(*(eq(read(n, x), at_pre(read(n, x))) for n in names))


def invariants() -> tuple[Invariant, ...]:
    owner = read("owner", j)
    rt, mob = read("owner_runtime", j), read("owner_mob", j)
    return (
        Invariant(
            "ingress_owner_well_formed",
            "the ingress owner is a well-formed tagged union: unattached carries no ids, session_owned "
            "exactly a comms runtime id, mob_owned a comms runtime id and a mob id",
            state=forall(j, and_(
                implies(eq(owner, sym(OWNER, "unattached")), and_(eq(rt, lit(0)), eq(mob, lit(0)))),
                implies(eq(owner, sym(OWNER, "session_owned")), and_(ne(rt, lit(0)), eq(mob, lit(0)))),
                implies(eq(owner, sym(OWNER, "mob_owned")), and_(ne(rt, lit(0)), ne(mob, lit(0)))))),
        ),
        Invariant(
            "no_session_downgrade",
            "a mob-owned ingress never becomes session-owned in one step",
            step=forall(j, implies(eq(at_pre(owner), sym(OWNER, "mob_owned")),
                                   ne(owner, sym(OWNER, "session_owned")))),
        ),
        Invariant(
            "same_owner_reattach_is_a_no_op",
            "re-attaching exactly the owner already in place leaves the ownership exactly as it was, and "
            "with the drain running changes nothing of that session at all",
            step=implies(and_(ActionIs("set_peer_ingress_context"), requested_is_current()), and_(
                unchanged(("owner", "owner_runtime", "owner_mob"), i),
                implies(eq(at_pre(read("phase", i)), sym(PHASE, "running")), unchanged(DRAIN_FIELDS, i)))),
        ),
        Invariant(
            "attach_runs_the_drain_detach_stops_it",
            "after an attach the session's drain runs (a drain it spawns is a persistent host exactly with "
            "keep-alive); after a detach its ingress is unattached and its drain is not running",
            step=and_(
                implies(and_(ActionIs("set_peer_ingress_context"), ne(runtime_id, lit(0))),
                        eq(read("phase", i), sym(PHASE, "running"))),
                implies(and_(ActionIs("set_peer_ingress_context"), ne(runtime_id, lit(0)), not_(was_running(i))),
                        eq(read("mode", i), ite(keep_alive, sym(MODE, "persistent_host"),
                                                sym(MODE, "attached_session")))),
                implies(and_(ActionIs("set_peer_ingress_context"), eq(runtime_id, lit(0)), not_(keep_alive)),
                        and_(eq(read("owner", i), sym(OWNER, "unattached")),
                             ne(read("phase", i), sym(PHASE, "running"))))),
        ),
        Invariant(
            "stop_commands_stop_running_drains",
            "StopDrain, Abort and AbortAll leave every running drain they reach (of a live, not destroyed "
            "session) stopped, and touch no drain that was not running",
            step=and_(
                implies(ActionIs("stop_drain"), eq(read("phase", i), sym(PHASE, "stopped"))),
                implies(ActionIs("abort"), eq(read("phase", i), ite(
                    and_(was_running(i), not_(at_pre(destroyed(i)))), sym(PHASE, "stopped"),
                    at_pre(read("phase", i))))),
                implies(ActionIs("abort_all"), forall(j, eq(read("phase", j), ite(
                    and_(at_pre(registered(j)), was_running(j), not_(at_pre(destroyed(j)))),
                    sym(PHASE, "stopped"), at_pre(read("phase", j))))))),
        ),
        Invariant(
            "drain_exit_outcome",
            "a running drain that exits (reported, or found silent by Wait) is left respawnable exactly when "
            "it is a persistent host that failed, and stopped otherwise",
            step=and_(
                implies(and_(ActionIs("notify_drain_exited"), at_pre(registered(i)), was_running(i)),
                        eq(read("phase", i), exit_phase_pre(eq(reason, sym(REASON, "failed"))))),
                implies(and_(ActionIs("wait"), was_running(i), not_(at_pre(destroyed(i)))),
                        eq(read("phase", i), exit_phase_pre(TRUE)))),
        ),
        Invariant(
            "environment_changes_take_effect",
            "a registered session is registered and idle; a destroyed runtime is destroyed; a torn-down "
            "session is torn down",
            step=and_(
                implies(ActionIs("register_session"), and_(registered(i), eq(read("runtime", i), sym(RUNTIME, "idle")))),
                implies(ActionIs("destroy_runtime"), destroyed(i)),
                implies(ActionIs("unregister_session"), eq(read("session", i), sym(SESSION, "torn_down")))),
        ),
        Invariant(
            "destroyed_sessions_are_frozen",
            "nothing mutates a destroyed session's drain or ownership, and Destroyed is terminal while "
            "the session is registered",
            step=forall(j, implies(and_(eq(at_pre(read("runtime", j)), sym(RUNTIME, "destroyed")),
                                        eq(read("session", j), sym(SESSION, "registered"))),
                                   and_(unchanged(DRAIN_FIELDS, j),
                                        eq(read("runtime", j), sym(RUNTIME, "destroyed"))))),
        ),
        Invariant(
            "torn_down_sessions_are_frozen",
            "after teardown nothing changes a session again (a late drain-exit report is a no-op)",
            step=forall(j, implies(eq(at_pre(read("session", j)), sym(SESSION, "torn_down")),
                                   and_(eq(read("session", j), sym(SESSION, "torn_down")),
                                        unchanged(("runtime", *DRAIN_FIELDS), j)))),
        ),
        Invariant(
            "unregistered_sessions_hold_no_drain",
            "a session that is not registered has no runtime state, no drain and no ingress owner",
            state=forall(j, implies(ne(read("session", j), sym(SESSION, "registered")), and_(
                eq(read("runtime", j), sym(RUNTIME, "initializing")),
                eq(read("phase", j), sym(PHASE, "inactive")), eq(owner, sym(OWNER, "unattached")),
                eq(read("mode", j), sym(MODE, "timed"))))),
        ),
        Invariant(
            "respawnable_only_for_persistent_hosts",
            "only a persistent-host drain can be left respawnable",
            state=forall(j, implies(eq(read("phase", j), sym(PHASE, "exited_respawnable")),
                                    eq(read("mode", j), sym(MODE, "persistent_host")))),
        ),
    )


CHOICES = (
    Choice("attach_and_downgrade", "Which attach may replace which owner",
           "a session attach may replace a session owner; a mob attach may replace any owner; only a session "
           "attach over a mob-owned ingress is refused (ValidationFailed)",
           "seed 004 forbids the downgrade and the change of owner otherwise lives in its DSL (not shown)",
           ("no_session_downgrade", "same_owner_reattach_is_a_no_op")),
    Choice("context_spawns_and_stops", "SetPeerIngressContext spawns and stops the drain",
           "with a comms runtime the drain is spawned unless it runs (persistent_host with keep-alive, "
           "attached_session without; a running drain keeps its mode); without a runtime and without keep-alive "
           "the ingress detaches and a running drain stops; keep-alive alone changes nothing",
           "the seed's update_peer_ingress_context body is not part of the seed",
           ("attach_runs_the_drain_detach_stops_it",)),
    Choice("exit_report_when_not_running", "A drain-exit report for a drain that is not running",
           "is accepted and changes nothing (like the report after teardown); on a destroyed session it is "
           "refused as Destroyed",
           "the report is an observation of a task that already ended", ("drain_exit_outcome",)),
    Choice("destroy_leaves_the_drain", "Destroying the runtime leaves the drain as it was",
           "destroy_runtime (the environment) changes only the runtime state; from then on nothing changes the "
           "session's drain or ownership until teardown",
           "the seed only says no drain mutation happens on a destroyed session",
           ("destroyed_sessions_are_frozen",)),
    Choice("session_ids_once", "A session id is registered once",
           "register_session of an id ever registered (also after teardown) is AlreadyRegistered",
           "a late drain-exit report after teardown must stay a no-op, which a re-registered id would break",
           ("torn_down_sessions_are_frozen",)),
)


def build(profile: str = "reference") -> Machine:
    check_profile(profile)
    return Machine(
        name="comms_drain",
        doc=__doc__ or "",
        profile=profile,
        sorts=(SESSION, RUNTIME, PHASE, MODE, OWNER, REASON),
        fields=FIELDS,
        init=(),
        assumptions=(),
        actions=actions(),
        invariants=invariants(),
        errors=ERRORS,
        phases=("phase",),
        choices=CHOICES,
    )

"""The comms drain and peer-ingress ownership of each session (seed 004), as data: per
session, the background task that drains its peer messages (spawned, stopped, exited,
respawned) and who owns its peer ingress (nobody, the session's own comms runtime, or a
mob that took it over). The commands attach an owner (spawning or stopping the drain),
stop, abort and wait for drains, and record how a drain exited; the environment
registers, tears down and destroys sessions and may kill a drain task silently.

Per session: whether it is registered (or torn down), its runtime state (only
`destroyed` matters here), the drain's phase and mode, the drain task the
session's slot holds, and who owns its peer ingress — a tagged union `unattached
| session_owned(runtime) | mob_owned(runtime, mob)`, stored as a kind plus two
integer ids (0 for none). Commands are the seed's `SetPeerIngressContext`,
`NotifyDrainExited`, `Abort`, `AbortAll` and `Wait`, the `StopDrain` staging its
callers share (`stage_drain_stop_dsl`), plus the environment's registration,
teardown and destruction of a session and the silent death of a drain task.

What seed 004 delegates to code it does not show is read from upstream
lukacf/meerkat at v0.7.3 (the tag whose `meerkat_machine/dispatch_drain.rs` is
the seed, last changed in c559beb98), and followed:

* `SetPeerIngressContext` stages a keep-alive transition that writes nothing, so a
  refused attach leaves the session exactly as it was (DSL `SetPeerIngressContext`);
* which attach may replace which owner is the DSL's: `AttachSessionIngress` only from
  `unattached` or as the exact re-assertion of the same session runtime,
  `AttachMobIngress` from `unattached`, from any `session_owned` (a mob takes over a
  session's drain) or as the exact re-assertion of the same mob and runtime; the
  shell stops a refused attach with `ValidationFailed { reason }` (seed 85-87), the
  reason being the DSL authority's text for the `AttachPeerIngress` context;
* `update_peer_ingress_context_inner`: with keep-alive and a comms runtime it spawns
  a drain from `inactive`, `stopped` or `exited_respawnable` (mode `persistent_host`,
  the only mode that path spawns) or refreshes the task of a running drain whose
  runtime changed, and reports `Spawned(bool)` to the caller of
  `maybe_spawn_comms_drain` — spawning from `exited_respawnable` is the respawn;
  without keep-alive it aborts the drain (`Abort`), after attaching or detaching;
* `NotifyDrainExited` changes the phase only of a running drain (DSL) and clears
  the slot's task either way.

Where the seed and upstream return a bool (or nothing) instead of an error — the
`StopDrain` staging, registration, teardown and destruction — the actions refuse
nothing; the bool each would return is written in its doc.
"""

from __future__ import annotations

from opsref.spec.machine import (
    Action, AssignAll, AssignAt, Choice, Decision, Effect, Guard, Invariant, Machine, Postcondition, StateField,
    check_profile,
)
from opsref.spec.terms import (
    BOOL, ID, INT, Lit, Param, Term, Var, and_, at_pre, enum, eq, forall, implies, ite, lit,
    ne, not_, or_, read, sym, TRUE,
)

SESSION = enum("session", "absent", "registered", "torn_down")
RUNTIME = enum("runtime_state", "initializing", "idle", "attached", "running", "retired", "stopped", "destroyed")
PHASE = enum("drain_phase", "inactive", "running", "stopped", "exited_respawnable")
MODE = enum("drain_mode", "none", "persistent_host")
TASK = enum("drain_task", "none", "alive", "ended")
OWNER = enum("owner", "unattached", "session_owned", "mob_owned")
REASON = enum("exit_reason", "idle_timeout", "dismissed", "failed", "aborted", "session_shutdown")

ERRORS = ("NotReady", "Destroyed", "ValidationFailed")

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
    StateField("mode", MODE, sym(MODE, "none"), ID, doc="how the drain was last spawned (none before the first spawn)"),
    StateField("task", TASK, sym(TASK, "none"), ID,
               doc="the drain task the session's slot holds: none, alive, or ended without reporting its exit"),
    StateField("owner", OWNER, sym(OWNER, "unattached"), ID, doc="who owns the peer ingress (the union's tag)"),
    StateField("owner_runtime", INT, lit(0), ID, doc="the owner's comms runtime id; 0 when unattached"),
    StateField("owner_mob", INT, lit(0), ID, doc="the owning mob's id; 0 unless mob-owned"),
)

Adopted = frozenset[str]


def field(name: str, key: Term = i) -> Term:
    return read(name, key)


def registered(x: Term) -> Term:
    return eq(field("session", x), sym(SESSION, "registered"))


def destroyed(x: Term) -> Term:
    return eq(field("runtime", x), sym(RUNTIME, "destroyed"))


def running(x: Term) -> Term:
    return eq(field("phase", x), sym(PHASE, "running"))


def task_is(x: Term, value: str) -> Term:
    return eq(field("task", x), sym(TASK, value))


def session_registered() -> Guard:
    return Guard("session_registered", registered(i), "NotReady",
                 "the command needs a registered session (seed: NotReady{Destroyed})",
                 (("state", Lit("destroyed", RUNTIME)),))


def not_destroyed() -> Guard:
    return Guard("session_not_destroyed", not_(destroyed(i)), "Destroyed",
                 "no drain mutation on a destroyed session (DrainBindingInvariant)")


def exit_phase(why: Term) -> Term:
    """A running drain that exits: a persistent host that failed may be respawned, anything else stops."""
    respawn = and_(eq(field("mode"), sym(MODE, "persistent_host")), eq(why, sym(REASON, "failed")))
    return ite(respawn, sym(PHASE, "exited_respawnable"), sym(PHASE, "stopped"))


def stop_accepted(x: Term) -> Term:
    """The machine accepts `StopDrain` (seed: stage_drain_stop_dsl returns true): a running drain of a
    registered session that is not destroyed."""
    return and_(registered(x), running(x), not_(destroyed(x)))


def spawns() -> Term:
    """`update_peer_ingress_context_inner` starts a drain task: keep-alive with a comms runtime, and the
    drain not running (`can_spawn`) or running without a task or on another runtime (a task refresh)."""
    return and_(keep_alive, ne(runtime_id, lit(0)), or_(
        not_(running(i)), task_is(i, "none"), ne(field("owner_runtime"), runtime_id)))


def actions(adopted: Adopted) -> tuple[Action, ...]:
    attach = ne(runtime_id, lit(0))
    as_mob = and_(attach, ne(mob_id, lit(0)))
    detach = and_(not_(attach), not_(keep_alive))
    new_owner = ite(attach, ite(as_mob, sym(OWNER, "mob_owned"), sym(OWNER, "session_owned")),
                    ite(detach, sym(OWNER, "unattached"), field("owner")))
    # task, mode and phase first: they read the owner before the attach changes it
    ingress: tuple[Effect, ...] = (
        AssignAt("task", i, ite(spawns(), sym(TASK, "alive"), ite(keep_alive, field("task"), sym(TASK, "none")))),
        AssignAt("mode", i, ite(and_(keep_alive, attach, not_(running(i))), sym(MODE, "persistent_host"),
                                field("mode"))),
        AssignAt("phase", i, ite(and_(keep_alive, attach), sym(PHASE, "running"),
                                 ite(and_(not_(keep_alive), running(i)), sym(PHASE, "stopped"), field("phase")))),
        AssignAt("owner_runtime", i, ite(attach, runtime_id, ite(detach, lit(0), field("owner_runtime")))),
        AssignAt("owner_mob", i, ite(as_mob, mob_id, ite(or_(attach, detach), lit(0), field("owner_mob")))),
        AssignAt("owner", i, new_owner),
    )
    # `session` is written last: the other writes read whether the session is registered.
    # A session id is registered once (decision teardown_is_final); the seed registers a torn-down id again
    may_register = (eq(field("session"), sym(SESSION, "absent")) if "teardown_is_final" in adopted
                    else not_(registered(i)))
    return (
        Action("register_session", (i,), (), (
            AssignAt("runtime", i, ite(may_register, sym(RUNTIME, "idle"), field("runtime"))),
            AssignAt("session", i, ite(may_register, sym(SESSION, "registered"), field("session"))),
        ), "the runtime registers a session (environment); registering a registered session changes nothing. "
           "Returns `registered`: whether it was registered now",
           returns=(("registered", at_pre(may_register)),)),
        Action("destroy_runtime", (i,), (), (
            AssignAt("runtime", i, ite(registered(i), sym(RUNTIME, "destroyed"), field("runtime"))),),
            "the session's runtime reaches Destroyed (environment; terminal); nothing for a session not "
            "registered. Returns `destroyed`: whether the session was registered",
            returns=(("destroyed", at_pre(registered(i))),)),
        Action("unregister_session", (i,), (), (
            AssignAt("runtime", i, ite(registered(i), sym(RUNTIME, "initializing"), field("runtime"))),
            AssignAt("task", i, sym(TASK, "none")),
            *(AssignAt(name, i, ite(registered(i), next(f.default for f in FIELDS if f.name == name), field(name)))
              for name in DRAIN_FIELDS),
            AssignAt("session", i, ite(registered(i), sym(SESSION, "torn_down"), field("session"))),
        ), "teardown: the unregister path aborts the drain task and removes the session's entry; a session not "
           "registered is left alone (the seed's unregister_session returns nothing). Returns `removed`: whether "
           "the session was registered", returns=(("removed", at_pre(registered(i))),)),
        Action("set_peer_ingress_context", (i, keep_alive, runtime_id, mob_id), (
            session_registered(), not_destroyed(),
            Guard("owner_allows_session_attach", implies(and_(attach, not_(as_mob)), or_(
                eq(field("owner"), sym(OWNER, "unattached")),
                and_(eq(field("owner"), sym(OWNER, "session_owned")), eq(field("owner_runtime"), runtime_id),
                     eq(field("owner_mob"), lit(0))))),
                  "ValidationFailed", "a session attach takes an unattached ingress or re-asserts the very session "
                  "runtime that owns it: it never downgrades a mob-owned ingress nor replaces another runtime "
                  "(upstream DSL AttachSessionIngress); the keep-alive transition staged before it writes nothing, "
                  "so the refusal changes nothing"),
            Guard("owner_allows_mob_attach", implies(as_mob, or_(
                eq(field("owner"), sym(OWNER, "unattached")), eq(field("owner"), sym(OWNER, "session_owned")),
                and_(eq(field("owner"), sym(OWNER, "mob_owned")), eq(field("owner_runtime"), runtime_id),
                     eq(field("owner_mob"), mob_id)))),
                  "ValidationFailed", "a mob attach takes an unattached or session-owned ingress, or re-asserts the "
                  "very mob and runtime that own it: one mob never replaces another (upstream DSL "
                  "AttachMobIngress); the refusal changes nothing"),
        ), ingress,
            "attach the session or a mob as ingress owner (with a runtime), or detach (neither runtime nor "
            "keep-alive); with keep-alive and a runtime spawn the drain unless it runs (or refresh its task), "
            "without keep-alive abort it. Returns `spawned`: whether a drain task was started",
            returns=(("spawned", at_pre(spawns())),),
            ensures=(
                Postcondition(
                    "same_owner_reattach_is_a_no_op",
                    "re-attaching exactly the owner already in place leaves the ownership exactly as it was, and "
                    "with keep-alive and the drain running changes nothing of that session at all",
                    implies(requested_is_current(), and_(
                        unchanged(("owner", "owner_runtime", "owner_mob"), i),
                        implies(and_(keep_alive, was_running(i)), unchanged((*DRAIN_FIELDS, "task"), i))))),
                Postcondition(
                    "keep_alive_attach_runs_the_drain_otherwise_it_stops",
                    "after an attach with keep-alive the session's drain runs with a live task (a drain it spawns "
                    "is a persistent host); after a call without keep-alive the drain is not running and holds no "
                    "task, and after a detach the ingress is unattached",
                    and_(
                        implies(and_(keep_alive, ne(runtime_id, lit(0))), and_(
                            eq(field("phase"), sym(PHASE, "running")),
                            eq(field("mode"), sym(MODE, "persistent_host")),
                            implies(not_(was_running(i)), eq(field("task"), sym(TASK, "alive"))))),
                        implies(not_(keep_alive), and_(ne(field("phase"), sym(PHASE, "running")),
                                                       eq(field("task"), sym(TASK, "none")))),
                        implies(and_(eq(runtime_id, lit(0)), not_(keep_alive)),
                                eq(field("owner"), sym(OWNER, "unattached"))))),
            )),
        Action("stop_drain", (i,), (), (
            AssignAt("phase", i, ite(stop_accepted(i), sym(PHASE, "stopped"), field("phase"))),),
            "stage StopDrain (seed: stage_drain_stop_dsl); a refusal is swallowed into its bool and the task is "
            "left to the caller. Returns `stopped`: whether the machine accepted it",
            returns=(("stopped", at_pre(stop_accepted(i))),),
            ensures=(Postcondition(
                "stop_commands_stop_running_drains",
                "StopDrain leaves a running drain of a live, not destroyed session stopped, and touches no other",
                eq(field("phase"), ite(at_pre(stop_accepted(i)), sym(PHASE, "stopped"), at_pre(field("phase"))))),)),
        Action("notify_drain_exited", (i, reason), (Guard(
            "not_destroyed_if_registered", or_(not_(registered(i)), not_(destroyed(i))), "Destroyed",
            "a drain-exit report on a destroyed session is refused as Destroyed; after teardown it is a "
            "benign no-op"),), (
            AssignAt("phase", i, ite(and_(registered(i), running(i)), exit_phase(reason), field("phase"))),
            AssignAt("task", i, ite(registered(i), sym(TASK, "none"), field("task"))),
        ), "the drain task reports that it exited (and the slot lets go of it)",
            ensures=(Postcondition(
                "drain_exit_outcome",
                "a running drain of a registered session that reports its exit is left respawnable exactly when it "
                "is a persistent host that failed, and stopped otherwise",
                implies(and_(at_pre(registered(i)), was_running(i)),
                        eq(field("phase"), exit_phase_pre(eq(reason, sym(REASON, "failed")))))),)),
        Action("drain_task_panicked", (i,), (), (
            AssignAt("task", i, ite(and_(registered(i), task_is(i, "alive")), sym(TASK, "ended"), field("task"))),),
            "the drain task ends without reporting its exit (environment: a panic); the phase is left as it was"),
        Action("abort", (i,), (session_registered(),), (
            AssignAt("task", i, ite(and_(running(i), destroyed(i)), field("task"), sym(TASK, "none"))),
            AssignAt("phase", i, ite(stop_accepted(i), sym(PHASE, "stopped"), field("phase"))),
        ), "stop the session's drain if it runs and abort its task (a destroyed session's StopDrain is "
           "refused: nothing changes)",
            ensures=(Postcondition(
                "stop_commands_stop_running_drains",
                "Abort leaves the session's running drain stopped unless the session is destroyed, and touches no "
                "drain that was not running",
                eq(field("phase"), ite(and_(was_running(i), not_(at_pre(destroyed(i)))), sym(PHASE, "stopped"),
                                       at_pre(field("phase"))))),)),
        Action("abort_all", (), (), (
            AssignAll("task", j, ite(and_(registered(j), not_(and_(running(j), destroyed(j)))),
                                     sym(TASK, "none"), read("task", j))),
            AssignAll("phase", j, ite(stop_accepted(j), sym(PHASE, "stopped"), read("phase", j))),
        ), "stop every running drain and abort the tasks of every session whose StopDrain was not refused",
            ensures=(Postcondition(
                "stop_commands_stop_running_drains",
                "AbortAll leaves every running drain of a live, not destroyed session stopped, and touches no "
                "drain that was not running",
                forall(j, eq(read("phase", j), ite(
                    and_(at_pre(registered(j)), was_running(j), not_(at_pre(destroyed(j)))),
                    sym(PHASE, "stopped"), at_pre(read("phase", j)))))),)),
        Action("wait", (i,), (session_registered(),), (
            AssignAt("phase", i, ite(and_(running(i), not_(destroyed(i)), not_(task_is(i, "alive"))),
                                     exit_phase(sym(REASON, "failed")), field("phase"))),
            AssignAt("task", i, ite(task_is(i, "alive"), field("task"), sym(TASK, "none"))),
        ), "await the drain task: while it is alive the seed's call does not return (nothing changes); once it "
           "ended, a drain still running is taken as Failed (safety net). Returns `returned`: whether the task "
           "had ended", returns=(("returned", not_(at_pre(task_is(i, "alive")))),),
            ensures=(Postcondition(
                "drain_exit_outcome",
                "a running drain (of a session not destroyed) whose task ended without reporting is taken as "
                "failed: left respawnable when a persistent host, stopped otherwise; Wait on a live task changes "
                "nothing",
                and_(implies(and_(was_running(i), not_(at_pre(destroyed(i))), ne(at_pre(field("task")), sym(TASK, "alive"))),
                             eq(field("phase"), exit_phase_pre(TRUE))),
                     implies(eq(at_pre(field("task")), sym(TASK, "alive")), unchanged((*DRAIN_FIELDS, "task"), i)))),)),
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
            "owners_are_replaced_only_by_a_mob_takeover",
            "an ingress owner in place stays exactly as it is until a detach or teardown unattaches it, except "
            "that a mob may take over a session-owned ingress",
            step=forall(j, implies(
                and_(ne(at_pre(owner), sym(OWNER, "unattached")), ne(owner, sym(OWNER, "unattached"))),
                or_(and_(eq(owner, at_pre(owner)), eq(rt, at_pre(rt)), eq(mob, at_pre(mob))),
                    and_(eq(at_pre(owner), sym(OWNER, "session_owned")), eq(owner, sym(OWNER, "mob_owned")))))),
        ),
        Invariant(
            "a_running_drain_has_a_task",
            "a running drain of a registered session that is not destroyed has a task in its slot (alive, or "
            "ended without reporting), so Wait has something to await",
            role="strengthening",
            state=forall(j, implies(and_(registered(j), running(j), not_(destroyed(j))),
                                    ne(read("task", j), sym(TASK, "none")))),
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
            "after teardown nothing changes a session again (a late drain-exit report is a no-op, and the id "
            "is not registered again)",
            step=forall(j, implies(eq(at_pre(read("session", j)), sym(SESSION, "torn_down")),
                                   and_(eq(read("session", j), sym(SESSION, "torn_down")),
                                        unchanged(("runtime", "task", *DRAIN_FIELDS), j)))),
        ),
        Invariant(
            "unregistered_sessions_hold_no_drain",
            "a session that is not registered has no runtime state, no drain, no task and no ingress owner",
            role="strengthening",
            state=forall(j, implies(ne(read("session", j), sym(SESSION, "registered")), and_(
                eq(read("runtime", j), sym(RUNTIME, "initializing")),
                eq(read("phase", j), sym(PHASE, "inactive")), eq(owner, sym(OWNER, "unattached")),
                eq(read("mode", j), sym(MODE, "none")), eq(read("task", j), sym(TASK, "none"))))),
        ),
        Invariant(
            "spawned_drains_are_persistent_hosts",
            "every drain ever spawned (phase past inactive) is a persistent host, the only mode a keep-alive "
            "attach spawns; so a failed drain is always left respawnable",
            role="strengthening",
            state=forall(j, implies(ne(read("phase", j), sym(PHASE, "inactive")),
                                    eq(read("mode", j), sym(MODE, "persistent_host")))),
        ),
    )


CHOICES = (
    Choice("destroy_leaves_the_drain", "Destroying the runtime leaves the drain as it was",
           "destroy_runtime (the environment) changes only the runtime state; from then on nothing changes the "
           "session's drain or ownership until teardown",
           "the seed only says no drain mutation happens on a destroyed session",
           ("destroyed_sessions_are_frozen",)),
    Choice("wait_returns_when_the_task_ended", "A Wait whose task is still alive",
           "changes nothing: the seed's call is still awaiting the task, and a sequential model places a blocking "
           "call where it returns, after the task ended (reported through notify_drain_exited, or silently "
           "through drain_task_panicked)",
           "the seed awaits the task handle (235-243); the action protocol has no call that stays pending",
           ("drain_exit_outcome",)),
)


DECISIONS = (
    Decision(
        "teardown_is_final", "A torn-down session id is never registered again",
        seed="Teardown removes the session's entry from the sessions map, and registration only looks for an "
             "entry: registering the same id again creates a fresh session. A drain-exit report still on its way "
             "from the old drain task (the seed's D2b straggler, 117-131) then lands on the new session and stops "
             "its running drain.",
        reference="`register_session` of an id that was torn down changes nothing (it returns registered = "
                  "false); the id stays torn down, and a late report stays the benign no-op the seed means it "
                  "to be.",
        why="The seed accepts a straggling exit report after teardown precisely because it can no longer "
            "matter; re-using the id makes it matter, and a new session's live drain is stopped by its "
            "predecessor's task.",
        invariants=("torn_down_sessions_are_frozen",)),
)


def build(profile: str = "reference") -> Machine:
    adopted = check_profile(profile, DECISIONS)
    return Machine(
        name="comms_drain",
        doc=__doc__ or "",
        profile=profile,
        sorts=(SESSION, RUNTIME, PHASE, MODE, TASK, OWNER, REASON),
        fields=FIELDS,
        init=(),
        assumptions=(),
        actions=actions(adopted),
        invariants=invariants(),
        errors=ERRORS,
        phases=("phase",),
        choices=CHOICES,
        decisions=DECISIONS,
    )

"""The declarative shape of a machine: state schema, actions, invariants.

A machine is data. Its guards, effects and invariants are `spec.terms` trees; the
frame of every action (what it leaves alone) is derived from the fields its
effects name, never written by hand.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, Iterator

from opsref.spec.terms import ID, INT, Definition, Lit, Param, Sort, Term, Use, Var, free_vars, instantiate, uses


#: Every machine is built for one of these: the seed's observable behaviour, or
#: the semantics this reference stands behind.
PROFILES = ("reference", "seed")


@dataclass(frozen=True)
class StateField:
    """One field of the state.

    `key` is None for a global, `ID` for a per-operation map and `INT` for a map
    indexed by an integer (e.g. completed order by completion sequence).
    `default` is the value of every key that was never written (and of a global
    at Init unless `init` says otherwise); `rigid` fields are configuration that
    no action may write; `ghost` fields are proof bookkeeping (counters tied to
    the state by an invariant, scratch values read by later effects) that an
    implementation does not show, so the conformance protocol never asks for them.
    """

    name: str
    sort: Sort
    default: Lit
    key: Sort | None = None
    rigid: bool = False
    doc: str = ""
    ghost: bool = False


@dataclass(frozen=True)
class Guard:
    """A named precondition. When it is false the action raises `error`.

    `fields` name the error's payload (e.g. InvalidTransition's status) as terms
    evaluated on the pre-state.
    """

    name: str
    holds: Term
    error: str
    reason: str
    fields: tuple[tuple[str, Term], ...] = ()


@dataclass(frozen=True)
class Assign:
    """Write a global field."""

    field: str
    value: Term


@dataclass(frozen=True)
class AssignAt:
    """Write one entry of a keyed field."""

    field: str
    key: Term
    value: Term


@dataclass(frozen=True)
class AssignAll:
    """Rewrite every entry of a per-id field pointwise: entry(var) := value."""

    field: str
    var: Var
    value: Term


Effect = Assign | AssignAt | AssignAll


@dataclass(frozen=True)
class Procedure:
    """A named block of effects over its parameters, written once and called by name
    from several actions (seed 001's `finalize_terminal`, a Quint action called by
    others). Its effects run in order, like an action's, and may call procedures."""

    name: str
    params: tuple[Var | Param, ...]
    effects: tuple["Effect | Call", ...]
    doc: str = ""

    def __call__(self, *args: Term) -> "Call":
        if len(args) != len(self.params):
            raise TypeError(f"{self.name} takes {len(self.params)} arguments, got {len(args)}")
        return Call(self, tuple(args))


@dataclass(frozen=True)
class Call:
    """A procedure called with arguments; it means its effects with the arguments put in."""

    procedure: Procedure
    args: tuple[Term, ...]

    @property
    def expansion(self) -> tuple[Effect, ...]:
        out: list[Effect] = []
        for e in flatten(self.procedure.effects):
            if isinstance(e, AssignAll) and any(e.var in free_vars(a) for a in self.args):
                raise ValueError(f"{self.procedure.name}: an argument mentions {e.var.name}, "
                                 f"which {e.field}'s pointwise effect binds")
            if isinstance(e, Assign):
                out.append(Assign(e.field, self.put(e.value)))
            elif isinstance(e, AssignAt):
                out.append(AssignAt(e.field, self.put(e.key), self.put(e.value)))
            else:
                out.append(AssignAll(e.field, e.var, self.put(e.value)))
        return tuple(out)

    def put(self, t: Term) -> Term:
        """`t` (from the procedure's body) with the arguments in place of the parameters."""
        return instantiate(self.procedure.params, self.args, t)


def flatten(effects: tuple["Effect | Call", ...]) -> tuple[Effect, ...]:
    """Effects with every call replaced by the procedure's effects, in order."""
    out: list[Effect] = []
    for e in effects:
        out.extend(e.expansion if isinstance(e, Call) else (e,))
    return tuple(out)


@dataclass(frozen=True)
class Postcondition:
    """What one action guarantees about its own step (PEP 316's `post:`): a formula over
    the pre-state (read through `terms.at_pre`), the post-state and the action's
    parameters, proved for every accepted step of that action from any state satisfying
    the invariants (obligation `<action>/ensures/<name>`).

    It is not an invariant: it constrains no other action, so stating it as a step
    invariant guarded by `ActionIs` would only pose as one. It restates the effects from
    the caller's side (what the step achieves, not how), so it is assurance against a
    careless edit of the effects, not an independent requirement."""

    name: str
    sentence: str
    holds: Term


@dataclass(frozen=True)
class Action:
    """An action: ordered named guards, then effects applied in order.

    Effects are sequential: each one reads the state left by the previous one,
    the way the seed's shell mutates its state under one lock. `body` is the
    effects as the spec writes them, procedure calls included (pages print it);
    `effects` is the flat sequence, calls expanded, that every other reader runs.
    """

    name: str
    params: tuple[Param, ...]
    guards: tuple[Guard, ...]
    body: tuple["Effect | Call", ...]
    doc: str
    label: str = ""  # the action name the seed reports in InvalidTransition
    #: what the call answers when accepted, as named terms on the post-state (`at_pre` reads
    #: the pre-state): the seed's return values (a spawned flag, an operation id, report
    #: counts). No returns: the call answers null.
    returns: tuple[tuple[str, Term], ...] = ()
    #: what every accepted step of the action guarantees (proved per action, reported
    #: apart from the invariants)
    ensures: tuple[Postcondition, ...] = ()

    @cached_property
    def effects(self) -> tuple[Effect, ...]:
        return flatten(self.body)

    @property
    def writes(self) -> tuple[str, ...]:
        seen: list[str] = []
        for e in self.effects:
            if e.field not in seen:
                seen.append(e.field)
        return tuple(seen)


@dataclass(frozen=True)
class Ranking:
    """A progress measure: while `active` holds in two consecutive states (of the
    same request), the set `pending` never gains a member.

    Its cardinality is the rank; a finite set that only shrinks reaches empty.
    """

    active: Term
    same_episode: Term  # relates pre and cur: e.g. the request id did not change
    pending: Term       # over `var`
    var: Var


@dataclass(frozen=True)
class Invariant:
    """A named invariant: a state formula, a step formula (pre/post), or both.

    Step formulas read the pre-state through `terms.at_pre`. `role` says why it is
    there: a `requirement` is a property the machine is meant to have (the seed's
    rules, the decisions); a `strengthening` exists to make the others inductive
    (bookkeeping that ties ghost or derived fields to the state, a lemma other
    proofs assume), as TLA+ keeps such conjuncts in a separate `Inv`. Both are
    proved alike; the review page prints them apart (ROLES).
    """

    name: str
    sentence: str
    state: Term | None = None
    step: Term | None = None
    ranking: Ranking | None = None
    role: str = "requirement"

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"invariant {self.name}: role {self.role!r} is not one of {', '.join(ROLES)}")


#: why an invariant is there (Invariant.role), in the order the review page prints them
ROLES = ("requirement", "strengthening")


@dataclass(frozen=True)
class CheckConfig:
    """One configuration (values of the rigid fields) the bounded checks run under.

    `tag` names the obligations (`<invariant>/bmc/<tag>`); `label` is how a
    counterexample states its configuration."""

    tag: str
    label: str
    values: tuple[tuple[str, bool | int | str], ...]

    def as_dict(self) -> dict[str, bool | int | str]:
        return dict(self.values)


@dataclass(frozen=True)
class Decision:
    """A place where the reference deliberately differs from the seed.

    `name` is also the key of the replayable scenario (conformance/vectors.py);
    `invariants` are the proof obligations that hold for the reference and fail
    for the seed because of it.
    """

    name: str
    title: str
    seed: str
    reference: str
    why: str
    invariants: tuple[str, ...]


def check_profile(profile: str, decisions: tuple["Decision", ...] = ()) -> frozenset[str]:
    """The decisions a profile adopts; `ValueError` for an unknown profile.

    `reference` adopts every decision of the machine, `seed` none. A base may be
    followed by `+name` / `-name` to adopt or drop single decisions
    (`seed+ids_never_reused`, `reference-barrier_survives_eviction`): the driver
    uses these to show that each decision is found on its own."""
    base, *changes = re.split(r"(?=[+-])", profile)
    if base not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; expected one of {', '.join(PROFILES)}, "
                         "optionally followed by +DECISION or -DECISION")
    known = {d.name for d in decisions}
    adopted = set(known) if base == "reference" else set()
    if not known:
        # a machine without decisions is the same under every profile of a base; the
        # names are checked against every machine's decisions where profiles are read
        # (the command line's --profile)
        return frozenset()
    for change in changes:
        name = change[1:]
        if name not in known:
            raise ValueError(f"profile {profile!r}: no decision {name!r} (known: {', '.join(sorted(known))})")
        (adopted.add if change[0] == "+" else adopted.discard)(name)
    return frozenset(adopted)


@dataclass(frozen=True)
class Choice:
    """A rule the seed leaves open (or only implies) that the reference had to fix.

    Unlike a `Decision` there is no seed behaviour to differ from, so there is no
    seed profile for it; `invariants` are the proofs that depend on the choice: the
    names of invariants or of postconditions (`Action.ensures`)."""

    name: str
    title: str
    rule: str
    why: str
    invariants: tuple[str, ...] = ()


#: fields of spec data that no proof reads: prose for people, and how the page classifies (an
#: invariant's role)
PROSE = frozenset({"doc", "reason", "sentence", "notes", "decisions", "choices", "label", "phases", "role"})


def semantic_form(value: Any) -> Any:
    """Spec data as plain, ordered data without its prose fields (`PROSE`): what digests
    of a machine's meaning (Machine.digest, the proof cache's keys) are taken over."""
    if isinstance(value, Use):  # a definition means its expansion: naming a formula changes no digest
        return semantic_form(value.expansion)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        keep = [f.name for f in dataclasses.fields(value) if f.name not in PROSE]
        return [type(value).__name__] + [[name, semantic_form(getattr(value, name))] for name in keep]
    if isinstance(value, (tuple, list)):  # a procedure call means its effects, in its place
        return [semantic_form(v) for item in value for v in (item.expansion if isinstance(item, Call) else (item,))]
    if isinstance(value, frozenset):
        return sorted((semantic_form(v) for v in value), key=repr)
    if isinstance(value, dict):
        return [[semantic_form(k), semantic_form(v)] for k, v in sorted(value.items(), key=repr)]
    if value is None or isinstance(value, (bool, int, str)):
        return value
    raise TypeError(f"no semantic form for {type(value).__name__}")


@dataclass(frozen=True)
class Machine:
    name: str
    doc: str
    profile: str
    sorts: tuple[Sort, ...]
    fields: tuple[StateField, ...]
    init: tuple[tuple[str, Term], ...]   # globals with a non-default initial value
    assumptions: tuple[Term, ...]        # on rigid configuration fields
    actions: tuple[Action, ...]
    invariants: tuple[Invariant, ...]
    errors: tuple[str, ...]
    notes: tuple[tuple[str, str], ...] = field(default=())
    #: the enum fields drawn as state diagrams (per-id, e.g. status, or machine-wide, e.g. a runtime state)
    phases: tuple[str, ...] = ()
    decisions: tuple[Decision, ...] = ()
    choices: tuple[Choice, ...] = ()
    check_configs: tuple[CheckConfig, ...] = ()  # for BMC and reachability; default: the rigid defaults

    def configs(self) -> tuple[CheckConfig, ...]:
        """The configurations the bounded checks use (the rigid fields' defaults if none are given)."""
        if self.check_configs:
            return self.check_configs
        values = tuple((f.name, f.default.value) for f in self.fields if f.rigid)
        label = ", ".join(f"{k}={v}" for k, v in values) or "no configuration"
        return (CheckConfig("default", label, values),)

    @cached_property
    def _fields_by_name(self) -> dict[str, StateField]:
        return {f.name: f for f in reversed(self.fields)}  # the first of a name, as a search would find

    def field(self, name: str) -> StateField:
        return self._fields_by_name[name]

    @cached_property
    def defaults(self) -> dict[str, bool | int | str]:
        """Every field's default value, by name (what an entry never written holds)."""
        return {name: f.default.value for name, f in self._fields_by_name.items()}

    @cached_property
    def _actions_by_name(self) -> dict[str, Action]:
        return {a.name: a for a in reversed(self.actions)}  # the first of a name, as a search would find

    def action(self, name: str) -> Action:
        return self._actions_by_name[name]

    def invariant(self, name: str) -> Invariant:
        for inv in self.invariants:
            if inv.name == name:
                return inv
        raise KeyError(name)

    def postconditions(self, name: str) -> list[tuple[Action, Postcondition]]:
        """Every action's postcondition called `name` (several actions may share one rule)."""
        return [(a, p) for a in self.actions for p in a.ensures if p.name == name]

    @property
    def digest(self) -> str:
        """A fingerprint of the machine's semantics (every sort, field, guard, effect and
        invariant; no prose), to tell whether recorded proof results are about the machine
        as it is now: rewording a sentence does not make them stale."""
        text = json.dumps(semantic_form(self), separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def named(self) -> tuple["Definition | Procedure", ...]:
        """Every definition and procedure the machine uses, each once, a definition
        before whatever uses it: the spec's vocabulary, which pages print once."""
        out: list[Definition | Procedure] = []

        def term(t: Term | None) -> None:
            for d in uses(t) if t is not None else []:
                if d not in out:
                    out.append(d)

        def effects(written: tuple[Effect | Call, ...]) -> None:
            for e in written:
                if isinstance(e, Call):
                    for a in e.args:
                        term(a)
                    if e.procedure not in out:
                        effects(e.procedure.effects)
                        out.append(e.procedure)
                else:
                    term(getattr(e, "key", None))
                    term(e.value)

        for t in self.assumptions:
            term(t)
        for a in self.actions:
            for g in a.guards:
                term(g.holds)
            effects(a.body)
            for _, r in a.returns:
                term(r)
            for post in a.ensures:
                term(post.holds)
        for inv in self.invariants:
            term(inv.state)
            term(inv.step)
            if inv.ranking is not None:
                for t in (inv.ranking.active, inv.ranking.same_episode, inv.ranking.pending):
                    term(t)
        return tuple(out)

    def guards(self) -> Iterator[tuple[Action, int, Guard]]:
        for a in self.actions:
            for index, g in enumerate(a.guards):
                yield a, index, g

    # ------------------------------------------------------------------ variants
    # Used by tests and mutation runs: a variant is the same data with one piece
    # replaced, so every reader (model, proofs, docs) sees the change at once.

    def with_action(self, action: Action) -> "Machine":
        return replace(self, actions=tuple(action if a.name == action.name else a for a in self.actions))



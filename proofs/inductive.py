"""Unbounded proofs: initiation, inductive consecution and ranking, per (invariant, action).

Operation ids are an uninterpreted sort, so a proof holds for any number of
operations. Each obligation gets its own solver frame, mypyvy-style: every
invariant on the pre-state, the action's guards and effects, and the negation of
one invariant on the post-state. unsat is `proved`; sat is `violated` with the
model printed as pre-state / action / post-state; anything else is `unknown`.

Counting (`card`) is carried by a ghost bijection: arrays `pos: id -> int` and
`at: int -> id` with `n` such that `pos` maps exactly the ids satisfying the
predicate onto 0..n-1 and `at` inverts it. The prover collects every counted
predicate of the machine — in invariants, and in the guards, effects and
postconditions of any action — and gives each one a ghost: its bijection is part
of every hypothesis, and its post-state is constructed from the action (append /
swap-remove at each id the action wrote, or reset to empty when the predicate is
empty afterwards), which Z3 checks like any other claim. A count an invariant
states carries its bijection in that invariant's goal; a count only actions read
gets obligations of its own (`#{j | …}/init`, `#{j | …}/<action>`), so the
ghost's `n` is the cardinality by a proof, not by assumption, wherever it is read.

Postconditions (`Action.ensures`) are proved per action from the same hypotheses
(obligation `<action>/ensures/<name>`) and reported apart from the invariants.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Iterable

import z3

from opsref.proofs.encode import (
    CardFn, Env, StateExprs, Transition, Universe, fresh_params, initial_constraints, set_tables, state_symbols,
    to_z3, transition,
)
from opsref.proofs.report import Obligation, describe_params, describe_state, id_names, is_postcondition, model_ids
from opsref.spec.machine import Action, AssignAt, Invariant, Machine
from opsref.spec.render import text
from opsref.spec.terms import CUR, PRE, Param, Quant, Read, Term, in_state, walk

UNBOUNDED = "unbounded"
QUICK_MS = 1000  # first try at each ghost construction


@dataclass
class Ghost:
    pos: z3.ExprRef
    at: z3.ExprRef
    n: z3.ExprRef


def cards_in(terms: Iterable[Term | None]) -> list[Quant]:
    out: list[Quant] = []
    for t in terms:
        if t is None:
            continue
        for node in walk(t):
            if isinstance(node, Quant) and node.kind == "card" and node not in out:
                out.append(node)
    return out


def _count_on_cur(q: Quant) -> Quant:
    return Quant(q.kind, q.var, _on_cur(q.body))


def _on_cur(t: Term) -> Term:
    """The same term with every pre-state read taken from the current state (the
    inverse of `terms.at_pre`): a count of the pre-state is the count of its predicate
    on the pre-state, one ghost for both spellings."""
    return in_state(t, CUR)


def _reads(q: Quant) -> list[Read]:
    return [n for n in walk(q.body) if isinstance(n, Read)]


def action_terms(action: Action) -> list[Term]:
    """Every term a step of `action` evaluates: guards (and their error fields), effect
    keys and values, postconditions."""
    out: list[Term] = [g.holds for g in action.guards] + [t for g in action.guards for _, t in g.fields]
    for e in action.effects:
        out += [e.key, e.value] if isinstance(e, AssignAt) else [e.value]
    return out + [p.holds for p in action.ensures]


def counted_sets(machine: Machine) -> list[Quant]:
    """The counts the machine reads anywhere but in an invariant's state formula (those
    carry their bijection in the invariant's goal), each once in its current-state form.
    A count over unbounded ids is of a predicate of one state alone: no parameter, no
    mix of the pre- and post-state."""
    stated = cards_in([inv.state for inv in machine.invariants])
    terms: list[Term | None] = [inv.step for inv in machine.invariants]
    for a in machine.actions:
        terms += action_terms(a)
    out: list[Quant] = []
    for q in cards_in(terms):
        if any(isinstance(n, Param) for n in walk(q.body)) or len({r.state for r in _reads(q)}) > 1:
            raise ValueError(f"{text(q)}: a count over unbounded ids is of one state's predicate, "
                             "without action parameters")
        q = _count_on_cur(q)
        if q not in stated and q not in out:
            out.append(q)
    return out


def count_name(q: Quant) -> str:
    """How a count's own obligations are named: its predicate, `#{j | input[j] ∈ {…}}`."""
    return text(q)


class NoGhost(Exception):
    """A count on the post-state whose bijection the construction could not follow."""


def ghost_symbols(u: Universe, index: int, tag: str) -> Ghost:
    return Ghost(
        z3.Array(f"ghost{index}.pos@{tag}", u.id_sort, z3.IntSort()),
        z3.Array(f"ghost{index}.at@{tag}", z3.IntSort(), u.id_sort),
        z3.Int(f"ghost{index}.n@{tag}"),
    )


class Prover:
    def __init__(self, machine: Machine, timeout_ms: int = 20000, size: int | None = None):
        self.m = machine
        self.timeout_ms = timeout_ms
        self.u = Universe.make(machine, size)
        self.pre = state_symbols(machine, self.u, "pre")
        # With finitely many ids `card` is a plain sum and needs no ghost.
        self.cards = cards_in([inv.state for inv in machine.invariants]) if size is None else []
        self.counts = counted_sets(machine) if size is None else []
        self.ghost_pre = {q: ghost_symbols(self.u, n, "pre") for n, q in enumerate(self.cards + self.counts)}
        self._hypotheses: list[z3.ExprRef] | None = None

    # ------------------------------------------------------------ helpers

    def counter(self, pre: StateExprs, pre_ghosts: dict[Quant, Ghost],
                post: tuple[StateExprs, dict[Quant, Ghost | None]] | None = None) -> CardFn:
        """How `card` is read: by the ghost of the state the count reads, which is `pre`,
        or `post` (when given) — a count reading a state an earlier effect of the same
        action changed is refused, since no ghost follows that intermediate state."""
        def card(q: Quant, env: Env) -> z3.ExprRef:
            reads = _reads(q)
            if reads and all(r.state == PRE for r in reads):
                ghost = pre_ghosts.get(_count_on_cur(q))
                if env.pre is not None and ghost is not None:
                    return ghost.n
            else:
                fields = {r.field for r in reads}
                if post is not None and all(env.cur[f] is post[0][f] for f in fields) and q in post[1]:
                    found = post[1][q]
                    if found is None:
                        raise NoGhost(q)
                    return found.n
                if all(env.cur[f] is pre[f] for f in fields) and q in pre_ghosts:
                    return pre_ghosts[q].n
            raise ValueError(f"{text(q)} is read on a state no ghost follows (a count in an effect must come "
                             "before the effects that write what it counts)")
        return card

    def env(self, st: StateExprs, ghosts: dict[Quant, Ghost], pre: StateExprs | None = None,
            params: dict[str, z3.ExprRef] | None = None, action: str | None = None,
            card: CardFn | None = None) -> Env:
        return Env(self.m, self.u, st, pre, params or {}, {}, action, card or self.counter(st, ghosts),
                   set_tables(self.u, params or {}))

    def pred(self, q: Quant, st: StateExprs, x: z3.ExprRef, params: dict[str, z3.ExprRef]) -> z3.ExprRef:
        return to_z3(q.body, Env(self.m, self.u, st, None, params, {q.var.name: x}, sets=set_tables(self.u, params)))

    def bijection(self, q: Quant, st: StateExprs, g: Ghost, params: dict[str, z3.ExprRef]) -> z3.ExprRef:
        x = z3.FreshConst(self.u.id_sort, "x")
        k = z3.FreshInt("k")
        return z3.And(
            g.n >= 0,
            z3.ForAll([x], z3.Implies(self.pred(q, st, x, params), z3.And(
                0 <= g.pos[x], g.pos[x] < g.n, g.at[g.pos[x]] == x))),
            z3.ForAll([k], z3.Implies(z3.And(0 <= k, k < g.n), z3.And(
                self.pred(q, st, g.at[k], params), g.pos[g.at[k]] == k))),
        )

    def hypotheses(self) -> list[z3.ExprRef]:
        """Every assumption and invariant on the pre-state (encoded once per prover)."""
        if self._hypotheses is None:
            env = self.env(self.pre, self.ghost_pre)
            hyp = [to_z3(a, env) for a in self.m.assumptions]
            hyp += [to_z3(inv.state, env) for inv in self.m.invariants if inv.state is not None]
            hyp += [self.bijection(q, self.pre, self.ghost_pre[q], {}) for q in self.cards + self.counts]
            self._hypotheses = hyp
        return list(self._hypotheses)

    def solve(self, assertions: list[z3.ExprRef], timeout_ms: int | None = None) -> tuple[z3.CheckSatResult, z3.ModelRef | None, str]:
        s = z3.Solver()
        s.set("timeout", timeout_ms or self.timeout_ms)
        s.add(*assertions)
        r = s.check()
        return r, (s.model() if r == z3.sat else None), (s.reason_unknown() if r == z3.unknown else "")

    # ------------------------------------------------------------ ghost construction

    def ghost_after(self, q: Quant, index: int, tr: Transition, params: dict[str, z3.ExprRef],
                    base: list[z3.ExprRef]) -> Ghost | None:
        """The post-state bijection for `q`, or None when the action changes the
        predicate in a way this construction cannot follow (then the counting
        obligations of that action are reported unknown)."""
        g = self.ghost_pre[q]
        x = z3.Const(f"probe{index}", self.u.id_sort)
        before, after = self.pred(q, self.pre, x, params), self.pred(q, tr.post, x, params)

        def emptied(timeout_ms: int | None) -> Ghost | None:
            r, _, _ = self.solve(base + [after], timeout_ms)
            return Ghost(g.pos, g.at, z3.IntVal(0)) if r == z3.unsat else None

        def constructed() -> Ghost:
            # append / swap-remove at each id the action wrote
            pos, at, n = g.pos, g.at, g.n
            for step, t in enumerate(tr.touched):
                was = z3.Or([t == e for e in tr.touched[:step]]) if step else z3.BoolVal(False)
                b = z3.If(was, self.pred(q, tr.post, t, params), self.pred(q, self.pre, t, params))
                a = self.pred(q, tr.post, t, params)
                add, remove = z3.And(z3.Not(b), a), z3.And(b, z3.Not(a))
                last = at[n - 1]
                pos, at, n = (
                    z3.If(add, z3.Store(pos, t, n), z3.If(remove, z3.Store(pos, last, pos[t]), pos)),
                    z3.If(add, z3.Store(at, n, t), z3.If(remove, z3.Store(at, pos[t], last), at)),
                    z3.If(add, n + 1, z3.If(remove, n - 1, n)),
                )
            return Ghost(pos, at, n)

        def followed(timeout_ms: int | None) -> Ghost | None:
            outside = [x != t for t in tr.touched]
            r, _, _ = self.solve(base + outside + [before != after], timeout_ms)
            return constructed() if r == z3.unsat else None

        def either(timeout_ms: int | None) -> Ghost | None:
            # An action that empties the set in some states and changes it only at the
            # ids it wrote in the others (a pointwise effect under a condition): the
            # followed bijection, with n = 0 where the set is empty afterwards. The
            # goal checks the bijection like any other, so this is no assumption.
            y = z3.FreshConst(self.u.id_sort, "y")
            nonempty = z3.Exists([y], self.pred(q, tr.post, y, params))
            r, _, _ = self.solve(base + [nonempty] + [x != t for t in tr.touched] + [before != after],
                                 timeout_ms)
            if r != z3.unsat:
                return None
            kept = constructed()
            return Ghost(kept.pos, kept.at, z3.If(nonempty, kept.n, 0))

        # Any construction can be the one that works, and another one's query
        # may be a hard `sat`: try each briefly, then each in full.
        for timeout_ms in (QUICK_MS, None):
            for attempt in (followed, emptied, either):
                ghost = attempt(timeout_ms)
                if ghost is not None:
                    return ghost
        return None

    # ------------------------------------------------------------ obligations

    def initiation(self, counts: bool = True) -> list[Obligation]:
        """Init of every state invariant, and (with `counts`) of every count's ghost: empty."""
        out = []
        st = state_symbols(self.m, self.u, "init")
        ghosts = {q: Ghost(g.pos, g.at, z3.IntVal(0)) for q, g in self.ghost_pre.items()}
        init = initial_constraints(self.m, self.u, st)
        for inv in self.m.invariants:
            if inv.state is None:
                continue
            env = self.env(st, ghosts)
            goal = [to_z3(inv.state, env)] + [self.bijection(q, st, ghosts[q], {})
                                              for q in cards_in([inv.state]) if q in self.cards]
            out.append(self.obligation(inv.name, "initiation", None, init + [z3.Not(z3.And(goal))],
                                       lambda m: {"state": self.show(m, st)}))
        for q in self.counts if counts else []:
            out.append(self.obligation(count_name(q), "initiation", None,
                                       init + [z3.Not(self.bijection(q, st, ghosts[q], {}))],
                                       lambda m: {"state": self.show(m, st)}))
        return out

    def consecution(self, action: Action, skip: frozenset[str] = frozenset(),
                    skip_ensures: frozenset[str] = frozenset(), derived: bool = True) -> list[Obligation]:
        """Every invariant (but `skip`) after a step of `action`; with `derived`, the
        counts' ghosts and the action's postconditions (but `skip_ensures`) too."""
        params = fresh_params(action, self.u, "step")
        tr = transition(self.m, action, self.u, self.pre, params, self.counter(self.pre, self.ghost_pre))
        base = self.hypotheses() + tr.guards
        ghosts: dict[Quant, Ghost | None] = {
            q: self.ghost_after(q, n, tr, params, base) for n, q in enumerate(self.cards + self.counts)}
        card = self.counter(self.pre, self.ghost_pre, (tr.post, ghosts))
        env = self.env(tr.post, {}, self.pre, params, action.name, card)
        cex = self.step_cex(action, tr, params)
        unfollowed = "the action changes a counted set in a way the ghost bijection cannot follow"
        out = []
        for inv in self.m.invariants:
            if (inv.state is None and inv.step is None) or inv.name in skip:
                continue
            needed = [q for q in cards_in([inv.state]) if q in self.cards]
            try:
                goal: list[z3.ExprRef] = []
                if inv.state is not None:
                    goal.append(to_z3(inv.state, env))
                    goal += [self.bijection(q, tr.post, _followed(ghosts, q), params) for q in needed]
                if inv.step is not None:
                    goal.append(to_z3(inv.step, env))
            except NoGhost:
                out.append(self.undecided(f"{inv.name}/{action.name}", inv.name, action.name, unfollowed))
                continue
            out.append(self.obligation(inv.name, "inductive", action.name, base + [z3.Not(z3.And(goal))], cex))
        for q in self.counts if derived else []:
            name = count_name(q)
            ghost = ghosts[q]
            if ghost is None:
                out.append(self.undecided(f"{name}/{action.name}", name, action.name, unfollowed))
                continue
            out.append(self.obligation(name, "inductive", action.name,
                                       base + [z3.Not(self.bijection(q, tr.post, ghost, params))], cex))
        for p in action.ensures if derived else ():
            if p.name in skip_ensures:
                continue
            ident = f"{action.name}/ensures/{p.name}"
            try:
                claim = to_z3(p.holds, env)
            except NoGhost:
                out.append(self.undecided(ident, p.name, action.name, unfollowed))
                continue
            out.append(self.obligation(p.name, "inductive", action.name, base + [z3.Not(claim)], cex, ident))
        return out

    def undecided(self, ident: str, claim: str, action: str, why: str) -> Obligation:
        return Obligation(ident, claim, "inductive", action, "unknown", 0.0, UNBOUNDED, None, why)

    def ranking(self, action: Action, skip: frozenset[str] = frozenset()) -> list[Obligation]:
        out = []
        for inv in self.m.invariants:
            r = inv.ranking
            if r is None or inv.name in skip:
                continue
            params = fresh_params(action, self.u, "rank")
            tr = transition(self.m, action, self.u, self.pre, params)
            env_pre = self.env(self.pre, {}, None, params)
            env_post = self.env(tr.post, {}, self.pre, params)
            x = z3.FreshConst(self.u.id_sort, "x")
            shrinks = z3.ForAll([x], z3.Implies(
                to_z3(r.pending, Env(self.m, self.u, tr.post, None, params, {r.var.name: x})),
                to_z3(r.pending, Env(self.m, self.u, self.pre, None, params, {r.var.name: x}))))
            claim = z3.Implies(z3.And(to_z3(r.active, env_pre), to_z3(r.active, env_post),
                                      to_z3(r.same_episode, env_post)), shrinks)
            out.append(self.obligation(inv.name, "ranking", action.name,
                                       self.hypotheses() + tr.guards + [z3.Not(claim)],
                                       self.step_cex(action, tr, params)))
        return out

    def obligation(self, invariant: str, kind: str, action: str | None, assertions: list[z3.ExprRef],
                   cex: Any, ident: str | None = None) -> Obligation:
        """`invariant` names the claim: an invariant, a count, or (with `ident`
        `<action>/ensures/<name>`) a postcondition of `action`."""
        name = ident or (f"{invariant}/{action or 'init'}" if kind != "ranking" else f"{invariant}/rank/{action}")
        t0 = time.perf_counter()
        r, model, reason = self.solve(assertions)
        seconds = time.perf_counter() - t0
        if r == z3.unsat:
            return Obligation(name, invariant, kind, action, "proved", seconds, UNBOUNDED)
        if r == z3.sat:
            assert model is not None
            note = (f"postcondition {invariant} of {action} does not hold" if ident
                    else f"invariant {invariant} is not preserved by {action}" if action
                    else f"invariant {invariant} does not hold at Init")
            return Obligation(name, invariant, kind, action, "violated", seconds, UNBOUNDED, cex(model), note)
        return Obligation(name, invariant, kind, action, "unknown", seconds, UNBOUNDED, None,
                          f"z3 answered unknown ({reason or 'timeout'})")

    def step_cex(self, action: Action, tr: Transition, params: dict[str, z3.ExprRef]) -> Any:
        def make(model: z3.ModelRef) -> dict[str, Any]:
            names = id_names(model, self.u)
            ids = model_ids(model, self.u)
            return {"pre": describe_state(self.m, self.u, model, self.pre, ids, names),
                    "action": action.name,
                    "params": describe_params(model, self.u, params, ids, names),
                    "post": describe_state(self.m, self.u, model, tr.post, ids, names)}
        return make

    def show(self, model: z3.ModelRef, st: StateExprs) -> dict[str, Any]:
        names = id_names(model, self.u)
        return describe_state(self.m, self.u, model, st, model_ids(model, self.u), names)


def _followed(ghosts: dict[Quant, Ghost | None], q: Quant) -> Ghost:
    ghost = ghosts[q]
    if ghost is None:
        raise NoGhost(q)
    return ghost


FALSIFY_IDS = 3


def provers_for(machine: Machine, timeout_ms: int) -> tuple[Prover, Prover]:
    """The falsifier over FALSIFY_IDS ids and the unbounded prover of `machine`."""
    return Prover(machine, timeout_ms, size=FALSIFY_IDS), Prover(machine, timeout_ms)


def prove_unbounded(machine: Machine, timeout_ms: int = 20000, actions: Iterable[str] | None = None,
                    initiation: bool = True, invariants: frozenset[str] | None = None,
                    provers: tuple[Prover, Prover] | None = None) -> list[Obligation]:
    """Initiation (unless `initiation` is false), consecution and ranking for every
    invariant (or only `invariants`, every one still assumed) and every action (or only
    `actions`).

    Each (invariant, action) pair is first tried over three ids (ints unbounded).
    A model there is a model of the unbounded obligation too (an uninterpreted sort
    may have three elements, and a finite sum is a cardinality), so a `sat` is a
    real counterexample, and a small readable one; quantified `sat`s over the
    open sort tend to time out instead. Only the pairs not falsified that way get
    the unbounded proof, and only its `unsat` makes them `proved`. `provers` (the
    3-id and the unbounded one, as `provers_for` makes them) lets a caller share their
    encoded hypotheses across calls."""
    small, full = provers or provers_for(machine, timeout_ms)
    rank = {inv.name: n for n, inv in enumerate(machine.invariants)}
    rank.update({count_name(q): len(rank) + n for n, q in enumerate(full.counts)})
    ignored = frozenset() if invariants is None else frozenset(i.name for i in machine.invariants) - invariants
    derived = invariants is None  # a run focused on invariants proves no count or postcondition of its own
    out = [o for o in full.initiation(derived) if o.invariant not in ignored] if initiation else []
    chosen = None if actions is None else frozenset(actions)
    for action in machine.actions:
        if chosen is not None and action.name not in chosen:
            continue
        falsified = [o for o in small.consecution(action, skip=ignored, derived=derived)
                     + small.ranking(action, skip=ignored) if o.result == "violated"]
        for o in falsified:
            o.note += f" (counterexample over {FALSIFY_IDS} ids, which is also a model of the unbounded claim)"
        by_kind = {kind: frozenset(o.invariant for o in falsified if o.kind == kind and not is_postcondition(o))
                   | ignored for kind in ("inductive", "ranking")}
        refuted = frozenset(o.invariant for o in falsified if is_postcondition(o))
        rest = (full.consecution(action, skip=by_kind["inductive"], skip_ensures=refuted, derived=derived)
                + full.ranking(action, skip=by_kind["ranking"]))
        ensures = {p.name: n for n, p in enumerate(action.ensures)}

        def order(o: Obligation) -> tuple[bool, bool, int]:
            post = is_postcondition(o)
            return o.kind == "ranking", post, ensures[o.invariant] if post else rank[o.invariant]
        out += sorted(falsified + rest, key=order)
    return out

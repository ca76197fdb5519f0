"""Bounded model checking and reachability from Init over a small id pool.

States s0..sK over a finite id sort; step t picks one action (and its
parameters) whose guards hold. Depth grows one step at a time, so the first
violation found is a shortest trace. Every trace found here (violation or
witness) is replayed on the spec model: the two readers of the spec must agree,
or the obligation is reported `unknown`.

Reachability turns vacuity into a failure: an action that is never enabled, or a
guard that never fails (so its error is never raised), is reported `violated`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Protocol

import z3

from opsref.proofs.encode import (
    Env, StateExprs, Table, Universe, fresh_params, initial_constraints, int_bounded, scalar, set_tables,
    state_symbols, to_z3, transition,
)
from opsref.proofs.report import Obligation, describe_params, describe_state, id_names
from opsref.spec import model as spec_model
from opsref.spec.machine import Action, CheckConfig, Machine
from opsref.spec.terms import BOOL, ID, ID_SET, INT

IDS = 3




class Unrolling:
    """s0..sK with step choices; grown one step at a time on one incremental solver."""

    def __init__(self, machine: Machine, configs: tuple[CheckConfig, ...], timeout_ms: int, depth: int,
                 start: list[Any] | None = None):
        """Unroll from Init, or (with `start`) from any state satisfying those invariants."""
        self.m = machine
        self.int_bounded = int_bounded(machine)
        self.u = Universe.make(machine, IDS, int_bound=depth + 1)
        self.level = z3.Int("level")
        self.solver = z3.Solver()
        self.solver.set("timeout", timeout_ms)
        self.states: list[StateExprs] = [state_symbols(machine, self.u, "s0")]
        self.choices: list[z3.ExprRef] = []
        self.params: list[list[dict[str, z3.ExprRef]]] = []
        self._violations: dict[tuple[int, str], z3.ExprRef] = {}
        s0 = self.states[0]
        if start is None:
            self.solver.add(*initial_constraints(machine, self.u, s0))
        else:
            self.solver.add(*(to_z3(a, Env(machine, self.u, s0)) for a in machine.assumptions))
            self.solver.add(*(to_z3(inv.state, Env(machine, self.u, s0)) for inv in start if inv.state is not None))
            # A state reached in `level` < depth steps has every counter <= level
            # (see `_one_step_safe`), so the step stays inside the finite int tables.
            self.solver.add(0 <= self.level, self.level <= depth - 1)
            self.solver.add(*(c <= self.level for c in self.counters(0)))
        self.configs = configs
        self.solver.add(z3.Or([z3.And([scalar(s0[k]) == _val(v) for k, v in c.values]) for c in configs]))

    def counters(self, t: int) -> list[z3.ExprRef]:
        """The non-rigid integer scalars of state t (sequence numbers, counts) — bounded only
        where the finite encoding needs a bound (`int_bounded`), none otherwise: a report
        count of a machine without integer tables or ranges may exceed the step number."""
        if not self.int_bounded:
            return []
        return [scalar(self.states[t][f.name]) for f in self.m.fields
                if f.key is None and f.sort == INT and not f.rigid]

    @property
    def depth(self) -> int:
        return len(self.states) - 1

    def grow(self) -> None:
        """Add step t: the chosen action's guards hold, and each field of s(t+1) is
        an if-chain over the actions that write it (the others leave it alone)."""
        t = self.depth
        pre, post = self.states[t], state_symbols(self.m, self.u, f"s{t + 1}")
        choice = z3.Int(f"action@{t}")
        params = []
        enabled = []
        results = []
        for index, action in enumerate(self.m.actions):
            p = fresh_params(action, self.u, f"s{t}")
            params.append(p)
            tr = transition(self.m, action, self.u, pre, p)
            enabled.append(z3.And(choice == index, *tr.guards))
            results.append((index, action, tr))
        self.solver.add(z3.Or(enabled))
        for f in self.m.fields:
            if f.rigid:
                continue
            writers = [(n, tr.post[f.name]) for n, action, tr in results if f.name in action.writes]
            value = pre[f.name]
            if isinstance(value, Table):
                for k, key in enumerate(value.keys):
                    chain = value.values[k]
                    for n, new in reversed(writers):
                        assert isinstance(new, Table)
                        chain = z3.If(choice == n, new.values[k], chain)
                    self.solver.add(table_value(post[f.name], k) == chain)
            else:
                chain = value
                for n, new in reversed(writers):
                    chain = z3.If(choice == n, scalar(new), chain)
                self.solver.add(scalar(post[f.name]) == chain)
        self.states.append(post)
        self.choices.append(choice)
        self.params.append(params)

    def check(self, claim: z3.ExprRef) -> tuple[z3.CheckSatResult, z3.ModelRef | None]:
        self.solver.push()
        self.solver.add(claim)
        r = self.solver.check()
        model = self.solver.model() if r == z3.sat else None
        self.solver.pop()
        return r, model

    # ------------------------------------------------------------ claims

    def state_violation(self, t: int, inv_state: Any) -> z3.ExprRef:
        return z3.Not(to_z3(inv_state, Env(self.m, self.u, self.states[t])))

    def step_violation(self, t: int, step: Any) -> z3.ExprRef:
        """The step formula fails on the step that led to state t (t >= 1)."""
        pre, post = self.states[t - 1], self.states[t]
        return z3.Or([z3.And(self.choices[t - 1] == n,
                             z3.Not(to_z3(step, Env(self.m, self.u, post, pre, self.params[t - 1][n], {}, a.name,
                                                    sets=set_tables(self.u, self.params[t - 1][n])))))
                      for n, a in enumerate(self.m.actions)])

    def ranking_violation(self, t: int, inv: Any) -> z3.ExprRef:
        r = inv.ranking
        pre, post = self.states[t - 1], self.states[t]
        grows = z3.Or([z3.And(to_z3(r.pending, Env(self.m, self.u, post, None, {}, {r.var.name: x})),
                              z3.Not(to_z3(r.pending, Env(self.m, self.u, pre, None, {}, {r.var.name: x}))))
                       for x in self.u.ids])
        return z3.And(to_z3(r.active, Env(self.m, self.u, pre)), to_z3(r.active, Env(self.m, self.u, post)),
                      to_z3(r.same_episode, Env(self.m, self.u, post, pre)), grows)

    def violation(self, t: int, inv: Any) -> z3.ExprRef:
        """The invariant fails at state t (built once per state and invariant)."""
        key = (t, inv.name)
        if key not in self._violations:
            self._violations[key] = self._violation(t, inv)
        return self._violations[key]

    def _violation(self, t: int, inv: Any) -> z3.ExprRef:
        parts = []
        if inv.state is not None:
            parts.append(self.state_violation(t, inv.state))
        if t >= 1 and inv.step is not None:
            parts.append(self.step_violation(t, inv.step))
        if t >= 1 and inv.ranking is not None:
            parts.append(self.ranking_violation(t, inv))
        return z3.Or(parts) if parts else z3.BoolVal(False)

    # ------------------------------------------------------------ traces

    def trace(self, model: z3.ModelRef, t: int) -> tuple[list[dict[str, Any]], dict[str, Any], CheckConfig]:
        names = id_names(model, self.u)
        steps = []
        for n in range(t):
            index = model.eval(self.choices[n], model_completion=True).as_long()
            action = self.m.actions[index]
            steps.append({"action": action.name,
                          "params": describe_params(model, self.u, self.params[n][index], self.u.ids, names)})
        final = describe_state(self.m, self.u, model, self.states[t], self.u.ids, names)
        s0 = self.states[0]
        for config in self.configs:  # Init is constrained to one of them
            if all(z3.is_true(model.eval(scalar(s0[k]) == _val(v), model_completion=True)) for k, v in config.values):
                return steps, final, config
        raise AssertionError("the model's configuration is none of the unrolling's")


def table_value(t: "z3.ExprRef | Table", k: int) -> z3.ExprRef:
    assert isinstance(t, Table)
    return t.values[k]


def _val(v: spec_model.Value) -> z3.ExprRef:
    if isinstance(v, bool):
        return z3.BoolVal(v)
    assert isinstance(v, int)
    return z3.IntVal(v)


# --------------------------------------------------------------------------- replay


def replay(machine: Machine, config: CheckConfig, steps: list[dict[str, Any]]) -> tuple[bool, spec_model.State, spec_model.State | None, dict[str, Any] | None]:
    """Run a trace on the spec model. Returns (all accepted, final, pre-final, last params)."""
    state = spec_model.initial_state(machine, config.as_dict())
    previous = None
    params: dict[str, Any] | None = None
    for stp in steps:
        action = machine.action(stp["action"])
        params = {}
        for p in action.params:
            raw = stp["params"][p.name]
            params[p.name] = frozenset(raw) if p.sort == ID_SET else raw
        r = spec_model.step(machine, state, action.name, params)
        if not isinstance(r, spec_model.Accepted):
            return False, state, previous, params
        previous, state = state, r.state
    return True, state, previous, params


def model_violates(machine: Machine, config: CheckConfig, steps: list[dict[str, Any]], invariant: str) -> bool:
    ok, state, previous, params = replay(machine, config, steps)
    if not ok:
        return False
    action = steps[-1]["action"] if steps else None
    bad = spec_model.violated_invariants(machine, state, previous, action, params)
    return any(b.name == invariant for b in bad)


# --------------------------------------------------------------------------- obligations


class ClosureFacts(Protocol):
    """Closure results kept between runs (proofs/run.py keeps them in the proof cache):
    that no step of `action` from a state satisfying `invariants` (under `config`, with
    counters below the depth) violates one of them. Only unsat answers are put."""

    def known(self, config: CheckConfig, action: Action, invariants: tuple[str, ...]) -> bool: ...

    def put(self, config: CheckConfig, action: Action, invariants: tuple[str, ...]) -> None: ...


def bounded_check(machine: Machine, depth: int = 10, timeout_ms: int = 60000,
                  configs: tuple[CheckConfig, ...] | None = None, progress: Callable[[str], None] | None = None,
                  facts: ClosureFacts | None = None) -> list[Obligation]:
    """One `bmc` obligation per (invariant, configuration): no violation within `depth`."""
    out: list[Obligation] = []
    for config in configs or machine.configs():
        t0 = time.perf_counter()
        unrolling = Unrolling(machine, (config,), timeout_ms, depth)
        remaining = list(machine.invariants)
        found: dict[str, Obligation] = {}
        unknown = False
        counters_start_at_zero = unrolling.check(z3.Or([c > 0 for c in unrolling.counters(0)] or [z3.BoolVal(False)]))[0] == z3.unsat
        not_closed: set[tuple[str, ...]] = set()  # the closure query depends on `remaining`, not on t
        for t in range(depth + 1):
            if t > 0 and remaining and counters_start_at_zero and _one_step_safe(
                    machine, config, remaining, timeout_ms, depth, facts, not_closed):
                # Every reachable state at depth t-1 satisfies `remaining` (checked
                # below at t-1), and no single step from such a state violates one:
                # so no depth up to `depth` can. Each claim rests on an unsat.
                if progress:
                    progress(f"bmc {config.tag}: depths {t}..{depth} clear by one-step closure")
                break
            if t > 0:
                unrolling.grow()
            while remaining:
                goal = z3.Or([unrolling.violation(t, inv) for inv in remaining])
                # Prefer a trace along which no invariant already found broken fails on the way,
                # when one exists at this depth (the shortest depth is the same either way): a
                # counterexample for X that breaks Y first reads, and replays, as one for Y.
                clean = [z3.Not(unrolling.violation(k, inv)) for inv in machine.invariants if inv.name in found
                         for k in range(found[inv.name].depth or 0, t)]
                r, model = unrolling.check(z3.And(goal, *clean)) if clean else (z3.unknown, None)
                if r != z3.sat:
                    r, model = unrolling.check(goal)
                if r == z3.unsat:
                    # None of them fails at depth t: keep them as facts about s_t.
                    # Sound for finding shortest traces, and it prunes the search.
                    for inv in remaining:
                        unrolling.solver.add(z3.Not(unrolling.violation(t, inv)))
                    break
                if r == z3.unknown or model is None:
                    unknown = True
                    break
                # every invariant this model violates fails at depth t (a shortest trace for
                # each); the rest are searched again without them, never one solver call each
                hit = [inv for inv in remaining
                       if z3.is_true(model.eval(unrolling.violation(t, inv), model_completion=True))]
                if not hit:
                    raise RuntimeError("a model of the disjunction violates none of its members")
                steps, final, cfg = unrolling.trace(model, t)
                for inv in hit:
                    agrees = model_violates(machine, cfg, steps, inv.name)
                    cex = {"config": cfg.label, "trace": steps, "state": final,
                           "violation": f"after step {t}, {inv.name} fails: it should hold that {inv.sentence}",
                           "replayed_on_model": agrees}
                    found[inv.name] = Obligation(
                        f"{inv.name}/bmc/{config.tag}", inv.name, "bmc", None,
                        "violated" if agrees else "unknown", time.perf_counter() - t0,
                        {"ids": IDS, "depth": t}, cex,
                        f"shortest counterexample: {t} steps" if agrees else
                        "Z3 trace does not replay on the spec model (encoding disagreement)")
                    remaining.remove(inv)
            if unknown:
                break
            if progress:
                progress(f"bmc {config.tag}: depth {t} clear")
        seconds = time.perf_counter() - t0
        for inv in machine.invariants:
            if inv.name in found:
                out.append(found[inv.name])
            elif unknown:
                out.append(Obligation(f"{inv.name}/bmc/{config.tag}", inv.name, "bmc", None, "unknown", seconds,
                                      {"ids": IDS, "depth": depth}, None, "z3 answered unknown"))
            else:
                out.append(Obligation(f"{inv.name}/bmc/{config.tag}", inv.name, "bmc", None, "proved", seconds,
                                      {"ids": IDS, "depth": depth}))
    return out


def _one_step_safe(machine: Machine, config: CheckConfig, remaining: list[Any], timeout_ms: int, depth: int,
                   facts: ClosureFacts | None = None, not_closed: set[tuple[str, ...]] | None = None) -> bool:
    """For every k < depth: no step from a state that satisfies `remaining` and has
    every counter <= k violates one of them or takes a counter above k + 1.

    With counters <= 0 at Init (checked by the caller) this gives, by induction on
    k, that every state reachable in k <= depth steps satisfies `remaining` and has
    counters <= k.

    The step is any action, so the claim is one per action: each is asked of a fresh
    solver with the action fixed, which Z3's preprocessing simplifies to that action's
    guards and effects (cheaper in sum than one query over the if-chains of every
    action), and an action's answer can be kept in `facts`: after an edit of one
    action only its query is asked again."""
    names = tuple(inv.name for inv in remaining)
    if not_closed is not None and names in not_closed:
        return False
    todo = [(n, a) for n, a in enumerate(machine.actions) if facts is None or not facts.known(config, a, names)]
    if todo:
        free = Unrolling(machine, (config,), timeout_ms, depth, start=remaining)
        free.grow()
        jumps = [after > free.level + 1 for after in free.counters(1)]
        claim = z3.Or([free.violation(1, inv) for inv in remaining] + jumps)
        base = free.solver.assertions()
        for n, action in todo:
            solver = z3.Solver()
            solver.set("timeout", timeout_ms)
            solver.add(base)
            solver.add(free.choices[0] == n, claim)
            if solver.check() != z3.unsat:
                if not_closed is not None:
                    not_closed.add(names)
                return False
            if facts is not None:
                facts.put(config, action, names)
    return True


def reachability(machine: Machine, depth: int = 10, timeout_ms: int = 60000,
                 progress: Callable[[str], None] | None = None) -> list[Obligation]:
    """Every action is enabled, and every guard fails, in some reachable state."""
    t0 = time.perf_counter()
    unrolling = Unrolling(machine, machine.configs(), timeout_ms, depth)
    targets: list[tuple[str, str, Any]] = []
    for action in machine.actions:
        targets.append((f"enabled/{action.name}", action.name, ("enabled", action, None)))
    for action, index, guard in machine.guards():
        targets.append((f"raises/{action.name}/{guard.name}", action.name, ("raises", action, index)))
    witnesses: dict[str, tuple[int, dict[str, Any], bool]] = {}
    for t in range(depth + 1):
        if t > 0:
            unrolling.grow()
        for name, _, (what, action, index) in targets:
            if name in witnesses:
                continue
            probe = fresh_params(action, unrolling.u, f"probe{t}")
            env = Env(machine, unrolling.u, unrolling.states[t], params=probe, sets=set_tables(unrolling.u, probe))
            guards = [to_z3(g.holds, env) for g in action.guards]
            claim = z3.And(guards) if what == "enabled" else z3.And(*guards[:index], z3.Not(guards[index]))
            r, model = unrolling.check(claim)
            if r == z3.sat and model is not None:
                steps, _, cfg = unrolling.trace(model, t)
                names = id_names(model, unrolling.u)
                args = describe_params(model, unrolling.u, probe, unrolling.u.ids, names)
                agrees = _model_agrees(machine, cfg, steps, action.name, args, what, index)
                witnesses[name] = (t, {"config": cfg.label, "trace": steps + [{"action": action.name, "params": args}],
                                       "replayed_on_model": agrees}, agrees)
        if progress:
            progress(f"reachability: depth {t}, {len(witnesses)}/{len(targets)} witnessed")
        if len(witnesses) == len(targets):
            break
    seconds = time.perf_counter() - t0
    out = []
    for name, action_name, (what, action, index) in targets:
        if name in witnesses:
            t, cex, agrees = witnesses[name]
            out.append(Obligation(name, "reachability", "reachability", action_name,
                                  "proved" if agrees else "unknown", seconds, {"ids": IDS, "depth": t},
                                  None if agrees else cex,
                                  "" if agrees else "witness does not replay on the spec model"))
        else:
            what_text = "is never enabled" if what == "enabled" else "never fails: its error is never raised"
            out.append(Obligation(name, "reachability", "reachability", action_name, "violated", seconds,
                                  {"ids": IDS, "depth": depth}, None,
                                  f"within {depth} steps {action_name}{'' if index is None else '.' + action.guards[index].name} {what_text}"))
    for error in machine.errors:
        raising = [f"raises/{a.name}/{g.name}" for a, _, g in machine.guards() if g.error == error]
        hit = [n for n in raising if n in witnesses and witnesses[n][2]]
        out.append(Obligation(f"error/{error}", "reachability", "reachability", None,
                              "proved" if hit else "violated", seconds, {"ids": IDS, "depth": depth}, None,
                              "" if hit else f"no reachable state raises {error}"))
    return out


def _model_agrees(machine: Machine, cfg: CheckConfig, steps: list[dict[str, Any]], action: str,
                  args: dict[str, Any], what: str, index: int | None) -> bool:
    ok, state, _, _ = replay(machine, cfg, steps)
    if not ok:
        return False
    act = machine.action(action)
    params = {p.name: frozenset(args[p.name]) if p.sort == ID_SET else args[p.name] for p in act.params}
    failing = spec_model.first_failing_guard(machine, act, state, params)
    if what == "enabled":
        return failing is None
    return failing is not None and failing == act.guards[index or 0] and act.guards.index(failing) == index

"""The `opsref` command line.

Exit status is something CI can trust: 0 when everything asked for holds, 1 when
a result is violated or unknown, 2 for bad usage, 3 for an internal error (with
the traceback only when OPSREF_DEBUG is set).
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from typing import Sequence

EXIT_OK, EXIT_FINDING, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


def parser() -> argparse.ArgumentParser:
    from spec.registry import MACHINES, PROFILES

    top = argparse.ArgumentParser(
        prog="opsref",
        description="Formal reference of the async-operation lifecycle: spec, proofs, oracle.",
        epilog="Exit status: 0 all holds, 1 a finding (violated or unknown), 2 bad usage, 3 internal error.",
    )
    sub = top.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    prove = sub.add_parser(
        "prove", help="prove every invariant of the spec and print the report",
        description=(
            "Prove every invariant of every machine: initiation, inductive consecution and "
            "ranking over an unbounded number of operation ids; bounded model checking from "
            "Init over 3 ids; and reachability of every action and every error. A result is "
            "'proved' only when Z3 answers unsat (or, for reachability, a witness trace "
            "replays on the spec model). Progress goes to stderr."),
        epilog="Exit status: 0 when every obligation is proved, 1 otherwise, 2 for bad usage.",
    )
    prove.add_argument("--profile", choices=PROFILES, default="reference",
                       help="which semantics to prove: the reference's own (default) or the seed's")
    prove.add_argument("--json", action="store_true", help="print the report as JSON instead of a table")
    prove.add_argument("--machine", action="append", choices=sorted(MACHINES), metavar="NAME",
                       help=f"prove only this machine (repeatable; known: {', '.join(MACHINES)})")
    prove.add_argument("--depth", type=_positive, default=10, help="BMC and reachability depth (default 10)")
    prove.add_argument("--jobs", type=_positive, default=min(os.cpu_count() or 1, 2),
                       help="worker processes (default: cores, at most 2)")
    prove.add_argument("--timeout", type=_positive, default=60, metavar="SECONDS",
                       help="Z3 time limit per query; a timeout counts as a failure (default 60)")
    prove.add_argument("--quiet", action="store_true", help="no progress on stderr")
    prove.set_defaults(run=cmd_prove)

    check = sub.add_parser(
        "check", help="replay a trace file against the spec and report the first divergence",
        description=(
            "Replay an opsref.trace/1 file (conformance/PROTOCOL.md) against the spec model: every "
            "observed result (and snapshot, when the event has one) must equal what the spec says. "
            "On a divergence it prints the event, the events before it, the expected and observed "
            "result, and the spec guard or effects that decide it."),
        epilog="Exit status: 0 every event agrees, 1 a divergence, 2 bad usage or a malformed trace.",
    )
    check.add_argument("trace", metavar="TRACE", help="the trace file (JSON lines; - for stdin)")
    check.add_argument("--profile", choices=PROFILES, default="reference",
                       help="the semantics to check against (default reference)")
    check.add_argument("--context", type=_positive, default=5, help="preceding events to show (default 5)")
    check.set_defaults(run=cmd_check)

    simulate = sub.add_parser(
        "simulate", help="random walks of the spec with every invariant checked after every step",
        description=(
            "Random walks of the spec model from Init, with random configurations and parameters drawn "
            "over a small id pool; every invariant is checked after every accepted step. A quick "
            "falsifier for spec authors (not a proof: see `opsref prove`). Prints steps per second."),
        epilog="Exit status: 0 no violation, 1 an invariant was violated (the walk is printed), 2 bad usage.",
    )
    simulate.add_argument("--profile", choices=PROFILES, default="reference", help="default reference")
    simulate.add_argument("--machine", choices=sorted(MACHINES), default="ops_lifecycle", metavar="NAME",
                          help="the machine to walk (default ops_lifecycle)")
    simulate.add_argument("--runs", type=_positive, default=100, help="walks from Init (default 100)")
    simulate.add_argument("--steps", type=_positive, default=1000, help="steps per walk (default 1000)")
    simulate.add_argument("--seed", type=int, default=0, help="random seed (default 0); same seed, same walks")
    simulate.add_argument("--ids", type=_positive, default=4, help="size of the id pool (default 4)")
    simulate.set_defaults(run=cmd_simulate)
    return top


def cmd_prove(args: argparse.Namespace) -> int:
    from proofs.report import render_table
    from proofs.run import prove
    from spec.registry import build_all

    def progress(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    machines = build_all(args.profile, args.machine)
    if not args.quiet:
        progress(f"opsref prove: profile {args.profile}, machines {', '.join(m.name for m in machines)}, "
                 f"depth {args.depth}, {args.jobs} worker(s)")
    report = prove(machines, args.profile, depth=args.depth, timeout_ms=args.timeout * 1000,
                   jobs=args.jobs, progress=None if args.quiet else progress, verbose=not args.quiet)
    print(report.dumps() if args.json else render_table(report))
    return EXIT_OK if report.ok else EXIT_FINDING


def cmd_check(args: argparse.Namespace) -> int:
    from conformance import check
    from conformance.trace import read

    path = args.trace
    try:
        stream = sys.stdin if path == "-" else open(path, encoding="utf-8")
    except OSError as err:
        print(f"opsref check: cannot read {path}: {err.strerror}", file=sys.stderr)
        return EXIT_USAGE
    with stream:
        header, events = read(stream, "<stdin>" if path == "-" else path)
        result = check.check(header, events, args.profile, args.context)
    print(check.render(path, args.profile, result))
    return EXIT_OK if result.divergence is None else EXIT_FINDING


def cmd_simulate(args: argparse.Namespace) -> int:
    from conformance.simulate import render, simulate
    from spec.registry import MACHINES

    machine = MACHINES[args.machine](args.profile)
    print(f"opsref simulate: {machine.name}/{args.profile}, {args.runs} runs x {args.steps} steps, "
          f"{args.ids} ids, seed {args.seed}", file=sys.stderr, flush=True)
    result = simulate(machine, args.runs, args.steps, args.seed, args.ids,
                      progress=lambda m: print(m, file=sys.stderr, flush=True))
    print(render(result, machine))
    return EXIT_OK if result.violation is None else EXIT_FINDING


def main(argv: Sequence[str] | None = None) -> int:
    from conformance.calls import InputError

    args = parser().parse_args(argv)
    try:
        code: int = args.run(args)
        return code
    except InputError as exc:  # bad input: one line naming the file, line and field
        print(f"opsref {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("opsref: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the last line of defence: one line, never a traceback
        if os.environ.get("OPSREF_DEBUG"):
            traceback.print_exc()
        print(f"opsref: internal error: {type(exc).__name__}: {exc} (set OPSREF_DEBUG=1 for the traceback)",
              file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())

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


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        code: int = args.run(args)
        return code
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

"""The `opsref` command line.

Exit status is something CI can trust: 0 when everything asked for holds, 1 when
a result is violated or unknown, 2 for bad usage, 3 for an internal error (with
the traceback only when OPSREF_DEBUG is set).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import textwrap
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence, TextIO

if TYPE_CHECKING:
    from junitparser import JUnitXml

    from opsref.conformance.calls import ProtocolConfig
    from opsref.conformance.drive import Plan
    from opsref.conformance.trace import Event

EXIT_OK, EXIT_FINDING, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


def _names(text: str) -> frozenset[str]:
    """A comma-separated list of call names."""
    names = frozenset(n.strip() for n in text.split(",") if n.strip())
    if not names:
        raise argparse.ArgumentTypeError("expected call names separated by commas")
    return names


#: the largest count a flag takes: far beyond any useful run, small enough for every use
#: (a deque's length, a Z3 time limit in milliseconds)
MAX_COUNT = 1_000_000
#: the longest per-request time limit: a day
MAX_SECONDS = 86_400.0


def _positive(text: str) -> int:
    match = re.fullmatch(r"\s*([+-]?)0*(\d+)\s*", text)
    if match is None:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text[:40]!r}")
    sign, digits = match.groups()
    if sign == "-" or digits == "0":
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {text[:40]}")
    if len(digits) > len(str(MAX_COUNT)) or int(digits) > MAX_COUNT:  # no conversion of 5,000 digits
        raise argparse.ArgumentTypeError(f"expected a whole number from 1 to {MAX_COUNT:,}, got {text[:40]}")
    return int(digits)


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text[:40]!r}") from None
    if not 0 < value <= MAX_SECONDS:  # refuses nan and inf too
        raise argparse.ArgumentTypeError(f"expected a time > 0 and at most {MAX_SECONDS:g} seconds, got {text[:40]}")
    return value


JUNIT_HELP = "also write the results as JUnit XML to FILE for CI ({suite})"

PROFILE_HELP = ("reference (default) or seed; +DECISION / -DECISION adopts or drops one decision "
                "(e.g. seed+ids_never_reused; the names are in docs/divergences.md)")


def _profile(text: str) -> str:
    """reference or seed, optionally adopting (+NAME) or dropping (-NAME) single decisions."""
    from opsref.spec.machine import check_profile
    from opsref.spec.registry import MACHINES
    decisions = tuple(d for build in MACHINES.values() for d in build("reference").decisions)
    try:
        check_profile(text, decisions)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return text


def _version() -> str:
    """The installed distribution's version (the one in pyproject.toml)."""
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("opsref")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def parser() -> argparse.ArgumentParser:
    from opsref.spec.registry import MACHINES, PROFILES

    top = argparse.ArgumentParser(
        prog="opsref",
        description="Formal reference of the async-operation lifecycle: spec, proofs, oracle.",
        epilog="Exit status: 0 all holds, 1 a finding (violated or unknown), 2 bad usage, 3 internal error.",
    )
    top.add_argument("--version", action="version", version=f"opsref {_version()}",
                     help="print the installed version and exit")
    sub = top.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    prove = sub.add_parser(
        "prove", help="prove every invariant of the spec and print the report",
        description=(
            "Prove every invariant of every machine: initiation, inductive consecution and "
            "ranking over an unbounded number of operation ids; bounded model checking from "
            "Init over 3 ids; and reachability of every action and every error. A result is "
            "'proved' only when Z3 answers unsat (or, for reachability, a witness trace "
            "replays on the spec model). The report has a line per machine and invariant, grouping its "
            "obligations (Init and every action's step, ranking, BMC depth and configurations), a line for "
            "reachability, and every failure in full with its counterexample; --verbose lists every "
            "obligation. Progress goes to stderr."),
        epilog="Exit status: 0 when every obligation is proved, 1 otherwise, 2 for bad usage (or a --junit FILE "
               "that cannot be written).",
    )
    prove.add_argument("--profile", type=_profile, default="reference", metavar="PROFILE",
                       help="which semantics to prove: the reference's own (default) or the seed's")
    prove.add_argument("--json", action="store_true", help="print the report as JSON instead of text")
    prove.add_argument("--verbose", action="store_true",
                       help="print every obligation on its own line (and every BMC depth and reachability step "
                            "on stderr); by default one line per invariant")
    prove.add_argument("--junit", metavar="FILE", help=JUNIT_HELP.format(
        suite="a testsuite per machine, a testcase per obligation; violated and unknown are failures"))
    prove.add_argument("--machine", action="append", choices=sorted(MACHINES), metavar="NAME",
                       help=f"prove only this machine (repeatable; known: {', '.join(MACHINES)})")
    prove.add_argument("--depth", type=_positive, default=10, help="BMC and reachability depth (default 10)")
    prove.add_argument("--jobs", type=_positive, default=min(os.cpu_count() or 1, 2),
                       help="worker processes (default: cores, at most 2)")
    prove.add_argument("--timeout", type=_positive, default=60, metavar="SECONDS",
                       help="Z3 time limit per query; a timeout counts as a failure (default 60)")
    prove.add_argument("--quiet", action="store_true", help="no progress on stderr")
    prove.add_argument("--invariant", action="append", metavar="NAME",
                       help="prove only this invariant's obligations (repeatable; every invariant is still "
                            "assumed in the unbounded proofs; reachability is skipped)")
    prove.add_argument("--config", action="append", metavar="TAG", dest="check_config",
                       help="bounded checks under only this configuration (repeatable; the tags are in the "
                            "report, e.g. mc1 for ops_lifecycle)")
    prove.add_argument("--itf", default=None, metavar="DIR",
                       help="also write every BMC counterexample as an ITF trace (Apalache/Quint's trace "
                            "format) in DIR, <machine>.<invariant>.<config>.itf.json")
    prove.add_argument("--no-cache", action="store_true",
                       help="prove everything afresh, reading and writing no cached result (what CI runs); by "
                            "default results are kept in build/proof-cache/, keyed by everything each one "
                            "depends on, and only what a change touched is proved again")
    prove.set_defaults(run=cmd_prove)

    check = sub.add_parser(
        "check", help="replay a trace file against the spec and report the first divergence",
        description=(
            "Replay an opsref.trace/1 file (conformance/PROTOCOL.md) against the spec model: every "
            "observed result (and snapshot, when the event has one) must equal what the spec says. "
            "On a divergence it prints the event, the events before it, the expected and observed "
            "result, and the spec guard or effects that decide it."),
        epilog="Exit status: 0 every event agrees, 1 a divergence, 2 bad usage, a malformed trace or a --junit FILE "
               "that cannot be written.",
    )
    check.add_argument("trace", metavar="TRACE",
                       help="the trace file (JSON lines; - for stdin), an ITF trace (*.itf.json or a JSON object "
                            "with states, from quint run --mbt --out-itf) or a folder of ITF traces")
    check.add_argument("--profile", type=_profile, default="reference", metavar="PROFILE",
                       help="the semantics to check against (default reference)")
    check.add_argument("--context", type=_positive, default=5, help="preceding events to show (default 5)")
    check.add_argument("--junit", metavar="FILE", help=JUNIT_HELP.format(
        suite="a testcase for the trace, its divergence the failure"))
    check.set_defaults(run=cmd_check)

    simulate = sub.add_parser(
        "simulate", help="random walks of the spec with every invariant checked after every step",
        description=(
            "Random walks of the spec model from Init, with random configurations; each step draws an "
            "action and in-domain parameters (over a small id pool that always holds a fresh id) uniformly "
            "among the enabled ones, so every step is an accepted transition (refused draws are counted "
            "apart; a walk where nothing is enabled starts again from Init), and every invariant is checked "
            "after it (re-evaluating only what the step can have changed). A quick falsifier for spec authors (not a proof: see "
            "`opsref prove`). Prints accepted transitions per second."),
        epilog="Exit status: 0 no violation, 1 an invariant was violated (the walk is printed), 2 bad usage.",
    )
    simulate.add_argument("--profile", type=_profile, default="reference", metavar="PROFILE", help=PROFILE_HELP)
    simulate.add_argument("--machine", choices=sorted(MACHINES), default="ops_lifecycle", metavar="NAME",
                          help="the machine to walk (default ops_lifecycle)")
    simulate.add_argument("--runs", type=_positive, default=100, help="walks from Init (default 100)")
    simulate.add_argument("--steps", type=_positive, default=1000, help="accepted transitions per walk (default 1000)")
    simulate.add_argument("--seed", type=int, default=0, help="random seed (default 0); same seed, same walks")
    simulate.add_argument("--ids", type=_positive, default=4, help="size of the id pool (default 4)")
    simulate.add_argument("--coverage", action="store_true",
                          help="also count the (action, guard, phase) cells the draws reach, and how many "
                               "within each budget of accepted transitions (100, 1,000, ...)")
    simulate.add_argument("--itf", default=None, metavar="FILE",
                          help="write the violating walk (its accepted steps) as an ITF trace, which "
                               "`opsref check` and other ITF tools read")
    simulate.set_defaults(run=cmd_simulate)

    drive = sub.add_parser(
        "drive", help="run an implementation over the stdio protocol and compare it with the spec",
        description=textwrap.fill(
            "Start CMD, speak the JSON-lines protocol (conformance/PROTOCOL.md) with it, and compare "
            "every response with the spec. --machine picks the machine (and with it the protocol's "
            "calls): the registry's own protocol for ops_lifecycle, the action protocol derived from "
            "the spec for the others.") + "\n\n" + textwrap.fill(
            "Random mode (the default) draws --runs sequences of --depth calls: each call's name "
            "uniformly before its arguments, steered by the reference spec toward (call, guard, "
            "phase) cells no sequence has covered yet and toward states no sequence has entered, a "
            "sequence ending where the spec lets nothing change any more. After every call that may "
            "change state it reads the implementation's whole observable state (observe of every id "
            "in play and observe_globals; for the registry its operations), so a wrong state shows "
            "where it arises. A failing sequence is shrunk; the cells reached are reported.") + "\n\n" + textwrap.fill(
            "Exhaustive mode tries every sequence up to --depth over --ids ids, breadth first (its "
            "counterexample is a shortest one), probing everything observable after each. It PRUNES: "
            "a sequence is not extended when an earlier one reached the same spec state, so an "
            "implementation whose answers depend on history the spec does not record can escape it "
            "(random mode is the search for those); --no-prune tries literally every sequence. Its "
            "default depth is the smallest at which the spec has entered every phase of the machine.")
        + "\n\n" + textwrap.fill(
            "A counterexample is printed with its configuration and written to --out, a trace that "
            "`opsref check` replays."),
        epilog=("Examples:\n  opsref drive -- node examples/js-registry/server.js\n"
                "  opsref drive --machine runtime_control --calls accept_input,retire,stop -- CMD\n"
                "  opsref drive --config '{\"max_completed\": 1, \"max_concurrent\": 1}' -- CMD\n"
                "Exit status: 0 conforms, 1 a mismatch or a crashing / hanging / garbage-printing "
                "implementation,\n2 bad usage, a command that cannot start or a --junit FILE that cannot be written."),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    drive.add_argument("--profile", type=_profile, default="reference", metavar="PROFILE", help=PROFILE_HELP)
    drive.add_argument("--machine", choices=sorted(MACHINES), default="ops_lifecycle", metavar="NAME",
                       help=f"the machine the implementation implements (default ops_lifecycle; known: "
                            f"{', '.join(MACHINES)})")
    drive.add_argument("--mode", choices=("random", "exhaustive"), default="random", help="default random")
    drive.add_argument("--depth", type=_positive, default=None,
                       help="calls per sequence (random, default 30) or the maximum length (exhaustive, "
                            "default: the depth that reaches every phase)")
    drive.add_argument("--ids", type=_positive, default=None, help="id pool size (default 3 random, 2 exhaustive)")
    drive.add_argument("--runs", type=_positive, default=300, help="random sequences (default 300)")  # RANDOM_DEFAULTS
    drive.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    drive.add_argument("--config", action="append", default=[], metavar="JSON",
                       help="run under this configuration (a JSON object, as in a trace header; repeatable; "
                            "default: the protocol's own set)")
    drive.add_argument("--calls", type=_names, default=None, metavar="A,B,...",
                       help="draw only these calls (comma-separated; reset is always made)")
    drive.add_argument("--exclude", type=_names, default=frozenset(), metavar="A,B,...",
                       help="never draw these calls (comma-separated)")
    drive.add_argument("--no-prune", action="store_true",
                       help="exhaustive mode: extend every sequence, not one per spec state reached")
    drive.add_argument("--no-cache", action="store_true",
                       help="random mode: generate the sequences afresh, reading and writing none; by default "
                            "they are kept in build/drive-cache/, keyed by the settings and the generator's "
                            "source, and replayed by the next drive with the same settings (the same sequences, "
                            "without stepping the spec through every call to steer them)")
    drive.add_argument("--timeout", type=_positive_seconds, default=5.0, metavar="SECONDS",
                       help="per-request time limit (default 5)")
    drive.add_argument("--out", default=None, metavar="FILE",
                       help="where to write a counterexample trace (default build/opsref-counterexample-MACHINE.jsonl)")
    drive.add_argument("--itf", default=None, metavar="FILE",
                       help="also write the counterexample as an ITF trace (Apalache/Quint's trace format): "
                            "the spec's states along it, one per accepted spec step")
    drive.add_argument("--junit", metavar="FILE", help=JUNIT_HELP.format(
        suite="a testcase for the run, a mismatch or a failing implementation its failure with the counterexample"))
    drive.add_argument("impl_command", nargs=argparse.REMAINDER, metavar="-- CMD ARGS...",
                       help="the implementation to start")
    drive.set_defaults(run=cmd_drive)

    serve = sub.add_parser(
        "serve", help="speak the conformance protocol on stdin/stdout, answered by impl/",
        description=("Answer protocol requests (conformance/PROTOCOL.md) with impl/ (the registry, or with "
                     "--machine the comms drain, mob adapter or runtime control plane), so that "
                     "`opsref drive -- opsref serve` checks it like any other implementation."),
        epilog="Example: opsref drive --machine comms_drain -- opsref serve --machine comms_drain",
    )
    serve.add_argument("--machine", choices=sorted(MACHINES), default="ops_lifecycle", metavar="NAME",
                       help="the machine to serve (default ops_lifecycle)")
    serve.set_defaults(run=cmd_serve)

    vectors = sub.add_parser(
        "vectors", help="write the test-vector corpus and print its coverage matrix",
        description=(
            "Write a corpus of trace files with the spec's results: every per-operation call from every "
            "status of its target, every error kind each call can raise, the wait barrier's answers, "
            "the feed read around its watermark and after it overflowed, and a scenario per decision. Prints the "
            "coverage matrix; an uncovered cell is a failure. Output is deterministic."),
        epilog="Exit status: 0 full coverage, 1 an uncovered cell, 2 bad usage.",
    )
    vectors.add_argument("--out", required=True, metavar="DIR",
                         help="output folder (created; an earlier corpus there is replaced)")
    vectors.add_argument("--profile", type=_profile, default="reference", metavar="PROFILE", help=PROFILE_HELP)
    vectors.add_argument("--machine", choices=sorted(MACHINES), default="ops_lifecycle", metavar="NAME",
                         help="the machine (default ops_lifecycle); for the others a vector per action accepted "
                              "and per guard refusing it")
    vectors.set_defaults(run=cmd_vectors)

    docs = sub.add_parser(
        "docs", help="write the review pages (docs/spec/*.md, docs/divergences.md) from the spec",
        description=(
            "Generate, from the spec and the recorded proof reports (DIR/proofs/<profile>.json, written by "
            "`make docs`), one review page per machine under DIR/spec/ and DIR/divergences.md with its seed "
            "traces. With --check, write nothing: fail when the committed files differ from what the spec "
            "generates, or when a recorded proof report is about an older spec."),
        epilog="Exit status: 0 written / up to date, 1 drift (with --check), 2 bad usage or missing reports.",
    )
    docs.add_argument("--dir", default="docs", metavar="DIR", help="the docs folder (default docs)")
    docs.add_argument("--check", action="store_true", help="compare instead of writing")
    docs.set_defaults(run=cmd_docs)

    mutants = sub.add_parser(
        "mutants", help="spec mutation adequacy: generate mutants of the spec and check each is caught",
        description=(
            "Generate mutants of each machine systematically (drop each guard; widen and narrow each from-set "
            "by one status; drop each effect; change each counter update by one; swap the errors of two guards) "
            "and run each through the killers, cheapest first: random walks with every invariant checked, a "
            "differential run against impl/, the unbounded inductive proofs. A survivor must be listed with a "
            "one-line reason in proofs/equivalent_mutants.txt; otherwise it is a gap in the invariants."),
        epilog="Exit status: 0 no unjustified survivor, 1 survivors (or stale equivalence entries), 2 bad usage "
               "(or a --junit FILE that cannot be written).",
    )
    mutants.add_argument("--json", action="store_true",
                         help='print {"mutants", "killed", "equivalent", "survived", "matrix"} as JSON')
    mutants.add_argument("--machine", action="append", choices=sorted(MACHINES), metavar="NAME",
                         help="only this machine (repeatable)")
    mutants.add_argument("--jobs", type=_positive, default=min(os.cpu_count() or 1, 2),
                         help="worker processes (default: cores, at most 2)")
    mutants.add_argument("--quiet", action="store_true", help="no progress on stderr")
    mutants.add_argument("--junit", metavar="FILE", help=JUNIT_HELP.format(
        suite="a testsuite per machine, a testcase per mutant: killed passes, a justified equivalent is "
              "skipped, a survivor fails"))
    mutants.set_defaults(run=cmd_mutants)

    export = sub.add_parser(
        "export", help="write the machines in another tool's language (Quint)",
        description=(
            "Write one Quint module per machine, generated from the machine's data (interop/quint.py): "
            "a variable per spec field (keyed fields as maps over a finite id set), init, one action per "
            "spec action with its guards in order and its effects, every invariant as a val "
            "(all_invariants: their conjunction), and a step choosing any action with nondeterministic "
            "parameters. Check it with `quint typecheck` and `quint run --backend=typescript "
            "--invariant=all_invariants`; `quint run --mbt --out-itf=F` writes traces `opsref check F` replays."),
        epilog="Exit status: 0 written, 2 bad usage.",
    )
    what = export.add_mutually_exclusive_group(required=True)
    what.add_argument("--quint", action="store_true", help="Quint modules, one per machine")
    what.add_argument("--itf-from", default=None, metavar="REPORT",
                      help="the BMC counterexamples of a proof report (opsref prove --json, e.g. "
                           "docs/proofs/seed.json) as ITF traces, <machine>.<invariant>.<config>.itf.json "
                           "(the report names its profile)")
    export.add_argument("--machine", action="append", choices=sorted(MACHINES), metavar="NAME",
                        help="export only this machine (repeatable; default all four)")
    export.add_argument("--profile", type=_profile, default="reference", metavar="PROFILE", help=PROFILE_HELP)
    export.add_argument("--out", default="build/quint", metavar="DIR",
                        help="folder for what is written (default build/quint)")
    export.add_argument("--ids", type=_positive, default=3, help="size of the finite id set (default 3)")
    export.set_defaults(run=cmd_export)

    schema = sub.add_parser("schema", help="print the JSON Schema of a trace line (conformance/trace.schema.json)")
    schema.set_defaults(run=cmd_schema)
    return top


def _write_junit(args: argparse.Namespace, build: Callable[[], JUnitXml]) -> bool:
    """Write --junit FILE when asked; False (after one line on stderr) when it cannot be written."""
    from opsref import junit

    if args.junit is None:
        return True
    try:
        junit.write(build(), args.junit)
    except OSError as err:
        print(f"opsref {args.command}: cannot write the JUnit report {args.junit}: {err.strerror or err}",
              file=sys.stderr)
        return False
    return True


def cmd_prove(args: argparse.Namespace) -> int:
    from opsref import junit
    from opsref.proofs.cache import ProofCache
    from opsref.proofs.report import render_summary, render_table
    from opsref.proofs.run import Focus, prove
    from opsref.spec.registry import build_all

    def progress(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    machines = build_all(args.profile, args.machine)
    focus = None
    if args.invariant or args.check_config:
        focus = Focus(frozenset(args.invariant) if args.invariant else None,
                      frozenset(args.check_config) if args.check_config else None)
        unknown = set.intersection(*(set(focus.unknown_names(m)) for m in machines))
        if unknown:
            print(f"opsref prove: no invariant or configuration named {', '.join(sorted(unknown))} in "
                  f"{', '.join(m.name for m in machines)}", file=sys.stderr)
            return EXIT_USAGE
    if not args.quiet:
        progress(f"opsref prove: profile {args.profile}, machines {', '.join(m.name for m in machines)}, "
                 f"depth {args.depth}, {args.jobs} worker(s)")
    store = None if args.no_cache or focus is not None else ProofCache()
    report = prove(machines, args.profile, depth=args.depth, timeout_ms=args.timeout * 1000,
                   jobs=args.jobs, progress=None if args.quiet else progress, verbose=args.verbose and not args.quiet,
                   store=store, focus=focus)
    if store is not None and not args.quiet:
        total = sum(len(m.obligations) for m in report.machines)
        progress(f"opsref prove: {store.hits} of {total} results from the cache ({store.folder}/; --no-cache proves all)")
    print(report.dumps() if args.json else render_table(report) if args.verbose else render_summary(report))
    if args.itf:
        written = _counterexamples_as_itf(args.profile, json.loads(report.dumps())["machines"], Path(args.itf),
                                          None, "prove", sys.stderr)  # stdout holds the report
        print(f"opsref prove: {len(written)} BMC counterexample(s) written as ITF to {args.itf}/", file=sys.stderr)
    if not _write_junit(args, lambda: junit.from_proofs(report)):
        return EXIT_USAGE
    return EXIT_OK if report.ok else EXIT_FINDING


def cmd_check(args: argparse.Namespace) -> int:
    from opsref import junit
    from opsref.conformance import check
    from opsref.conformance.trace import read

    path = args.trace
    if path != "-" and _is_itf(path):  # ITF traces (quint run --mbt --out-itf): interop/itf.py
        return _check_itf(path, args.profile)
    try:
        stream = sys.stdin.buffer if path == "-" else open(path, "rb")
    except OSError as err:
        print(f"opsref check: cannot read {path}: {err.strerror}", file=sys.stderr)
        return EXIT_USAGE
    with stream:
        header, events = read(stream, "<stdin>" if path == "-" else path)
        result = check.check(header, events, args.profile, args.context)
    text = check.render(path, args.profile, result)
    print(text)
    if not _write_junit(args, lambda: junit.from_check(path, args.profile, result, text)):
        return EXIT_USAGE
    return EXIT_OK if result.divergence is None else EXIT_FINDING


def _is_itf(path: str) -> bool:
    """A folder (of ITF traces) or an ITF file; unreadable files are left to the trace reader."""
    from opsref.interop.itf import looks_like_itf

    if os.path.isdir(path) or path.endswith(".itf.json"):
        return True
    if not os.path.isfile(path):
        return False  # a pipe or device: reading ahead would take lines from the trace reader
    try:
        with open(path, "rb") as stream:
            head = stream.read(4096)
    except OSError:
        return False  # the trace reader reports it as bad input
    return looks_like_itf(path, head)


def _check_itf(path: str, profile: str) -> int:
    """One ITF trace, or every `*.itf.json` under a folder (one line each, then a total)."""

    from opsref.interop import itf
    from opsref.spec.registry import build_all

    machines = build_all(profile)
    paths = sorted(str(p) for p in Path(path).rglob("*.itf.json")) if os.path.isdir(path) else [path]
    if not paths:
        print(f"opsref check: no *.itf.json under {path}", file=sys.stderr)
        return EXIT_USAGE
    failed = steps = 0
    for each in paths:
        doc = itf.load(each)
        result = itf.check(itf.detect_machine(doc, machines, each), doc, each)
        steps += result.states - 1
        if not result.clean or len(paths) == 1:
            print(itf.render(result))
        failed += not result.clean
    if len(paths) > 1:
        print(f"{path}: {len(paths)} ITF traces, {steps:,} steps replayed on the spec ({profile}): "
              + (f"{failed} with a finding" if failed else "every trace agrees, every invariant holds"))
    return EXIT_OK if failed == 0 else EXIT_FINDING


def cmd_simulate(args: argparse.Namespace) -> int:
    from opsref.conformance.simulate import render, simulate
    from opsref.spec.registry import MACHINES

    machine = MACHINES[args.machine](args.profile)
    print(f"opsref simulate: {machine.name}/{args.profile}, {args.runs} runs x {args.steps} steps, "
          f"{args.ids} ids, seed {args.seed}", file=sys.stderr, flush=True)
    result = simulate(machine, args.runs, args.steps, args.seed, args.ids,
                      progress=lambda m: print(m, file=sys.stderr, flush=True), coverage=args.coverage)
    print(render(result, machine))
    if args.itf and result.violation is not None:
        from opsref.interop import itf

        try:
            with open(args.itf, "w", encoding="utf-8") as out:
                out.write(itf.dumps(itf.trace(machine, result.violation.config, result.violation.walk)))
        except OSError as err:
            print(f"opsref simulate: cannot write {args.itf}: {err.strerror}", file=sys.stderr)
            return EXIT_USAGE
        print(f"counterexample written as ITF to {args.itf}")
    return EXIT_OK if result.violation is None else EXIT_FINDING


def cmd_drive(args: argparse.Namespace) -> int:
    import time

    from opsref import junit
    from opsref.conformance import check, drive, tape_cache
    from opsref.conformance.process import Implementation, ImplementationFailed
    from opsref.conformance.trace import Header, write

    command = args.impl_command[1:] if args.impl_command[:1] == ["--"] else args.impl_command
    if not command:
        print("opsref drive: give the implementation's command after --, e.g. "
              "opsref drive -- node examples/js-registry/server.js", file=sys.stderr)
        return EXIT_USAGE
    plan, bad = _drive_plan(args)
    if plan is None:
        print(f"opsref drive: {bad}", file=sys.stderr)
        return EXIT_USAGE
    defaults = drive.RANDOM_DEFAULTS
    id_count = args.ids or (defaults.id_count if args.mode == "random" else 2)
    depth = args.depth or (defaults.depth if args.mode == "random" else drive.phase_depth(plan, drive.id_names(id_count)))

    def progress(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    progress(f"opsref drive: {args.machine}, {args.mode}, depth {depth}, {id_count} ids, profile {args.profile}: "
             f"{' '.join(command)}")
    run_name = f"{args.machine} {args.mode}, depth {depth}, {id_count} ids: {' '.join(command)}"
    classname = f"drive.{args.profile}.{args.machine}"
    started = time.perf_counter()
    reached: set[drive.Cell] = set()
    try:
        with Implementation(command, args.timeout) as impl:
            if args.mode == "random":
                result = drive.drive_random(impl, args.profile, args.runs, depth, id_count, args.seed, progress,
                                            args.machine, plan, reached,
                                            cache=None if args.no_cache else tape_cache.DEFAULT_FOLDER)
            else:
                result = drive.drive_exhaustive(impl, args.profile, depth, id_count, progress, name=args.machine,
                                                plan=plan, prune=not args.no_prune)
    except ImplementationFailed as failed:
        print(f"opsref drive: {failed}", file=sys.stderr)
        if not _write_junit(args, lambda: junit.from_drive(run_name, classname, time.perf_counter() - started,
                                                           f"the implementation failed: {failed}", "")):
            return EXIT_USAGE
        return EXIT_FINDING
    summary = (f"{result.sequences} sequences, {result.requests} requests in {result.seconds:.1f} s "
               f"({result.requests / max(result.seconds, 1e-9):,.0f} requests/s)")
    if reached:
        summary += f"; {len(reached)} (call, guard, phase) cells reached"
    if result.failure is None:
        print(f"opsref drive: conforms to the {args.profile} profile: {summary}")
        if not _write_junit(args, lambda: junit.from_drive(run_name, classname, result.seconds, None, summary)):
            return EXIT_USAGE
        return EXIT_OK
    f = result.failure
    out = Path(args.out or f"build/opsref-counterexample-{args.machine}.jsonl")
    header = Header(args.machine, f.config)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        write(out, header, f.outcome.events)
        saved = f"written to {out} (replay: opsref check {out} --profile {args.profile})"
    except OSError as err:
        saved = f"NOT written: cannot write {out}: {err.strerror or err}"
    replay = check.check(header, iter(f.outcome.events), args.profile)
    reads = f.outcome.observations
    length = len(f.outcome.events) - reads
    lines = [f"opsref drive: MISMATCH after {summary}",
             f"opsref drive: counterexample of {length} call{'s' * (length != 1)}"
             f"{f' (and {reads} reads the driver made to observe)' if reads else ''} under config "
             f"{json.dumps(f.config.to_json())}, {saved}"]
    if f.unshrunk is not None:
        lines.append(f"opsref drive: {f.unshrunk} (shown unshrunk, as it first failed)")
    lines.append(check.render(str(out), args.profile, replay))
    if args.itf:
        lines.append(_drive_itf(args, f.config, [call for call in f.outcome.events if not call.observation]))
    print("\n".join(lines))
    mismatch = f"mismatch under config {json.dumps(f.config.to_json())}: counterexample of {length} calls"
    if not _write_junit(args, lambda: junit.from_drive(run_name, classname, result.seconds, mismatch,
                                                       "\n".join(lines))):
        return EXIT_USAGE
    return EXIT_FINDING


def _drive_itf(args: argparse.Namespace, config: ProtocolConfig, events: list[Event]) -> str:
    """The counterexample's calls replayed on the spec, its walk written as ITF; one line."""
    from opsref.conformance.protocol import protocol
    from opsref.interop import itf

    oracle = protocol(args.machine).oracle(args.profile, config)
    oracle.record_walk()
    for event in events:
        oracle.call(event.call, event.args)
    walk = oracle.walk or []
    doc = itf.trace(oracle.machine, config.spec_config(), walk)
    try:
        Path(args.itf).parent.mkdir(parents=True, exist_ok=True)
        Path(args.itf).write_text(itf.dumps(doc), encoding="utf-8")
    except OSError as err:
        return f"opsref drive: ITF NOT written: cannot write {args.itf}: {err.strerror or err}"
    return (f"opsref drive: the spec's walk along the counterexample ({len(walk)} accepted steps) "
            f"written as ITF to {args.itf}")


def _drive_plan(args: argparse.Namespace) -> tuple[Plan | None, str]:
    """The drive's plan from --config / --calls / --exclude, or (None, why not)."""
    from opsref.conformance.calls import BadInput
    from opsref.conformance.drive import Plan
    from opsref.conformance.jsonline import BadJson, decode
    from opsref.conformance.protocol import protocol
    proto = protocol(args.machine)
    configs = []
    for n, text in enumerate(args.config, 1):
        try:
            configs.append(proto.parse_config(decode(text), f"--config #{n}"))
        except BadJson as err:
            return None, f"--config #{n} is not JSON: {err}"
        except BadInput as err:
            return None, f"bad configuration: {err}"
    known = set(proto.calls)
    for option, names in (("--calls", args.calls or frozenset()), ("--exclude", args.exclude)):
        unknown = sorted(names - known)
        if unknown:
            return None, (f"{option}: unknown call {unknown[0]!r} for machine {args.machine}; "
                          f"known: {', '.join(sorted(known))}")
    return Plan.of(args.machine, tuple(configs), args.calls, args.exclude), ""


def cmd_serve(args: argparse.Namespace) -> int:
    from opsref.conformance.serve import serve

    try:
        serve(sys.stdin.buffer, sys.stdout.buffer, args.machine)
    except BrokenPipeError:  # whoever reads the answers went away: the conversation is over
        _silence_stdout()
    return EXIT_OK


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's last flush of a broken pipe is quiet."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def cmd_vectors(args: argparse.Namespace) -> int:

    from opsref.conformance.vectors import generate, generate_actions, render_matrix

    if args.machine != "ops_lifecycle":
        count, missing = generate_actions(args.machine, args.profile, Path(args.out))
        if missing:
            print(f"opsref vectors: {len(missing)} uncovered: {'; '.join(missing)}")
            return EXIT_FINDING
        print(f"opsref vectors: {count} vectors for {args.machine} written to {args.out} ({args.profile} profile): "
              "every action accepted and refused by each of its guards")
        return EXIT_OK
    vectors, cov = generate(args.profile, Path(args.out))
    print(render_matrix(cov))
    if not cov.ok:
        print(f"opsref vectors: {len(cov.missing)} uncovered: {'; '.join(cov.missing)}")
        return EXIT_FINDING
    print(f"opsref vectors: {len(vectors)} vectors written to {args.out} ({args.profile} profile), full coverage")
    return EXIT_OK


def cmd_docs(args: argparse.Namespace) -> int:

    from opsref.review import docs

    folder = Path(args.dir)
    if args.check:
        problems = docs.check(folder)
        for problem in problems:
            print(f"opsref docs: {problem}")
        if problems:
            return EXIT_FINDING
        print(f"opsref docs: {folder} is up to date with the spec")
        return EXIT_OK
    for rel in docs.write(folder):
        print(f"wrote {folder / rel}")
    return EXIT_OK


def cmd_mutants(args: argparse.Namespace) -> int:
    import json

    from opsref import junit
    from opsref.conformance.killers import KILLERS
    from opsref.proofs.mutants import EquivalentListError, load_equivalent, report_json, run_mutants
    from opsref.spec.registry import build_all

    try:
        equivalent = load_equivalent()
    except EquivalentListError as err:
        print(f"opsref mutants: {err}", file=sys.stderr)
        return EXIT_USAGE
    progress = None if args.quiet else (lambda m: print(m, file=sys.stderr, flush=True))
    reports = [run_mutants(machine, equivalent, KILLERS, progress, args.jobs)
               for machine in build_all("reference", args.machine)]
    verdicts = [v for r in reports for v in r.verdicts]
    survived = [v for r in reports for v in r.survived]
    stale = [s for r in reports for s in r.unknown_equivalents]
    killed = sum(r.killed for r in reports)
    seconds = sum(r.seconds for r in reports)
    if args.json:
        print(json.dumps(report_json(reports), indent=1))
    else:
        width = max(len(v.mutant) for v in verdicts)
        for v in verdicts:
            verdict = v.killed_by or ("equivalent" if v.equivalent else "SURVIVED")
            detail = ", ".join(v.evidence) if v.killed_by else v.equivalent or v.description
            print(f"{v.mutant:<{width}}  {verdict:<12} {detail}")
        rate = killed / max(len(verdicts), 1)
        print(f"\n{len(verdicts)} mutants: {killed} killed ({rate:.1%}), "
              f"{sum(r.equivalent for r in reports)} justified equivalent, {len(survived)} survived, in {seconds:.0f} s")
        for v in survived:
            print(f"SURVIVED {v.mutant}: {v.description} (add an invariant, or justify it in "
                  f"proofs/equivalent_mutants.txt)")
        for entry in stale:
            print(f"STALE proofs/equivalent_mutants.txt entry {entry}: no such mutant any more, or it is killed")
    if not _write_junit(args, lambda: junit.from_mutants(reports)):
        return EXIT_USAGE
    return EXIT_OK if not survived and not stale else EXIT_FINDING


def cmd_export(args: argparse.Namespace) -> int:

    from opsref.interop.quint import ExportError, export
    from opsref.spec.registry import build_all

    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        print(f"opsref export: cannot create {out}: {err.strerror}", file=sys.stderr)
        return EXIT_USAGE
    if args.itf_from:
        return _export_counterexamples(args.itf_from, out, args.machine)
    for machine in build_all(args.profile, args.machine):
        try:
            text = export(machine, args.ids)
        except ExportError as err:
            print(f"opsref export: {err}", file=sys.stderr)
            return EXIT_INTERNAL
        path = out / f"{machine.name}.qnt"
        path.write_text(text, encoding="utf-8")
        print(f"{path}: {len(text):,} bytes, {len(machine.actions)} actions, {len(machine.invariants)} invariants")
    return EXIT_OK


def _export_counterexamples(report: str, out: Path, only: list[str] | None) -> int:
    """Every BMC counterexample of a recorded proof report, as ITF (the report names its profile)."""
    from opsref.conformance.calls import InputError

    try:
        with open(report, encoding="utf-8") as stream:
            data = json.load(stream)
        profile, machines = data["profile"], data["machines"]
    except OSError as err:
        raise InputError(f"cannot read {report}: {err.strerror}") from None
    except (ValueError, KeyError, TypeError) as err:
        raise InputError(f"{report}: not a proof report (opsref prove --json): {err}") from None
    written = _counterexamples_as_itf(profile, machines, out, only, report, sys.stdout)
    print(f"{len(written)} counterexample(s) written as ITF; replay one with opsref check --profile {profile} FILE")
    return EXIT_OK


def _counterexamples_as_itf(profile: str, machines: list[dict[str, Any]], out: Path, only: list[str] | None,
                            source: str, log: TextIO) -> list[Path]:
    """Each BMC counterexample of a proof report's machines (`opsref prove --json`'s
    `machines`) as `<machine>.<invariant>.<config>.itf.json` in `out`; one line each on `log`."""
    from opsref.conformance.calls import InputError
    from opsref.interop import itf
    from opsref.spec.registry import MACHINES

    written: list[Path] = []
    for entry in machines:
        if entry.get("machine") not in MACHINES or (only and entry["machine"] not in only):
            continue
        machine = MACHINES[entry["machine"]](profile)
        for obligation in entry.get("obligations", []):
            cex = obligation.get("counterexample")
            if obligation.get("kind") != "bmc" or not isinstance(cex, dict):
                continue
            path = out / f"{machine.name}.{obligation['id'].replace('/bmc/', '.')}.itf.json"
            try:
                doc = itf.from_counterexample(machine, cex)
            except (KeyError, ValueError, TypeError) as err:
                raise InputError(f"{source}: {machine.name} {obligation['id']}: not a counterexample of "
                                 f"this machine: {err}") from None
            out.mkdir(parents=True, exist_ok=True)
            path.write_text(itf.dumps(doc), encoding="utf-8")
            written.append(path)
            print(f"{path}: {len(cex.get('trace', []))} steps, {obligation['invariant']} ({profile})", file=log)
    return written


def cmd_schema(args: argparse.Namespace) -> int:
    import json

    from opsref.conformance.protocol import schema

    print(json.dumps(schema(), indent=1))
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    from opsref.conformance.calls import InputError

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
    except BrokenPipeError:  # the reader of our output went away (`opsref check T | head -1`)
        _silence_stdout()
        return 141  # as a shell reports a command ended by SIGPIPE
    except Exception as exc:  # the last line of defence: one line, never a traceback
        if os.environ.get("OPSREF_DEBUG"):
            traceback.print_exc()
        print(f"opsref: internal error: {type(exc).__name__}: {exc} (set OPSREF_DEBUG=1 for the traceback)",
              file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())

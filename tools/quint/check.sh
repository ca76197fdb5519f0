#!/bin/sh
# `make quint`: the exported Quint modules typecheck; Quint's simulator finds no violation of
# any invariant in the reference exports and finds each seed decision's violation in the seed
# exports (the barrier bug in ops_lifecycle); every trace it writes (ITF, --mbt) replays on the
# spec model, and each seed counterexample replays on the seed spec, which agrees it violates.
# `quint run` typechecks the whole module before it simulates (a type error anywhere in it,
# used or not, fails the run), so only a module that is not run is typechecked on its own:
# one start of Quint per module instead of two.
#
# usage: tools/quint/check.sh OPSREF QUINT OUT JOBS "RUN_OPTS" "SEED_OPTS"
# (the Makefile passes its variables; each phase runs JOBS quint processes at once)
set -eu

if [ "${1:-}" = "_reference" ]; then  # one reference module: every invariant, ITF traces out
    m=$(basename "$2" .qnt)
    invariants=$(sed -n 's/^  val \([a-z_0-9]*\) = .*/\1/p' "$2" | grep -vx all_invariants | tr '\n' ' ')
    mkdir -p "$OUT/itf/$m"
    start=$(date +%s.%N)
    # shellcheck disable=SC2086  # word splitting of the options and invariant names is intended
    if ! "$QUINT" run "$2" --backend=typescript $RUN_OPTS --mbt --out-itf="$OUT/itf/$m/{seq}.itf.json" \
            --invariants $invariants > "$OUT/run-$m.txt" 2>&1; then
        echo "quint run found a violation in the reference export of $m (or failed):"; tail -20 "$OUT/run-$m.txt"; exit 1
    fi
    end=$(date +%s.%N)
    echo "  reference $m: $(grep -h '^\[ok\]' "$OUT/run-$m.txt") $(ls "$OUT/itf/$m" | wc -l) ITF traces," \
         "$(awk "BEGIN { printf \"%.1f\", $end - $start }") s with startup"
    exit
fi

if [ "${1:-}" = "_seed" ]; then  # one seed module: Quint must violate what the decisions predict
    m=$(basename "$2" .qnt)
    if [ "$m" = ops_lifecycle ]; then
        expected=barrier_satisfaction  # the seed's barrier bug, the one this reference began with
    else  # the invariants of the machine's decisions, read off the spec
        expected=$("$PYTHON" -c "from opsref.spec.registry import MACHINES
print(' '.join(i for d in MACHINES['$m']('reference').decisions for i in d.invariants))")
    fi
    if [ -z "$expected" ]; then
        "$QUINT" typecheck "$2" > "$OUT/typecheck-seed-$m.txt" 2>&1 || { cat "$OUT/typecheck-seed-$m.txt"; exit 1; }
        echo "  seed $m: no decisions, nothing the seed can violate; typechecked"
        exit
    fi
    # shellcheck disable=SC2086
    if "$QUINT" run "$2" --backend=typescript $SEED_OPTS --mbt --out-itf="$OUT/seed-$m.itf.json" \
            --invariants $expected > "$OUT/run-seed-$m.txt" 2>&1; then
        echo "  seed $m: expected a violation of one of: $expected; quint found none"; exit 1
    fi
    grep -q '^\[violation\]' "$OUT/run-seed-$m.txt" || { echo "  seed $m: quint failed:"; tail -20 "$OUT/run-seed-$m.txt"; exit 1; }
    # the counterexample replays on the seed spec, which agrees that it breaks an expected invariant
    if "$OPSREF" check --profile seed "$OUT/seed-$m.itf.json" > "$OUT/check-seed-$m.txt"; then
        echo "  seed $m: the seed spec does not see the violation:"; cat "$OUT/check-seed-$m.txt"; exit 1
    fi
    grep -q "agrees with the spec at every step" "$OUT/check-seed-$m.txt" || { cat "$OUT/check-seed-$m.txt"; exit 1; }
    for inv in $expected; do
        if grep -q "violates.*$inv" "$OUT/check-seed-$m.txt"; then
            echo "  seed $m: $(grep -h '^\[violation\]' "$OUT/run-seed-$m.txt") replayed: $(sed 's/.*: agrees/agrees/' "$OUT/check-seed-$m.txt")"
            exit
        fi
    done
    echo "  seed $m: the violation is none of $expected:"; cat "$OUT/check-seed-$m.txt"; exit 1
fi

OPSREF=$1 QUINT=$2 OUT=$3 JOBS=$4 RUN_OPTS=$5 SEED_OPTS=$6
PYTHON=$(dirname "$OPSREF")/python
export OPSREF QUINT OUT RUN_OPTS SEED_OPTS PYTHON

began=$(date +%s)
phase() { echo "$1 (at $(( $(date +%s) - began )) s):"; }
rm -rf "$OUT"
for profile in reference seed; do
    "$OPSREF" export --quint --profile "$profile" --out "$OUT/$profile" | sed 's/^/  /'
done

phase "quint run (each module typechecked first): reference exports (every invariant checked, ITF traces to $OUT/itf); seed exports (must violate a decision's invariant)"
{ for f in "$OUT"/reference/*.qnt; do echo _reference "$f"; done
  for f in "$OUT"/seed/*.qnt; do echo _seed "$f"; done; } | xargs -P "$JOBS" -n 2 "$0"

phase "replay of Quint's ITF traces on the spec (opsref check)"
for dir in "$OUT"/itf/*; do
    "$OPSREF" check "$dir" | sed 's/^/  /'
done

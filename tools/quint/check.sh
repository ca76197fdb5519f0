#!/bin/sh
# `make quint`: the exported Quint modules typecheck, Quint's simulator finds no violation of
# any invariant in the reference exports, finds the seed's barrier bug in the seed export of
# ops_lifecycle, and every trace it writes (ITF, --mbt) replays on the spec model.
#
# usage: tools/quint/check.sh OPSREF QUINT OUT JOBS "RUN_OPTS" "SEED_OPTS"
# (the Makefile passes its variables; each phase runs JOBS quint processes at once)
set -eu

if [ "${1:-}" = "_typecheck" ]; then  # one module (called through xargs)
    "$QUINT" typecheck "$2" && echo "  typechecked $2"
    exit
fi
if [ "${1:-}" = "_run" ]; then  # one reference module: every invariant, ITF traces out
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
    echo "  $m: $(grep -h '^\[ok\]' "$OUT/run-$m.txt") $(ls "$OUT/itf/$m" | wc -l) ITF traces," \
         "$(awk "BEGIN { printf \"%.1f\", $end - $start }") s with startup"
    exit
fi

OPSREF=$1 QUINT=$2 OUT=$3 JOBS=$4 RUN_OPTS=$5 SEED_OPTS=$6
export OPSREF QUINT OUT RUN_OPTS

began=$(date +%s)
phase() { echo "$1 (at $(( $(date +%s) - began )) s):"; }
rm -rf "$OUT"
for profile in reference seed; do
    "$OPSREF" export --quint --profile "$profile" --out "$OUT/$profile" | sed 's/^/  /'
done

phase "quint typecheck (every machine, both profiles)"
ls "$OUT"/*/*.qnt | xargs -P "$JOBS" -n 1 "$0" _typecheck

phase "quint run on the reference exports (every invariant checked), ITF traces to $OUT/itf"
ls "$OUT"/reference/*.qnt | xargs -P "$JOBS" -n 1 "$0" _run

phase "quint run on the seed export of ops_lifecycle must violate barrier_satisfaction"
# shellcheck disable=SC2086
if "$QUINT" run --backend=typescript $SEED_OPTS --invariant=barrier_satisfaction --mbt \
        --out-itf="$OUT/seed-barrier.itf.json" "$OUT/seed/ops_lifecycle.qnt" > "$OUT/run-seed.txt" 2>&1; then
    echo "  expected a violation of barrier_satisfaction; quint found none:"; tail -5 "$OUT/run-seed.txt"; exit 1
fi
grep -q '^\[violation\]' "$OUT/run-seed.txt" || { echo "  quint failed:"; tail -20 "$OUT/run-seed.txt"; exit 1; }
echo "  $(grep -h '^\[violation\]' "$OUT/run-seed.txt")"
# the counterexample replays on the seed spec, which agrees that it breaks barrier_satisfaction
if "$OPSREF" check --profile seed "$OUT/seed-barrier.itf.json" > "$OUT/check-seed.txt"; then
    echo "  the seed spec does not see the violation:"; cat "$OUT/check-seed.txt"; exit 1
fi
grep -q "violates.*barrier_satisfaction" "$OUT/check-seed.txt" || { cat "$OUT/check-seed.txt"; exit 1; }
sed 's/^/  /' "$OUT/check-seed.txt"

phase "replay of Quint's ITF traces on the spec (opsref check)"
for dir in "$OUT"/itf/*; do
    "$OPSREF" check "$dir" | sed 's/^/  /'
done
echo "make quint: done in $(( $(date +%s) - began )) s"

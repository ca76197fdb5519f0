# Every target bootstraps .venv (python3 -m venv + pip install -e ".[dev]") when it is
# missing or older than pyproject.toml; nothing needs installing by hand.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.opsref-installed
# tests run on every core (pytest-xdist); worksteal: a worker that runs out takes pending tests from the
# other, so a long test near the end does not leave a core idle; make test PYTEST_FLAGS=-q for one process
PYTEST_FLAGS ?= -q -n auto --dist worksteal

.DEFAULT_GOAL := help
.PHONY: help verify verify-seed test deep contracts typecheck conformance drives seed-port quint docs docs-check mutants ci bench soak clean package

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

verify: $(STAMP)  ## prove every invariant of the reference profile and print the report
	$(BIN)/opsref prove --profile reference --no-cache --junit build/junit/prove-reference.xml

verify-seed: $(STAMP)  ## the same for the seed profile (expected to fail: the seed's barrier bug)
	-$(BIN)/opsref prove --profile seed --no-cache

test: $(STAMP)  ## run the whole test suite (make test k=lockstep runs a subset)
	$(BIN)/python -m pytest $(PYTEST_FLAGS) $(if $(k),-k "$(k)")

deep: $(STAMP)  ## the lock-step tests with many more examples, and the spec mutants (about 10 minutes)
	HYPOTHESIS_PROFILE=deep $(BIN)/python -m pytest $(PYTEST_FLAGS) tests/test_lockstep.py tests/test_lockstep_comms_drain.py \
	  tests/test_lockstep_mob_adapter.py tests/test_lockstep_runtime_control.py
	@mkdir -p build
	$(BIN)/opsref mutants --quiet > build/mutants.txt || (tail -40 build/mutants.txt; exit 1)
	tail -1 build/mutants.txt

CROSSHAIR_OPTS ?= --analysis_kind PEP316 --per_condition_timeout 1 --per_path_timeout 0.5

# tests/contracts_check.py is `crosshair check` with one search per function for all its
# conditions (CrossHair's search per condition walks the same paths each time; bench/contracts_paths.py)
contracts: $(STAMP)  ## CrossHair: look for counterexamples to the contracts of the registry and the spec model
	$(BIN)/python -m tests.contracts_check $(CROSSHAIR_OPTS) opsref.impl.registry opsref.spec.model

typecheck: $(STAMP)  ## mypy --strict on every package
	$(BIN)/python -m mypy --strict opsref tests bench packaging

NODE ?= node
CARGO ?= cargo

ACTION_MACHINES := comms_drain mob_adapter runtime_control
SEED_PORT := examples/rust-seed-registry/target/release/rust-seed-registry
DECISIONS := barrier_survives_eviction ids_never_reused provisioning_failed_only_while_provisioning \
             termination_in_registration_order satisfied_wait_resolves_at_once dropped_waiter_cancels_only_its_own

$(SEED_PORT): examples/rust-seed-registry/Cargo.toml $(wildcard examples/rust-seed-registry/src/*.rs)
	$(CARGO) build --release --offline --quiet --manifest-path examples/rust-seed-registry/Cargo.toml

# a drive that must find a mismatch: exit 1, not 0 (conforms) or 2/3 (could not run)
expect_mismatch = $(BIN)/opsref drive $(1) --out build/expected-mismatch.jsonl -- $(SEED_PORT) > build/expected-mismatch.txt 2>&1; \
	status=$$?; grep -h "MISMATCH\|conforms\|error" build/expected-mismatch.txt | head -2; \
	test $$status -eq 1 || { echo "expected a mismatch (exit 1) from: opsref drive $(1); got exit $$status"; exit 1; }

seed-port: $(STAMP) $(SEED_PORT)  ## the literal Rust port of the seed conforms to --profile seed, and every decision is found in it
	@mkdir -p build
	for s in 0 1 2; do $(BIN)/opsref drive --profile seed --seed $$s -- $(SEED_PORT) || exit 1; done
	$(BIN)/opsref drive --profile seed --mode exhaustive --depth 4 -- $(SEED_PORT)
	@$(call expect_mismatch,--profile reference)
	@for d in $(DECISIONS); do echo "decision $$d alone:"; \
	  $(call expect_mismatch,--profile seed+$$d --mode exhaustive --depth 5) || exit 1; done
	@for bug in feed-inclusive feed-capacity-8; do echo "seed port with --bug $$bug:"; \
	  $(BIN)/opsref drive --profile seed --out build/expected-mismatch.jsonl -- $(SEED_PORT) --bug $$bug > build/expected-mismatch.txt 2>&1; \
	  status=$$?; grep -h "MISMATCH" build/expected-mismatch.txt | head -1; test $$status -eq 1 || exit 1; done

conformance: $(STAMP) seed-port drives  ## drive impl/ (every machine), the JavaScript example and the Rust seed port against the spec; vectors; simulate

drives: $(STAMP)  ## conformance without the seed port: impl/ (every machine) and the JavaScript example; vectors; simulate
	@mkdir -p build
	$(BIN)/opsref drive --mode random -- $(BIN)/opsref serve
	$(BIN)/opsref drive --mode exhaustive --depth 3 -- $(BIN)/opsref serve
	$(BIN)/opsref drive --mode random -- $(NODE) examples/js-registry/server.js
	$(BIN)/opsref drive --mode exhaustive --depth 3 -- $(NODE) examples/js-registry/server.js
	$(BIN)/opsref vectors --out build/vectors
	$(BIN)/opsref simulate --runs 100 --steps 1000
	for m in $(ACTION_MACHINES); do \
	  $(BIN)/opsref drive --machine $$m --mode random -- $(BIN)/opsref serve --machine $$m && \
	  $(BIN)/opsref drive --machine $$m --mode exhaustive -- $(BIN)/opsref serve --machine $$m && \
	  $(BIN)/opsref vectors --machine $$m --out build/vectors-$$m && \
	  $(BIN)/opsref simulate --machine $$m --runs 50 --steps 500 || exit 1; \
	done

QUINT_DIR   := tools/quint
QUINT       := $(QUINT_DIR)/node_modules/.bin/quint
QUINT_STAMP := $(QUINT_DIR)/node_modules/.opsref-installed
QUINT_JOBS  ?= 2
# Reference exports: 100 walks of 20 steps per machine, every invariant checked after every
# step, each walk written as ITF and replayed on the spec. Seed export of ops_lifecycle: up
# to 2,000 walks of 12 steps looking for the barrier bug (seed 2 finds it in the first few).
QUINT_RUN_OPTS  ?= --max-samples=100 --n-traces=100 --max-steps=20 --seed=1
QUINT_SEED_OPTS ?= --max-samples=2000 --max-steps=12 --seed=2

$(QUINT_STAMP): $(QUINT_DIR)/package.json $(QUINT_DIR)/package-lock.json
	cd $(QUINT_DIR) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

quint: $(STAMP) $(QUINT_STAMP)  ## export every machine to Quint (both profiles): typecheck, simulate, find the seed's barrier bug, replay Quint's ITF traces
	sh $(QUINT_DIR)/check.sh $(BIN)/opsref $(QUINT) build/quint $(QUINT_JOBS) "$(QUINT_RUN_OPTS)" "$(QUINT_SEED_OPTS)"

docs: $(STAMP)  ## record both profiles' proof reports in docs/proofs/ and regenerate the review pages
	$(BIN)/opsref prove --profile reference --json --quiet --no-cache > docs/proofs/reference.json
	-$(BIN)/opsref prove --profile seed --json --quiet --no-cache > docs/proofs/seed.json
	$(BIN)/opsref docs

docs-check: $(STAMP)  ## fail when docs/ differs from what the spec generates, or its proofs are stale
	$(BIN)/opsref docs --check

mutants: $(STAMP)  ## spec mutation adequacy: every mutant killed or justified as equivalent
	$(BIN)/opsref mutants

WHEEL_VENV := build/wheel-venv
WHEEL_BIN  := $(WHEEL_VENV)/bin

# The wheel as a user gets it: built, installed into a fresh virtual environment without
# the dev extra, and run from there (outside the source tree, so nothing here is imported).
package: $(STAMP)  ## build the wheel, install it into a fresh venv (no dev extra) and run the commands from there
	rm -rf dist $(WHEEL_VENV) build/wheel-run && mkdir -p build/wheel-run
	$(BIN)/python -m build --wheel --outdir dist . > build/wheel-build.txt 2>&1 || { tail -20 build/wheel-build.txt; exit 1; }
	$(PYTHON) -m venv $(WHEEL_VENV)
	$(WHEEL_BIN)/python -m pip install --quiet --disable-pip-version-check dist/opsref-*.whl
	$(WHEEL_BIN)/python packaging/check_installed.py
	cd build/wheel-run && ../wheel-venv/bin/opsref --version
	cd build/wheel-run && ../wheel-venv/bin/opsref prove --machine comms_drain --quiet --no-cache > prove.txt && tail -1 prove.txt
	cd build/wheel-run && ../wheel-venv/bin/opsref vectors --out vectors > vectors.txt && tail -1 vectors.txt
	cd build/wheel-run && ../wheel-venv/bin/opsref check $$(find vectors -name '*.jsonl' | sort | head -1)
	cd build/wheel-run && ../wheel-venv/bin/opsref drive --runs 50 -- ../wheel-venv/bin/opsref serve
	cd build/wheel-run && ../wheel-venv/bin/opsref schema > schema.json && ../wheel-venv/bin/python -c "import json; json.load(open('schema.json')); print('schema: valid JSON')"

# `make ci` runs its eight targets in two lanes, one per core, each lane one target after
# the other, its output printed whole when it ends: while one lane waits on npm, cargo, pip
# or a single-threaded tool (mypy, CrossHair, the drives), the other has the second core.
# Nothing is left out and nothing runs twice: the same targets as one after the other.
# Lane one is `quint` then the test suite (after quint, so that its Quint tests run
# instead of being skipped; the suite runs on both cores and takes the second one when lane
# two ends); lane two everything else, one thread each: mypy, the drives (`conformance` =
# `seed-port` + `drives`), CrossHair and the short targets. The lanes are balanced by the
# times each target prints. (Left to `make -j2` alone, make starts the short targets first
# and the test suite, the longest, last.)
CI_LANE_1 := quint test
CI_LANE_2 := typecheck drives contracts seed-port verify docs-check package

ci: $(STAMP)  ## what .ci/run runs: typecheck quint test contracts conformance (seed-port, drives) docs-check verify package, in two lanes
	@$(MAKE) --no-print-directory -j2 --output-sync=target _ci-lane-1 _ci-lane-2

.PHONY: _ci-lane-1 _ci-lane-2
# each target's wall time is printed when it ends, so a slow CI run shows where the time went
ci_lane = for t in $(1); do start=$$(date +%s); $(MAKE) --no-print-directory -j1 $$t || exit 1; \
	  echo "make $$t: done in $$(( $$(date +%s) - start )) s"; done
_ci-lane-1:
	@$(call ci_lane,$(CI_LANE_1))
_ci-lane-2:
	@$(call ci_lane,$(CI_LANE_2))

bench: $(STAMP)  ## benchmarks: prove time, registry cycles and contention, check and simulate rates (figures go in the README)
	$(BIN)/python bench/prove_time.py
	$(BIN)/python bench/prove_incremental.py
	$(BIN)/python bench/registry_cycles.py
	$(BIN)/python bench/contention.py
	$(BIN)/python bench/check_rate.py
	$(BIN)/python bench/drive_rate.py
	$(BIN)/python bench/drive_coverage.py
	$(BIN)/python bench/simulate_rate.py
	$(BIN)/python bench/contracts_paths.py $(CROSSHAIR_OPTS)
	@if [ -x $(QUINT) ]; then $(BIN)/python bench/quint_vs_simulate.py; else echo "bench/quint_vs_simulate.py skipped: run make quint first (it installs Quint)"; fi

SOAK_OPTS ?= --seconds 30 --threads 16 --loops 3

soak: $(STAMP)  ## bounded concurrency soak of the registry, not in ci (make soak SOAK_OPTS="--seconds 60")
	$(BIN)/python -m tests.soak_registry $(SOAK_OPTS)

clean:  ## remove the virtual environment and caches
	rm -rf $(VENV) .mypy_cache .pytest_cache .hypothesis build dist opsref-counterexample.jsonl

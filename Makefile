# Every target bootstraps .venv (python3 -m venv + pip install -e .) when it is
# missing or older than pyproject.toml; nothing needs installing by hand.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.opsref-installed
PYTEST_FLAGS ?= -q

.DEFAULT_GOAL := help
.PHONY: help verify verify-seed test typecheck ci bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	@touch $(STAMP)

verify: $(STAMP)  ## prove every invariant of the reference profile and print the report
	$(BIN)/opsref prove --profile reference

verify-seed: $(STAMP)  ## the same for the seed profile (expected to fail: the seed's barrier bug)
	-$(BIN)/opsref prove --profile seed

test: $(STAMP)  ## run the whole test suite
	$(BIN)/python -m pytest $(PYTEST_FLAGS)

typecheck: $(STAMP)  ## mypy --strict on every package
	$(BIN)/python -m mypy --strict spec proofs impl opsref tests

ci: typecheck test verify  ## what .ci/run runs: types, tests, proofs

bench: $(STAMP)  ## time the full `opsref prove` for both profiles (figures go in the README)
	$(BIN)/python bench/prove_time.py

clean:  ## remove the virtual environment and caches
	rm -rf $(VENV) .mypy_cache .pytest_cache .hypothesis

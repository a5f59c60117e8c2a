# Everything a user needs starts here. Each target bootstraps .venv on first use.
SHELL := /bin/bash
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export PATH := $(CURDIR)/$(BIN):$(PATH)

# `make sync CONF='{...}'` / `make setup CONF='{...}'`: CONF reaches the scripts through the environment, never
# through a shell command line, and `$(value ...)` keeps make from expanding a `$(...)` inside it.
override CONF := $(value CONF)
export CONF

.PHONY: help install test test-fast soak lint services demo sync setup sandbox-up sandbox-down bench-plan bench-apply \
	bench-history bench-messages constraints clean

help:
	@echo "make demo         start the emulators with demo data and run the sync (twice)"
	@echo "make test         run the whole test suite (lint + unit + emulator + end-to-end)"
	@echo "make soak         the lifecycle model test, long (EXAMPLES=50 STEPS=24, a new seed each time)"
	@echo "make sandbox-up   start both emulators in the background, write .sandbox/env"
	@echo "make sandbox-down stop them"
	@echo "make sync         one heymarket_sync run against .sandbox/env (CONF='{...}' for params)"
	@echo "make setup        one heymarket_setup run against .sandbox/env (CONF='{\"apply\": true}' to apply)"

$(STAMP): requirements.txt requirements-dev.txt constraints.txt pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt -r requirements-dev.txt -c constraints.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(BIN)/python -m pip check
	@touch $@

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy plugins dags

# PostgreSQL and Redis started when installed but stopped, Debian's Chromium installed when missing (as root, or
# with HM_SYNC_INSTALL_BROWSER=1); otherwise one line says what to install. See scripts/ensure_services.py.
services: $(STAMP)
	@$(BIN)/python -m scripts.ensure_services

# Two workers (TEST_WORKERS=1 for one), each test file on one worker so a file's stack or emulators start once.
# Two sessions never share a port, a database or a Redis db (tests/isolation.py), and neither do two workers.
test: $(STAMP) lint services
	$(BIN)/python -m pytest -n $${TEST_WORKERS:-2} --dist loadfile

test-fast: $(STAMP)
	@$(BIN)/python -m scripts.ensure_services postgres redis
	$(BIN)/python -m pytest -m "not e2e and not scale" -q

# The lifecycle model test (tests/e2e/test_lifecycle_model.py) with many more examples than `make test` runs, a new
# seed each time (SOAK_SEED=... replays one) and shrinking on; see the README, "The lifecycle model test".
soak: $(STAMP)
	HM_SYNC_HYPOTHESIS=explore LIFECYCLE_SOAK=1 SOAK_EXAMPLES=$${EXAMPLES:-50} LIFECYCLE_STEPS=$${STEPS:-24} \
		$(BIN)/python -m pytest tests/unit/plan/test_plan_properties.py tests/e2e/test_lifecycle_model.py -p no:logging

sandbox-up: $(STAMP)
	$(BIN)/python -m emulators.sandbox up

sandbox-down: $(STAMP)
	$(BIN)/python -m emulators.sandbox down

demo: $(STAMP)
	$(BIN)/python -m scripts.demo

sync: $(STAMP)
	$(BIN)/python -m scripts.sync

setup: $(STAMP)
	$(BIN)/python -m scripts.setup_run

bench-plan: $(STAMP)
	$(BIN)/python -m benchmarks.bench_plan --size $${SIZE:-1000000}

bench-apply: $(STAMP)
	$(BIN)/python -m benchmarks.bench_apply --size $${SIZE:-100000}

# The Sync history page over 20,000 runs and 5,000,000 record outcomes in PostgreSQL (RUNS=… OUTCOMES=… to try
# a small size first: RUNS=2000 OUTCOMES=50000).
bench-history: $(STAMP)
	$(BIN)/python -m benchmarks.bench_history --runs $${RUNS:-20000} --outcomes $${OUTCOMES:-5000000}

bench-messages: $(STAMP)
	$(BIN)/python -m benchmarks.bench_messages --messages $${MESSAGES:-1000000} --records $${RECORDS:-100000}

constraints: $(STAMP)
	{ echo "# pip freeze of a working install (Python 3.11, Airflow 3.3.2). Regenerate with: make constraints"; \
	  $(BIN)/python -m pip freeze --exclude-editable | grep -vi heymarket-salesforce-sync; } > constraints.txt

clean:
	rm -rf .sandbox .airflow runs .pytest_cache .ruff_cache .mypy_cache

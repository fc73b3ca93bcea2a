# The two commands: `make run` and `make test`. Everything else here serves them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install lint services bench clean

# A venv with the project and its test tools. torch is pinned in pyproject.toml to the CPU
# wheel that lies on these machines' disk; pip picks it up from there.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/ragplane up --demo

lint: $(STAMP)
	$(BIN)/ruff check platform tests loadtests
	$(BIN)/ruff format --check platform tests loadtests
	$(BIN)/mypy

# Real dependencies the tests talk to (PostgreSQL), started when installed but stopped.
services:
	scripts/test-services

test: $(STAMP) lint services
	rm -rf reports .coverage .coverage.*
	$(BIN)/python -m pytest --cov --cov-report=term --cov-report=html --cov-report=json tests

bench: $(STAMP) services
	$(BIN)/python loadtests/bench_search.py
	$(BIN)/python loadtests/bench_database.py

clean:
	rm -rf $(VENV) reports .coverage .coverage.* .pytest_cache .mypy_cache .ruff_cache

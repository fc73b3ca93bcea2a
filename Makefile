# The two commands: `make run` and `make test`. Everything else here serves them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install lint services generate bench eval clean e2e e2e-headed audit screenshots

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
	$(BIN)/ruff check platform tests loadtests alerts dashboards eval e2e
	$(BIN)/ruff format --check platform tests loadtests alerts dashboards eval e2e
	$(BIN)/mypy

# Real dependencies the tests talk to: the Debian packages (Prometheus, Alertmanager, Redis,
# Chromium), installed when missing, and PostgreSQL, started when installed but stopped.
services:
	scripts/test-packages
	scripts/test-services

# The generated, committed files: alert rules, dashboards and provisioning, Kong's config.
# The tests fail when these drift from their sources; run this after changing one.
generate: $(STAMP)
	$(BIN)/python -m alerts && $(BIN)/python -m dashboards && $(BIN)/ragplane gateway export-kong

# Browser tests (e2e/): Debian's Chromium through Playwright against a `ragplane up` on free ports.
# The HTML report, with a screenshot of every test's last page, goes to reports/e2e/report.html;
# traces of failed tests to reports/e2e/traces/ (open with `.venv/bin/playwright show-trace`).
E2E := $(BIN)/python -m pytest e2e --html=reports/e2e/report.html --self-contained-html \
	--output=reports/e2e/traces --tracing=retain-on-failure

test: $(STAMP) lint services
	rm -rf reports .coverage .coverage.*
	$(BIN)/python -m pytest --cov --cov-report=term --cov-report=html --cov-report=json tests
	$(E2E)

e2e: $(STAMP) services
	$(E2E)

# The same tests in a visible browser on a virtual screen (Xvfb), to debug one; add PYTEST_ARGS="-k name --slowmo 500".
e2e-headed: $(STAMP) services
	command -v xvfb-run >/dev/null || apt-get install -y xvfb
	xvfb-run --auto-servernum $(E2E) --headed $(PYTEST_ARGS)

# Lighthouse 12.2.3 (audit/package.json, installed by npm ci from its lock file; `make run` needs
# no Node) on the Search view of a real stack: scores and time to interactive against their
# targets, reports in reports/audit/; then axe-core on every view (reports in reports/e2e/axe/).
LIGHTHOUSE := audit/node_modules/.bin/lighthouse

$(LIGHTHOUSE): audit/package.json audit/package-lock.json
	npm ci --prefix audit --no-audit --no-fund --loglevel=error
	touch $@

audit: $(STAMP) services $(LIGHTHOUSE)
	$(BIN)/python -m e2e.audit
	$(BIN)/python -m pytest e2e/test_accessibility.py

# The docs' pictures of the web page's views (docs/images/console-*.png), taken by the browser tests.
screenshots: $(STAMP) services
	$(BIN)/python -m pytest e2e/test_accessibility.py --views-to docs/images

bench: $(STAMP) services
	$(BIN)/python -m loadtests.reference
	$(BIN)/python loadtests/bench_database.py
	$(BIN)/python -m loadtests.bench_capacity
	$(BIN)/python -m loadtests.bench_scale
	$(BIN)/python -m loadtests.bench_redis

# Q&A quality on the demo corpus: eval/questions.yaml asked through the API of an in-process stack
# (about a minute); prints hit@3, first-citation, expected-word and not-found shares, fails under 95 %.
eval: $(STAMP)
	$(BIN)/python -m eval

clean:
	rm -rf $(VENV) reports .coverage .coverage.* .pytest_cache .mypy_cache .ruff_cache audit/node_modules

# Load tests (loadtests/, docs/load-testing.md): one profile of loadtests/profiles.yaml through
# Locust, gated on the SLOs of alerts/slos.yaml. Without HOST a private embedded stack is started.
.PHONY: load load-baseline load-compare
PROFILE ?= smoke

load: $(STAMP)
	PROFILE=$(PROFILE) $(BIN)/python -m loadtests.run

load-baseline: $(STAMP)
	PROFILE=$(PROFILE) $(BIN)/python -m loadtests.run --save-baseline

load-compare: $(STAMP)
	PROFILE=$(PROFILE) $(BIN)/python -m loadtests.run --compare

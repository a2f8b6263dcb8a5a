# Every target bootstraps its own virtualenv from pyproject.toml, pinned by constraints.txt (apache-airflow 3.3.2).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
AIRFLOW_VERSION ?= 3.3.2
STAMP := $(VENV)/.installed

.PHONY: demo test lint e2e e2e-distributed bench bench-budget bench-paging build docs clean compat

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[dev]" "apache-airflow==$(AIRFLOW_VERSION)"
	touch $(STAMP)

## demo: run the example DAG against the bundled UIS emulator, writing to ./output
demo: $(STAMP)
	$(PY) scripts/demo.py

## test: the whole test suite (unit + dag.test() against the emulator, moto S3)
test: $(STAMP)
	$(PY) -m pytest

## e2e: the provider in a real Airflow: wheel in a fresh venv, api-server/scheduler/dag-processor/triggerer,
##      the connection form in headless Chromium, backfill, deferral, secret scan (needs apt for chromium)
e2e: $(STAMP)
	bash e2e/setup.sh
	$(PY) -m pip install --quiet -c constraints.txt -e ".[e2e]"
	$(PY) e2e/run.py --airflow-version $(AIRFLOW_VERSION)

## e2e-distributed: production-shaped Airflow: Postgres, CeleryExecutor + Redis, two workers (one SIGKILLed), S3 on
##      moto; a contended 60-day backfill, deferral, secret scan (needs apt for postgresql and redis-server)
e2e-distributed: $(STAMP)
	bash e2e/setup.sh postgresql redis-server
	$(PY) e2e/distributed.py --airflow-version $(AIRFLOW_VERSION)

## compat: the Airflow matrix (2.11.2, 3.0.6, 3.1.8, 3.2.2, 3.3.2): per version a fresh virtualenv pinned by
##         constraints/airflow-<version>.txt, provider discovery and the compat test subset, two versions at a time
compat:
	$(PYTHON) scripts/compat.py

BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -c constraints.txt -e ".[bench]"
	touch $(BENCH_STAMP)

## bench: ours vs a hand-written extractor vs the API's limit on the emulator (bench/RESULTS.md, results.json,
##        results.png; about 5 minutes on 2 cores)
bench: $(BENCH_STAMP)
	$(PY) bench/run.py

DOCS_STAMP := $(VENV)/.docs-installed

$(DOCS_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -c constraints.txt -e ".[docs]"
	touch $(DOCS_STAMP)

## docs: the documentation site from docs/ into docs/_build/html (Sphinx + MyST + autodoc); any warning, and any
##       broken cross-reference or link, fails the build
docs: $(DOCS_STAMP)
	rm -rf docs/_build
	$(PY) -m sphinx -W --keep-going -n -b html docs docs/_build/html
## bench-budget: 4, 16 and 64 concurrent day-tasks (separate processes) sharing a minute budget of 12 points per
##               4 s on the emulator: wall vs the budget's floor, refused calls, failed tasks (bench/BUDGET.md,
##               budget.json; about 10 minutes on 2 cores)
bench-budget: $(STAMP)
	$(PY) bench/budget.py

## bench-paging: what a day of N records costs in calls per windowed method against the fewest possible, with the
##               paging each uses (bench/PAGING.md, paging.json; about 10 minutes on 2 cores)
bench-paging: $(STAMP)
	$(PY) bench/paging.py

## lint: ruff (with Airflow's AIR rules) and mypy
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

## build: wheel + sdist, checked by twine
build: $(STAMP)
	rm -rf dist
	$(PY) -m build --outdir dist .
	$(VENV)/bin/twine check --strict dist/*

clean:
	rm -rf $(VENV) dist build docs/_build .airflow .compat output .pytest_cache .mypy_cache .ruff_cache

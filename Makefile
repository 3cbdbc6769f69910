# mailstack — run `make help` for the targets.
STACK ?= local
VENV  ?= .venv
PY    := $(VENV)/bin/python
PULUMI ?= pulumi
LOCAL_COMPOSE := docker compose -p mailstack-local -f build/local/compose/compose.yaml

.DEFAULT_GOAL := help
.PHONY: help setup lint test synth synth-all docs local local-down preview up destroy

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.txt requirements-dev.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

setup: $(VENV)/.installed ## Create .venv with pinned dependencies

lint: setup ## ruff, mypy, and the generated docs are current
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(PY) -m mailstack.docs --check

test: lint ## Lint, then run every test tier
	$(PY) -m pytest

synth: setup ## Write build/$(STACK)/ offline (no cloud, no Pulumi CLI)
	$(PY) -m mailstack.synth --stack $(STACK)

synth-all: setup ## Synth every committed stack
	for s in local dev prod; do $(PY) -m mailstack.synth --stack $$s || exit 1; done

docs: setup ## Regenerate Pulumi.yaml's config block and the README reference
	$(PY) -m mailstack.docs

local: STACK = local
local: synth ## Set up and run the local stack (services on the local Docker engine)
	$(PY) -m mailstack.local secrets build/local/compose
	$(LOCAL_COMPOSE) up -d --wait
	@$(PY) -m mailstack.local urls build/local

local-down: ## Stop the local stack (its volumes, and so its data, stay)
	docker compose -p mailstack-local down

preview: ## pulumi preview --diff for STACK (needs the Pulumi CLI)
	$(PULUMI) preview --diff --stack $(STACK)

up: ## pulumi up for STACK (needs the Pulumi CLI)
	$(PULUMI) up --stack $(STACK)

destroy: ## pulumi destroy for STACK (prod refuses: its data is protected)
	@if [ "$(STACK)" = prod ]; then echo "refusing to destroy prod from make" >&2; exit 1; fi
	$(PULUMI) destroy --stack $(STACK)

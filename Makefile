# mailstack — run `make help` for the targets.
STACK ?= local
# STACK and SNAPSHOT reach recipes only as environment variables holding their
# raw text ($(value ...) does not expand them): written as $(STACK) into a
# recipe, `make destroy STACK='$(shell ...)'` or a quote in the value would run
# extra commands, in make or in the shell. Recipes quote "$$MAILSTACK_STACK".
unexport STACK SNAPSHOT
# The same for the day-2 values: make exports command-line variables to every
# recipe's environment, expanding them (and so running a `$(shell ...)` in one).
unexport SERVICE CMD TAIL TO DB
export MAILSTACK_STACK = $(value STACK)
export MAILSTACK_SNAPSHOT = $(value SNAPSHOT)
VENV  ?= .venv
PY    := $(VENV)/bin/python
PULUMI ?= pulumi
LOCAL_COMPOSE := docker compose -p mailstack-local -f build/local/compose/compose.yaml

.DEFAULT_GOAL := help
.PHONY: help setup lint test synth synth-all golden docs local local-down preview up \
	throwaway destroy forget-host reap restore backup-status ses-dkim system-tools system-tools-local \
	docker-engine base-image

# `make local` and `make test` set up the machine themselves (Debian 12/13,
# Ubuntu: see docs/getting-started.md): each script below is idempotent and
# takes about a second once everything is there. As root they run directly,
# otherwise through sudo; NO_SYSTEM_SETUP=1 skips them (macOS, or a machine
# you set up by hand).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
SYSTEM_SETUP = @if [ -n "$(NO_SYSTEM_SETUP)" ]; then echo "==> $(1): skipped (NO_SYSTEM_SETUP)"; \
	elif [ "$$(uname -s)" != Linux ] || [ ! -r /etc/debian_version ]; then \
	echo "==> $(1): skipped, not Debian or Ubuntu (see docs/getting-started.md)"; \
	else echo "==> $(1): $(SUDO) bash scripts/$(2)"; $(SUDO) bash scripts/$(2); fi

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@echo "==> setup: creating $(VENV) with $$(python3 --version)"
	python3 -m venv $(VENV)
	@echo "==> setup: upgrading pip"
	@$(PY) -m pip install --quiet --upgrade pip
	@echo "==> setup: installing the pinned packages of requirements-dev.txt (about 40 s the first time):"
	@grep -hE '^[A-Za-z0-9_.-]+==' requirements.txt requirements-dev.txt | cut -d= -f1 | awk '!seen[$$0]++' | paste -sd' ' | fold -s -w 76 | sed 's/^/      /'
	@$(PY) -m pip install --quiet --progress-bar off -r requirements-dev.txt
	@echo "==> setup: done"
	@touch $@

system-tools: ## Install what `make test` needs (Debian packages, Compose v2, actionlint)
	$(call SYSTEM_SETUP,system tools for make test,install-tools.sh test)

system-tools-local: ## Install what `make local` needs (python3-venv, Docker, Compose v2)
	$(call SYSTEM_SETUP,system tools for make local,install-tools.sh local)

docker-engine: ## Start the Docker engine unless it answers
	$(call SYSTEM_SETUP,Docker engine,start-docker.sh)

base-image: docker-engine ## Build the Debian image the test stand-ins start from (once)
	$(call SYSTEM_SETUP,Debian base image for the stand-ins,build-base-image.sh)

setup: $(VENV)/.installed ## Create .venv with pinned dependencies

lint: setup ## ruff, mypy, the import contract, and the generated docs are current
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	PYTHONPATH=.:policy $(VENV)/bin/lint-imports --no-cache
	$(PY) -m tools.docs --check

test: ## Set up the machine, lint, then run every test tier (PYTEST_ARGS="-k ..." narrows pytest)
	@$(MAKE) --no-print-directory system-tools base-image
	@$(MAKE) --no-print-directory lint
	@echo "==> tests: pytest (every tier; the e2e tier builds the stand-in images first)"
	@status=0; $(PY) -m pytest -n auto --dist loadgroup $(PYTEST_ARGS) || status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests: that is a failure" >&2; fi; \
	exit $$status

synth: setup ## Write build/$(STACK)/ offline (no cloud, no Pulumi CLI)
	$(PY) -m tools.synth --stack "$$MAILSTACK_STACK"

synth-all: setup ## Synth every committed stack
	for s in local dev prod; do $(PY) -m tools.synth --stack $$s || exit 1; done

golden: setup ## Rewrite tests/golden/ from a fresh synth of every stack and image (review the diff)
	$(PY) -m tests.artifacts.golden

docs: setup ## Regenerate Pulumi.yaml's config block, docs/config.md and docs/outputs.md
	$(PY) -m tools.docs

local: STACK = local
local: ## Set up this machine and run the local stack on Docker; STANDINS=1: the offline test stand-ins
	@$(MAKE) --no-print-directory $(if $(STANDINS),system-tools base-image,system-tools-local docker-engine)
	@$(MAKE) --no-print-directory setup
	@echo "==> synth: rendering the local stack into build/local$(if $(STANDINS), with the test stand-ins' images)"
	@$(PY) -m tools.synth --stack local $(if $(STANDINS),--set imageRegistryMirror=mailstack-standin)
	@$(PY) -m tools.local secrets build/local/compose
	$(if $(STANDINS),@echo "==> stand-ins: building the images (minutes the first time, then cached)")
	$(if $(STANDINS),@$(PY) -m tests.e2e.images.build >/dev/null)
	@echo "==> images: checking the compose file's images (pulling what is missing)"
	@$(PY) -m tools.images build/local/compose
	@echo "==> docker compose up: starting the services and waiting until they are healthy"
	@$(LOCAL_COMPOSE) up -d --wait
	@$(PY) -m tools.local urls build/local

local-down: ## Stop the local stack (its volumes, and so its data, stay)
	docker compose -p mailstack-local down

preview: ## pulumi preview --diff for STACK (needs the Pulumi CLI)
	$(PULUMI) preview --diff --stack "$$MAILSTACK_STACK"

up: ## pulumi up for STACK (needs the Pulumi CLI)
	$(PULUMI) up --stack "$$MAILSTACK_STACK"

throwaway: setup ## New throwaway stack from dev: deploy, smoke-test, print its URL
	PULUMI=$(PULUMI) PY=$(PY) scripts/throwaway.sh up

destroy: ## Destroy and remove throwaway STACK=pr-<n>|tw-... (refuses prod, dev, local)
	PULUMI=$(PULUMI) PY=$(PY) scripts/throwaway.sh destroy "$$MAILSTACK_STACK"

forget-host: setup ## STACK's server is gone: drop its remote steps from the state unrun, so up or destroy works
	$(PY) -m tools.forget_host --stack "$$MAILSTACK_STACK" --pulumi $(PULUMI)

reap: ## Delete expired throwaways by label (HCLOUD_TOKEN of dev's project); their stacks too with PULUMI_BACKEND_URL
	PULUMI=$(PULUMI) python3 scripts/reap.py --delete

# The server's restore command comes from the stack's `backup` output, so these
# need the Pulumi CLI and SSH access to the server (from an admin CIDR).
BACKUP_OUTPUT = $(PY) -m tools.stack_output --stack "$$MAILSTACK_STACK" --pulumi $(PULUMI) backup

restore: ## Verify, then restore SNAPSHOT (id or latest) on STACK's server; DRY_RUN=1 verifies only
	@case "$$MAILSTACK_SNAPSHOT" in latest|[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]*) ;; \
	  *) echo "usage: make restore STACK=<stack> SNAPSHOT=<id|latest> [DRY_RUN=1]" >&2; exit 2;; esac
	@case "$$MAILSTACK_SNAPSHOT" in *[!0-9a-z]*) echo "SNAPSHOT must be hex or 'latest'" >&2; exit 2;; esac
	@cmd=$$($(BACKUP_OUTPUT) restoreCommand) && set -x && $$cmd $(if $(value DRY_RUN),--dry-run) "$$MAILSTACK_SNAPSHOT"

backup-status: ## Is STACK's last successful backup recent? (non-zero when stale)
	@cmd=$$($(BACKUP_OUTPUT) statusCommand) && $$cmd

ses-dkim: setup ## Hand STACK's DKIM key to SES (BYODKIM); needs the Pulumi and AWS CLIs
	$(PY) -m tools.ses_dkim --stack "$$MAILSTACK_STACK" --pulumi $(PULUMI)

# Operator commands against a deployed STACK: they read its outputs with the
# Pulumi CLI and reach the server with its `sshCommand` (from an admin CIDR).
# Values go to Python in the environment, never through the shell.
.PHONY: check status logs exec ssh
logs exec: export MAILSTACK_SERVICE = $(value SERVICE)
logs: export MAILSTACK_TAIL = $(value TAIL)
exec: export MAILSTACK_CMD = $(value CMD)
check status logs exec ssh: export PULUMI := $(PULUMI)

check: ## Live mail and health check of STACK: DNS, MTA-STS, PTR, TLS, blocklists, relay, backup
	@$(PY) -m tools.check --stack "$$MAILSTACK_STACK" --pulumi "$$PULUMI"

status: ## The services on STACK's server (docker compose ps)
	@$(PY) -m tools.day2 status

logs: ## Recent logs on STACK's server, of every service or SERVICE (TAIL lines, default 200)
	@$(PY) -m tools.day2 logs

exec: ## Run CMD in SERVICE on STACK's server, e.g. SERVICE=db CMD='psql -U listmonk'
	@$(PY) -m tools.day2 exec

ssh: ## A shell on STACK's server
	@$(PY) -m tools.day2 ssh

# Releases recorded on STACK's server (docs/updates.md); TO and DB, like SERVICE,
# reach Python in the environment only, and are checked whole there.
.PHONY: rollback releases
rollback releases: export MAILSTACK_SERVICE = $(value SERVICE)
rollback: export MAILSTACK_TO = $(value TO)
rollback: export MAILSTACK_DB = $(value DB)
rollback releases: export PULUMI := $(PULUMI)

rollback: ## Roll SERVICE (default app) on STACK back to release TO (default: the one before); DB=1: its database too
	@$(PY) -m tools.rollback

releases: ## The releases of SERVICE (default app) recorded on STACK's server
	@$(PY) -m tools.rollback --list

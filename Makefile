# The README's two commands. Each installs what it needs (Python deps into the project's
# virtual environment .venv, never the system interpreter; Debian packages, as root, and Go
# builds through `python -m deployer local up`), so both work on a fresh machine.
BOOTSTRAP_PYTHON ?= python3
VENV ?= .venv
PYTHON := $(VENV)/bin/python
PYTEST_ARGS ?=
CHARTS ?= ../shared/charts
# Every process of a target finds the pinned charts (private stacks in the tests render from them too;
# the render is cached by chart version and values, so a warm run reads no chart).
export OBSCONF_CHARTS := $(abspath $(CHARTS))

.PHONY: conformance test deps stack kube tools lint typecheck unit down image-test

deps: $(VENV)/.deps

# Debian's python3 needs python3-venv for `-m venv`: installed as root when missing.
$(VENV)/.deps: pyproject.toml
	$(BOOTSTRAP_PYTHON) -m venv $(VENV) 2>/dev/null || { [ "$$(id -u)" = 0 ] || { echo "$(BOOTSTRAP_PYTHON) -m venv failed: run \`sudo apt-get install python3-venv\`" >&2; exit 1; }; \
		{ apt-get install -y -qq python3-venv >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null; }; } && $(BOOTSTRAP_PYTHON) -m venv --clear $(VENV); }
	$(PYTHON) -m pip install -q --disable-pip-version-check -e '.[dev]'
	touch $@

stack: deps
	$(PYTHON) -m deployer local up --charts $(CHARTS)

## The kwok target: a real Kubernetes control plane on loopback with fake nodes (built on first
## run, ~20 min on 2 cores; then seconds). `make conformance` does not need it.
kube: deps
	$(PYTHON) -m deployer local up --env kwok

## Run the conformance suites against the local stack (started if needed).
conformance: stack
	$(PYTHON) -m pytest suites -n auto --env local $(PYTEST_ARGS)

## Test tools from Debian: headless Chromium for the report test.
tools:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && { apt-get install -y -qq chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }; }; } || echo "chromium not installed: its test will be skipped"

lint: deps
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .
	$(VENV)/bin/lint-imports

typecheck: deps
	$(PYTHON) -m mypy

## The project's own tests: lint, types; the deployer's up on the kwok control plane with the
## offline charts (idempotent; the project tests compare the real operator's objects with it);
## unit tests and the suites against the local stack (without the k8s checks: they need a
## cluster); then the k8s checks against what the deploy made.
test: lint typecheck stack kube tools
	$(PYTHON) -m deployer up --env kwok --charts $(CHARTS)
	$(PYTHON) -m pytest tests suites -n auto --env local -m "not k8s and not outage" $(PYTEST_ARGS)
	$(PYTHON) -m pytest tests --env local -m outage $(PYTEST_ARGS)
	$(MAKE) --no-print-directory image-test
	$(PYTHON) -m pytest suites --env kwok -m k8s $(PYTEST_ARGS)

## The suites' image (container/Containerfile, FROM a debootstrap base made here: no registry is reachable),
## its size printed, and the local-stack suites run from inside it on the host's network. podman, runc and
## debootstrap from Debian, as root (../shared/CONTAINERS.md).
image-test: deps stack
	@command -v podman >/dev/null && command -v debootstrap >/dev/null && [ -x /usr/sbin/runc ] || { apt-get install -y -qq podman runc debootstrap >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq podman runc debootstrap >/dev/null; }; }
	$(PYTHON) container/image.py all

unit: deps
	$(PYTHON) -m pytest tests -m "not stack" -n auto $(PYTEST_ARGS)

down:
	$(PYTHON) -m deployer local down
	$(PYTHON) -m deployer local down --env kwok

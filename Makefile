# Two commands on a fresh machine: `make run` and `make test`. Both create .venv.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
PYTEST_ARGS ?=
# `make run PORT=5001` serves on another port; the links it prints and texts follow.
ifdef PORT
export SMSBANK_PORT := $(PORT)
endif

.PHONY: run test lint format migrate bench bench-short soak install install-test clean-venv

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Stamps: reinstall when pyproject.toml changes.
$(VENV)/.installed-base: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml tests/browser/package-lock.json | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[test,dev]"
	# axe-core, which the Chromium tests inject to check accessibility.
	cd tests/browser && npm ci --no-audit --no-fund --loglevel=error
	touch $@ $(VENV)/.installed-base

install: $(VENV)/.installed-base
install-test: $(VENV)/.installed-test

# A fresh .env with random secrets, written once; never overwritten.
.env:
	$(PYTHON) -c "import secrets; print('# written by make run; see .env.example for every setting'); print('SMSBANK_SECRET_KEY=' + secrets.token_urlsafe(48)); print('SMSBANK_ADMIN_API_KEY=sbk_' + secrets.token_urlsafe(32))" > .env
	@echo "wrote .env with fresh random secrets"

run: $(VENV)/.installed-base .env
	$(BIN)/smsbank migrate
	$(BIN)/smsbank demo
	$(BIN)/smsbank serve

migrate: $(VENV)/.installed-base
	$(BIN)/smsbank migrate

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/mypy tests bench

format: $(VENV)/.installed-test
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(VENV)/.installed-test
	$(BIN)/python -m bench.run

bench-short: $(VENV)/.installed-test
	$(BIN)/python -m bench.run --short

# Bounded loopback soak (~200 customers, ~1 minute): fails if anything is lost or any 5xx.
soak: $(VENV)/.installed-test
	$(BIN)/python -m bench.soak

clean-venv:
	rm -rf $(VENV)

# `make local` runs the pipeline on this machine; `make test` runs every check. Both set themselves up from nothing.
PYTHON ?= python3
VENV := venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 3000
AWS_PORT ?= 4566

.PHONY: local test lint typecheck unit soak bench clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

local: $(STAMP)
	$(BIN)/python -m local up --port $(PORT) --aws-port $(AWS_PORT)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy __main__.py infra handlers local

test: lint typecheck
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .tasktrail-local

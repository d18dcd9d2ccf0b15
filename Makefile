# `make local` runs the pipeline on this machine; `make test` runs every check. Both set themselves up from nothing.
PYTHON ?= python3
VENV := venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 3000
AWS_PORT ?= 4566

.PHONY: local test lint typecheck unit soak bench clean

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	# The `tasktrail` command (venv/bin/tasktrail), from this checkout.
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

local: $(STAMP)
	$(BIN)/tasktrail up --port $(PORT) --aws-port $(AWS_PORT)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy __main__.py infra handlers local bench

test: lint typecheck
	$(BIN)/python -m pytest

# Figures, not tests: cold start, cost per million tasks and throughput, at moderate sizes (a few minutes).
bench: $(STAMP)
	$(BIN)/python bench/coldstart.py --runs 11
	$(BIN)/python bench/cost.py --tasks 20 --idle 20
	$(BIN)/python bench/throughput.py --tasks 400

# The reliability scenarios at full size (2,000 tasks), printing their figures; `make test` runs them small.
SOAK_TASKS ?= 2000
soak: $(STAMP)
	TASKTRAIL_SOAK_TASKS=$(SOAK_TASKS) $(BIN)/python -m pytest tests/reliability -m reliability -p no:cacheprovider --timeout=3600 -q --show-capture=no

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .tasktrail-local *.egg-info

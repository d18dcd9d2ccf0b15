# `make local` runs the pipeline on this machine; `make test` runs every check. Both set themselves up from nothing.
PYTHON ?= python3
VENV := venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The functions' dependencies, locked; every environment that runs handler code installs them at these versions.
HANDLER_LOCK := handlers/requirements.lock
CONSTRAINTS := $(VENV)/lock-constraints.txt
# The handlers' test tiers run on the functions' own Python (Lambda's python3.13), beside the lock alone.
LAMBDA_VENV := venv-lambda
LAMBDA_BIN := $(LAMBDA_VENV)/bin
LAMBDA_STAMP := $(LAMBDA_VENV)/.installed
PORT ?= 3000
AWS_PORT ?= 4566

.PHONY: local test lint typecheck unit soak bench bench-reconciler clean lock

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml handlers/requirements.in $(HANDLER_LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# The lock's pins (without its hashes, which pip would then ask of every package) hold the handlers' packages.
	grep -E '^[A-Za-z0-9._-]+==' $(HANDLER_LOCK) | sed 's/ .*//' > $(CONSTRAINTS)
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) -r requirements-dev.txt
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

$(LAMBDA_STAMP): $(STAMP) $(HANDLER_LOCK) tests/requirements-handlers.txt
	rm -rf $(LAMBDA_VENV)
	"$$($(BIN)/python -m local.deploy.lambda_host python3.13)" -m venv $(LAMBDA_VENV)
	$(LAMBDA_BIN)/python -m pip install --quiet --upgrade pip
	$(LAMBDA_BIN)/python -m pip install --quiet --require-hashes --no-deps -r $(HANDLER_LOCK)
	$(LAMBDA_BIN)/python -m pip install --quiet -c $(CONSTRAINTS) -r tests/requirements-handlers.txt
	touch $(LAMBDA_STAMP)

TEST_WORKERS ?= 3
test: lint typecheck $(LAMBDA_STAMP)
	# The handlers and the local cloud's own machinery, on Python 3.13 with the locked packages...
	$(LAMBDA_BIN)/python -m pytest tests/unit tests/integration
	# ...then the program (Pulumi mocks) and the local cloud end to end, driven from the project's venv: three files
	# at a time, each with its own local cloud (they mostly wait on the stack's timers; 9 minutes instead of 16 here).
	$(BIN)/python -m pytest tests/infra tests/e2e tests/reliability -n $(TEST_WORKERS) --dist loadfile

# Regenerate the locks (the functions' dependencies; the local runtime interface client) from their .in files.
lock: $(STAMP)
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile handlers/requirements.in --python-platform aarch64-manylinux_2_34 --python-version 3.13 \
		--generate-hashes --only-binary :all: --no-header -o $(HANDLER_LOCK)
	$(BIN)/uv pip compile bench/baseline/requirements.in -c $(HANDLER_LOCK) --python-platform aarch64-manylinux_2_34 \
		--python-version 3.13 --generate-hashes --only-binary :all: --no-header -o bench/baseline/requirements.lock
	$(BIN)/uv pip compile local/deploy/lambda-runtime.in --python-platform x86_64-manylinux_2_34 --python-version 3.13 \
		--generate-hashes --only-binary :all: --no-header -o local/deploy/lambda-runtime.lock

# Figures, not tests: cold start, cost per million tasks and throughput, at moderate sizes (a few minutes).
bench: $(STAMP)
	$(BIN)/python bench/coldstart.py --runs 11
	$(BIN)/python bench/cost.py --tasks 20 --idle 20
	$(BIN)/python bench/throughput.py --tasks 400
	$(BIN)/python bench/verify.py --events 100000
	$(BIN)/python bench/scale.py

# The reconciler against the emulator seeded with 30 minutes of tasks at 100/s and 10 stranded ones (about 10
# minutes): every stranded task re-sent within its bound, none twice, and the examination rate bench/scale.py uses.
# `make test` runs it small (tests/e2e/test_reconciler_simulation.py).
bench-reconciler: $(STAMP)
	$(BIN)/python bench/reconciler.py --rate 100 --minutes 30 --stranded 10

# The reliability scenarios at full size (2,000 tasks), printing their figures; `make test` runs them small.
SOAK_TASKS ?= 2000
soak: $(STAMP)
	TASKTRAIL_SOAK_TASKS=$(SOAK_TASKS) $(BIN)/python -m pytest tests/reliability -m reliability -p no:cacheprovider --timeout=3600 -q --show-capture=no

clean:
	rm -rf $(VENV) $(LAMBDA_VENV) .pytest_cache .mypy_cache .ruff_cache .tasktrail-local .tasktrail-build *.egg-info

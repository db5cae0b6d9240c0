# One entry point for developers and CI. `make test` works on a fresh machine: it creates the
# virtual environment, installs bizbus with its dev tools, fetches the Kafka jars, then runs
# ruff, mypy and pytest (the test session starts its own Kafka broker).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install kafka-jars contract-tools protos lint typecheck test demo bench chaos clean

$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[sandbox,dev]'
	@# mypy reads the folders as bizbus.* through links (it cannot follow the editable hook).
	@mkdir -p $(VENV)/bizbus-src/bizbus
	@for layer in schemas connectors flows deploy; do ln -sfn ../../../$$layer $(VENV)/bizbus-src/bizbus/$$layer; done
	@touch $@

install: $(VENV)/.installed

kafka-jars: install
	$(BIN)/bizbus kafka fetch

# The official AsyncAPI parser (npm) validates schemas/contracts/asyncapi.json in the tests.
tests/contracts/node_modules/.package-lock.json: tests/contracts/package.json tests/contracts/package-lock.json
	npm ci --prefix tests/contracts --no-audit --no-fund
	@touch $@

contract-tools: tests/contracts/node_modules/.package-lock.json

# The Pub/Sub API's Python modules, regenerated from connectors/salesforce/pubsub/pubsub_api.proto.
protos: install
	$(BIN)/python -m tests.protostubs

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

test: install kafka-jars contract-tools lint typecheck
	$(BIN)/pytest

# The main job: trade show to delivery against the sandboxes (DEMO_ARGS="--orders 5").
demo: install kafka-jars
	$(BIN)/bizbus demo $(DEMO_ARGS)

# Speed figures beside raw baselines from the same run (BENCH_ARGS="--rounds 5 --json").
bench: install kafka-jars
	$(BIN)/bizbus bench $(BENCH_ARGS)

# What bizbus survives, counted from the systems' records (CHAOS_ARGS="--json -s R1").
chaos: install kafka-jars
	$(BIN)/bizbus chaos $(CHAOS_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

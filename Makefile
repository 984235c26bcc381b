# The one entry point for developers and CI. The virtual environment is built from requirements-dev.lock
# (hash-pinned: the runtime and the `dev` extra) the first time any target needs it, so a fresh machine
# needs only Python 3.11 and make. The image installs requirements.lock, the runtime alone.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv run test lint format proto schema bench clean distclean lock devtoken

$(STAMP): requirements-dev.lock
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps --require-hashes -r requirements-dev.lock
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/python -m condividi.devstack run

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

proto: $(STAMP)
	$(BIN)/python -m condividi.contracts.generate

# Writes gateway/schema.graphql from the code (a test fails while the two differ).
schema: $(STAMP)
	$(BIN)/python -m gateway.schema_file

# Every benchmark and one table (bench/README.md); QUICK=1 for the short runs (under 3 minutes).
bench: $(STAMP)
	$(BIN)/python -m bench.run $(if $(QUICK),--quick)

devtoken: $(STAMP)
	@$(BIN)/python -m condividi.identity.devtoken $(ARGS)

# Re-resolves the pins from pyproject.toml; run after changing dependencies and commit both files.
# requirements-dev.lock: the runtime and the `dev` extra (the venv). requirements.lock: the runtime
# alone (the image), constrained to the development pins, so tests and image run the same versions.
lock: $(STAMP)
	$(BIN)/pip install --quiet uv==0.13.8
	$(BIN)/uv pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 -o requirements-dev.lock
	$(BIN)/uv pip compile pyproject.toml --generate-hashes --python-version 3.11 -c requirements-dev.lock \
		-o requirements.lock

clean:
	rm -rf .data .pytest_cache .mypy_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)

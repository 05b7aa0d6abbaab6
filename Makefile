# Each target builds .venv from nothing when it is missing, so a fresh clone needs only Python 3.11.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint typecheck importlint hadolint unit bench clean lock

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/sanctions-monitor run

lint: $(STAMP)
	$(BIN)/ruff check monitor tests bench
	$(BIN)/ruff format --check monitor tests bench

typecheck: $(STAMP)
	$(BIN)/mypy monitor

importlint: $(STAMP)
	$(BIN)/lint-imports

hadolint: $(STAMP)
	$(BIN)/hadolint Dockerfile

unit: $(STAMP)
	$(BIN)/pytest -q -n 4

test: lint typecheck importlint hadolint unit

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

# requirements.lock: every runtime dependency pinned with its hashes (the Dockerfile installs
# it with --require-hashes). Run after changing [project] dependencies in pyproject.toml.
# The [postgres] extra is in the image, so one image runs on SQLite or on a shared PostgreSQL.
lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml --quiet --generate-hashes --python-version 3.11 \
	    --python-platform x86_64-manylinux_2_28 --custom-compile-command "make lock" \
	    --extra postgres -o requirements.lock

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache

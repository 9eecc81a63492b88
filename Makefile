# Quickstart: `make demo` trains the example system, `make test` runs every check.
# Both create .venv on first use (Python 3.10+, found as $(PYTHON)).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# The CPU build of PyTorch this project is developed against; the package accepts torch>=2.2.
TORCH_PIN ?= torch==2.13.0

.PHONY: demo test lint typecheck unit bench compat mutation clean

$(STAMP): pyproject.toml
	@echo "Setting up $(VENV) (first use or pyproject.toml changed): installing $(TORCH_PIN)"
	@echo "(the CPU build) and torchsystem with its extras; about a minute."
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "$(TORCH_PIN)"
	$(BIN)/python -m pip install --quiet -e ".[examples,test]" "$(TORCH_PIN)"
	@touch $(STAMP)

demo: $(STAMP)
	cd examples/digits && ../../$(BIN)/python -m src.main

test: lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest

# Timings against the peers; exits non-zero when a target of the README is missed.
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[bench]" "$(TORCH_PIN)"
	$(BIN)/python benchmarks/di_messaging.py
	$(BIN)/python benchmarks/loop_overhead.py
	$(BIN)/python benchmarks/runs_overhead.py
	$(BIN)/python benchmarks/checkpoints.py
	$(BIN)/python benchmarks/ddp_accumulation.py

# Mutation testing of the core and the training service (minutes; not part of make test).
mutation: $(STAMP)
	$(BIN)/python -m pip install --quiet "mutmut==3.8.1"
	$(BIN)/python scripts/mutation.py

# The PyTorch-free suites on Python 3.10, 3.12 and 3.13 (found on PATH or under pyenv).
compat:
	scripts/compat.sh

clean:
	rm -rf $(VENV) .venv-* examples/digits/runs .pytest_cache .mypy_cache .ruff_cache mutants

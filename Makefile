# Two entry points that work on a fresh machine with Python 3.11 and pip:
#   make demo   set up .venv and run the main job (for now: the engine benchmark, JSON on stdout)
#   make test   set up .venv and run the test suite (slow checks skipped; add ARGS=--runslow)
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: setup demo test test-slow bench clean

$(BIN)/arena: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# Pinned first: the CPU build installs from a local file; an unpinned torch pulls GBs of CUDA.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[dev]"
	@touch $@

setup: $(BIN)/arena

demo: setup
	$(BIN)/arena perft othello --depth 10
	$(BIN)/arena bench env

test: setup
	$(BIN)/python -m pytest -q $(ARGS)

test-slow: setup
	$(BIN)/python -m pytest -q --runslow $(ARGS)

bench: setup
	$(BIN)/arena bench env
	$(BIN)/arena bench mcts

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache

# Two entry points that work on a fresh machine with Python 3.11 and pip:
#   make demo   set up .venv and run the main job: AlphaZero on 6x6 Othello (local Ray, 15 minutes),
#               then the trained net against greedy and pure MCTS with 200 rollouts
#   make test   set up .venv and run the test suite (slow checks skipped; add ARGS=--runslow)
#   make tournament   the README's Othello 8x8 tournament (needs gtp-rhino: make engines, as root)
#   make seq-demo     the sequence model end to end on 6x6 Othello on a small budget (~15 minutes):
#                     random transcripts, next-token pretraining, probes, GRPO, a tournament
#   make study        the comparison (about an hour on 2 cores): AlphaZero vs GPT pretraining + RL vs RL
#                     alone on 6x6 Othello at equal wall-clock, with controls; runs/study_othello6/report.md
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
# The CPU build of PyTorch when no NVIDIA GPU is visible (nvidia-smi), else the default index's CUDA build.
TORCH_INDEX ?= $(if $(shell command -v nvidia-smi 2>/dev/null),https://pypi.org/simple,https://download.pytorch.org/whl/cpu)

.PHONY: setup demo test test-slow bench tournament seq-demo study engines clean

$(BIN)/arena: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# Pinned first, and the CPU build unless a GPU is seen: from PyTorch's CPU wheel index when it answers,
	# else from the default index (which on Linux serves the CUDA build, gigabytes, unless a local
	# file stands in). TORCH_INDEX=https://download.pytorch.org/whl/cu126 (say) picks a CUDA build.
	$(BIN)/pip install -q --timeout 15 --retries 1 --index-url $(TORCH_INDEX) torch==2.13.0 2>/dev/null \
		|| $(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[dev]"
	@touch $@

setup: $(BIN)/arena

demo: setup
	$(BIN)/arena train --config configs/othello6_az.yaml --run-dir runs/demo --resume
	$(BIN)/arena eval --ckpt runs/demo --against greedy,mcts:200 --games 200

test: setup
	$(BIN)/python -m pytest -q $(ARGS)

test-slow: setup
	$(BIN)/python -m pytest -q --runslow $(ARGS)

bench: setup
	$(BIN)/arena bench env
	$(BIN)/arena bench mcts
	$(BIN)/arena bench selfplay
	$(BIN)/arena bench checkpoint
	$(BIN)/arena bench tournament

tournament: setup
	$(BIN)/arena tournament --config configs/tournament_othello8.yaml --out runs/tournament_othello8

seq-demo: setup
	test -f data/othello6_random/manifest.json || \
	  $(BIN)/arena transcripts --game othello --size 6 --games 200000 --seed 1 --out data/othello6_random
	$(BIN)/arena pretrain --config configs/seq_demo6.yaml --resume
	$(BIN)/arena probe --ckpt runs/seq_demo6 --games 500
	$(BIN)/arena finetune --config configs/seq_rl_demo6.yaml --init runs/seq_demo6 --resume
	$(BIN)/arena tournament --config configs/tournament_seq6.yaml --out runs/tournament_seq6

study: setup
	$(BIN)/arena study --config configs/study_othello6.yaml

engines:
	bash .ci/engines

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache

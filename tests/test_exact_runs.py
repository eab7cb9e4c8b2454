"""Exact runs, for each of the three trainers (the run harness, agents.common.run): on the CPU with fixed
threads, ``inference=torch`` and no Ray, the same seed and config give the same weights twice, and a run
stopped part-way and resumed ends with the same weights, bit for bit, as the run uninterrupted."""

import dataclasses
import os

import pytest
import torch

from agents.common import checkpoint
from agents.common import transcripts as T
from agents.common.tokenizer import Tokenizer


def quiet(*a, **k):
    pass


def weights(run_dir):
    return checkpoint.load(run_dir)["weights"]


def same(a, b):
    return set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def check_exact(run, tmp_path, stop_at, step_of):
    """``run(dir, resume, halt)`` three times: twice whole, once stopped before step ``stop_at`` and resumed."""
    run(tmp_path / "a", False, None)
    run(tmp_path / "b", False, None)
    assert same(weights(tmp_path / "a"), weights(tmp_path / "b")), "the same seed and config gave other weights"
    run(tmp_path / "c", False, lambda step: step >= stop_at)
    assert step_of(tmp_path / "c") == stop_at
    assert not same(weights(tmp_path / "a"), weights(tmp_path / "c"))  # it really stopped part-way
    run(tmp_path / "c", True, None)
    assert step_of(tmp_path / "c") == step_of(tmp_path / "a")
    assert same(weights(tmp_path / "a"), weights(tmp_path / "c")), "stopped and resumed, the run went elsewhere"


def step_of(run_dir):
    return checkpoint.load(run_dir)["step"]


def test_alphazero_runs_are_exact(tmp_path):
    from agents.alphazero.config import TrainConfig
    from agents.alphazero.train import train
    from agents.common.config import load_config

    # In-process self-play, a gauntlet and a gate (which promotes) before and after the stop: the games in
    # flight, the replay's stream, the gate's best weights and the previous gauntlet's net all carry over.
    cfg = load_config(TrainConfig, "configs/othello6_az.yaml", [
        "size=4", "games_in_flight=8", "simulations=4", "cheap_simulations=2", "full_search_prob=0.75",
        "min_replay=60", "batch_size=32", "publish_every=5", "checkpoint_every=10", "warmup_steps=5",
        "replay_capacity=400", "inference=torch", "workers=0", "minutes=10", "max_steps=40",
        "max_samples_per_position=2", "seed=3", "eval_every=15", "eval_games=4", "anchors=random",
        "eval_simulations=4", "gating=gate", "gate_games=4", "gate_score=0.1"])
    check_exact(lambda d, resume, halt: train(cfg, str(d), resume=resume, log=quiet, halt=halt), tmp_path, 23, step_of)


def test_pretraining_runs_are_exact(tmp_path):
    from agents.seq.pretrain import PretrainConfig, pretrain

    T.write_dataset(str(tmp_path / "d"), Tokenizer("othello", 6), T.random_source("othello", 6, 600, 0), "random", 0,
                    0.1, progress=False)
    cfg = PretrainConfig(data=str(tmp_path / "d"), preset="tiny", batch_size=16, lr=3e-3, warmup_steps=5, max_steps=30,
                         eval_every=10, eval_games=20, checkpoint_every=10, dropout=0.1, seed=2)
    check_exact(lambda d, resume, halt: pretrain(cfg, str(d), resume=resume, log=quiet, progress=False, halt=halt),
                tmp_path, 17, step_of)


def test_finetuning_runs_are_exact(tmp_path):
    from agents.seq.finetune import FinetuneConfig, finetune

    # Every kind of opponent: the learner itself, its frozen snapshot (refreshed at step 4, before the stop at
    # 6), a baseline drawing from its own streams; sampling at temperature 1.
    cfg = FinetuneConfig(game="othello", size=4, preset="tiny", opponents=("self", "snapshot", "random"), groups=8,
                         group_size=2, steps=10, eval_every=5, eval_games=4, checkpoint_every=5, snapshot_every=4,
                         eval_opponents=("random",), seed=5)
    check_exact(lambda d, resume, halt: finetune(cfg, "none", str(d), resume=resume, log=quiet, progress=False,
                                                 halt=halt), tmp_path, 6, step_of)


def test_finetune_resume_refuses_another_start(tmp_path):
    from agents.seq.finetune import FinetuneConfig, finetune
    from agents.seq.pretrain import PretrainConfig, pretrain

    T.write_dataset(str(tmp_path / "d"), Tokenizer("othello", 4), T.random_source("othello", 4, 300, 0), "random", 0,
                    0.1, progress=False)
    base = PretrainConfig(data=str(tmp_path / "d"), preset="tiny", batch_size=8, max_steps=4, eval_every=4, eval_games=10,
                          checkpoint_every=4)
    pretrain(base, str(tmp_path / "g1"), log=quiet, progress=False)
    pretrain(dataclasses.replace(base, max_steps=6), str(tmp_path / "g2"), log=quiet, progress=False)
    cfg = FinetuneConfig(game="othello", size=4, preset="tiny", opponents=("random",), groups=2, group_size=2, steps=2,
                         eval_every=2, eval_games=2, checkpoint_every=2, eval_opponents=("random",))
    run = str(tmp_path / "rl")
    finetune(cfg, str(tmp_path / "g1"), run, log=quiet, progress=False)
    # Another start: its KL reference and tokenizer would be swapped silently.
    with pytest.raises(ValueError, match=r"init_path=.*g1.*not init_path=.*g2"):
        finetune(dataclasses.replace(cfg, steps=4), str(tmp_path / "g2"), run, resume=True, log=quiet, progress=False)
    # The same start named by its file rather than its run directory is the same start.
    finetune(dataclasses.replace(cfg, steps=4), checkpoint.latest(str(tmp_path / "g1")), run, resume=True, log=quiet,
             progress=False)
    assert step_of(run) == 4
    # A start whose run has moved on since (its newest checkpoint is another) is refused.
    pretrain(dataclasses.replace(base, max_steps=8), str(tmp_path / "g1"), resume=True, log=quiet, progress=False)
    with pytest.raises(ValueError, match="init_step=4.*not.*init_step=8"):
        finetune(dataclasses.replace(cfg, steps=6), str(tmp_path / "g1"), run, resume=True, log=quiet, progress=False)
    # A start from scratch has another shape when the preset differs: one line, not a traceback.
    run2 = str(tmp_path / "rl2")
    finetune(cfg, "none", run2, log=quiet, progress=False)
    with pytest.raises(ValueError, match="n_layer|d_model|preset"):
        finetune(dataclasses.replace(cfg, preset="small", steps=4), "none", run2, resume=True, log=quiet,
                 progress=False)
    assert os.path.exists(os.path.join(run, "metrics.jsonl"))


@pytest.mark.parametrize("minutes, max_flops, total", [(0.0, 0, 500), (5.0, 0, None), (0.0, 1e12, None)])
def test_progress_bar_total_only_for_a_step_budget(tmp_path, minutes, max_flops, total):
    # A bar over 500 steps would show an ETA for steps a 5-minute run may never take.
    from types import SimpleNamespace

    from agents.common.run import Run

    cfg = SimpleNamespace(seed=0, minutes=minutes, max_flops=max_flops, max_steps=500)
    assert Run(tmp_path, "pretrain", "gpt", cfg, log=quiet).bar_total() == total

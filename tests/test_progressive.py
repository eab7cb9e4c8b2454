"""MiniZero's progressive simulation as an option of ``arena train`` (``progressive_steps``): the full
search's simulations double from ``progressive_start`` to ``simulations`` over the first steps, and
self-play switches when new weights reach it, in this process and on Ray workers alike."""

import json

import numpy as np
import pytest

from agents.alphazero.config import TrainConfig
from agents.alphazero.selfplay import SelfPlay
from agents.alphazero.sources import LocalSelfPlay
from agents.alphazero.train import new_net, train
from agents.search.evaluators import UniformEvaluator
from agents.search.mcts import SearchConfig


def test_the_schedule_doubles_at_equal_intervals_and_ends_at_simulations():
    cfg = TrainConfig(simulations=32, progressive_steps=800, progressive_start=4)
    assert [cfg.simulations_at(s) for s in range(0, 1000, 100)] == [4, 4, 8, 8, 16, 16, 32, 32, 32, 32]
    assert TrainConfig(simulations=32).simulations_at(0) == 32  # off by default
    assert TrainConfig(simulations=2).simulations_at(0) == 2  # progressive_start matters only when it is on
    assert TrainConfig(simulations=24, progressive_steps=90).simulations_at(89) == 24  # not a power of two
    for bad in ({"progressive_start": 1}, {"progressive_start": 64}, {"progressive_steps": -1}):
        with pytest.raises(ValueError, match="progressive"):
            TrainConfig(**{"simulations": 32, "progressive_steps": 100, **bad})


class Counting(UniformEvaluator):
    calls = 0

    def evaluate(self, *args, **kwargs):
        self.calls += 1
        return super().evaluate(*args, **kwargs)


def test_selfplay_switches_its_search_between_moves():
    ev = Counting()
    sp = SelfPlay(ev, "othello", 6, games_in_flight=4, search=SearchConfig(simulations=8), seed=0)
    sp.step()
    eight, ev.calls = ev.calls, 0
    sp.set_simulations(32)
    sp.step()
    assert sp.full.config.simulations == 32 and ev.calls > 2 * eight  # one batched call a simulation
    records = list(sp.play(4))  # the tree was reallocated: the games in flight go on to their ends
    assert len(records) == 4 and all(len(r.moves) >= 9 for r in records)


def test_local_selfplay_follows_the_published_step():
    cfg = TrainConfig(size=4, network="b4c64", workers=0, games_in_flight=4, simulations=16, progressive_steps=30,
                      progressive_start=4, inference="torch")
    net = new_net(cfg)
    src = LocalSelfPlay(cfg, net, "cpu", log=lambda *a: None)
    assert src.sp.full.config.simulations == 4
    src.publish(15, net)
    assert src.sp.full.config.simulations == 8
    src.publish(30, net)
    assert src.sp.full.config.simulations == 16
    assert LocalSelfPlay(cfg, net, "cpu", log=lambda *a: None, step=40).sp.full.config.simulations == 16


def test_a_progressive_run_logs_its_simulations(tmp_path):
    cfg = TrainConfig(game="othello", size=4, network="b4c64", workers=0, games_in_flight=8, simulations=8,
                      progressive_steps=6, progressive_start=2, cheap_simulations=2, min_replay=40, batch_size=32,
                      eval_every=0, inference="torch", minutes=10, warmup_steps=2, max_steps=8, publish_every=2)
    train(cfg, str(tmp_path), log=lambda *a: None)
    rows = [json.loads(x) for x in open(tmp_path / "metrics.jsonl")]
    sims = [r["simulations"] for r in rows if "simulations" in r]
    assert sims and sims[-1] == 8 and np.all(np.diff(sims) >= 0)

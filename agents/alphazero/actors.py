"""The Ray actors of ``arena train``: the weight store, the replay buffer and the self-play workers.

    WeightStore      the newest published weights (bytes) with their version (the learner step)
    ReplayActor      the replay buffer (agents.alphazero.replay), fed by the workers, sampled by the learner
    SelfPlayWorker   ``games_in_flight`` games searched at once; ``run(n)`` plays until n more finish

Workers are started with ``max_restarts=-1``: Ray restarts a dead one (a new process, reported by its
pid in every ``run`` result) and self-play goes on, on any node with a free CPU. They find the store and
the buffer by name (``WEIGHTS``, ``REPLAY`` in the run's namespace) rather than holding their handles
as constructor arguments, which Ray keeps in its object store and cannot always give back to a restart.
The store and the buffer hold the learner's state: :func:`pinned_here` keeps them on the driver's node
(they take no CPU), so losing another node never loses them.
"""

import io
import os
import sys
import time

import numpy as np
import ray
import torch
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from agents.alphazero.config import TrainConfig
from agents.alphazero.network import new_net
from agents.alphazero.replay import ReplayBuffer
from agents.alphazero.selfplay import SelfPlay
from agents.search.evaluators import TorchEvaluator


WEIGHTS, REPLAY = "weights", "replay"


def pinned_here():
    """Ray options that place an actor on this (the driver's) node and reserve no CPU for it."""
    node = ray.get_runtime_context().get_node_id()
    return {"num_cpus": 0, "scheduling_strategy": NodeAffinitySchedulingStrategy(node_id=node, soft=False)}


def weights_blob(net):
    """The net's state dict as bytes (``torch.save``), to publish through the store."""
    buf = io.BytesIO()
    torch.save(net.state_dict(), buf)
    return buf.getvalue()


def load_blob(net, blob):
    # Tensors only: the blob comes from our own learner, but nothing we read is allowed to unpickle objects.
    net.load_state_dict(torch.load(io.BytesIO(blob), weights_only=True))


@ray.remote
class WeightStore:
    def __init__(self):
        self.version, self.blob = -1, None

    def put(self, version, blob):
        self.version, self.blob = version, blob

    def get(self, have):
        return (self.version, self.blob) if self.version > have else (have, None)


@ray.remote
class ReplayActor:
    def __init__(self, capacity, obs_shape, num_actions, seed, path=None):
        self.buf = ReplayBuffer.load(path) if path and os.path.exists(path) else ReplayBuffer(capacity, obs_shape, num_actions)
        self.rng = np.random.default_rng(seed)

    def add(self, records):
        for r in records:
            self.buf.add_game(r)
        return self.stats()

    def sample(self, n):
        return self.buf.sample(n, self.rng)

    def stats(self):
        return {"size": self.buf.size, "added": self.buf.added, "games": self.buf.games}

    def save(self, path):
        self.buf.save(path)


@ray.remote(num_cpus=1)
class SelfPlayWorker:
    """Runs ``games_in_flight`` games at once; each ``run`` call plays until ``games`` more finish,
    pushes them to the replay actor and reports. Weights are pulled from the store before each call."""

    def __init__(self, cfg_dict, worker_id, names=(WEIGHTS, REPLAY)):
        torch.set_num_threads(1)
        cfg = TrainConfig.from_dict(cfg_dict)
        self.store, self.replay, self.version = ray.get_actor(names[0]), ray.get_actor(names[1]), -1
        self.net = new_net(cfg)
        self.evaluator = TorchEvaluator(self.net)
        sp = SelfPlay(self.evaluator, cfg.game, cfg.size, cfg.games_in_flight, cfg.search(),
                      seed=cfg.seed * 1000 + worker_id, cheap_simulations=cfg.cheap_simulations,
                      full_search_prob=cfg.full_search_prob, temperature_moves=cfg.temperature_moves,
                      resign_threshold=cfg.resign_threshold, no_resign_fraction=cfg.no_resign_fraction,
                      **cfg.game_kwargs())
        self.games = sp.play(sys.maxsize)

    def run(self, games):
        version, blob = ray.get(self.store.get.remote(self.version))
        if blob is not None:
            load_blob(self.net, blob)
            self.version = version
        t = time.perf_counter()
        f0 = self.evaluator.forward_positions
        records = [next(self.games) for _ in range(games)]
        stats = ray.get(self.replay.add.remote(records))
        return {"games": games, "positions": int(sum(len(r.moves) for r in records)),
                "false_resign": int(sum(r.false_resign for r in records)), "seconds": time.perf_counter() - t,
                "forward_positions": self.evaluator.forward_positions - f0, "pid": os.getpid(),
                "version": self.version, **{"replay_" + k: v for k, v in stats.items()}}

"""The Ray actors of ``arena train``: the weight store, the replay buffer and the self-play workers.

    WeightStore      the newest published weights (bytes) with their version (the learner step)
    ReplayActor      the replay buffer (agents.alphazero.replay), fed by the workers, sampled by the learner
    SelfPlayWorker   ``games_in_flight`` games searched at once; ``run(n, moves)`` plays until n more
                     finish or every game in flight has made ``moves`` more moves, and reports
    RaySelfPlay      all of them, as the trainer's source of positions (agents.alphazero.sources)

Workers are started with ``max_restarts=-1``: Ray restarts a dead one (a new process, reported by its
pid in every ``run`` result) and self-play goes on, on any node with a free CPU. They find the store and
the buffer by name (``WEIGHTS``, ``REPLAY`` in the run's namespace) rather than holding their handles
as constructor arguments, which Ray keeps in its object store and cannot always give back to a restart.
The store and the buffer hold the learner's state: :func:`pinned_here` keeps them on the driver's node
(they take no CPU), so losing another node never loses them.
"""

import io
import math
import time
from dataclasses import asdict

import ray
import torch
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from agents.alphazero.config import TrainConfig
from agents.alphazero.network import new_net
from agents.alphazero.replay import Replay
from agents.alphazero.selfplay import Recent, training_selfplay
from agents.alphazero.sources import play_for
from envs.core import make_batch


WEIGHTS, REPLAY = "weights", "replay"
# Moves of every game in flight per ``run`` call at most: a few seconds of play on one core, so new
# weights reach a worker and its games reach the buffer often (a count, so a call's work never depends
# on the machine's speed).
MOVES = 8


def pinned_here():
    """Ray options that place an actor on this (the driver's) node and reserve no CPU for it."""
    node = ray.get_runtime_context().get_node_id()
    return {"num_cpus": 0, "scheduling_strategy": NodeAffinitySchedulingStrategy(node_id=node, soft=False)}


def weights_blob(net):
    """The net's state dict as bytes (``torch.save``, CPU tensors), to publish through the store."""
    buf = io.BytesIO()
    torch.save({k: v.cpu() for k, v in net.state_dict().items()}, buf)
    return buf.getvalue()


def load_blob(net, blob):
    # Tensors only: the blob comes from our own learner, but nothing we read is allowed to unpickle objects.
    net.load_state_dict(torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True))


@ray.remote
class WeightStore:
    def __init__(self):
        self.version, self.blob = -1, None

    def put(self, version, blob):
        self.version, self.blob = version, blob

    def get(self, have):
        return (self.version, self.blob) if self.version > have else (have, None)


ReplayActor = ray.remote(Replay)


@ray.remote(num_cpus=1)
class SelfPlayWorker:
    """Runs ``games_in_flight`` games at once; each ``run`` call plays until ``games`` more finish or
    ``moves`` moves of every game are played, pushes the finished games to the replay actor and reports (agents.alphazero.sources
    .play_for). Weights are pulled from the store before each call and re-checked by the inference backend."""

    def __init__(self, cfg_dict, worker_id, names=(WEIGHTS, REPLAY), device="cpu"):
        torch.set_num_threads(1)
        cfg = TrainConfig.from_dict(cfg_dict)
        self.store, self.replay, self.version = ray.get_actor(names[0]), ray.get_actor(names[1]), -1
        self.net, self.cfg = new_net(cfg), cfg
        self.lines = []  # the inference backend's choices, handed to the trainer's log with the next report
        self.sp = training_selfplay(cfg, self.net, worker_id, device, log=self.lines.append)
        self.recent = Recent()

    def run(self, games, moves=MOVES):
        version, blob = ray.get(self.store.get.remote(self.version))
        if blob is not None:
            load_blob(self.net, blob)
            self.version = version
            self.sp.set_simulations(self.cfg.simulations_at(version))
            self.sp.full.evaluator.refresh(self.recent.sample())
        report = play_for(self.sp, self.recent, lambda records: ray.get(self.replay.add.remote(records)),
                          games, moves)
        lines, self.lines[:] = list(self.lines), []
        return {**report, "version": self.version, "log": lines}


class RaySelfPlay:
    """Self-play on ``cfg.workers`` Ray actors; the replay buffer and the weight store are actors pinned to
    this node (see the module docstring). The interface of agents.alphazero.sources. ``log`` hears when a
    worker (re)starts and what its inference backend chose."""

    def __init__(self, cfg, net, step, replay_path=None, log=print):
        probe = make_batch(cfg.game, 1, cfg.size, **cfg.game_kwargs())
        self.replay = ReplayActor.options(name=REPLAY, **pinned_here()).remote(
            cfg.replay_capacity, probe.input_shape(cfg.inputs), probe.num_actions, cfg.seed, replay_path)
        self.store = WeightStore.options(name=WEIGHTS, **pinned_here()).remote()
        ray.get(self.store.put.remote(step, weights_blob(net)))
        self.last = ray.get(self.replay.stats.remote())
        # While the buffer fills nothing trains, so the CPUs the workers leave free play too, on workers
        # that stop once ``min_replay`` positions are in.
        free = int(ray.available_resources().get("CPU", 0)) - cfg.workers
        filling = max(0, free) if self.last["size"] < cfg.min_replay else 0
        self.min_replay, self.fill = cfg.min_replay, set(range(cfg.workers, cfg.workers + filling))
        # With ``device`` cuda (or auto) and GPUs in the cluster, the workers share them through Ray's
        # fractional ``num_gpus`` and search there; otherwise they search on CPU.
        gpus = ray.cluster_resources().get("GPU", 0) if cfg.device != "cpu" else 0
        share = {"num_gpus": 1 / math.ceil(cfg.workers / gpus)} if gpus else {}  # shares that pack whole GPUs
        device = "cuda" if gpus else "cpu"
        self.workers = [SelfPlayWorker.options(name=f"selfplay-{i}", max_restarts=-1, **(share if i < cfg.workers else {}))
                        .remote(asdict(cfg), i, (WEIGHTS, REPLAY), device if i < cfg.workers else "cpu")
                        for i in range(cfg.workers + filling)]  # the filling workers take CPUs only
        if filling:
            log(f"{filling} more self-play worker(s) on the free CPUs until the buffer holds {cfg.min_replay} positions")
        self.chunk, self.log, self.pids, self.failures = max(1, cfg.games_in_flight // 4), log, {}, {}
        # The first report comes after a few moves: the progress line shows self-play soon.
        self.pending = {w.run.remote(self.chunk, 2): i for i, w in enumerate(self.workers)}

    def poll(self, wait=True):
        ready, _ = ray.wait(list(self.pending), num_returns=len(self.pending), timeout=0.05 if wait else 0)
        out = []
        for ref in ready:
            i = self.pending.pop(ref)
            try:
                r = ray.get(ref)
                self.last = {"size": r["replay_size"], "added": r["replay_added"], "games": r["replay_games"]}
                if self.pids.get(i) != r["pid"]:  # a first report, or one from a restarted worker
                    self.log(f"self-play worker {i} (pid {r['pid']}) delivered {r['games']} games "
                             f"({r['moves']} positions searched)")
                    self.pids[i] = r["pid"]
                for line in r["log"]:
                    self.log(f"self-play worker {i}: {line}")
                out.append({**r, "worker": i})
                self.failures.pop(i, None)
            except ray.exceptions.RayError as e:
                # A worker that cannot even start would be retried for the whole budget: five failures in a
                # row over a minute end the run. The calls made while Ray restarts a worker fail at once
                # (ActorUnavailableError), and a loaded machine takes a while to restart one: those count
                # but never end the run before the minute is out.
                n, since = self.failures.get(i, (0, time.time()))
                self.failures[i] = (n + 1, since)
                if n + 1 >= 5 and time.time() - since > 60:
                    raise ValueError(f"self-play worker {i} failed {n + 1} times in a row over "
                                     f"{time.time() - since:.0f} s; the last error: "
                                     f"{str(e).strip().splitlines()[-1][:300]}") from None
                if n == 0 or not isinstance(e, ray.exceptions.ActorUnavailableError):
                    self.log(f"self-play worker {i} failed ({type(e).__name__}); Ray restarts it and play goes on")
                time.sleep(0.2)  # while it restarts: not a busy loop of failing calls
            if i in self.fill and self.last["size"] >= self.min_replay:
                ray.kill(self.workers[i], no_restart=True)
                self.fill.discard(i)
                self.log(f"self-play worker {i} stops: the buffer is full enough to learn from")
                continue
            self.pending[self.workers[i].run.remote(self.chunk)] = i
        return out

    def sample(self, n, aux=False):
        return ray.get(self.replay.sample.remote(n, aux))

    def stats(self):
        return self.last

    def publish(self, step, net):
        ray.get(self.store.put.remote(step, weights_blob(net)))

    def save(self, path):
        ray.get(self.replay.save.remote(path))

    def backend(self):
        return None  # each worker reports its own in its progress (``inference``)

    def close(self):
        for actor in (*self.workers, self.replay, self.store):  # a later run in this process starts with fresh names
            ray.kill(actor, no_restart=True)

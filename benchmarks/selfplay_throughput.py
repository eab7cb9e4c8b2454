"""Self-play throughput on Ray, printed as JSON, with a same-run sequential baseline.

    python benchmarks/selfplay_throughput.py [--seconds 30] [--game othello --size 6]   (or: arena bench selfplay)

With the network (b4c64, random weights) and the search (Gumbel, 16 simulations) fixed:
- ``workers_1`` / ``workers_2``: Ray self-play actors, each with ``--games-in-flight`` games searched at
  once (one network call per simulation for all of them); positions/s and games/hour, and the scaling
  ratio of 2 workers over 1 (a 2-core machine also runs the Ray processes on those cores).
- ``sequential``: the same network and search, one game and one leaf per network call, the way most
  AlphaZero repositories run self-play; the ratio of 1 batched worker over it.
"""

import argparse
import json
import os
import platform
import time
from dataclasses import asdict

import ray
import torch

from agents.search.evaluators import TorchEvaluator
from agents.search.mcts import SearchConfig
from agents.alphazero.selfplay import SelfPlay
from agents.common import cluster
from agents.alphazero.actors import REPLAY, WEIGHTS, ReplayActor, SelfPlayWorker, WeightStore, pinned_here, weights_blob
from agents.alphazero.network import new_net
from agents.alphazero.config import TrainConfig
from envs.core import make_batch


def batched(cfg, workers, seconds):
    probe = make_batch(cfg.game, 1, cfg.size)
    names = (f"{WEIGHTS}-{workers}", f"{REPLAY}-{workers}")  # each measurement its own actors
    replay = ReplayActor.options(name=names[1], **pinned_here()).remote(10_000_000, probe.obs_shape, probe.num_actions, 0)
    store = WeightStore.options(name=names[0], **pinned_here()).remote()
    torch.manual_seed(0)
    ray.get(store.put.remote(0, weights_blob(new_net(cfg))))
    actors = [SelfPlayWorker.remote(asdict(cfg), i, names) for i in range(workers)]
    ray.get([a.run.remote(1) for a in actors])  # compile and warm up outside the timing
    chunk = max(1, cfg.games_in_flight // 4)
    t = time.perf_counter()
    pending = [a.run.remote(chunk) for a in actors]
    games = positions = 0
    while time.perf_counter() - t < seconds:
        done, pending = ray.wait(pending, num_returns=1)
        r = ray.get(done[0])
        games, positions = games + r["games"], positions + r["positions"]
        pending.append(actors[len(pending) % workers].run.remote(chunk))
    dt = time.perf_counter() - t
    for a in (*actors, replay, store):
        ray.kill(a)
    return {"positions_per_s": round(positions / dt, 1), "games_per_hour": round(games / dt * 3600)}


def sequential(cfg, seconds):
    torch.set_num_threads(1)
    torch.manual_seed(0)
    sp = SelfPlay(TorchEvaluator(new_net(cfg)), cfg.game, cfg.size, games_in_flight=1,
                  search=SearchConfig(simulations=cfg.simulations, root=cfg.root), seed=0)
    play = sp.play(10**9)
    next(play)
    t, games, positions = time.perf_counter(), 0, 0
    while time.perf_counter() - t < seconds:
        r = next(play)
        games, positions = games + 1, positions + len(r.moves)
    dt = time.perf_counter() - t
    return {"positions_per_s": round(positions / dt, 1), "games_per_hour": round(games / dt * 3600)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=30.0, help="time per measurement (default 30)")
    ap.add_argument("--game", default="othello", choices=["othello", "go"])
    ap.add_argument("--size", type=int, default=6)
    ap.add_argument("--games-in-flight", type=int, default=128)
    ap.add_argument("--simulations", type=int, default=16)
    args = ap.parse_args(argv)
    if args.seconds <= 0 or args.games_in_flight < 1 or args.simulations < 1:
        raise ValueError("--seconds, --games-in-flight and --simulations must be positive")
    cfg = TrainConfig(game=args.game, size=args.size, network="b4c64", games_in_flight=args.games_in_flight,
                      simulations=args.simulations, root="gumbel", min_replay=1)
    cluster.connect(None, namespace=f"bench-selfplay-{os.getpid()}")
    cpus = ray.cluster_resources().get("CPU")
    try:
        one = batched(cfg, 1, args.seconds)
        two = batched(cfg, 2, args.seconds)
    finally:
        ray.shutdown()
    seq = sequential(cfg, args.seconds)
    out = {"machine": {"python": platform.python_version(), "processor": platform.machine(),
                       "ray_cpus": cpus},
           "setup": {"game": args.game, "size": args.size, "network": "b4c64", "root": "gumbel",
                     "simulations": args.simulations, "games_in_flight": args.games_in_flight},
           "workers_1": one, "workers_2": two, "sequential_one_leaf_per_call": seq,
           "scaling_2_over_1": round(two["positions_per_s"] / one["positions_per_s"], 2),
           "ratio_batched_over_sequential": round(one["positions_per_s"] / seq["positions_per_s"], 1)}
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()

"""Tournament throughput: batched chunks against one game per Ray task, measured in the same run.

    python -m benchmarks.tournament_throughput [--games 64] [--seconds 30]   (also: arena bench tournament)

Two ``az:`` players (the same net: ``--ckpt``, or an untrained b6c64 written to a temporary checkpoint;
each with a deterministic Gumbel search of ``--sims`` simulations) meet on 8x8 Othello from
``--games / 2`` random 4-ply openings, each with both colours, on a local Ray instance of ``--workers``
CPUs, through the tournament's own code (arena.tournament: its chunks and Ray tasks):

- ``batched``: chunks of ``--batch-games`` games, each chunk one Ray task whose games advance together
  (each player searches all the games where it is to move at once: one forward pass per simulation for
  them all), the net under ``--inference`` (default ``auto``); all ``--games`` games are played.
- ``one_game_per_task``: ``batch_games = 1``, the way the tournament played every game before batching:
  one Ray task and one search per game and move (network batch 1), the net under
  ``--baseline-inference`` (default ``torch``, eager fp32, as before); played until ``--seconds`` pass.
- ``batched_same_inference``: batched, under the baseline's inference: what batching alone gives.

Each worker builds its players and compiles its kernels in an untimed warm-up first. Prints one JSON
object: games, seconds and games/hour of each, and ``ratio_batched_over_one_game_per_task``.
"""

import dataclasses
import json
import os
import platform
import sys
import tempfile
import time

import numpy as np
import ray
import torch

from agents.alphazero.config import TrainConfig
from agents.alphazero.inference import CHOICES
from agents.alphazero.network import new_net
from agents.alphazero.train import save_checkpoint
from agents.common import cluster
from arena.tournament.run import TournamentConfig, chunks, close_agents, make_openings, resolve_players, run_parallel, schedule
from benchmarks import standalone


class _TimeUp(Exception):
    pass


def write_checkpoint(d, network):
    """An untrained 8x8 Othello net of preset ``network``, saved as an AlphaZero checkpoint under ``d``."""
    cfg = TrainConfig(game="othello", size=8, network=network)
    torch.manual_seed(0)
    net = new_net(cfg)
    return save_checkpoint(d, net, torch.optim.SGD(net.parameters(), lr=0.1), 0, cfg, np.random.default_rng(0))


def measure(cfg, jobs, openings, seconds=None):
    """Play ``jobs`` in ``cfg``'s chunks on the Ray instance already started: ``{games, seconds,
    games_per_hour}``, timed from the first task submitted to the last game in (with ``seconds``: to the
    last game in before they passed, at least one; the tasks left are ended by Ray's shutdown)."""
    resolved = resolve_players(cfg)  # inference=auto chosen once here, never by the workers
    t0 = time.perf_counter()
    ends = []

    def record(rec):
        now = time.perf_counter() - t0
        if seconds is not None and now > seconds and ends:  # the first game counts, however long it took
            raise _TimeUp
        ends.append(now)

    try:
        run_parallel(cfg, chunks(cfg, jobs), openings, record, resolved=resolved)
    except _TimeUp:
        pass
    dt = ends[-1]
    return {"games": len(ends), "seconds": round(dt, 1), "games_per_hour": round(len(ends) / dt * 3600)}


def spec_of(ckpt, sims, inference):
    return f"az:{ckpt},sims={sims},inference={inference}"


def add_arguments(ap):
    """This benchmark's options, on its own parser or on ``arena bench tournament``'s."""
    ap.add_argument("--games", type=int, default=64, help="games of the batched run (default 64)")
    ap.add_argument("--seconds", type=float, default=30.0, help="time of the one-game-per-task run (default 30)")
    ap.add_argument("--batch-games", type=int, default=32, help="games per chunk, batched run (default 32)")
    ap.add_argument("--sims", type=int, default=32, help="simulations per move (default 32)")
    ap.add_argument("--workers", type=int, default=2, help="Ray workers (default 2)")
    ap.add_argument("--network", default="b6c64", help="network preset of the untrained net (default b6c64)")
    ap.add_argument("--ckpt", default=None,
                    help="an 8x8 Othello checkpoint or run directory (default: untrained b6c64)")
    ap.add_argument("--inference", default="auto", choices=CHOICES, help="the batched run's backend (default auto)")
    ap.add_argument("--baseline-inference", default="torch", choices=CHOICES,
                    help="the one-game-per-task run's backend (default torch, eager fp32)")


def run(args):
    """Measure, print the JSON object and return it."""
    if args.games < 2 or args.seconds <= 0 or args.batch_games < 1 or args.sims < 1 or args.workers < 1:
        raise ValueError("--games must be at least 2; --seconds, --batch-games, --sims and --workers positive")
    with tempfile.TemporaryDirectory() as d:
        ckpt = args.ckpt or write_checkpoint(d, args.network)
        spec, base = spec_of(ckpt, args.sims, args.inference), spec_of(ckpt, args.sims, args.baseline_inference)
        cfg = TournamentConfig(game="othello", size=8, players=(f"a={spec}", f"b={spec}"), anchor="a",
                               games=args.games, openings=args.games // 2, opening_plies=4, balance=1.0,
                               workers=args.workers, batch_games=args.batch_games, seed=0)
        same = dataclasses.replace(cfg, players=(f"a={base}", f"b={base}"))
        single = dataclasses.replace(same, batch_games=1)
        openings, jobs = make_openings(cfg), schedule(cfg)
        cluster.connect(None, namespace=f"bench-tournament-{os.getpid()}", num_cpus=args.workers)
        cpus = ray.cluster_resources().get("CPU")
        try:
            warm = jobs[: 2 * args.workers]  # a chunk of two games per worker: players built, kernels compiled
            for c in (cfg, same) if spec != base else (cfg,):
                run_parallel(c, [warm[i: i + 2] for i in range(0, len(warm), 2)], openings, lambda rec: None,
                             resolved=resolve_players(c))
            batched = measure(cfg, jobs, openings)
            batched_same = measure(same, jobs, openings) if spec != base else batched
            one = measure(single, jobs, openings, args.seconds)
        finally:
            ray.shutdown()
            close_agents()
    out = {"machine": {"python": platform.python_version(), "processor": platform.processor() or platform.machine(),
                       "torch": torch.__version__, "ray_cpus": cpus},
           "setup": {"game": "othello", "size": 8,
                     "players": f"az vs az (the same net: {args.ckpt or 'untrained ' + args.network})",
                     "simulations": args.sims, "root": "gumbel (no noise)", "workers": args.workers,
                     "torch_threads_per_task": 1, "batch_games": args.batch_games,
                     "inference": args.inference, "baseline_inference": args.baseline_inference},
           "batched": batched, "one_game_per_task": one, "batched_same_inference": batched_same,
           "ratio_batched_over_one_game_per_task": round(batched["games_per_hour"] / one["games_per_hour"], 1),
           "ratio_batching_alone": round(batched_same["games_per_hour"] / one["games_per_hour"], 1)}
    print(json.dumps(out))
    return out


def main(argv=None):
    return standalone(sys.modules[__name__], argv)


if __name__ == "__main__":
    main()

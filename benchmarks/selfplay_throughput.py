"""Self-play throughput per inference backend and per Ray worker count, printed as JSON, with same-run
baselines.

    python benchmarks/selfplay_throughput.py [--seconds 20] [--ckpt RUN] [--workers 1,2]
                                                                  (or: arena bench selfplay)

One self-play worker as ``arena train`` runs it (8x8 Othello, b6c64, Gumbel root, 32 simulations on a
quarter of the moves and 8 on the rest, 64 games in flight), on one thread:
- ``backends``: for every inference backend (agents.alphazero.inference; ``torch`` is eager fp32, the
  baseline), self-play positions (moves) per second, network positions per second, the fraction of
  the time spent in the network, and the backend's check against fp32 on 256 positions (top-1 move
  agreement, value MAE, whether it passes the bar that ``auto`` applies).
- ``auto``: the backend ``auto`` chooses, and its speed over eager torch.
- ``workers_N``: N Ray workers (``inference: auto``) playing at once, positions/s, and the ratio to one
  (on a 2-core machine the learner would share those cores; here nothing else runs).
- ``sequential_one_leaf_per_call``: one game, one leaf per network call (eager torch), the way most
  AlphaZero repositories run self-play.
The check needs a trained net to mean much: ``--ckpt`` (a run directory or checkpoint of this game and
size); without one the net has random weights (``"trained": false``), whose nearly flat policies make
top-1 agreement harder to reach than a trained net's.
"""

import copy
import json
import os
import platform
import sys
import time
from dataclasses import asdict, replace

import torch

from agents.alphazero.config import TrainConfig
from agents.alphazero.evaluate import load_net
from agents.alphazero.inference import BACKENDS, NetEvaluator, sample_positions
from agents.alphazero.network import new_net
from agents.alphazero.selfplay import SelfPlay
from agents.search.evaluators import TorchEvaluator
from agents.search.mcts import SearchConfig
from benchmarks import standalone
from benchmarks.mcts_throughput import TimedEvaluator


def timed_selfplay(cfg, ev, seconds):
    """Positions/s of one in-process self-play worker searching with ``ev``."""
    timed = TimedEvaluator(ev)
    sp = SelfPlay(timed, cfg.game, cfg.size, cfg.games_in_flight, cfg.search(), seed=0,
                  cheap_simulations=cfg.cheap_simulations, full_search_prob=cfg.full_search_prob)
    sp.step()  # compile the kernels and warm the backend outside the timing
    moves, f0, timed.seconds = sp.moves, ev.forward_positions, 0.0
    t = time.perf_counter()
    while time.perf_counter() - t < seconds:
        sp.step()
    dt = time.perf_counter() - t
    return {"positions_per_s": round((sp.moves - moves) / dt, 1),
            "network_positions_per_s": round((ev.forward_positions - f0) / dt),
            "network_fraction": round(timed.seconds / dt, 3)}


def backends(cfg, net, names, sample, seconds, device="cpu"):
    out = {}
    for name in names:
        print(f"backend {name} ...", file=sys.stderr, flush=True)  # compile takes a while: say what runs
        try:
            ev = NetEvaluator(copy.deepcopy(net), name, device, sample=sample, batch=cfg.games_in_flight)
        except ValueError as e:
            out[name] = {"error": str(e)}
            continue
        r = ev.report
        out[name] = {**timed_selfplay(cfg, ev, seconds), "agrees": r["agrees"],
                     "top1_agreement": r["top1_agreement"], "value_mae": r["value_mae"]}
    return out


def ray_workers(cfg, net, counts, seconds):
    """positions/s of N Ray self-play workers (as ``arena train`` starts them), for each N in counts."""
    import ray

    from agents.alphazero.actors import REPLAY, WEIGHTS, ReplayActor, SelfPlayWorker, WeightStore, pinned_here, weights_blob
    from agents.common import cluster
    from envs.core import make_batch

    cluster.connect(None, namespace=f"bench-selfplay-{os.getpid()}")
    out = {"ray_cpus": ray.cluster_resources().get("CPU")}
    try:
        for n in counts:
            probe = make_batch(cfg.game, 1, cfg.size)
            names = (f"{WEIGHTS}-{n}", f"{REPLAY}-{n}")  # each measurement its own actors
            replay = ReplayActor.options(name=names[1], **pinned_here()).remote(
                10_000_000, probe.obs_shape, probe.num_actions, 0)
            store = WeightStore.options(name=names[0], **pinned_here()).remote()
            ray.get(store.put.remote(0, weights_blob(net)))
            actors = [SelfPlayWorker.remote(asdict(cfg), i, names) for i in range(n)]
            ray.get([a.run.remote(1, moves=1) for a in actors])  # build backends, compile, warm up
            t, moves = time.perf_counter(), 0
            pending = {a.run.remote(10**6, moves=8): a for a in actors}
            while time.perf_counter() - t < seconds:
                done, _ = ray.wait(list(pending), num_returns=1)
                a = pending.pop(done[0])
                moves += ray.get(done[0])["moves"]
                pending[a.run.remote(10**6, moves=8)] = a
            moves += sum(r["moves"] for r in ray.get(list(pending)))
            dt = time.perf_counter() - t
            for a in (*actors, replay, store):
                ray.kill(a)
            out[f"workers_{n}"] = {"positions_per_s": round(moves / dt, 1)}
    finally:
        ray.shutdown()
    one = out.get(f"workers_{counts[0]}", {}).get("positions_per_s")
    for n in counts[1:]:
        if one:
            out[f"ratio_{n}_over_{counts[0]}"] = round(out[f"workers_{n}"]["positions_per_s"] / one, 2)
    return out


def sequential(cfg, net, seconds):
    sp = SelfPlay(TorchEvaluator(copy.deepcopy(net)), cfg.game, cfg.size, games_in_flight=1,
                  search=SearchConfig(simulations=cfg.simulations, root=cfg.root), seed=0)
    sp.step()
    t, moves = time.perf_counter(), sp.moves
    while time.perf_counter() - t < seconds:
        sp.step()
    return {"positions_per_s": round((sp.moves - moves) / (time.perf_counter() - t), 1)}


def add_arguments(ap):
    """This benchmark's options, on its own parser or on ``arena bench selfplay``'s."""
    ap.add_argument("--seconds", type=float, default=20.0, help="time per measurement (default 20)")
    ap.add_argument("--game", default="othello", choices=["othello", "go"], help="game (default othello)")
    ap.add_argument("--size", type=int, default=8, help="board size (default 8)")
    ap.add_argument("--network", default="b6c64", help="network preset when there is no --ckpt (default b6c64)")
    ap.add_argument("--ckpt", default=None, help="a trained checkpoint or run directory (default: random weights)")
    ap.add_argument("--games-in-flight", type=int, default=64, help="games per worker (default 64)")
    ap.add_argument("--simulations", type=int, default=32, help="full-search simulations per move (default 32)")
    ap.add_argument("--backends", default=",".join(BACKENDS), help="backends to time")
    ap.add_argument("--workers", default="1,2", help="Ray worker counts to time (default 1,2; 0 skips)")
    ap.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"],
                    help="where the backends run (default cpu)")


def run(args):
    """Measure, print the JSON object and return it."""
    if args.seconds <= 0 or args.games_in_flight < 1 or args.simulations < 1:
        raise ValueError("--seconds, --games-in-flight and --simulations must be positive")
    names = [b.strip() for b in args.backends.split(",") if b.strip()]
    if not names or set(names) - set(BACKENDS):
        raise ValueError(f"--backends: choose from {', '.join(BACKENDS)}")
    counts = [int(x) for x in args.workers.split(",") if x.strip() and int(x) > 0]
    torch.set_num_threads(1)
    cfg = TrainConfig(game=args.game, size=args.size, network=args.network, games_in_flight=args.games_in_flight,
                      simulations=args.simulations, cheap_simulations=8, full_search_prob=0.25, root="gumbel",
                      min_replay=1, inference="auto")
    if args.ckpt:
        net, trained, _ = load_net(args.ckpt, args.game, args.size)
        cfg = replace(cfg, network=trained.network, permute_squares=trained.permute_squares, inputs=trained.inputs,
                      gpool=trained.gpool)
    else:
        torch.manual_seed(0)
        net = new_net(cfg).eval()
    sample = sample_positions(cfg.game, cfg.size, 256, seed=1, inputs=cfg.inputs)
    rows = backends(cfg, net, names, sample, args.seconds, args.device)
    auto = NetEvaluator(copy.deepcopy(net), "auto", args.device, sample=sample, batch=cfg.games_in_flight).report
    eager = rows.get("torch", {}).get("positions_per_s")
    chosen = rows.get(auto["backend"], {}).get("positions_per_s")
    out = {"machine": {"python": platform.python_version(), "processor": platform.machine(), "torch": torch.__version__,
                       "threads": torch.get_num_threads(), "cuda": torch.cuda.is_available(),
                       "device": auto["device"]},
           "setup": {"game": args.game, "size": args.size, "network": cfg.network, "trained": bool(args.ckpt),
                     "checkpoint": args.ckpt, "root": "gumbel", "simulations": args.simulations,
                     "cheap_simulations": 8, "full_search_prob": 0.25, "games_in_flight": args.games_in_flight},
           "backends": rows,
           "auto": {"choice": auto["backend"], "top1_agreement": auto["top1_agreement"],
                    "value_mae": auto["value_mae"],
                    "speedup_over_torch": round(chosen / eager, 2) if eager and chosen else None}}
    if counts:
        try:
            out["ray"] = ray_workers(cfg, net, counts, args.seconds)
        except ImportError:
            out["ray"] = {"skipped": "Ray is not installed"}
    out["sequential_one_leaf_per_call"] = sequential(cfg, net, args.seconds)
    print(json.dumps(out))
    return out


def main(argv=None):
    return standalone(sys.modules[__name__], argv)


if __name__ == "__main__":
    main()

"""The ``arena`` command line. Subcommands print JSON or text and exit non-zero with one clear line on
bad input (never a traceback)."""

import argparse
import json
import os
import sys
import time


def cmd_perft(args):
    from envs.core import make_batch

    if args.depth < 0 or args.depth > 20:
        raise ValueError(f"--depth must be between 0 and 20, got {args.depth}")
    sizes = [args.size] if args.size else [8, 6]
    for size in sizes:
        b = make_batch("othello", 1, size)
        b.perft(1)  # compile outside the timing
        t = time.perf_counter()
        nodes = b.perft(args.depth)
        dt = time.perf_counter() - t
        print(json.dumps({"game": "othello", "size": size, "depth": args.depth, "nodes": nodes,
                          "convention": "forced pass uses a ply; a game that ends early is one leaf",
                          "seconds": round(dt, 3), "leaves_per_s": round(nodes / dt) if dt > 0 else None}))


def cmd_bench_env(args):
    from benchmarks.env_throughput import main as bench_main

    bench_main(["--seconds", str(args.seconds), "--batch", str(args.batch), "--perft-depth", str(args.perft_depth)])


def cmd_bench_mcts(args):
    from benchmarks.mcts_throughput import main as bench_main

    argv = ["--seconds", str(args.seconds), "--batches", args.batches, "--simulations", str(args.simulations)]
    bench_main(argv + (["--no-net"] if args.no_net else []))


def cmd_bench_selfplay(args):
    from benchmarks.selfplay_throughput import main as bench_main

    bench_main(["--seconds", str(args.seconds), "--game", args.game, "--size", str(args.size),
                "--games-in-flight", str(args.games_in_flight), "--simulations", str(args.simulations)])


def cmd_eval(args):
    from agents.evaluate import evaluate

    if args.games < 2:
        raise ValueError("--games must be at least 2")
    against = [a.strip() for a in args.against.split(",") if a.strip()]
    print(json.dumps(evaluate(args.ckpt, against, args.games, args.simulations, args.seed)))


def cmd_train(args):
    from agents.config import load_config
    from agents.train import train
    from agents.train_config import TrainConfig

    cfg = load_config(TrainConfig, args.config, args.set or [])
    name = os.path.splitext(os.path.basename(args.config))[0] if args.config else "default"
    run_dir = args.run_dir or os.path.join("runs", name)
    if os.path.isdir(os.path.join(run_dir, "checkpoints")) and os.listdir(os.path.join(run_dir, "checkpoints")) \
            and not args.resume:
        raise ValueError(f"{run_dir} already has checkpoints: add --resume to continue it, or choose --run-dir")
    train(cfg, run_dir, address=args.address, resume=args.resume)


def build_parser():
    ap = argparse.ArgumentParser(
        prog="arena",
        description="selfplay-arena: Numba Othello and Go engines, search, training and tournaments.")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("perft", help="count leaf positions of Othello from the start (rules check)",
                       description="Othello perft from the start position under REFERENCE.md's convention: "
                                   "a forced pass uses a ply and a game that ends before the depth is one leaf. "
                                   "Prints one JSON line per board size (8x8, then 6x6, unless --size).")
    p.add_argument("game", choices=["othello"], help="the game (perft is defined for Othello)")
    p.add_argument("--depth", type=int, required=True, help="plies to search (depth 10 on 8x8: 24571284)")
    p.add_argument("--size", type=int, choices=[4, 6, 8], help="only this board size")
    p.set_defaults(func=cmd_perft)

    bench = sub.add_parser("bench", help="throughput benchmarks (JSON with same-run baselines)",
                           description="Benchmarks that print JSON and include same-run baselines.")
    bsub = bench.add_subparsers(dest="bench_command", metavar="WHAT")
    be = bsub.add_parser("env", help="random-playout moves/s and perft leaves/s vs pure Python and OpenSpiel",
                         description="Random-playout moves/s (Othello 8x8, Go 9x9) and perft leaves/s on one "
                                     "core, with the pure-Python reference and OpenSpiel (when installed) "
                                     "measured in the same run.")
    be.add_argument("--seconds", type=float, default=2.0, help="time per measurement (default 2)")
    be.add_argument("--batch", type=int, default=1024, help="games stepped at once (default 1024)")
    be.add_argument("--perft-depth", type=int, default=9, help="Othello perft depth timed (default 9)")
    be.set_defaults(func=cmd_bench_env)
    bm = bsub.add_parser("mcts", help="MCTS simulations/s (tree-only, rollouts, ResNet) vs plain Python and OpenSpiel",
                         description="Batched MCTS simulations/s on one core for Othello 8x8 and Go 9x9: uniform "
                                     "evaluator (tree cost alone), random rollouts and a b6c64 ResNet at several "
                                     "batch sizes, with the plain-Python PUCT and OpenSpiel's C++ MCTSBot (when "
                                     "installed) measured in the same run. Prints JSON.")
    bm.add_argument("--seconds", type=float, default=1.0, help="time per measurement (default 1)")
    bm.add_argument("--batches", default="1,16,64,256", help="games searched at once (default 1,16,64,256)")
    bm.add_argument("--simulations", type=int, default=64, help="simulations per search (default 64; net runs 16)")
    bm.add_argument("--no-net", action="store_true", help="skip the ResNet runs")
    bm.set_defaults(func=cmd_bench_mcts)
    bs = bsub.add_parser("selfplay", help="self-play positions/s on Ray (1 and 2 workers) vs one leaf per call",
                         description="Self-play throughput with a fixed b4c64 network and Gumbel search: 1 and 2 "
                                     "Ray workers (scaling ratio) and, in the same run, a sequential search that "
                                     "sends one leaf per network call. Prints JSON.")
    bs.add_argument("--seconds", type=float, default=30.0, help="time per measurement (default 30)")
    bs.add_argument("--game", default="othello", choices=["othello", "go"], help="game (default othello)")
    bs.add_argument("--size", type=int, default=6, help="board size (default 6)")
    bs.add_argument("--games-in-flight", type=int, default=128, help="games per worker (default 128)")
    bs.add_argument("--simulations", type=int, default=16, help="simulations per move (default 16)")
    bs.set_defaults(func=cmd_bench_selfplay)
    tr = sub.add_parser("train", help="AlphaZero self-play training on Ray (local by default)",
                        description="AlphaZero on Ray: self-play actors, a replay-buffer actor and a learner. "
                                    "With no --address a local Ray instance sized to the machine is started; "
                                    "--address auto (or ray://host:port) joins a running cluster.")
    tr.add_argument("--config", help="YAML config (configs/*_az.yaml); defaults apply where it is silent")
    tr.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config key (repeatable)")
    tr.add_argument("--run-dir", help="where checkpoints, metrics and the replay buffer go (default runs/CONFIG)")
    tr.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --run-dir")
    tr.add_argument("--address", default=None, help="Ray cluster to join (auto, ray://host:port); default: local")
    tr.set_defaults(func=cmd_train)
    ev = sub.add_parser("eval", help="a training checkpoint against fixed anchors, with 95%% intervals",
                        description="Play a checkpoint's network (Gumbel search, no noise) against anchors "
                                    "(random, greedy, mcts:N), colours alternating; prints JSON with wins, "
                                    "draws, losses, score and its 95%% Wilson interval per anchor.")
    ev.add_argument("--ckpt", required=True, help="checkpoint file (runs/NAME/checkpoints/step_*.pt)")
    ev.add_argument("--against", default="random,greedy,mcts:200", help="comma-separated anchors")
    ev.add_argument("--games", type=int, default=200, help="games per anchor (default 200)")
    ev.add_argument("--simulations", type=int, default=32, help="the network's search simulations (default 32)")
    ev.add_argument("--seed", type=int, default=12345, help="seed of the games (default 12345)")
    ev.set_defaults(func=cmd_eval)
    return ap


def main(argv=None):
    ap = build_parser()
    args = ap.parse_args(argv)
    if not getattr(args, "func", None):
        ap.print_help()
        return 2
    try:
        args.func(args)
    except (ValueError, OSError) as e:
        print(f"arena: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("arena: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())

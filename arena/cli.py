"""The ``arena`` command line. Subcommands print JSON or text and exit non-zero with one clear line on
bad input (never a traceback)."""

import argparse
import json
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

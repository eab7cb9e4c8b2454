"""``arena perft``: the rules check."""

import json
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


def register(sub):
    p = sub.add_parser("perft", help="count leaf positions of Othello from the start (rules check)",
                       description="Othello perft from the start position, under the convention where a forced "
                                   "pass uses a ply and a game that ends before the depth is one leaf (depth 10 "
                                   "on 8x8: 24571284; where a pass uses no ply it would be 24571420). "
                                   "Prints one JSON line per board size (8x8, then 6x6, unless --size).")
    p.add_argument("game", choices=["othello"], help="the game (perft is defined for Othello)")
    p.add_argument("--depth", type=int, required=True, help="plies to search (depth 10 on 8x8: 24571284)")
    p.add_argument("--size", type=int, choices=[4, 6, 8], help="only this board size")
    p.set_defaults(func=cmd_perft)

"""Single-game search speed of an ``az:`` player: the simulations per second one game's search gets, per
inference backend and per count of leaves per network call (virtual loss, ``leaves=K``), on the positions
of one game, with eager torch evaluating one leaf per network call (the baseline) measured in the same run.

A single game's search calls the net for one leaf at a time (a batch of one), where self-play calls it for
64 games at once; ``auto`` must therefore be judged at the batch the search really uses. Each backend is
checked against eager fp32 first (agents.alphazero.inference) and its speed is the simulations of whole
searches over the timed seconds, the positions taken from one game the player plays against itself.

Prints one JSON line:

    {"one_leaf_torch": {"sims_per_s": X}, "best": {"sims_per_s": Y, "backend": NAME, "leaves_per_call": K},
     "backends": {NAME: {"sims_per_s", "agrees", "leaves_per_call", "ms_per_move", "by_leaves": {K: ...}}}}

    python -m benchmarks.play_throughput --agent az:othello8 [--seconds 10]   (also: arena bench play)
"""

import json
import platform
import sys
import time

import torch

from agents.players import MCTSAgent
from arena.specs import SHIPPED, az_options, make_agent, with_option
from envs.game import Game
from benchmarks import standalone

BACKENDS = ("torch", "onnx", "onnx-int8")


def add_arguments(ap):
    """This benchmark's options, on its own parser or on ``arena bench play``'s."""
    ap.add_argument("--agent", default="az:othello8", help="an az: spec (default az:othello8, 400 simulations)")
    ap.add_argument("--game", default=None, help="othello or go (default: the shipped net's, else othello)")
    ap.add_argument("--size", type=int, default=None, help="board size (default: the shipped net's, else 8)")
    ap.add_argument("--seconds", type=float, default=10.0, help="time per backend (default 10)")
    ap.add_argument("--backends", default=",".join(BACKENDS), help=f"backends to time (default {','.join(BACKENDS)})")
    ap.add_argument("--leaves", default="1,8", help="leaves per network call to time (default 1,8)")
    ap.add_argument("--moves", type=int, default=40, help="positions of the game to search in turn (default 40)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the game the positions come from (default 0)")


def positions(agent, game, size, seed, n=40):
    """Up to ``n`` positions of one game the agent plays against itself (``envs.game.Game`` copies)."""
    g = Game(game, size)
    agent.reset(seed)
    out = []
    while not g.terminal and len(out) < n:
        out.append(g.copy())
        g.play(int(agent.act(g)[0]))
    return out


def timed(agent, games, seconds):
    """Simulations per second and milliseconds per move of ``agent``'s searches over ``games`` in turn."""
    sims, moves, t0 = 0, 0, time.perf_counter()
    while moves < len(games) or time.perf_counter() - t0 < seconds:
        agent.act(games[moves % len(games)])
        moves += 1
        sims += agent.config.simulations
    dt = time.perf_counter() - t0
    return {"sims_per_s": round(sims / dt), "ms_per_move": round(1000 * dt / moves, 1), "moves": moves}


def run(args):
    """Measure, print the JSON line and return it."""
    torch.set_num_threads(1)
    spec = args.agent
    path, opts = az_options(spec)
    shipped = SHIPPED.get(spec.partition(",")[0].partition(":")[2])  # a net of models/ names its game and size
    game = args.game or (shipped[0] if shipped else "othello")
    size = args.size or (shipped[1] if shipped else 8)
    if args.moves < 1:
        raise ValueError("--moves must be at least 1")
    out = {"agent": spec, "game": game, "size": size, "simulations": int(opts.get("sims", 64)),
           "machine": platform.processor() or platform.machine(), "threads": 1, "backends": {}}
    leaves = sorted({int(k) for k in args.leaves.split(",") if k.strip()})
    if not leaves or leaves[0] < 1:
        raise ValueError("--leaves takes positive counts, e.g. 1,8")
    games, rows = None, []
    for name in [b.strip() for b in args.backends.split(",") if b.strip()]:
        for k in leaves:
            try:
                agent = make_agent(with_option(with_option(spec, "inference", name), "leaves", k), game, size,
                                   seed=args.seed, batch=k)
            except ValueError as e:  # a backend that disagrees with fp32 here is refused: reported, not timed
                out["backends"][name] = {"agrees": False, "refused": str(e)}
                break
            if not isinstance(agent, MCTSAgent):
                raise ValueError(f"{spec}: bench play times a search (sims > 0)")
            games = games or positions(agent, game, size, args.seed, args.moves)
            agent.act(games[0])  # the first search compiles what it needs: before the clock starts
            row = {**timed(agent, games, args.seconds), "agrees": True, "leaves_per_call": k}
            out["backends"].setdefault(name, {"agrees": True, "by_leaves": {}})["by_leaves"][str(k)] = row
            rows.append((name, row))
    for name, r in out["backends"].items():  # each backend's headline: its fastest leaves per call
        if r.get("by_leaves"):
            r.update(max(r["by_leaves"].values(), key=lambda x: x["sims_per_s"]))
    one = out["backends"].get("torch", {}).get("by_leaves", {}).get("1")
    if one:
        out["one_leaf_torch"] = {"sims_per_s": one["sims_per_s"]}
    if rows:
        name, best = max(rows, key=lambda x: x[1]["sims_per_s"])
        out["best"] = {"sims_per_s": best["sims_per_s"], "backend": name, "leaves_per_call": best["leaves_per_call"]}
        if one:
            out["best"]["vs_one_leaf_torch"] = round(best["sims_per_s"] / one["sims_per_s"], 2)
    print(json.dumps(out))
    return out


def main(argv=None):
    return standalone(sys.modules[__name__], argv)


if __name__ == "__main__":
    main()

"""Environment throughput: random-playout moves/s and perft leaves/s, with same-run baselines.

Prints one JSON object. Measured on one core (Numba kernels are single-threaded):
- ``ours``: random playouts of B games at once through the kernels (Othello 8x8, Go 9x9), perft.
- ``reference``: the plain-Python rules in ``envs.reference`` playing random games.
- ``open_spiel`` (when ``pyspiel`` is importable): random games stepped from Python, the way a Python
  user drives it (``apply_action`` on a legal action chosen per move).
The ``ratio_*`` fields divide our figure by each baseline's, so they hold on a noisy machine.

    python benchmarks/env_throughput.py [--seconds 2] [--batch 1024]   (also: arena bench env)
"""

import json
import platform
import random
import sys
import time

from envs.core import make_batch
from envs.reference import GoRef, OthelloRef
from benchmarks import standalone


def best_rate(fn, seconds, setup=None):
    """Run ``fn(setup()) -> units`` repeatedly for at least ``seconds`` (``setup`` untimed, ``fn()`` when
    there is none); return the best units/s of the runs."""
    best, spent = 0.0, 0.0
    while spent < seconds:
        arg = setup() if setup else None
        t = time.perf_counter()
        units = fn(arg) if setup else fn()
        dt = time.perf_counter() - t
        spent += dt
        best = max(best, units / dt)
    return best


def ours_playouts(game, size, batch, seconds, seed=0):
    make_batch(game, 4, size, seed).random_playouts()  # compile outside the timing
    state = {"seed": seed}

    def fresh_batch():  # allocation and reset stay outside the timing: only playouts are measured
        state["seed"] += 1
        return make_batch(game, batch, size, state["seed"])

    return best_rate(lambda b: b.random_playouts(), seconds, setup=fresh_batch)


def ours_perft(depth, seconds):
    b = make_batch("othello", 1, 8)
    b.perft(3)
    return best_rate(lambda: b.perft(depth), seconds)


def reference_playouts(game, size, seconds, seed=0):
    rnd = random.Random(seed)

    def run():
        g = OthelloRef(size) if game == "othello" else GoRef(size)
        k = 0
        while not g.over:
            g.step(rnd.choice(g.legal_actions()))
            k += 1
        return k

    return best_rate(run, seconds)


def open_spiel_playouts(game, size, seconds, seed=0):
    try:
        import pyspiel
    except ImportError:
        return None
    name = "othello" if game == "othello" else f"go(board_size={size},komi=7.5)"
    g = pyspiel.load_game(name)
    rnd = random.Random(seed)

    def run():
        s = g.new_initial_state()
        k = 0
        while not s.is_terminal():
            s.apply_action(rnd.choice(s.legal_actions()))
            k += 1
        return k

    return best_rate(run, seconds)


def add_arguments(ap):
    """This benchmark's options, on its own parser or on ``arena bench env``'s."""
    ap.add_argument("--seconds", type=float, default=2.0, help="time per measurement (default 2)")
    ap.add_argument("--batch", type=int, default=1024, help="games stepped at once (default 1024)")
    ap.add_argument("--perft-depth", type=int, default=9, help="Othello perft depth timed (default 9)")


def run(args):
    """Measure, print the JSON object and return it."""
    out = {"machine": {"python": platform.python_version(), "processor": platform.machine(),
                       "note": "single core; best of repeated runs"}}
    for game, size, key in (("othello", 8, "othello8"), ("go", 9, "go9")):
        ours = ours_playouts(game, size, args.batch, args.seconds)
        ref = reference_playouts(game, size, args.seconds)
        osp = open_spiel_playouts(game, size, args.seconds)
        row = {"ours_moves_per_s": round(ours), "reference_python_moves_per_s": round(ref),
               "ratio_vs_reference": round(ours / ref, 1)}
        if osp is not None:
            row["open_spiel_python_moves_per_s"] = round(osp)
            row["ratio_vs_open_spiel_python"] = round(ours / osp, 1)
        else:
            row["open_spiel"] = "not installed (pip install open-spiel)"
        out[key] = row
    leaves = ours_perft(args.perft_depth, args.seconds)
    out["perft_othello8"] = {"depth": args.perft_depth, "leaves_per_s": round(leaves),
                             "convention": "a forced pass uses a ply; bulk counting at the last ply"}
    print(json.dumps(out))
    return out


def main(argv=None):
    return standalone(sys.modules[__name__], argv)


if __name__ == "__main__":
    main()

"""Compile the rules and search kernels into Numba's on-disk cache, once per checkout.

    python -m agents.search.warmup

Every kernel is ``@njit(cache=True)``: the first process to call one compiles it (about two minutes
for all of them on one core of a 2-core machine; the Othello move generator and the search tree take
most of it) and every later process loads it in about a second. A fresh clone pays that on its first
run; this pays it up front, e.g. in a container build or beside another install step. The test suite
starts it on a spare core when the session begins (``tests/conftest.py``). Compiling is per argument
type, not per board size, so one small board per game covers every size.
"""

import sys
import time

import numpy as np

from agents.search.evaluators import RolloutEvaluator, UniformEvaluator
from agents.search.mcts import MCTS, SearchConfig
from envs.core import make_batch


def warm(log=print):
    """Call every hot kernel once per game: stepping, observations, random games and playouts, perft,
    scoring and ownership, and both search roots with uniform and rollout evaluators."""
    for game, size in (("othello", 6), ("go", 7)):
        t = time.time()
        g = make_batch(game, 4, size, seed=0)
        g.observation(), g.legal_mask(), g.move_gains(), g.reward(), g.reward_to_play()
        g.step(g.random_actions())
        g.step_where(np.array([True, False, True, False]), g.random_actions())
        g.put(np.arange(2), g.take(np.arange(2)))
        g.copy().random_playouts()
        g.copy().random_games(2 * size * size + 8)
        if game == "othello":
            g.perft(2)
        g.score(0), g.ownership(0)
        for root, ev in (("gumbel", UniformEvaluator()), ("puct", UniformEvaluator()), ("puct", RolloutEvaluator())):
            MCTS(ev, SearchConfig(simulations=8, root=root)).search(g)
        log(f"{game}: kernels compiled or loaded in {time.time() - t:.1f} s")


if __name__ == "__main__":
    warm(lambda line: print(line, file=sys.stderr))

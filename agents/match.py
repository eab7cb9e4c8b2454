"""Batched matches between two agents (the gauntlet of training; the arena builds tournaments on it).

``play_match(a, b, game, size, games, seed)`` plays ``games`` games at once, ``a`` black in the even
games and white in the odd ones, and returns ``a``'s score per game (+1 win, 0 draw, -1 loss).
"""

import numpy as np

from agents.evaluators import TorchEvaluator
from agents.players import MCTSAgent
from envs.core import make_batch


def play_match(a, b, game, size, games, seed=0, **game_kwargs):
    g = make_batch(game, games, size, seed=seed, **game_kwargs)
    a_black = np.arange(games) % 2 == 0
    while not g.terminal.all():
        live = np.flatnonzero(~g.terminal)
        sub = g.take(live)
        a_moves = (sub.to_play == 0) == a_black[live]
        act = np.full(live.size, -1, np.int64)
        for agent, which in ((a, a_moves), (b, ~a_moves)):
            if which.any():
                idx = np.flatnonzero(which)
                act[idx] = agent.act(sub.take(idx))
        g.put(live, sub.step(act))
    r = g.reward()
    return np.where(a_black, r, -r)


def anchor_agent(spec, seed=0):
    """A fixed opponent of the training gauntlets: ``random``, ``greedy`` or ``mcts:N`` (pure MCTS with N
    rollout simulations; any ``mcts:`` spec of :mod:`arena.specs`). These play batches of games at once."""
    from arena.specs import make_agent

    if spec.split(":")[0] not in ("random", "greedy", "mcts"):
        raise ValueError(f"unknown anchor {spec!r}; use random, greedy or mcts:N")
    return make_agent(spec, seed=seed)


def net_agent(net, simulations, seed=0):
    """The trained network with a deterministic Gumbel search (no noise), as used in gauntlets."""
    return MCTSAgent(TorchEvaluator(net), simulations=simulations, seed=seed, root="gumbel", gumbel_scale=0.0)

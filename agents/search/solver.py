"""An exact win/draw/loss solver for small positions (endgames of 4x4/6x6 Othello, late 5x5 Go), used
as ground truth for the search's known-answer tests.

Negamax with alpha-beta over the values {-1, 0, +1} and a transposition table keyed by the whole
state row (for Go that row includes the superko history, so the key is exact). It steps the same
kernels as everything else, one node at a time, so keep it to positions with a few thousand nodes.
"""

import numpy as np


class NodeLimit(RuntimeError):
    pass


def _key(g):
    return g.i16.tobytes() + g.u64.tobytes()


def _value(g, alpha, beta, table, budget):
    """Game result under perfect play from the view of the side to move in ``g`` (a batch of one)."""
    if g.terminal[0]:
        return int(g.reward_to_play()[0])
    key = _key(g)
    if key in table:
        return table[key]
    budget[0] -= 1
    if budget[0] < 0:
        raise NodeLimit("position too large for the exact solver")
    best = -2
    a0 = alpha
    for a in np.flatnonzero(g.legal_mask()[0]):
        v = -_value(g.copy().step([a]), -beta, -alpha, table, budget)  # every action alternates sides
        best = max(best, v)
        alpha = max(alpha, v)
        if alpha >= beta:
            break
    # Fail-soft: a value inside the window is exact, and so is +-1 (a bound at the extreme of
    # {-1, 0, 1} leaves one possibility). Only a 0 outside the window is a bound, not stored.
    if a0 < best < beta or abs(best) == 1:
        table[key] = best
    return best


def solve(games, b=0, max_nodes=200_000):
    """``{action: value}`` for every legal action of game ``b``: the exact result (+1 win, 0 draw, -1
    loss) for the side to move if it plays that action and both sides then play perfectly.
    Raises :class:`NodeLimit` beyond ``max_nodes`` interior nodes."""
    g = games.take([b])
    if g.terminal[0]:
        raise ValueError("the game is over: nothing to solve")
    table, budget, out = {}, [max_nodes], {}
    for a in np.flatnonzero(g.legal_mask()[0]):
        out[int(a)] = -_value(g.copy().step([a]), -1, 1, table, budget)
    return out

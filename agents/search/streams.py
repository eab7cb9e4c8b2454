"""Per-game random streams: a game's random draws follow the game, not its row in a batch.

    streams = GameStreams([11, 12, 13])     # one seed per game
    streams.random((3, A))                  # row b from game b's own stream
    streams.take([2, 0])                    # the streams of some games, in that order (a view: drawing
                                            # from it advances the same streams)
    agent.act(games, streams=streams)       # every batch player takes them (agents.players)

A player acting on a batch draws from one ``numpy`` Generator for the whole batch by default, so what a
game draws depends on which games share its batch. Handed ``GameStreams``, it draws each game's numbers
from that game's own stream instead, and only for the games it acts on. Game ``b``'s stream is exactly
what ``Agent.reset(seed_b)`` gives a player of one game: ``np.random.default_rng(seed_b)`` for the
player's own draws (tie-breaks, root noise, temperature) and the word ``envs.rng.seed_states(seed_b,
1)[0]`` for Numba kernels' draws (rollouts, :class:`~agents.search.evaluators.RolloutEvaluator`). So a
game draws the same numbers whether it is played alone after ``reset(seed_b)`` or in a batch of any size
and composition (the arena's batched tournaments rely on it).
"""

import numpy as np

from envs import rng as _rng


class GameStreams:
    """One random stream per game; the methods mirror ``numpy.random.Generator``'s with the leading axis
    of ``size`` the game (row ``b`` of the result is drawn from stream ``b``, in that stream's order)."""

    def __init__(self, seeds):
        seeds = [int(s) for s in seeds]
        self._gens = [np.random.default_rng(s) for s in seeds]
        self._words = np.array([_rng.seed_states(s, 1)[0] for s in seeds], np.uint64)  # uint64[G]
        self._rows = np.arange(len(seeds))  # the games of this view, indices into the two lists above

    def __len__(self):
        return int(self._rows.size)

    def take(self, rows):
        """The streams of games ``rows`` (indices into this view), sharing their state with this one."""
        new = object.__new__(GameStreams)
        new._gens, new._words = self._gens, self._words
        new._rows = self._rows[np.asarray(rows, np.int64).reshape(-1)]
        return new

    @property
    def words(self):
        """``uint64[B]``: a copy of the games' Numba stream words (``envs.rng``); assign to store them."""
        return self._words[self._rows]

    @words.setter
    def words(self, value):
        self._words[self._rows] = value

    def _draw(self, method, size, *args):
        size = (size,) if np.ndim(size) == 0 else tuple(size)
        if size[0] != len(self):
            raise ValueError(f"{len(self)} game streams cannot draw {size[0]} rows")
        out = np.empty(size)
        for i, b in enumerate(self._rows):
            out[i] = getattr(self._gens[b], method)(*args, size=size[1:])
        return out

    def random(self, size):
        return self._draw("random", size)

    def gamma(self, shape, size):
        return self._draw("gamma", size, shape)

    def gumbel(self, size):
        return self._draw("gumbel", size)


def draw(rng, rows, fn, shape):
    """``float64[shape]`` random numbers for a batch, ``fn(r, n)`` drawing ``n`` rows from ``r``.

    ``rng`` a numpy Generator: every row draws, whether ``rows`` or not (the batch-wide behaviour the
    search's known answers were written against). ``rng`` :class:`GameStreams` (one per row): only the
    games where ``rows: bool[B]`` draw, each from its own stream; the other rows are 0."""
    if not isinstance(rng, GameStreams):
        return fn(rng, shape[0])
    out = np.zeros(shape)
    idx = np.flatnonzero(rows)
    if idx.size:
        out[idx] = fn(rng.take(idx), idx.size)
    return out

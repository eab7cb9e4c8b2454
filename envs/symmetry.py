"""The 8 dihedral symmetries of a square board, for planes and for action vectors.

Symmetry ``k`` (0..7) is ``k % 4`` quarter-turns counter-clockwise (``np.rot90``), followed by a
left-right mirror when ``k >= 4``. Each one is its own inverse except the quarter-turns, whose inverse
is :func:`inverse`. The pass action ``N*N`` is fixed by every symmetry.
"""

import functools

import numpy as np

NUM_SYMMETRIES = 8


def apply_board(x, k):
    """Transform the last two axes (``[..., N, N]``) of ``x`` by symmetry ``k``; returns a copy."""
    y = np.rot90(x, k % 4, axes=(-2, -1))
    if k >= 4:
        y = np.flip(y, axis=-1)
    return np.ascontiguousarray(y)


def inverse(k):
    """The symmetry that undoes ``k``."""
    return (4 - k) % 4 if k < 4 else k


@functools.lru_cache(maxsize=None)
def gather_index(n):
    """``int64[8, N*N+1]``: ``vec_sym = vec[..., gather_index(n)[k]]`` transforms an action vector
    (policy, legal mask) exactly as :func:`apply_board` transforms the board."""
    out = np.empty((NUM_SYMMETRIES, n * n + 1), np.int64)
    base = np.arange(n * n).reshape(n, n)
    for k in range(NUM_SYMMETRIES):
        out[k, : n * n] = apply_board(base, k).reshape(-1)
        out[k, n * n] = n * n
    out.flags.writeable = False
    return out


@functools.lru_cache(maxsize=None)
def action_map(n):
    """``int64[8, N*N+1]``: action ``a`` becomes ``action_map(n)[k, a]`` under symmetry ``k``."""
    g = gather_index(n)
    out = np.empty_like(g)
    for k in range(NUM_SYMMETRIES):
        out[k, g[k]] = np.arange(n * n + 1)
    out.flags.writeable = False
    return out


def apply_actions(vec, k, n):
    """Transform the last axis (``[..., N*N+1]``) of an action vector by symmetry ``k``."""
    return vec[..., gather_index(n)[k]]

"""Counter-free per-game random numbers for Numba kernels.

Each game owns one ``uint64`` state word (``rng: uint64[B]``), advanced with splitmix64.
Kernels draw from it instead of Numba's global ``np.random`` so that results depend only
on the seed given, never on which kernel ran before or on the thread that ran it.
"""

import numba as nb
import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


@nb.njit(cache=True, inline="always")
def next_u64(rng, b):
    """Advance game ``b``'s state and return 64 random bits (splitmix64)."""
    z = rng[b] + _GOLDEN
    rng[b] = z
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


@nb.njit(cache=True, inline="always")
def randint(rng, b, n):
    """Uniform integer in ``[0, n)`` for game ``b``, 0 < n < 2**32 (multiply-shift of the top 32 bits:
    no division; bias below n / 2**32)."""
    return np.int64(((next_u64(rng, b) >> np.uint64(32)) * np.uint64(n)) >> np.uint64(32))


def seed_states(seed, batch_size):
    """``uint64[B]`` initial states, one independent stream per game, from one integer seed."""
    ss = np.random.SeedSequence(int(seed))
    return ss.generate_state(batch_size * 2, dtype=np.uint64)[::2].copy()

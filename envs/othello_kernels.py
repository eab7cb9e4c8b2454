"""Othello rules as Numba kernels over bitboards.

Layout: a game's whole state is one row of two arrays, so kernels take two arrays and a search can
copy a state with two row copies (sizes N = 4, 6, 8):
    i16 : int16[B, 4]   [TO_PLAY (0 = black to move, 1 = white), PASSES (consecutive passes just
                        played), PLY (moves played, passes included), TERMINAL (1 = neither side can move)]
    u64 : uint64[B, 2]  [BLACK, WHITE] bitboards: bit ``r*N + c`` set = a disc on row r (0 = top), column c
Actions: ``r*N + c`` places a disc, ``N*N`` passes. Pass is legal only when the side to move has no
disc move. A game ends as soon as neither side can move (a forced double pass is never asked for).

Every kernel takes a ``geo`` tuple from :func:`geometry` so that several board sizes coexist in one
process (the size is a parameter, never a module global).
"""

import numba as nb
import numpy as np

from envs import rng as _rng

U0 = np.uint64(0)
U1 = np.uint64(1)


def geometry(n):
    """``(n, full, not_col0, not_coln)`` for an ``n x n`` board: the board mask and the masks that drop
    discs which wrapped around a row edge when shifted east (into column 0) or west (into column n-1)."""
    if n not in (4, 6, 8):
        raise ValueError(f"Othello board size must be 4, 6 or 8, got {n!r}")
    full = (1 << (n * n)) - 1
    col0 = sum(1 << (r * n) for r in range(n))
    coll = sum(1 << (r * n + n - 1) for r in range(n))
    return (np.int64(n), np.uint64(full), np.uint64(full & ~col0), np.uint64(full & ~coll))


# The 8 directions. Bit i = r*N + c, so east is << 1 and south is << N. ``_raw`` shifts k steps along
# direction d without masking; ``_pmask`` is the set of squares a one-step shift may land on (not a
# wrapped column, on the board). Written out case by case so that Numba emits straight-line shifts.
@nb.njit(cache=True, inline="always")
def _raw(x, d, k, n):
    if d == 0:
        return x << np.uint64(k)  # east
    if d == 1:
        return x >> np.uint64(k)  # west
    if d == 2:
        return x << np.uint64(k * n)  # south
    if d == 3:
        return x >> np.uint64(k * n)  # north
    if d == 4:
        return x << np.uint64(k * (n + 1))  # south-east
    if d == 5:
        return x << np.uint64(k * (n - 1))  # south-west
    if d == 6:
        return x >> np.uint64(k * (n - 1))  # north-east
    return x >> np.uint64(k * (n + 1))  # north-west


@nb.njit(cache=True, inline="always")
def _pmask(d, full, me, mw):
    if d == 0 or d == 4 or d == 6:
        return me  # eastward moves must not land in column 0
    if d == 1 or d == 5 or d == 7:
        return mw  # westward moves must not land in column n-1
    return full


@nb.njit(cache=True, inline="always")
def _fill(gen, opp, d, n, full, me, mw):
    """Kogge-Stone occluded fill: ``gen`` plus every opponent disc reached from it along d through a
    contiguous run of opponent discs. Three doubling steps cover runs of up to 7 (n <= 8)."""
    pro = opp & _pmask(d, full, me, mw)
    gen |= pro & _raw(gen, d, 1, n)
    pro &= _raw(pro, d, 1, n)
    gen |= pro & _raw(gen, d, 2, n)
    pro &= _raw(pro, d, 2, n)
    gen |= pro & _raw(gen, d, 4, n)
    return gen


@nb.njit(cache=True, inline="always")
def _moves_dir(own, opp, empty, d, n, full, me, mw):
    x = _fill(own, opp, d, n, full, me, mw) & opp
    return _raw(x, d, 1, n) & _pmask(d, full, me, mw) & empty


@nb.njit(cache=True, inline="always")
def _flips_dir(own, opp, m, d, n, full, me, mw):
    # The run of opponent discs next to m flips iff the square after its far end holds an own disc
    # (the squares after the other members of the filled set are opponent discs).
    g = _fill(m, opp, d, n, full, me, mw)
    bracket = (_raw(g, d, 1, n) & _pmask(d, full, me, mw) & own) != U0
    return (g & opp) & (U0 - np.uint64(bracket))


@nb.njit(cache=True)
def popcount(x):
    """Number of set bits of a uint64."""
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return np.int64((x * np.uint64(0x0101010101010101)) >> np.uint64(56))


@nb.njit(cache=True)
def lowest_index(x):
    """Index of the lowest set bit of a nonzero uint64."""
    return popcount((x & (~x + U1)) - U1)


@nb.njit(cache=True, inline="always")
def random_bit(mv, rng, b):
    """Index of a uniformly chosen set bit of the nonzero bitboard ``mv`` (game ``b``'s stream)."""
    for _ in range(_rng.randint(rng, b, popcount(mv))):
        mv &= mv - U1
    return lowest_index(mv)


@nb.njit(cache=True)
def moves_bb(own, opp, geo):
    """Bitboard of squares where the side owning ``own`` may place a disc."""
    n, full, me, mw = geo
    empty = ~(own | opp) & full
    return (_moves_dir(own, opp, empty, 0, n, full, me, mw) | _moves_dir(own, opp, empty, 1, n, full, me, mw)
            | _moves_dir(own, opp, empty, 2, n, full, me, mw) | _moves_dir(own, opp, empty, 3, n, full, me, mw)
            | _moves_dir(own, opp, empty, 4, n, full, me, mw) | _moves_dir(own, opp, empty, 5, n, full, me, mw)
            | _moves_dir(own, opp, empty, 6, n, full, me, mw) | _moves_dir(own, opp, empty, 7, n, full, me, mw))


@nb.njit(cache=True)
def flips_bb(own, opp, sq, geo):
    """Discs flipped when the owner of ``own`` plays square ``sq`` (0 if the move flips nothing)."""
    n, full, me, mw = geo
    m = U1 << np.uint64(sq)
    return (_flips_dir(own, opp, m, 0, n, full, me, mw) | _flips_dir(own, opp, m, 1, n, full, me, mw)
            | _flips_dir(own, opp, m, 2, n, full, me, mw) | _flips_dir(own, opp, m, 3, n, full, me, mw)
            | _flips_dir(own, opp, m, 4, n, full, me, mw) | _flips_dir(own, opp, m, 5, n, full, me, mw)
            | _flips_dir(own, opp, m, 6, n, full, me, mw) | _flips_dir(own, opp, m, 7, n, full, me, mw))


TO_PLAY, PASSES, PLY, TERMINAL = 0, 1, 2, 3
BLACK, WHITE = 0, 1
I16_FIELDS, U64_FIELDS = 4, 2


def state_shapes(n):
    """Row lengths of the two state arrays for an ``n x n`` board."""
    return I16_FIELDS, U64_FIELDS


@nb.njit(cache=True)
def init_game(i16, u64, b, geo):
    n = geo[0]
    h = n // 2
    u64[b, BLACK] = (U1 << np.uint64((h - 1) * n + h)) | (U1 << np.uint64(h * n + h - 1))
    u64[b, WHITE] = (U1 << np.uint64((h - 1) * n + h - 1)) | (U1 << np.uint64(h * n + h))
    for k in range(I16_FIELDS):
        i16[b, k] = 0


@nb.njit(cache=True, inline="always")
def own_opp(i16, u64, b):
    if i16[b, TO_PLAY] == 0:
        return u64[b, BLACK], u64[b, WHITE]
    return u64[b, WHITE], u64[b, BLACK]


@nb.njit(cache=True)
def apply_move(i16, u64, b, action, geo):
    """Play ``action`` in game ``b`` without checking it; returns the number of discs flipped.

    The caller guarantees legality (see :func:`is_legal`). Sets TERMINAL when neither side can move
    afterwards.
    """
    n = geo[0]
    own, opp = own_opp(i16, u64, b)
    nflip = 0
    if action == n * n:
        i16[b, PASSES] = 1
    else:
        f = flips_bb(own, opp, action, geo)
        own = own | f | (U1 << np.uint64(action))
        opp = opp & ~f
        nflip = popcount(f)
        i16[b, PASSES] = 0
        if i16[b, TO_PLAY] == 0:
            u64[b, BLACK] = own
            u64[b, WHITE] = opp
        else:
            u64[b, WHITE] = own
            u64[b, BLACK] = opp
    i16[b, TO_PLAY] = 1 - i16[b, TO_PLAY]
    i16[b, PLY] += 1
    # The new side to move is the old opponent.
    if moves_bb(opp, own, geo) == U0 and moves_bb(own, opp, geo) == U0:
        i16[b, TERMINAL] = 1
    return nflip


@nb.njit(cache=True)
def is_legal(i16, u64, b, action, geo):
    n = geo[0]
    if i16[b, TERMINAL] or action < 0 or action > n * n:
        return False
    own, opp = own_opp(i16, u64, b)
    mv = moves_bb(own, opp, geo)
    if action == n * n:
        return mv == U0
    return (mv >> np.uint64(action)) & U1 == U1


@nb.njit(cache=True)
def legal_mask(i16, u64, out, geo):
    """Write ``out: bool[B, N*N+1]``. A terminal game has an all-false row."""
    n = geo[0]
    nn = n * n
    for b in range(i16.shape[0]):
        for a in range(nn + 1):
            out[b, a] = False
        if i16[b, TERMINAL]:
            continue
        own, opp = own_opp(i16, u64, b)
        mv = moves_bb(own, opp, geo)
        if mv == U0:
            out[b, nn] = True
        while mv:
            out[b, lowest_index(mv)] = True
            mv &= mv - U1


@nb.njit(cache=True)
def step_batch(i16, u64, actions, geo):
    """Play ``actions: int64[B]``. Returns -1 on success, else the first game whose action is illegal
    (nothing is played in any game then: the whole batch is checked first)."""
    for b in range(i16.shape[0]):
        if not is_legal(i16, u64, b, actions[b], geo):
            return b
    for b in range(i16.shape[0]):
        apply_move(i16, u64, b, actions[b], geo)
    return -1


@nb.njit(cache=True)
def apply_paths(i16, u64, paths, start, depth, geo):
    """Play ``paths[b, start[b]:depth[b]]`` (int32[B, D]) in every game b, unchecked: a search replays
    moves it already knows to be legal from a stored state. Each game module has its own copy, as
    with step_batch: a kernel taking the game's apply_move as an argument recompiles in every process
    (Numba does not cache it), which costs seconds per Ray worker and test run."""
    for b in range(i16.shape[0]):
        for k in range(start[b], depth[b]):
            apply_move(i16, u64, b, paths[b, k], geo)


@nb.njit(cache=True)
def move_gains(i16, u64, out, geo):
    """``out: int32[B, N*N+1]``: discs each legal move flips (0 for pass; -1 where illegal)."""
    n = geo[0]
    for b in range(i16.shape[0]):
        out[b, :] = -1
        if i16[b, TERMINAL]:
            continue
        own, opp = own_opp(i16, u64, b)
        mv = moves_bb(own, opp, geo)
        if mv == U0:
            out[b, n * n] = 0
        while mv:
            sq = lowest_index(mv)
            mv &= mv - U1
            out[b, sq] = popcount(flips_bb(own, opp, sq, geo))


@nb.njit(cache=True)
def disc_diff(u64, b):
    """Black discs minus white discs."""
    return popcount(u64[b, BLACK]) - popcount(u64[b, WHITE])


@nb.njit(cache=True)
def rewards(i16, u64, out):
    """``out: float32[B]``: +1 black won, -1 white won, 0 draw or not over (black's view)."""
    for b in range(i16.shape[0]):
        out[b] = 0.0
        if i16[b, TERMINAL]:
            d = disc_diff(u64, b)
            out[b] = 1.0 if d > 0 else (-1.0 if d < 0 else 0.0)


@nb.njit(cache=True)
def observation(i16, u64, out, geo):
    """``out: float32[B, 3, N, N]``: planes (discs of the side to move, opponent's discs, legal squares)."""
    n = geo[0]
    for b in range(i16.shape[0]):
        own, opp = own_opp(i16, u64, b)
        mv = U0 if i16[b, TERMINAL] else moves_bb(own, opp, geo)
        for r in range(n):
            for c in range(n):
                bit = np.uint64(r * n + c)
                out[b, 0, r, c] = np.float32((own >> bit) & U1)
                out[b, 1, r, c] = np.float32((opp >> bit) & U1)
                out[b, 2, r, c] = np.float32((mv >> bit) & U1)


@nb.njit(cache=True)
def random_action(i16, u64, b, rng, geo):
    """A uniformly random legal action of game ``b`` (not terminal)."""
    n = geo[0]
    own, opp = own_opp(i16, u64, b)
    mv = moves_bb(own, opp, geo)
    if mv == U0:
        return n * n
    return random_bit(mv, rng, b)


@nb.njit(cache=True)
def random_playouts(i16, u64, rng, geo):
    """Play every game of the batch to its end with uniformly random legal moves; returns moves played.

    Same rules as :func:`apply_move`, but keeps ``own``/``opp`` in registers and generates moves once
    per ply (the terminal test reuses the next ply's generation).
    """
    total = 0
    for b in range(i16.shape[0]):
        if i16[b, TERMINAL]:
            continue
        own, opp = own_opp(i16, u64, b)
        side = i16[b, TO_PLAY]
        p = i16[b, PASSES]
        k = 0
        mv = moves_bb(own, opp, geo)
        while True:
            if mv == U0:
                p = 1  # forced pass (the game would have ended already if the opponent could not move)
            else:
                sq = random_bit(mv, rng, b)
                f = flips_bb(own, opp, sq, geo)
                own = own | f | (U1 << np.uint64(sq))
                opp = opp & ~f
                p = 0
            own, opp = opp, own
            side = 1 - side
            k += 1
            mv = moves_bb(own, opp, geo)
            if mv == U0 and moves_bb(opp, own, geo) == U0:
                break
        if side == 0:
            u64[b, BLACK], u64[b, WHITE] = own, opp
        else:
            u64[b, BLACK], u64[b, WHITE] = opp, own
        i16[b, TO_PLAY] = side
        i16[b, PASSES] = p
        i16[b, PLY] += k
        i16[b, TERMINAL] = 1
        total += k
    return total


@nb.njit(cache=True)
def _perft(own, opp, depth, geo):
    mv = moves_bb(own, opp, geo)
    if mv == U0:
        if moves_bb(opp, own, geo) == U0:
            return np.int64(1)  # the game ended before the depth: one leaf
        if depth == 1:
            return np.int64(1)
        return _perft(opp, own, depth - 1, geo)  # a forced pass uses one ply
    if depth == 1:
        return popcount(mv)
    total = np.int64(0)
    while mv:
        sq = lowest_index(mv)
        mv &= mv - U1
        f = flips_bb(own, opp, sq, geo)
        total += _perft(opp & ~f, own | f | (U1 << np.uint64(sq)), depth - 1, geo)
    return total


@nb.njit(cache=True)
def perft(i16, u64, b, depth, geo):
    """Leaf count of game ``b`` at ``depth`` plies; a forced pass uses a ply, a game ended early is one
    leaf."""
    if depth == 0 or i16[b, TERMINAL]:
        return np.int64(1)
    own, opp = own_opp(i16, u64, b)
    return _perft(own, opp, depth, geo)


@nb.njit(cache=True)
def random_games(i16, u64, rng, geo, out):
    """Play every game of the batch to its end with uniformly random legal actions, writing them to
    ``out: int16[B, L]`` (passes included; -1 after the end). Returns ``int32[B]`` game lengths; a game
    longer than L stops being recorded at L (the caller sizes L past the longest possible game)."""
    lengths = np.zeros(i16.shape[0], np.int32)
    for b in range(i16.shape[0]):
        k = 0
        while not i16[b, TERMINAL]:
            a = random_action(i16, u64, b, rng, geo)
            apply_move(i16, u64, b, a, geo)
            if k < out.shape[1]:
                out[b, k] = a
            k += 1
        for j in range(k, out.shape[1]):
            out[b, j] = -1
        lengths[b] = k
    return lengths

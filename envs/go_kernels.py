"""Go rules as Numba kernels over a padded 1-D board with chain arrays (KataGo's layout).

Rules: area scoring (Tromp-Taylor count), positional superko (no board move may recreate an earlier
whole-board position; passes are exempt), suicide illegal, two consecutive passes end the game, and a
cap of ``2*N*N`` plies after which the position is scored as it stands.

Layout: a game's whole state is one row of two arrays (W = N + 2, P = W*W, point (r, c) sits at
``(r+1)*W + c+1``), so kernels take two arrays and a search copies a state with two row copies.
    i16 : int16[B, 6 + 5P], fields at these offsets (BOARD = 4, HEAD = 4 + P, NXT = 4 + 2P,
          LIBS = 4 + 3P, CSIZE = 4 + 4P, LAST = 4 + 5P):
        0..3      TO_PLAY (0 = black to move), PASSES (consecutive passes just played), PLY (moves
                  played, passes included), TERMINAL (1 = over)
        BOARD     0 empty, +1 black, -1 white, 2 wall (the one-point frame around the board)
        HEAD      head point of the chain a stone belongs to
        NXT       next stone of the same chain (a circular list)
        LIBS      at a head: pseudo-liberties, i.e. (stone, empty neighbour) pairs counted with repeats.
                  Zero exactly when the chain has no liberty; the chain's only liberty is p exactly
                  when LIBS equals the number of its stones adjacent to p.
        CSIZE     at a head: stones in the chain (the smaller chain is relabelled on a merge)
        LAST      the last action played and the one before it (-1: none yet); not part of the
                  position (superko and the rules ignore it), only of the network's feature planes
    u64 : uint64[B, 1 + P + T], fields at these offsets (CHASH = 1, TABLE = 1 + P):
        0         ZHASH: Zobrist hash of the board (stones only: superko is positional)
        CHASH     at a head: XOR of the Zobrist keys of the chain's stones
        TABLE     open-addressing set (T slots, 0 = empty) of every earlier board hash
Actions: ``r*N + c`` (r = 0 the top row as printed), ``N*N`` = pass (always legal while the game runs).
"""

import numba as nb
import numpy as np

from envs import rng as _rng

EMPTY, BLACK, WHITE, WALL = 0, 1, -1, 2
TO_PLAY, PASSES, PLY, TERMINAL = 0, 1, 2, 3
U0 = np.uint64(0)

# Fair komi under area scoring, from KataGo's published values (9x9 = 7, 7x7 = 9,
# 8x8 = 10) plus 0.5 so that a draw cannot happen. 5x5 is solved as a 25-point win for black
# (van der Werf), so 24.5 is its fair komi. Sizes not listed default to 7.5.
DEFAULT_KOMI = {5: 24.5, 7: 9.5, 8: 10.5, 9: 7.5, 13: 7.5, 19: 7.5}
SIZES = tuple(range(2, 20))


def default_komi(n):
    return DEFAULT_KOMI.get(n, 7.5)


def geometry(n):
    """``(n, W, P, T, zobrist uint64[P, 2], empty_hash)`` for size n.

    Zobrist keys come from a fixed seed so that hashes are identical across processes and runs.
    ``empty_hash`` is a nonzero key for the empty board, so that 0 can mark an empty table slot.
    """
    if n not in SIZES:
        raise ValueError(f"Go board size must be between 2 and 19, got {n!r}")
    w = n + 2
    p = w * w
    t = 1
    while t < 2 * (2 * n * n + 1):  # keep the history table at most half full (linear probing stays short)
        t *= 2
    keys = np.random.default_rng(20260901 + n).integers(1, 2**63, size=(p, 2), dtype=np.int64)
    zob = keys.astype(np.uint64)
    return (np.int64(n), np.int64(w), np.int64(p), np.int64(t), zob, np.uint64(0x5BD1E9955BD1E995))


def state_shapes(n):
    """Row lengths ``(F, G)`` of the two state arrays for an ``n x n`` board."""
    _, w, p, t, _, _ = geometry(n)
    return 6 + 5 * int(p), 1 + int(p) + int(t)


@nb.njit(cache=True, inline="always")
def point(action, n, w):
    """Board point of action ``r*N + c``."""
    return (action // n + 1) * w + action % n + 1


@nb.njit(cache=True, inline="always")
def _neighbour(pt, k, w):
    """The k-th (0..3: up, left, right, down) neighbour of point ``pt`` on a board of stride ``w``."""
    return pt - w if k == 0 else (pt - 1 if k == 1 else (pt + 1 if k == 2 else pt + w))


@nb.njit(cache=True, inline="always")
def _key(zob, pt, color):
    return zob[pt, 0] if color == BLACK else zob[pt, 1]


@nb.njit(cache=True, inline="always")
def _table_has(u64, b, h, p, t):
    base = 1 + p
    i = np.int64(h & np.uint64(t - 1))
    while True:
        v = u64[b, base + i]
        if v == h:
            return True
        if v == U0:
            return False
        i = (i + 1) & (t - 1)


@nb.njit(cache=True)
def _table_add(u64, b, h, p, t):
    base = 1 + p
    i = np.int64(h & np.uint64(t - 1))
    while True:
        v = u64[b, base + i]
        if v == h:
            return
        if v == U0:
            u64[b, base + i] = h
            return
        i = (i + 1) & (t - 1)


@nb.njit(cache=True)
def init_game(i16, u64, b, geo):
    n, w, p, t, zob, empty_hash = geo
    for k in range(4):
        i16[b, k] = 0
    for i in range(p):
        r = i // w
        c = i % w
        i16[b, 4 + i] = WALL if (r == 0 or c == 0 or r == w - 1 or c == w - 1) else EMPTY
        i16[b, 4 + p + i] = i
        i16[b, 4 + 2 * p + i] = i
        i16[b, 4 + 3 * p + i] = 0
        i16[b, 4 + 4 * p + i] = 0
    i16[b, 4 + 5 * p] = -1
    i16[b, 5 + 5 * p] = -1
    for i in range(u64.shape[1]):
        u64[b, i] = U0
    u64[b, 0] = empty_hash
    _table_add(u64, b, empty_hash, p, t)


@nb.njit(cache=True, inline="always")
def analyse(i16, u64, b, pt, color, geo):
    """Look at placing ``color`` on empty point ``pt`` without doing it.

    Returns ``(alive, captured, delta)``: whether the stone has a liberty after its captures (the
    suicide test; superko is the caller's), how many stones it captures, and the XOR that turns the
    board hash into the new one (the new stone plus every captured chain).
    """
    n, w, p, t, zob, empty_hash = geo
    BO = 4
    HO = 4 + p
    LO = 4 + 3 * p
    SO = 4 + 4 * p
    delta = _key(zob, pt, color)
    captured = 0
    alive = False
    s0 = -1
    s1 = -1
    s2 = -1
    for k in range(4):
        q = _neighbour(pt, k, w)
        v = i16[b, BO + q]
        if v == EMPTY:
            alive = True
            continue
        if v == WALL:
            continue
        h = np.int64(i16[b, HO + q])
        if h == s0 or h == s1 or h == s2:
            continue
        if s0 == -1:
            s0 = h
        elif s1 == -1:
            s1 = h
        else:
            s2 = h
        adj = 0  # stones of chain h adjacent to pt
        if i16[b, HO + pt - w] == h and i16[b, BO + pt - w] == v:
            adj += 1
        if i16[b, HO + pt - 1] == h and i16[b, BO + pt - 1] == v:
            adj += 1
        if i16[b, HO + pt + 1] == h and i16[b, BO + pt + 1] == v:
            adj += 1
        if i16[b, HO + pt + w] == h and i16[b, BO + pt + w] == v:
            adj += 1
        only_lib_here = i16[b, LO + h] == adj
        if v == color:
            if not only_lib_here:
                alive = True  # joining a chain that keeps another liberty
        elif only_lib_here:
            alive = True  # capturing gives the new stone a liberty
            delta ^= u64[b, 1 + h]
            captured += i16[b, SO + h]
    return alive, captured, delta


@nb.njit(cache=True, inline="always")
def is_legal(i16, u64, b, action, geo):
    n, w, p, t, zob, empty_hash = geo
    if i16[b, TERMINAL] or action < 0 or action > n * n:
        return False
    if action == n * n:
        return True
    pt = point(action, n, w)
    if i16[b, 4 + pt] != EMPTY:
        return False
    color = BLACK if i16[b, TO_PLAY] == 0 else WHITE
    alive, captured, delta = analyse(i16, u64, b, pt, color, geo)
    if not alive:
        return False  # suicide
    return not _table_has(u64, b, u64[b, 0] ^ delta, p, t)  # positional superko


@nb.njit(cache=True)
def _remove_chain(i16, u64, b, h, p, w):
    BO = 4
    HO = 4 + p
    NO = 4 + 2 * p
    LO = 4 + 3 * p
    # First empty every stone, then give liberties back to the neighbouring chains (all of the
    # capturer's colour: a chain's other neighbours are empty or wall).
    s = h
    while True:
        i16[b, BO + s] = EMPTY
        s = i16[b, NO + s]
        if s == h:
            break
    s = h
    while True:
        for k in range(4):
            q = _neighbour(s, k, w)
            v = i16[b, BO + q]
            if v == BLACK or v == WHITE:
                i16[b, LO + i16[b, HO + q]] += 1
        nx = i16[b, NO + s]
        i16[b, HO + s] = s
        i16[b, NO + s] = s
        s = nx
        if s == h:
            break
    i16[b, 4 + 4 * p + h] = 0
    i16[b, LO + h] = 0
    u64[b, 1 + h] = U0


@nb.njit(cache=True)
def _merge(i16, u64, b, h1, h2, p):
    """Merge chains h1 and h2, relabelling the smaller; returns the surviving head."""
    HO = 4 + p
    NO = 4 + 2 * p
    LO = 4 + 3 * p
    SO = 4 + 4 * p
    if i16[b, SO + h1] < i16[b, SO + h2]:
        h1, h2 = h2, h1
    s = h2
    while True:
        i16[b, HO + s] = h1
        s = i16[b, NO + s]
        if s == h2:
            break
    t = i16[b, NO + h1]  # splice the two circular lists
    i16[b, NO + h1] = i16[b, NO + h2]
    i16[b, NO + h2] = t
    i16[b, LO + h1] += i16[b, LO + h2]
    i16[b, SO + h1] += i16[b, SO + h2]
    u64[b, 1 + h1] ^= u64[b, 1 + h2]
    return h1


@nb.njit(cache=True)
def place_stone(i16, u64, b, pt, color, geo):
    """Put a ``color`` stone on empty point ``pt``, merge, capture and update the hash; returns stones
    captured. No turn, ply or history bookkeeping (see :func:`apply_move`)."""
    n, w, p, t, zob, empty_hash = geo
    BO = 4
    HO = 4 + p
    NO = 4 + 2 * p
    LO = 4 + 3 * p
    SO = 4 + 4 * p
    captured = 0
    i16[b, BO + pt] = color
    i16[b, HO + pt] = pt
    i16[b, NO + pt] = pt
    i16[b, SO + pt] = 1
    key = _key(zob, pt, color)
    u64[b, 1 + pt] = key
    u64[b, 0] ^= key
    lib = 0
    for k in range(4):
        q = _neighbour(pt, k, w)
        v = i16[b, BO + q]
        if v == EMPTY:
            lib += 1
        elif v == BLACK or v == WHITE:
            i16[b, LO + i16[b, HO + q]] -= 1  # pt was one of its pseudo-liberties
    i16[b, LO + pt] = lib
    h = pt
    for k in range(4):
        q = _neighbour(pt, k, w)
        if i16[b, BO + q] == color and i16[b, HO + q] != h:
            h = _merge(i16, u64, b, h, np.int64(i16[b, HO + q]), p)
    for k in range(4):
        q = _neighbour(pt, k, w)
        if i16[b, BO + q] == -color:
            hq = np.int64(i16[b, HO + q])
            if i16[b, LO + hq] == 0:
                captured += i16[b, SO + hq]
                u64[b, 0] ^= u64[b, 1 + hq]
                _remove_chain(i16, u64, b, hq, p, w)
    return captured


@nb.njit(cache=True)
def clear_history(i16, u64, b, geo):
    """Forget earlier positions; only the current one stays (for positions set up stone by stone)."""
    n, w, p, t, zob, empty_hash = geo
    for i in range(t):
        u64[b, 1 + p + i] = U0
    _table_add(u64, b, u64[b, 0], p, t)


@nb.njit(cache=True)
def apply_move(i16, u64, b, action, geo):
    """Play a legal ``action`` in game ``b`` (unchecked); returns the number of stones captured."""
    n, w, p, t, zob, empty_hash = geo
    captured = 0
    if action == n * n:
        i16[b, PASSES] += 1
    else:
        i16[b, PASSES] = 0
        color = BLACK if i16[b, TO_PLAY] == 0 else WHITE
        captured = place_stone(i16, u64, b, point(action, n, w), color, geo)
        _table_add(u64, b, u64[b, 0], p, t)
    i16[b, 5 + 5 * p] = i16[b, 4 + 5 * p]
    i16[b, 4 + 5 * p] = action
    i16[b, TO_PLAY] = 1 - i16[b, TO_PLAY]
    i16[b, PLY] += 1
    if i16[b, PASSES] >= 2 or i16[b, PLY] >= 2 * n * n:
        i16[b, TERMINAL] = 1
    return captured


@nb.njit(cache=True, inline="always")
def _legal_row(i16, u64, b, out, geo):
    """Write ``out: bool[N*N+1]`` for game b: :func:`is_legal` for every action, walking the board row
    by row (no division per point) and hashing against one load of the board hash."""
    n, w, p, t, zob, empty_hash = geo
    if i16[b, TERMINAL]:
        out[:] = False
        return
    color = BLACK if i16[b, TO_PLAY] == 0 else WHITE
    h0 = u64[b, 0]
    a = 0
    for r in range(n):
        pt = (r + 1) * w + 1
        for c in range(n):
            ok = False
            if i16[b, 4 + pt] == EMPTY:
                alive, captured, delta = analyse(i16, u64, b, pt, color, geo)
                ok = alive and not _table_has(u64, b, h0 ^ delta, p, t)
            out[a] = ok
            a += 1
            pt += 1
    out[n * n] = True


@nb.njit(cache=True)
def legal_mask(i16, u64, out, geo):
    """Write ``out: bool[B, N*N+1]``; all false for a finished game."""
    for b in range(i16.shape[0]):
        _legal_row(i16, u64, b, out[b], geo)


@nb.njit(cache=True)
def move_gains(i16, u64, out, geo):
    """``out: int32[B, N*N+1]``: stones each legal move captures (0 for pass; -1 where illegal)."""
    n, w = geo[0], geo[1]
    legal = np.empty(n * n + 1, np.bool_)
    for b in range(i16.shape[0]):
        _legal_row(i16, u64, b, legal, geo)
        color = BLACK if i16[b, TO_PLAY] == 0 else WHITE
        for a in range(n * n + 1):
            out[b, a] = -1
            if legal[a]:
                out[b, a] = 0 if a == n * n else analyse(i16, u64, b, point(a, n, w), color, geo)[1]


@nb.njit(cache=True)
def step_batch(i16, u64, actions, geo):
    """Play ``actions: int64[B]``; returns -1, or the first game whose action is illegal (then nothing
    is played in any game)."""
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
def area_owners(i16, b, geo, out):
    """``out: int8[P]`` (the padded points): who each point belongs to in the Tromp-Taylor count, BLACK
    or WHITE for a stone or an empty region reaching only that colour, 0 otherwise (walls included)."""
    n, w, p, t, zob, empty_hash = geo
    seen = np.zeros(p, np.bool_)
    stack = np.empty(p, np.int64)
    region = np.empty(p, np.int64)
    for i in range(p):
        v = i16[b, 4 + i]
        out[i] = v if v == BLACK or v == WHITE else 0
    for i in range(p):  # then each empty region, whose points may come before or after its first one
        if i16[b, 4 + i] == EMPTY and not seen[i]:
            top = 0
            stack[0] = i
            seen[i] = True
            size = 0
            reach_b = False
            reach_w = False
            while top >= 0:
                s = stack[top]
                top -= 1
                region[size] = s
                size += 1
                for k in range(4):
                    q = _neighbour(s, k, w)
                    u = i16[b, 4 + q]
                    if u == EMPTY and not seen[q]:
                        seen[q] = True
                        top += 1
                        stack[top] = q
                    elif u == BLACK:
                        reach_b = True
                    elif u == WHITE:
                        reach_w = True
            owner = BLACK if reach_b and not reach_w else (WHITE if reach_w and not reach_b else 0)
            for j in range(size):
                out[region[j]] = owner


@nb.njit(cache=True)
def area_score(i16, b, geo):
    """Black area minus white area (stones plus empty regions reaching only that colour), no komi."""
    out = np.empty(geo[2], np.int8)
    area_owners(i16, b, geo, out)
    score = 0
    for i in range(out.shape[0]):
        score += out[i]
    return score


@nb.njit(cache=True)
def rewards(i16, komi, out, geo):
    """``out: float32[B]``: +1 black won, -1 white won, 0 draw or not over (black's view)."""
    for b in range(i16.shape[0]):
        out[b] = 0.0
        if i16[b, TERMINAL]:
            s = area_score(i16, b, geo) - komi
            out[b] = 1.0 if s > 0 else (-1.0 if s < 0 else 0.0)


@nb.njit(cache=True)
def observation(i16, u64, out, geo):
    """``out: float32[B, 4, N, N]``: planes (stones of the side to move, opponent's stones, legal board
    points (this is where ko and superko show), 1 everywhere when black is to move)."""
    n, w, p, t, zob, empty_hash = geo
    legal = np.empty(n * n + 1, np.bool_)
    for b in range(i16.shape[0]):
        me = BLACK if i16[b, TO_PLAY] == 0 else WHITE
        _legal_row(i16, u64, b, legal, geo)
        for r in range(n):
            for c in range(n):
                v = i16[b, 4 + (r + 1) * w + c + 1]
                out[b, 0, r, c] = 1.0 if v == me else 0.0
                out[b, 1, r, c] = 1.0 if v == -me else 0.0
                out[b, 2, r, c] = 1.0 if legal[r * n + c] else 0.0
                out[b, 3, r, c] = 1.0 if me == BLACK else 0.0


FEATURE_PLANES = 10


@nb.njit(cache=True)
def features(i16, u64, out, geo):
    """``out: float32[B, 10, N, N]``: the four planes of :func:`observation`, then Go's own input
    features (KataGo's, Wu 2019, arXiv:1902.10565, section 4.1, a subset): stones (either colour) of
    chains with exactly 1, 2, and 3 or more liberties; the last move's point and the one before it (a
    pass or the start marks nothing); 1 everywhere when the previous move was a pass."""
    n, w, p, t, zob, empty_hash = geo
    observation(i16, u64, out, geo)
    libs = np.zeros(p, np.int32)
    for b in range(i16.shape[0]):
        libs[:] = 0
        for pt in range(w + 1, p - w - 1):  # each empty point counts once for each distinct chain beside it
            if i16[b, 4 + pt] != EMPTY:
                continue
            h0 = -1
            h1 = -1
            h2 = -1
            for k in range(4):
                q = _neighbour(pt, k, w)
                v = i16[b, 4 + q]
                if v != BLACK and v != WHITE:
                    continue
                h = np.int64(i16[b, 4 + p + q])
                if h == h0 or h == h1 or h == h2:
                    continue
                if h0 == -1:
                    h0 = h
                elif h1 == -1:
                    h1 = h
                else:
                    h2 = h
                libs[h] += 1
        last = i16[b, 4 + 5 * p]
        before = i16[b, 5 + 5 * p]
        passed = 1.0 if last == n * n else 0.0
        for r in range(n):
            for c in range(n):
                pt = (r + 1) * w + c + 1
                v = i16[b, 4 + pt]
                lib = libs[i16[b, 4 + p + pt]] if v == BLACK or v == WHITE else 0
                out[b, 4, r, c] = 1.0 if lib == 1 else 0.0
                out[b, 5, r, c] = 1.0 if lib == 2 else 0.0
                out[b, 6, r, c] = 1.0 if lib >= 3 else 0.0
                out[b, 7, r, c] = 1.0 if last == r * n + c else 0.0
                out[b, 8, r, c] = 1.0 if before == r * n + c else 0.0
                out[b, 9, r, c] = passed


@nb.njit(cache=True)
def random_action(i16, u64, b, rng, geo):
    """A uniformly random legal action of game ``b`` (pass included, since it is legal).

    Rejection sampling with replacement: draw any of the N*N+1 actions uniformly and keep it if legal.
    The accepted draw is uniform over the legal set, and an occupied point is rejected in one load, so
    this costs O(1) expected work per try instead of a scan of the board.
    """
    n, w = geo[0], geo[1]
    nn = n * n
    while True:
        a = _rng.randint(rng, b, nn + 1)
        if a == nn:
            return a
        if i16[b, 4 + point(a, n, w)] == EMPTY and is_legal(i16, u64, b, a, geo):
            return a


@nb.njit(cache=True)
def random_playouts(i16, u64, rng, geo):
    """Play every game to its end with uniformly random legal actions; returns moves played."""
    total = 0
    for b in range(i16.shape[0]):
        while not i16[b, TERMINAL]:
            apply_move(i16, u64, b, random_action(i16, u64, b, rng, geo), geo)
            total += 1
    return total


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

"""The one core API: a batch of B games of one kind and size, stepped together by Numba kernels.

Shared conventions, written once here for every game:
- Actions are ``r*N + c`` (``r = 0`` the top row as printed) and ``N*N`` = pass; ``A = N*N + 1``.
- ``legal_mask() -> bool[B, A]``; a finished game's row is all false.
- ``step(actions: int[B])`` plays one action in every game. An illegal action, or any action for a
  finished game, raises ``ValueError`` naming the game, the move and the position; nothing is played
  in any game then (the batch is checked first). Nothing is silently corrected.
- ``to_play: int16[B]`` 0 = black, 1 = white; ``terminal: bool[B]``; ``ply``, ``passes``: int16[B].
- The whole state of game b is row b of two arrays, ``i16`` and ``u64`` (layouts in the kernel
  modules); ``copy``, ``take`` and ``put`` move games between batches as rows.
- ``reward() -> float32[B]`` is the final result from **black's** view (+1 win, -1 loss, 0 draw) and 0
  while a game runs; ``reward_to_play()`` gives it from the view of the side to move.
- ``observation() -> float32[B, C, N, N]`` is relative to the side to move (plane 0 its stones).
  ``observation("features")`` adds a game's own input features after those planes (Go: liberties and
  the last moves; ``inputs`` lists what a game offers); a network records which set it reads.
"""

import numpy as np

from envs import go_kernels as GK
from envs import notation
from envs import othello_kernels as OK
from envs import rng as _rng


class GameBatch:
    """Base class; see the module docstring. Subclasses set the kernels and the layout."""

    game = ""
    num_planes = 0
    inputs = {"basic": 0}  # input set -> planes (the subclasses fill it in)

    def __init__(self, batch_size=1, size=8, seed=0):
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.batch_size = int(batch_size)
        self.size = int(size)
        self.num_actions = self.size * self.size + 1
        self.pass_action = self.size * self.size
        self.rng = _rng.seed_states(seed, self.batch_size)

    # -- shapes ----------------------------------------------------------------------------------
    @property
    def obs_shape(self):
        return (self.num_planes, self.size, self.size)

    def input_shape(self, inputs="basic"):
        """``(C, N, N)`` of :meth:`observation` for the input set ``inputs`` (one-line ``ValueError``
        for a set this game does not offer)."""
        if inputs not in self.inputs:
            raise ValueError(f"{self.game} offers the input sets {', '.join(self.inputs)}, not {inputs!r}")
        return (self.inputs[inputs], self.size, self.size)

    # -- queries ---------------------------------------------------------------------------------
    def legal_mask(self):
        out = np.empty((self.batch_size, self.num_actions), np.bool_)
        self._legal_mask(out)
        return out

    def observation(self, inputs="basic"):
        out = np.empty((self.batch_size, *self.input_shape(inputs)), np.float32)
        if inputs == "basic":
            self._observation(out)
        else:
            self.K.features(self.i16, self.u64, out, self.geo)
        return out

    def reward(self):
        out = np.empty(self.batch_size, np.float32)
        self._rewards(out)
        return out

    def reward_to_play(self):
        """Final result from the view of the side to move at the end (0 while running)."""
        r = self.reward()
        return np.where(self.to_play == 0, r, -r).astype(np.float32)

    # -- stepping --------------------------------------------------------------------------------
    def step(self, actions):
        """Play ``actions: int[B]`` (a scalar is accepted for B = 1). Returns ``self``."""
        a = np.asarray(actions, dtype=np.int64).reshape(-1)
        if a.shape[0] != self.batch_size:
            raise ValueError(f"expected {self.batch_size} actions, got {a.shape[0]}")
        bad = self._step(a)
        if bad >= 0:
            raise ValueError(self._illegal_message(bad, int(a[bad])))
        return self

    def _illegal_message(self, b, action):
        who = "black" if self.to_play[b] == 0 else "white"
        if self.terminal[b]:
            why = "the game is over"
        elif not 0 <= action < self.num_actions:
            why = f"action out of range 0..{self.num_actions - 1}"
        else:
            why = f"{self.move_str(action)} is not legal for {who}"
        return (f"illegal action {action} in game {b} at ply {int(self.ply[b])} ({why}); "
                f"position, {who} to move:\n{self.render(b)}")

    def random_actions(self):
        """``int64[B]``: one uniformly random legal action per game (pass where it is legal), from the
        batch's own seeded generator; finished games get -1."""
        mask = self.legal_mask()
        out = np.full(self.batch_size, -1, np.int64)
        for b in range(self.batch_size):
            legal = np.flatnonzero(mask[b])
            if legal.size:
                out[b] = legal[_rng.randint(self.rng, b, legal.size)]
        return out

    def random_playouts(self):
        """Play every game to its end with uniformly random moves, in Numba; returns moves played."""
        return int(self._random_playouts())

    def random_games(self, max_len):
        """Play every game to its end with uniformly random legal moves, in Numba, recording them:
        ``(actions int16[B, max_len] padded with -1, lengths int32[B])``; passes included."""
        out = np.empty((self.batch_size, max_len), np.int16)
        lengths = self.K.random_games(self.i16, self.u64, self.rng, self.geo, out)
        return out, lengths

    def move_gains(self):
        """``int32[B, A]``: what each legal move wins at once (Othello: discs flipped; Go: stones
        captured; 0 for pass), -1 where the move is illegal. Greedy players read it."""
        out = np.empty((self.batch_size, self.num_actions), np.int32)
        self.K.move_gains(self.i16, self.u64, out, self.geo)
        return out

    # -- per-game views --------------------------------------------------------------------------
    def cells(self, b):
        """``int8[N, N]``: +1 black, -1 white, 0 empty for game ``b``."""
        raise NotImplementedError

    def ownership(self, b=0):
        """``int8[N, N]``: who owns each point of game ``b`` as its score counts it, +1 black, -1 white,
        0 neither (Othello: the discs; Go: stones and the empty regions reaching only one colour, the
        Tromp-Taylor count, so the sum is the area score before komi)."""
        return self.cells(b)

    @classmethod
    def from_text(cls, text, to_play="black", **kwargs):
        """A batch of one game set up from a text board as :meth:`render` prints it (``X`` black, ``O``
        white, ``.`` or ``*`` empty; the header and row labels are optional). Tests use it to state
        rule cases as pictures."""
        rows = []
        for line in str(text).strip("\n").splitlines():
            toks = [t for t in line.split() if t in ("X", "O", ".", "*")]
            if toks:
                rows.append(toks)
        n = len(rows)
        if n == 0 or any(len(r) != n for r in rows):
            raise ValueError(f"a text board must be square; got rows of lengths {[len(r) for r in rows]}")
        if to_play not in ("black", "white"):
            raise ValueError(f"to_play must be 'black' or 'white', got {to_play!r}")
        g = cls(1, size=n, **kwargs)
        cells = np.array([[{"X": 1, "O": -1}.get(t, 0) for t in r] for r in rows], np.int8)
        g._setup(cells, 0 if to_play == "black" else 1)
        return g

    def render(self, b=0, marks=None):
        return notation.render_grid(self.cells(b).tolist(), self.size, self.game, marks)

    def move_str(self, action):
        raise NotImplementedError

    def parse_move(self, move):
        raise NotImplementedError

    def copy(self):
        new = object.__new__(type(self))
        for k, v in self.__dict__.items():
            new.__dict__[k] = v.copy() if isinstance(v, np.ndarray) else v
        return new


class _PackedBatch(GameBatch):
    """A batch whose state is the two arrays ``i16: int16[B, F]`` and ``u64: uint64[B, G]``; the first
    four int16 fields are TO_PLAY, PASSES, PLY, TERMINAL for both games."""

    K = None  # the kernel module

    def _alloc(self):
        f, g = self.K.state_shapes(self.size)
        self.i16 = np.zeros((self.batch_size, f), np.int16)
        self.u64 = np.zeros((self.batch_size, g), np.uint64)

    @property
    def to_play(self):
        return self.i16[:, 0]

    @property
    def passes(self):
        return self.i16[:, 1]

    @property
    def ply(self):
        return self.i16[:, 2]

    @property
    def terminal(self):
        return self.i16[:, 3] != 0

    def reset(self, which=None):
        """Reset all games, or those where ``which: bool[B]`` is true. Returns ``self``."""
        for b in range(self.batch_size) if which is None else np.flatnonzero(which):
            self.K.init_game(self.i16, self.u64, b, self.geo)
        return self

    def _legal_mask(self, out):
        self.K.legal_mask(self.i16, self.u64, out, self.geo)

    def _observation(self, out):
        self.K.observation(self.i16, self.u64, out, self.geo)

    def _step(self, a):
        return self.K.step_batch(self.i16, self.u64, a, self.geo)

    def _random_playouts(self):
        return self.K.random_playouts(self.i16, self.u64, self.rng, self.geo)

    def take(self, indices):
        """A new batch holding copies of games ``indices`` (their RNG streams too)."""
        idx = np.asarray(indices, np.int64).reshape(-1)
        new = object.__new__(type(self))  # not copy(): that would copy every game only to drop most
        new.__dict__.update(self.__dict__)
        new.batch_size = int(idx.size)
        new.i16, new.u64, new.rng = self.i16[idx], self.u64[idx], self.rng[idx]  # fancy indexing copies
        return new

    def put(self, indices, other, src=None):
        """Overwrite games ``indices`` with games ``src`` (default: all, in order) of ``other``."""
        idx = np.asarray(indices, np.int64).reshape(-1)
        src = np.arange(idx.size) if src is None else np.asarray(src, np.int64).reshape(-1)
        self.i16[idx] = other.i16[src]
        self.u64[idx] = other.u64[src]
        return self

    def step_where(self, which, actions):
        """Play ``actions[b]`` only in the games where ``which: bool[B]``; the others (finished ones,
        say) are left as they are. ``actions`` has one entry per game of the batch. Returns ``self``."""
        idx = np.flatnonzero(which)
        if idx.size:
            self.put(idx, self.take(idx).step(np.asarray(actions, np.int64)[idx]))
        return self


class OthelloBatch(_PackedBatch):
    """B Othello games on an N x N board (N in 4, 6, 8). Observation planes (C = 3): discs of the side to
    move, opponent's discs, legal squares."""

    game = "othello"
    num_planes = 3
    inputs = {"basic": 3}
    K = OK

    def __init__(self, batch_size=1, size=8, seed=0):
        super().__init__(batch_size, size, seed)
        self.geo = OK.geometry(self.size)
        self._alloc()
        self.reset()

    @property
    def black(self):
        return self.u64[:, OK.BLACK]

    @property
    def white(self):
        return self.u64[:, OK.WHITE]

    def _rewards(self, out):
        OK.rewards(self.i16, self.u64, out)

    def _setup(self, cells, to_play):
        flat = cells.reshape(-1)
        self.u64[0, OK.BLACK] = sum(np.uint64(1) << np.uint64(i) for i in np.flatnonzero(flat == 1)) or 0
        self.u64[0, OK.WHITE] = sum(np.uint64(1) << np.uint64(i) for i in np.flatnonzero(flat == -1)) or 0
        self.i16[0, :] = 0
        self.i16[0, OK.TO_PLAY] = to_play
        own, opp = (self.black[0], self.white[0]) if to_play == 0 else (self.white[0], self.black[0])
        if OK.moves_bb(own, opp, self.geo) == 0 and OK.moves_bb(opp, own, self.geo) == 0:
            self.i16[0, OK.TERMINAL] = 1

    def perft(self, depth, b=0):
        """Leaf count under the convention where a forced pass uses a ply and a game that ends before
        the depth is one leaf (8x8 from the start: depth 9 3005288, depth 10 24571284)."""
        return int(OK.perft(self.i16, self.u64, b, int(depth), self.geo))

    def score(self, b=0):
        """Black discs minus white discs."""
        return int(OK.disc_diff(self.u64, b))

    def cells(self, b=0):
        n = self.size
        bits = np.arange(n * n, dtype=np.uint64)
        blk = ((self.black[b] >> bits) & np.uint64(1)).astype(np.int8)
        wht = ((self.white[b] >> bits) & np.uint64(1)).astype(np.int8)
        return (blk - wht).reshape(n, n)

    def move_str(self, action):
        return notation.othello_move(action, self.size)

    def parse_move(self, move):
        return notation.othello_action(move, self.size)


class GoBatch(_PackedBatch):
    """B Go games on an N x N board (2..19; 5, 7, 9 are the tested sizes). ``komi`` defaults to
    :data:`envs.go_kernels.DEFAULT_KOMI`. Observation planes (C = 4): stones of the side to move,
    opponent's stones, legal points (ko and superko show here), 1 where black is to move; the input set
    ``features`` adds six (C = 10, :func:`envs.go_kernels.features`)."""

    game = "go"
    num_planes = 4
    inputs = {"basic": 4, "features": GK.FEATURE_PLANES}
    K = GK

    def __init__(self, batch_size=1, size=9, seed=0, komi=None):
        super().__init__(batch_size, size, seed)
        self.geo = GK.geometry(self.size)
        self.komi = float(GK.default_komi(self.size) if komi is None else komi)
        if not np.isfinite(self.komi):
            raise ValueError(f"komi must be a finite number, got {komi!r}")
        self.max_plies = 2 * self.size * self.size
        self._alloc()
        self.reset()

    @property
    def zhash(self):
        return self.u64[:, 0]

    def _rewards(self, out):
        GK.rewards(self.i16, self.komi, out, self.geo)

    def _setup(self, cells, to_play):
        n, w = self.size, int(self.geo[1])
        GK.init_game(self.i16, self.u64, 0, self.geo)
        for r, c in zip(*np.nonzero(cells)):
            pt = (r + 1) * w + c + 1
            if GK.place_stone(self.i16, self.u64, 0, pt, int(cells[r, c]), self.geo):
                raise ValueError(f"the text board has a chain without liberties near {self.move_str(r * n + c)}")
        for r, c in zip(*np.nonzero(cells)):
            if self.i16[0, 4 + (r + 1) * w + c + 1] != cells[r, c]:
                raise ValueError(f"the text board has a chain without liberties near {self.move_str(r * n + c)}")
        GK.clear_history(self.i16, self.u64, 0, self.geo)
        self.i16[0, GK.TO_PLAY] = to_play

    def area_score(self, b=0):
        """Black area minus white area, komi not included (Tromp-Taylor count of the board as it is)."""
        return int(GK.area_score(self.i16, b, self.geo))

    def score(self, b=0):
        """Black's margin after komi (positive: black ahead)."""
        return self.area_score(b) - self.komi

    def _points(self):
        """``int64[N*N]``: the padded point of each board point, row by row."""
        n, w = self.size, int(self.geo[1])
        return np.array([(r + 1) * w + c + 1 for r in range(n) for c in range(n)])

    def cells(self, b=0):
        return self.i16[b, 4 + self._points()].astype(np.int8).reshape(self.size, self.size)

    def ownership(self, b=0):
        out = np.empty(int(self.geo[2]), np.int8)
        GK.area_owners(self.i16, b, self.geo, out)
        return out[self._points()].reshape(self.size, self.size)

    def move_str(self, action):
        return notation.gtp_move(action, self.size)

    def parse_move(self, move):
        return notation.gtp_action(move, self.size)


GAMES = {"othello": OthelloBatch, "go": GoBatch}
BOARD_SIZES = {"othello": (4, 6, 8), "go": GK.SIZES}


def check_board(game, size):
    """A ``ValueError`` of one line unless ``game`` is known and ``size`` is one of its board sizes (a
    config checks this before its run writes anything)."""
    if game not in GAMES:
        raise ValueError(f"unknown game {game!r}; choose one of {sorted(GAMES)}")
    if size not in BOARD_SIZES[game]:
        sizes = BOARD_SIZES[game]
        shown = f"{sizes[0]} to {sizes[-1]}" if game == "go" else ", ".join(map(str, sizes))
        raise ValueError(f"{game} board size must be {shown}, got {size}")


def make_batch(game, batch_size=1, size=None, seed=0, **kwargs):
    """``make_batch("othello", 64, size=8, seed=1)``: a fresh batch of the named game."""
    if game not in GAMES:
        raise ValueError(f"unknown game {game!r}; choose one of {sorted(GAMES)}")
    cls = GAMES[game]
    if size is None:
        size = 8 if game == "othello" else 9
    return cls(batch_size=batch_size, size=size, seed=seed, **kwargs)

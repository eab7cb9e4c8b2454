"""A single game for humans and tests: moves in the game's own notation, text boards, transcripts,
SGF for Go. It is a batch of one underneath, so it obeys exactly the same rules as the kernels.

    g = Game("othello")            # or Game("go", size=9, komi=7.5)
    g.play("f5"); g.play("d6")
    print(g)                       # text board, '*' marks legal moves
    g.transcript()                 # 'f5d6'
"""

import numpy as np

from envs import notation
from envs.core import make_batch
from envs.replay import with_passes


class Game:
    def __init__(self, game="othello", size=None, komi=None, seed=0):
        kwargs = {"komi": komi} if game == "go" else {}
        if game != "go" and komi is not None:
            raise ValueError("komi applies to Go only")
        self.batch = make_batch(game, 1, size, seed, **kwargs)
        self.game = game
        self.size = self.batch.size
        self.history = []  # actions played, passes included

    # -- state -----------------------------------------------------------------------------------
    @property
    def to_play(self):
        """0 = black, 1 = white."""
        return int(self.batch.to_play[0])

    @property
    def terminal(self):
        return bool(self.batch.terminal[0])

    def legal_actions(self):
        return [int(a) for a in np.flatnonzero(self.batch.legal_mask()[0])]

    def legal_moves(self):
        return [self.batch.move_str(a) for a in self.legal_actions()]

    def reward(self):
        """+1 black won, -1 white won, 0 draw or still running."""
        return float(self.batch.reward()[0])

    def score(self):
        """Othello: black discs minus white discs. Go: black area minus white area minus komi."""
        return self.batch.score(0)

    def final_margin(self):
        """Black's margin as a game record states it: Go, the area score after komi; Othello, discs, with
        the empty squares of a finished game going to the winner (world Othello rules; gtp-rhino agrees)."""
        m = self.score()
        if self.game == "othello" and self.terminal and m != 0:
            m += (1 if m > 0 else -1) * int((self.cells() == 0).sum())
        return m

    def observation(self):
        return self.batch.observation()[0]

    def cells(self):
        return self.batch.cells(0)

    # -- moves -----------------------------------------------------------------------------------
    def parse(self, move):
        """Action from an int or the game's notation (``f5``, ``D4``, ``pass``)."""
        if isinstance(move, (int, np.integer)):
            return int(move)
        return self.batch.parse_move(move)

    def play(self, move):
        """Play one move (int action or notation); raises ValueError naming the move if illegal."""
        a = self.parse(move)
        self.batch.step(np.array([a]))
        self.history.append(a)
        return self

    def play_all(self, moves):
        for m in moves:
            self.play(m)
        return self

    def undo(self):
        """Take back the last move (replays the history; the kernels keep no undo log)."""
        if not self.history:
            raise ValueError("nothing to undo")
        moves = self.history[:-1]
        self.batch.reset()
        self.history = []
        return self.play_all(moves)

    def copy(self):
        new = object.__new__(Game)
        new.__dict__.update(self.__dict__)
        new.batch = self.batch.copy()
        new.history = list(self.history)
        return new

    # -- text ------------------------------------------------------------------------------------
    def render(self, show_legal=True):
        marks = set(self.legal_actions()) if show_legal else None
        who = "black (X)" if self.to_play == 0 else "white (O)"
        status = f"game over, result {self.reward():+.0f} for black" if self.terminal else f"{who} to move"
        return f"{self.batch.render(0, marks)}\n{status}"

    __str__ = render

    def move_str(self, action):
        return self.batch.move_str(action)

    def transcript(self):
        """Othello: standard transcript (``f5d6c3...``, passes not written). Go: GTP moves, space-separated."""
        if self.game == "othello":
            return notation.othello_transcript(self.history, self.size)
        return " ".join(notation.gtp_move(a, self.size) for a in self.history)

    @classmethod
    def from_transcript(cls, text, game="othello", size=None, **kwargs):
        """Replay a transcript. In Othello the forced passes, which transcripts leave out, are inserted."""
        g = cls(game, size, **kwargs)
        if game == "othello":
            moves = notation.othello_parse_transcript(text, g.size)
            acts, n, written = with_passes(make_batch(game, 1, g.size), np.array([moves], np.int64).reshape(1, -1),
                                           [len(moves)])
            g.play_all(acts[0, : n[0]].tolist())
            g.play_all(moves[written[0]:])  # a refused move, if any, raises the rules' own error here
        else:
            g.play_all(str(text).split())
        return g

    # -- SGF (Go) --------------------------------------------------------------------------------
    def to_sgf(self, black="black", white="white", result=None):
        """SGF (FF[4], GM[1]) bytes of this Go game, with komi, area-scoring rules and the result
        (``result`` overrides it, e.g. ``"B+F"`` for a forfeit or ``"W+R"`` for a resignation)."""
        from sgfmill import sgf

        if self.game != "go":
            raise ValueError("SGF is written for Go; Othello games use transcripts")
        s = sgf.Sgf_game(size=self.size)
        root = s.get_root()
        root.set("KM", self.batch.komi)
        root.set("RU", "Chinese")  # area scoring; the SGF has no name for positional superko
        root.set("PB", black)
        root.set("PW", white)
        if self.terminal:
            m = self.score()
            root.set("RE", "0" if m == 0 else f"{'B' if m > 0 else 'W'}+{abs(m):g}")
        if result is not None:
            root.set("RE", result)
        for i, a in enumerate(self.history):
            node = s.extend_main_sequence()
            colour = "b" if i % 2 == 0 else "w"
            if a == self.size * self.size:
                node.set_move(colour, None)
            else:
                r, c = divmod(a, self.size)
                node.set_move(colour, (self.size - 1 - r, c))  # sgfmill's row 0 is the bottom row
        return s.serialise()

    @classmethod
    def from_sgf(cls, data):
        """Replay a Go SGF (bytes or str). Handicap stones and setup positions are rejected."""
        from sgfmill import sgf

        if isinstance(data, str):
            data = data.encode()
        try:
            s = sgf.Sgf_game.from_bytes(data)
        except ValueError as e:
            raise ValueError(f"malformed SGF: {e}") from None
        root = s.get_root()
        if root.has_property("AB") or root.has_property("AW") or root.has_property("HA"):
            raise ValueError("SGF with setup stones or handicap is not supported")
        komi = float(root.get("KM")) if root.has_property("KM") else None
        g = cls("go", s.get_size(), komi=komi)
        for node in s.get_main_sequence()[1:]:
            colour, move = node.get_move()
            if colour is None:
                continue
            if (colour == "b") != (g.to_play == 0):
                raise ValueError(f"SGF move {len(g.history) + 1} is played by the wrong colour")
            g.play(g.size * g.size if move is None else (g.size - 1 - move[0]) * g.size + move[1])
        return g

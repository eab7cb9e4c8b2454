"""GTP v2 server: any arena agent as an engine for GoGui, Sabaki, Quarry or another arena.

    arena gtp --game go --size 9 --agent mcts:rollouts=400

Commands: protocol_version, name, version, known_command, list_commands, boardsize, clear_board, komi,
play, genmove, undo, showboard, final_score, quit, and (as gtp-rhino understands them) set_game and
list_games for Othello. Lines are preprocessed as the spec says (comments after ``#``, control
characters, an optional numeric id echoed back). Anything malformed or out of range gets ``? message``
and the engine stays up. Othello vertices are column letter then row, row 1 on top (``D3``), answered
upper case; a ``play`` by the side that is not to move first inserts the forced pass it implies.
"""

import re
import sys

from arena.specs import make_agent
from envs.game import Game

COMMANDS = ("protocol_version", "name", "version", "known_command", "list_commands", "boardsize", "clear_board",
            "komi", "play", "genmove", "undo", "showboard", "final_score", "quit", "set_game", "list_games")
SIZES = {"othello": (4, 6, 8), "go": tuple(range(2, 20))}


class Failure(Exception):
    """Answered as ``? message``."""


class GTPServer:
    def __init__(self, agent_spec, game="go", size=None, komi=None, seed=0):
        self.spec, self.seed = agent_spec, seed
        self.game = game
        self.size = size or (9 if game == "go" else 8)
        self.komi = komi
        self.agents = {}
        self.games = -1
        self.new_game()

    # -- state -----------------------------------------------------------------------------------------
    def new_game(self):
        """A fresh board; the agent is reseeded (seed + games so far), so a session replays exactly."""
        self.board = Game(self.game, self.size, komi=self.komi if self.game == "go" else None)
        self.games += 1
        for agent in self.agents.values():
            agent.reset(self.seed + self.games)

    def agent(self):
        key = (self.game, self.size, self.komi)
        if key not in self.agents:
            try:
                self.agents[key] = make_agent(self.spec, self.game, self.size, self.komi, seed=self.seed + self.games)
            except ValueError as e:
                raise Failure(str(e)) from None
        return self.agents[key]

    def parse_colour(self, text):
        c = text.lower()
        if c in ("b", "black"):
            return 0
        if c in ("w", "white"):
            return 1
        raise Failure(f"invalid color {text!r}")

    def parse_vertex(self, text):
        try:
            return self.board.parse(text)
        except ValueError:
            raise Failure(f"invalid vertex {text!r}") from None

    def vertex(self, action):
        s = self.board.move_str(action)
        return s.upper() if self.game == "othello" and s != "pass" else s

    def to_move(self, colour):
        """Make ``colour`` the side to move by inserting the pass the other side must make."""
        g = self.board
        if g.terminal or g.to_play == colour:
            return
        if g.size * g.size in g.legal_actions() and (self.game == "go" or len(g.legal_actions()) == 1):
            g.play(g.size * g.size)
            return
        raise Failure(f"{'black' if colour == 0 else 'white'} is not to move")

    # -- commands --------------------------------------------------------------------------------------
    def handle(self, cmd, args):
        if cmd == "protocol_version":
            return "2"
        if cmd == "name":
            return "selfplay-arena"
        if cmd == "version":
            from importlib.metadata import PackageNotFoundError, version

            try:
                return f"{version('selfplay-arena')} ({self.spec})"
            except PackageNotFoundError:
                return f"dev ({self.spec})"
        if cmd == "known_command":
            return "true" if args and args[0] in COMMANDS else "false"
        if cmd == "list_commands":
            return "\n".join(COMMANDS)
        if cmd == "list_games":
            return "Othello\nGo"
        if cmd == "set_game":
            name = " ".join(args).lower()
            if name not in SIZES:
                raise Failure(f"unsupported game {' '.join(args)!r} (Othello or Go)")
            if name != self.game:
                self.game, self.size = name, (8 if name == "othello" else 9)
                self.new_game()
            return ""
        if cmd == "boardsize":
            if len(args) != 1 or not args[0].isdigit():
                raise Failure("boardsize needs one integer")
            n = int(args[0])
            if n not in SIZES[self.game]:
                raise Failure("unacceptable size")
            self.size = n
            self.new_game()
            return ""
        if cmd == "clear_board":
            self.new_game()
            return ""
        if cmd == "komi":
            try:
                k = float(args[0])
            except (IndexError, ValueError):
                raise Failure("komi needs a number") from None
            if self.game == "go":  # Othello has no komi: accepted and ignored, as gtp-rhino does
                history = list(self.board.history)
                self.komi = k
                self.new_game()
                self.board.play_all(history)
            return ""
        if cmd == "play":
            if len(args) != 2:
                raise Failure("syntax error: play COLOR VERTEX")
            colour, action = self.parse_colour(args[0]), self.parse_vertex(args[1])
            if self.board.terminal:
                raise Failure("illegal move (the game is over)")
            if self.game == "othello" and action == self.size * self.size and self.board.to_play != colour:
                return ""  # a pass already implied by the other side's move
            self.to_move(colour)
            if action not in self.board.legal_actions():
                raise Failure("illegal move")
            self.board.play(action)
            return ""
        if cmd == "genmove":
            if len(args) != 1:
                raise Failure("syntax error: genmove COLOR")
            colour = self.parse_colour(args[0])
            if self.board.terminal:
                return "pass"
            self.to_move(colour)
            action = int(self.agent().act(self.board)[0])
            self.board.play(action)
            return self.vertex(action)
        if cmd == "undo":
            if not self.board.history:
                raise Failure("cannot undo")
            self.board.undo()
            return ""
        if cmd == "showboard":
            return "\n" + self.board.render(show_legal=False)
        if cmd == "final_score":
            m = self.board.final_margin()
            return "0" if m == 0 else f"{'B' if m > 0 else 'W'}+{abs(m):g}"
        if cmd == "quit":
            return ""
        raise Failure("unknown command")

    def serve(self, stdin=sys.stdin, stdout=sys.stdout):
        """Answer commands until ``quit`` or end of input."""
        for raw in stdin:
            line = re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", "", raw.split("#", 1)[0]).replace("\t", " ").strip()
            if not line:
                continue
            parts = line.split()
            cid = ""
            if parts[0].isdigit():
                cid, parts = parts[0], parts[1:]
                if not parts:
                    stdout.write(f"?{cid} missing command\n\n")
                    stdout.flush()
                    continue
            cmd, args = parts[0], parts[1:]
            try:
                out, ok = self.handle(cmd, args), True
            except Failure as e:
                out, ok = str(e), False
            except Exception as e:  # an agent's bug must not take the engine down mid-game
                out, ok = f"internal error: {type(e).__name__}: {e}", False
            sep = " " if out and not out.startswith("\n") else ""
            stdout.write(f"{'=' if ok else '?'}{cid}{sep}{out}\n\n")
            stdout.flush()
            if cmd == "quit":
                return

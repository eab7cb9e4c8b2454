"""GTP v2 server: any arena agent as an engine for GoGui, Sabaki, Quarry or another arena.

    arena gtp --game go --size 9 --agent mcts:rollouts=400

Commands: protocol_version, name, version, known_command, list_commands, boardsize, clear_board, komi,
play, genmove, undo, showboard, final_score, quit, and (as gtp-rhino understands them) set_game and
list_games for Othello. Lines are preprocessed as the spec says (comments after ``#``, control
characters, an optional numeric id echoed back). Anything malformed or out of range gets ``? message``
and the engine stays up. Othello vertices are column letter then row, row 1 on top (``D3``), answered
upper case; a ``play`` or ``genmove`` by the side that is not to move first inserts the pass it implies
(Othello: only a forced one; never one that would end the game). A finished game answers ``genmove``
with ``pass`` and ``play`` with an error. User text quoted in an error is cut to :data:`ECHO` characters
(:func:`shown`), and a line over :data:`MAX_LINE` characters is answered ``? command line too long`` unread.
"""

import contextlib
import io
import math
import re
import sys
from importlib.metadata import PackageNotFoundError, version

from arena.specs import make_agent
from envs.game import Game

COMMANDS = ("protocol_version", "name", "version", "known_command", "list_commands", "boardsize", "clear_board",
            "komi", "play", "genmove", "undo", "showboard", "final_score", "quit", "set_game", "list_games")
SIZES = {"othello": (4, 6, 8), "go": tuple(range(2, 20))}
ECHO = 40  # at most this many characters of the user's text are quoted back in an error
MAX_LINE = 1 << 20  # a command line longer than this is skipped to its end and answered with an error
MAX_KOMI = 1000.0
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
ID = re.compile(r"[0-9]+")


def shown(text, limit=ECHO):
    """``text`` quoted for an error message: ASCII-safe, and cut to ``limit`` characters with ``...``
    and the full length when longer, so no answer echoes back a huge argument."""
    text = str(text)
    if len(text) <= limit:
        return ascii(text)
    return f"{text[:limit]!a}... ({len(text)} characters)"


def one_line(text, limit=200):
    """The first line of ``text``, ASCII-safe and cut to ``limit`` characters: an exception's message
    as one line of an answer (a blank line in it would end the answer early)."""
    lines = str(text).strip().splitlines() or [""]
    line = lines[0]
    more = len(line) > limit or len(lines) > 1
    return line[:limit].encode("ascii", "backslashreplace").decode("ascii") + (" ..." if more else "")


def read_lines(stdin):
    """Lines of ``stdin`` as ``(text, too_long)``; a line over :data:`MAX_LINE` characters is consumed in
    chunks and only its first chunk is kept (so a huge line costs neither memory nor time)."""
    readline = getattr(stdin, "readline", None)
    if readline is None:  # any iterable of lines
        for raw in stdin:
            yield raw, len(raw) > MAX_LINE + 1
        return
    while True:
        raw = readline(MAX_LINE + 1)
        if not raw:
            return
        if len(raw) > MAX_LINE and not raw.endswith("\n"):
            rest = raw
            while rest and not rest.endswith("\n"):
                rest = readline(MAX_LINE)
            yield raw, True
        else:
            yield raw, False


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
        raise Failure(f"invalid color {shown(text)}")

    def parse_vertex(self, text):
        try:
            return self.board.parse(text)
        except ValueError:
            raise Failure(f"invalid vertex {shown(text)}") from None

    def vertex(self, action):
        s = self.board.move_str(action)
        return s.upper() if self.game == "othello" and s != "pass" else s

    def to_move(self, colour):
        """Make ``colour`` the side to move by inserting the pass the other side must make. That pass
        must be legal (Othello: forced) and must not end the game (Go: after a pass, it would be the
        second one in a row); otherwise ``colour`` is not to move and the board is left as it was."""
        g = self.board
        if g.terminal:
            raise Failure("illegal move (the game is over)")
        if g.to_play == colour:
            return
        me, other = ("black", "white") if colour == 0 else ("white", "black")
        pass_ = g.size * g.size
        legal = g.legal_actions()
        if pass_ not in legal or (self.game == "othello" and legal != [pass_]):
            raise Failure(f"{me} is not to move ({other} has a move, so no pass is implied)")
        if g.copy().play(pass_).terminal:
            raise Failure(f"{me} is not to move (a {other} pass would end the game)")
        g.play(pass_)

    @contextlib.contextmanager
    def rollback(self):
        """The board as it was if the block fails: a refused move leaves no inserted pass behind."""
        saved = self.board.copy()
        try:
            yield
        except BaseException:
            self.board = saved
            raise

    # -- commands --------------------------------------------------------------------------------------
    def handle(self, cmd, args):
        if cmd == "protocol_version":
            return "2"
        if cmd == "name":
            return "selfplay-arena"
        if cmd == "version":
            try:
                return f"{version('selfplay-arena')} ({self.spec})"
            except PackageNotFoundError:
                return f"dev ({self.spec})"
        if cmd == "known_command":
            if len(args) != 1:
                raise Failure("syntax error: known_command COMMAND")
            return "true" if args[0] in COMMANDS else "false"
        if cmd == "list_commands":
            return "\n".join(COMMANDS)
        if cmd == "list_games":
            return "Othello\nGo"
        if cmd == "set_game":
            name = " ".join(args).lower()
            if name not in SIZES:
                raise Failure(f"unsupported game {shown(' '.join(args))} (Othello or Go)")
            if name != self.game:
                self.game, self.size = name, (8 if name == "othello" else 9)
                self.new_game()
            return ""
        if cmd == "boardsize":
            if len(args) != 1 or not ID.fullmatch(args[0]):
                raise Failure("boardsize needs one integer")
            n = int(args[0]) if len(args[0]) <= 4 else -1  # no 4300-digit integers
            if n not in SIZES[self.game]:
                raise Failure("unacceptable size")
            self.size = n
            self.new_game()
            return ""
        if cmd == "clear_board":
            self.new_game()
            return ""
        if cmd == "komi":
            if len(args) != 1:
                raise Failure("syntax error: komi FLOAT")
            try:
                k = float(args[0])
            except ValueError:
                raise Failure("komi needs a number") from None
            if not math.isfinite(k):
                raise Failure(f"komi must be a finite number, got {shown(args[0])}")
            if abs(k) > MAX_KOMI:
                raise Failure(f"komi out of range (at most {MAX_KOMI:g} either way), got {shown(args[0])}")
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
            g, pass_ = self.board, self.size * self.size
            if self.game == "othello" and action == pass_ and g.to_play != colour and g.history[-1:] == [pass_]:
                return ""  # this pass was already inserted, implied by the other side's move
            with self.rollback():
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
                return "pass"  # nothing to play: the game is over
            with self.rollback():
                self.to_move(colour)
                action = int(self.agent().act(self.board)[0])
                if action not in self.board.legal_actions():  # -1 would mean the agent saw a finished game
                    raise Failure(f"the agent chose no legal move (action {action})")
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
        if isinstance(stdin, io.TextIOWrapper):  # bytes that are not UTF-8 must not end the session
            try:
                stdin.reconfigure(errors="replace")
            except (AttributeError, ValueError, io.UnsupportedOperation):
                pass
        for raw, too_long in read_lines(stdin):
            if too_long and "#" in raw:  # the excess is a comment: the command itself is whole
                too_long = False
            line = CONTROL.sub("", raw.split("#", 1)[0]).replace("\t", " ").strip()
            if not line:
                continue
            parts = line.split()
            cid, error = "", f"command line too long (over {MAX_LINE} characters)" if too_long else None
            if ID.fullmatch(parts[0]):
                cid, parts = parts[0], parts[1:]
                if len(cid) > ECHO:
                    cid, error = "", f"command id too long (over {ECHO} digits)"
                elif not parts:
                    error = error or "missing command"
            cmd, args = (parts[0], parts[1:]) if parts else ("", [])
            try:
                if error:
                    raise Failure(error)
                out, ok = self.handle(cmd, args), True
            except Failure as e:
                out, ok = str(e), False
            except Exception as e:  # an agent's bug must not take the engine down mid-game
                out, ok = f"internal error: {type(e).__name__}: {one_line(e)}", False
            sep = " " if out and not out.startswith("\n") else ""
            stdout.write(f"{'=' if ok else '?'}{cid}{sep}{out}\n\n")
            stdout.flush()
            if cmd == "quit" and not error:
                return

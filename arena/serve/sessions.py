"""The games of ``arena serve``: each browser tab's game (a person against an agent, two agents, or two
people), the agents built from specs, and what their searches thought.

    hub = Hub(seed=0, move_timeout=60.0)
    s = hub.create({"game": "othello", "size": 8, "black": "human", "white": "az:othello8"})
    s.move("f5")                            # the person's move
    job = s.begin("move"); job.run()        # the agent's reply (the app runs jobs in its thread pool)
    s.state()                               # the JSON the page draws

Every call that the page's input reaches refuses bad input with :class:`Refused`: an HTTP status and one
line, which the app sends as ``{"error": ...}``. A session changes only under its lock; an agent thinks
outside it, on a copy of the position, holding its own side's lock, so the page can read the game while
the agent thinks and a second move of that agent waits for the first to end. A job whose position was
changed meanwhile (an undo, a resignation, a move that ran out of time) has its result dropped: the
session's ``generation`` counts the changes.

Determinism: a game has a seed (the server's ``--seed`` unless the request names one). Every agent that
plays batches (all but external GTP engines, which only their own flags seed) is reset with
:func:`move_seed` of (seed, ply) before it chooses, so the same seed and the same moves give the same
replies, after an undo or an analysis too. An ``az:`` spec under ``inference=auto`` (the shipped nets'
default) picks its backend by timing, once per server (the resolved spec is kept); name the backend
(``inference=torch``) for replies that are the same from one server run to the next as well.
"""

import logging
import math
import secrets
import threading
import time
from collections import OrderedDict

import numpy as np

from agents.players import AgentError, Resign
from arena.specs import make_agent
from arena.tournament.records import result_string
from arena.tournament.viewer import board_string
from envs.game import Game

log = logging.getLogger("arena.serve")

HUMAN = "human"
COLOURS = ("black", "white")
SIZES = {"othello": (8, 6), "go": (9, 7, 5)}
"""The games and board sizes the page offers, the first of each its default."""
MAX_SPEC = 500            # characters of an agent spec
MAX_SIMULATIONS = 100_000  # a search's tree is preallocated to its simulations: a typo must not take the memory
PV_LENGTH = 12            # moves of a principal variation shown
MIN_SHARE = 5e-4          # heat-map entries below this are left out of the JSON
FIELDS = {"game", "size", "komi", "black", "white", "seed", "move_timeout", "replaces"}


class Refused(Exception):
    """A request the session cannot carry out: ``status`` (HTTP) and a one-line message."""

    def __init__(self, status, message):
        super().__init__(one_line(message))
        self.status = status


def one_line(text, limit=300):
    """The first line of ``text`` (an error's message may carry a drawn board below it), cut to ``limit``."""
    lines = str(text).strip().splitlines()
    line = lines[0].strip() if lines else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def move_seed(seed, ply):
    """The seed an agent is reset with before it chooses move ``ply`` of a game seeded ``seed``."""
    return int(np.random.SeedSequence([int(seed), int(ply)]).generate_state(1)[0])


# -- what an agent thought ---------------------------------------------------------------------------------

def thinking(agent, game, action, spec, seconds):
    """What ``agent`` showed of its choice of ``action`` in ``game`` (the position it chose in), as the
    page draws it, or None for a player that shows nothing (a GTP engine, random, greedy). It is read
    through the players' documented accessors, by what a player has rather than what it is:
    ``last_search`` and ``principal_variation`` (a search: ``az:`` and ``mcts:`` players), ``evaluate``
    (a net's policy head alone, ``az:...,sims=0``), ``distribution`` (a sequence model, ``seq:``)."""
    n = game.size
    names = [game.move_str(a) for a in range(n * n + 1)]
    legal = game.batch.legal_mask()[0]

    def sparse(values, digits=4):
        return {names[a]: round(float(v), digits) for a, v in enumerate(values) if v >= MIN_SHARE}

    info = {"agent": spec, "ply": len(game.history), "side": COLOURS[game.to_play], "move": names[action],
            "seconds": round(seconds, 3)}
    search = getattr(agent, "last_search", None)
    if search is not None:
        visits, policy, q = search.visits[0], search.policy[0], search.q[0]
        total = int(visits.sum())
        value = float(search.value[0])
        share = visits / total if total else policy
        info.update(kind="search", label="visit share", simulations=total, heat=sparse(share),
                    # a PUCT root's policy is its visit share: sent once; Gumbel's improved policy differs
                    policy=sparse(policy) if not np.allclose(policy, share, atol=1e-6) else None,
                    visits={names[a]: int(v) for a, v in enumerate(visits) if v > 0},
                    q={names[a]: round(float(q[a]), 4) for a in np.flatnonzero(visits > 0)},
                    pv=[names[a] for a, _ in agent.principal_variation(0, PV_LENGTH)])
    elif hasattr(agent, "evaluate"):
        priors, values = agent.evaluate(game)
        value = float(values[0])
        info.update(kind="policy", label="policy head", heat=sparse(priors[0]), pv=[names[action]])
    elif hasattr(agent, "distribution"):
        p = agent.distribution(game, legal_only=False)  # the raw model: what it predicts, legal or not
        value = None
        info.update(kind="sequence", label="next-move distribution", heat=sparse(p),
                    legal_mass=round(float(p[legal].sum()), 4), pv=[names[action]])
    else:
        return None
    if value is not None:
        win = (value + 1) / 2  # expected score of the side to move: a draw counts half
        info.update(value=round(value, 4), win=round(win, 4), black_win=round(win if game.to_play == 0 else 1 - win, 4))
    return info


# -- one game ----------------------------------------------------------------------------------------------

class Side:
    """One side of a game: a person (``spec`` None) or an agent built from ``spec``."""

    def __init__(self, spec=None, agent=None):
        self.spec, self.agent = spec, agent
        self.lock = threading.Lock()  # held while the agent thinks, a move that ran out of time included

    @property
    def human(self):
        return self.spec is None

    @property
    def name(self):
        return HUMAN if self.human else self.spec

    def close(self):
        close = getattr(self.agent, "close", None)  # an external engine's process
        if close is not None:
            try:
                close()
            except Exception:  # the engine is gone already
                log.debug("closing %s failed", self.spec, exc_info=True)


class Job:
    """An agent's move or analysis, run in the app's thread pool (:meth:`run`); it holds its side's lock
    from :meth:`Session.begin` until it ends, and hands its result to the session, which drops it when the
    position changed meanwhile."""

    def __init__(self, session, kind, side, generation, game, seed):
        self.session, self.kind, self.side, self.generation = session, kind, side, generation
        self.game, self.seed = game, seed

    def run(self):
        s, side = self.session, self.session.sides[self.side]
        try:
            if self.generation != s.generation:  # dropped before it started
                return
            agent, g = side.agent, self.game
            if agent.plays_batches:
                agent.reset(move_seed(self.seed, len(g.history)))
            t0 = time.perf_counter()
            try:
                a = int(agent.act(g)[0])
                result = ("move", a, thinking(agent, g, a, side.spec, time.perf_counter() - t0))
            except Resign:
                result = ("resign", None, None)
            except AgentError as e:
                result = ("fail", f"{COLOURS[self.side]} ({side.spec}) forfeits: {one_line(e)}", None)
            except Exception as e:  # a bug or a broken model: told on the page, the traceback in the log
                log.exception("%s failed in game %s", side.spec, s.id)
                result = ("fail", f"{COLOURS[self.side]} ({side.spec}) failed: {type(e).__name__}: {one_line(e)}",
                          None)
            s.finish(self, result)
        finally:
            side.lock.release()


class Session:
    """One game of the page: the position, its boards, what the agents thought, how it ended."""

    def __init__(self, id, game, size, komi, sides, seed, move_timeout):
        self.id, self.sides, self.seed, self.move_timeout = id, sides, seed, move_timeout
        self.key = (game, size, komi, move_timeout)  # as asked for: a game of the same key can reuse its agents
        self.g = Game(game, size, komi=komi)
        self.komi = self.g.batch.komi if game == "go" else None
        self.boards = [board_string(self.g)]  # after every ply: x black, o white, . empty (the viewer's)
        self.thinking = {}   # ply -> what the agent that played move ply thought (in the position before it)
        self.analysis = {}   # ply -> an agent's analysis of the position after ply moves (asked, not played)
        self.auto = set()    # plies that were a person's forced Othello pass, played for them
        self.end = None      # {"winner", "reason": "resign" | "forfeit", "message"}: a side gave up or failed
        self.busy = None     # "move" or "analysis" while an agent thinks for this game
        self.generation = 0  # bumped by every change of the game: a job's late result is then dropped
        self.note = None     # the last thing worth telling the page (a forced pass, a late result)
        self.lock = threading.RLock()
        self.touched = time.monotonic()
        self._auto_pass()

    # -- reading -------------------------------------------------------------------------------------------
    @property
    def over(self):
        return self.g.terminal or self.end is not None

    def names(self):
        return [self.g.move_str(a) for a in range(self.g.size * self.g.size + 1)]

    def result(self):
        """``(text, winner)``: the SGF-style result (``B+12``, ``W+R``, ``0``) and "black", "white" or
        "draw"; ``(None, None)`` while the game goes on."""
        if self.end is not None:
            w = self.end["winner"]
            rec = {"reason": self.end["reason"], "result": 1 if w == 0 else 0, "margin": None}
            return result_string(rec), COLOURS[w]
        if not self.g.terminal:
            return None, None
        m = self.g.final_margin()
        return result_string({"reason": "end", "margin": m}), "draw" if m == 0 else COLOURS[0 if m > 0 else 1]

    def state(self):
        """The game as the page draws it (docs/serve.md lists the fields)."""
        with self.lock:
            g = self.g
            board = self.boards[-1]
            text, winner = self.result()
            mover = self.sides[g.to_play]
            return {
                "id": self.id, "game": g.game, "size": g.size, "komi": self.komi, "seed": self.seed,
                "players": {c: s.name for c, s in zip(COLOURS, self.sides)},
                "humans": [c for c, s in zip(COLOURS, self.sides) if s.human],
                "shows": [c for i, c in enumerate(COLOURS) if not self.sides[i].human and self.shows_thinking(i)],
                "names": self.names(), "ply": len(g.history), "to_play": COLOURS[g.to_play],
                "actions": list(g.history), "moves": [g.move_str(a) for a in g.history], "boards": list(self.boards),
                "auto": sorted(self.auto), "legal": [] if self.over else g.legal_moves(),
                "over": self.over, "result": text, "winner": winner,
                "reason": self.end["reason"] if self.end else ("end" if g.terminal else None),
                "message": self.end["message"] if self.end else self.note,
                "waiting": None if self.over else (HUMAN if mover.human else "agent"), "busy": self.busy,
                "score": {"black": board.count("x"), "white": board.count("o"), "margin": float(g.score())},
                "thinking": {str(k): v for k, v in self.thinking.items()},
                "analysis": {str(k): v for k, v in self.analysis.items()},
                "move_timeout": self.move_timeout,
            }

    def record(self):
        """The game as a file: ``(filename, media type, bytes)``; SGF for Go (``Game.to_sgf``, the result
        of a resignation or forfeit written in), the standard transcript for Othello."""
        with self.lock:
            g = self.g
            stem = f"{g.game}{g.size}-{self.id}"
            if g.game == "go":
                text, _ = self.result()
                sgf = g.to_sgf(self.sides[0].name, self.sides[1].name, result=text if self.end else None)
                return f"{stem}.sgf", "application/x-go-sgf", sgf
            return f"{stem}.txt", "text/plain; charset=utf-8", (g.transcript() + "\n").encode()

    # -- a person's moves ----------------------------------------------------------------------------------
    def move(self, move):
        """The person to move plays ``move`` (notation such as ``f5``/``D4``/``pass``, or an action number)."""
        with self.lock:
            self._ready()
            if not self.sides[self.g.to_play].human:
                raise Refused(409, f"it is {COLOURS[self.g.to_play]}'s turn, an agent's: ask it to move (POST "
                                   f"/api/games/{self.id}/step)")
            a = self._parse(move)
            legal = self.g.legal_actions()
            if a not in legal:
                what = "pass is not allowed here" if a == self.g.size ** 2 else "not legal here"
                shown = " ".join(self.g.move_str(x) for x in legal[:40]) + (" …" if len(legal) > 40 else "")
                raise Refused(400, f"illegal move {self.g.move_str(a)}: {what} (legal: {shown})")
            self.note = None
            self._play(a)

    def resign(self):
        """The person resigns (the side to move when both sides are people)."""
        with self.lock:
            if self.over:
                raise Refused(409, "the game is over")
            humans = [i for i, s in enumerate(self.sides) if s.human]
            if not humans:
                raise Refused(409, "no person plays in this game: nobody to resign")
            who = humans[0] if len(humans) == 1 else self.g.to_play
            self._end(1 - who, "resign", f"{COLOURS[who]} resigns")

    def undo(self):
        """Take back the last thing that happened: a resignation or forfeit; else the person's last move
        and the agent's reply (one move when no or both sides are people)."""
        with self.lock:
            if self.busy:
                raise Refused(409, f"an agent is thinking ({self.busy}): undo when it is done")
            if self.end is not None:
                self.end, self.note = None, None
                self.generation += 1
                return
            humans = [i for i, s in enumerate(self.sides) if s.human]
            h = self.g.history
            if len(humans) == 1:
                mine = [i for i in range(len(h)) if i % 2 == humans[0] and i not in self.auto]
                target = mine[-1] if mine else -1
            else:
                target = len(h) - 1
            if target < 0:
                raise Refused(409, "nothing to undo")
            self._rewind(target)

    # -- agents' moves and analyses ------------------------------------------------------------------------
    def begin(self, kind, side=None):
        """A :class:`Job` for the agent to move (``kind="move"``) or an analysis of the position by
        ``side``'s agent ("black"/"white"; by default the first agent that shows its thinking, the side
        not to move first) (``kind="analysis"``). Refused while another job runs for this game, when the
        game is over, or when it is a person's move."""
        with self.lock:
            self._ready()
            if kind == "move":
                i = self.g.to_play
                if self.sides[i].human:
                    raise Refused(409, f"it is {COLOURS[i]}'s turn, and a person plays {COLOURS[i]}")
            else:
                i = self._analyst(side)
            if not self.sides[i].lock.acquire(blocking=False):
                raise Refused(409, f"{COLOURS[i]} ({self.sides[i].spec}) is still busy with a move that ran out of "
                                   f"time: try again when it is done")
            self.busy = kind
            self.note = None
            return Job(self, kind, i, self.generation, self.g.copy(), self.seed)

    def finish(self, job, result):
        """``job``'s result: ``(what, value, thinking)``, applied unless the game changed meanwhile."""
        what, value, info = result
        with self.lock:
            if job.generation != self.generation:
                log.info("game %s: a late %s of %s dropped", self.id, job.kind, self.sides[job.side].spec)
                return
            self.busy = None
            colour, spec = COLOURS[job.side], self.sides[job.side].spec
            if job.kind == "analysis":
                if what == "move" and info is not None:
                    self.analysis[len(self.g.history)] = {**info, "analysis": True}
                else:
                    self.note = value if what == "fail" else f"{colour} ({spec}) shows no analysis"
                return
            if what == "resign":
                self._end(1 - job.side, "resign", f"{colour} ({spec}) resigns")
            elif what == "fail":
                self._end(1 - job.side, "forfeit", value)
            elif value not in self.g.legal_actions():
                shown = self.g.move_str(value) if 0 <= value <= self.g.size ** 2 else value
                self._end(1 - job.side, "forfeit", f"{colour} ({spec}) forfeits: illegal move {shown}")
            else:
                if info is not None:
                    self.thinking[len(self.g.history)] = info
                self._play(value)

    def expire(self, job):
        """``job`` ran past the move timeout: an agent's move forfeits the game, an analysis is given up.
        Its thread goes on to its end; its result is then dropped."""
        with self.lock:
            if job.generation != self.generation or self.busy is None:
                return
            self.busy = None
            colour, spec = COLOURS[job.side], self.sides[job.side].spec
            if job.kind == "move":
                self._end(1 - job.side, "forfeit",
                          f"{colour} ({spec}) forfeits: no move within {self.move_timeout:g} s")
            else:
                self.generation += 1
                self.note = f"{colour} ({spec}) did not finish its analysis within {self.move_timeout:g} s"

    def close(self):
        for side in self.sides:
            side.close()

    # -- internals -----------------------------------------------------------------------------------------
    def _ready(self):
        if self.over:
            raise Refused(409, "the game is over: start a new one (or undo)")
        if self.busy:
            raise Refused(409, f"an agent is thinking ({self.busy}): wait for it")

    def _analyst(self, side):
        if side is not None:
            if side not in COLOURS:
                raise Refused(400, f"side must be 'black' or 'white', got {side!r}")
            i = COLOURS.index(side)
            if self.sides[i].human:
                raise Refused(409, f"a person plays {side}: there is no agent to analyse with")
            if not self.shows_thinking(i):
                raise Refused(409, f"{side} ({self.sides[i].spec}) shows no thinking (az:, mcts: and seq: players do)")
            return i
        order = (1 - self.g.to_play, self.g.to_play)
        for i in order:
            if not self.sides[i].human and self.shows_thinking(i):
                return i
        raise Refused(409, "no agent in this game shows its thinking (az:, mcts: and seq: players do)")

    def shows_thinking(self, i):
        a = self.sides[i].agent
        return any(hasattr(a, k) for k in ("last_search", "evaluate", "distribution"))

    def _parse(self, move):
        n = self.g.size
        if isinstance(move, bool) or not isinstance(move, (int, str)):
            raise Refused(400, "move must be a move in the game's notation (e.g. 'f5', 'D4', 'pass') or an "
                               "action number")
        if isinstance(move, int):
            if not 0 <= move <= n * n:
                raise Refused(400, f"move {move} is out of range: actions are 0..{n * n} on a {n}x{n} board")
            return move
        if len(move) > 16:
            raise Refused(400, f"not a move: {move[:16]!r}…")
        try:
            return self.g.parse(move.strip())
        except ValueError as e:
            raise Refused(400, f"not a move: {e}") from None

    def _play(self, a):
        self.g.play(a)
        self.boards.append(board_string(self.g))
        self.generation += 1
        self._auto_pass()

    def _auto_pass(self):
        """A person's forced Othello pass (no other legal move) is played for them, and said so."""
        g = self.g
        while (not self.over and g.game == "othello" and self.sides[g.to_play].human
               and g.legal_actions() == [g.size * g.size]):
            self.auto.add(len(g.history))
            self.note = f"{COLOURS[g.to_play]} has no legal move and passes"
            g.play(g.size * g.size)
            self.boards.append(board_string(g))
            self.generation += 1

    def _end(self, winner, reason, message):
        self.end = {"winner": winner, "reason": reason, "message": message}
        self.busy = None
        self.generation += 1

    def _rewind(self, ply):
        """Back to the position after ``ply`` moves."""
        g = self.g
        keep = g.history[:ply]
        self.g = Game(g.game, g.size, komi=self.komi).play_all(keep)
        del self.boards[ply + 1:]
        self.thinking = {k: v for k, v in self.thinking.items() if k < ply}
        self.analysis = {k: v for k, v in self.analysis.items() if k <= ply}
        self.auto = {k for k in self.auto if k < ply}
        self.note = None
        self.generation += 1


# -- every game of the server ------------------------------------------------------------------------------

class Hub:
    """The server's games by id, least recently used first, and the agents' resolved specs: an
    ``inference=auto`` or ``time=`` spec is timed once per server, and its resolved form builds the agent
    of every later game (the same backend and simulations)."""

    def __init__(self, seed=0, move_timeout=60.0, allow_gtp=True, max_games=32, idle_seconds=3600.0):
        self.seed, self.move_timeout, self.allow_gtp = int(seed), float(move_timeout), bool(allow_gtp)
        self.max_games, self.idle_seconds = int(max_games), float(idle_seconds)
        self.sessions = OrderedDict()
        self.resolved = {}
        self.lock = threading.Lock()

    def get(self, id):
        with self.lock:
            s = self.sessions.get(id) if isinstance(id, str) else None
            if s is None:
                raise Refused(404, f"no game {str(id)[:40]!r} (it may have expired: start a new one)")
            self.sessions.move_to_end(id)
            s.touched = time.monotonic()
            return s

    def drop(self, id):
        with self.lock:
            s = self.sessions.pop(id, None)
        if s is None:
            raise Refused(404, f"no game {str(id)[:40]!r}")
        s.close()

    def close(self):
        with self.lock:
            sessions, self.sessions = list(self.sessions.values()), OrderedDict()
        for s in sessions:
            s.close()

    def create(self, body):
        """A new game from a request's fields (docs/serve.md): ``game``, ``size``, ``komi``, ``black``,
        ``white`` ("human" or an agent spec), ``seed``, ``move_timeout`` (a limit below the server's),
        ``replaces`` (the id of this tab's previous game: its agents are reused where the new game has the
        same spec, game and size, and it is dropped)."""
        unknown = sorted(set(body) - FIELDS)
        if unknown:
            raise Refused(400, f"unknown field {unknown[0]!r} (fields: {', '.join(sorted(FIELDS))})")
        game = body.get("game", "othello")
        if game not in SIZES:
            raise Refused(400, f"unknown game {str(game)[:20]!r}: one of {', '.join(SIZES)}")
        size = body.get("size", SIZES[game][0])
        if isinstance(size, bool) or size not in SIZES[game]:
            raise Refused(400, f"unknown size {str(size)[:20]!r} for {game}: one of "
                               f"{', '.join(str(n) for n in SIZES[game])}")
        komi = body.get("komi")
        if komi is not None:
            if game != "go":
                raise Refused(400, "komi applies to Go only")
            if isinstance(komi, bool) or not isinstance(komi, (int, float)) or not math.isfinite(komi) \
                    or abs(komi) > 200:
                raise Refused(400, f"komi must be a number between -200 and 200, got {str(komi)[:20]!r}")
            komi = float(komi)
        seed = body.get("seed", self.seed)
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2 ** 63:
            raise Refused(400, f"seed must be an integer in 0..2**63-1, got {str(seed)[:30]!r}")
        timeout = body.get("move_timeout", self.move_timeout)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= self.move_timeout:
            raise Refused(400, f"move_timeout must be a number of seconds above 0 and at most the server's "
                               f"{self.move_timeout:g}, got {str(timeout)[:20]!r}")
        timeout = float(timeout)
        specs = []
        for colour, default in zip(COLOURS, (HUMAN, "mcts:rollouts=200")):
            spec = body.get(colour, default)
            if not isinstance(spec, str) or not spec.strip() or len(spec) > MAX_SPEC:
                raise Refused(400, f"{colour} must be 'human' or an agent spec (at most {MAX_SPEC} characters)")
            specs.append(None if spec.strip() == HUMAN else spec.strip())
        old = None
        if body.get("replaces") is not None:
            with self.lock:
                old = self.sessions.get(body["replaces"]) if isinstance(body["replaces"], str) else None
        key = (game, size, komi, timeout)
        sides, taken = [], []  # taken: (i, side) of the old game's agents reused, given back on a failure
        try:
            for spec in specs:
                sides.append(self._side(spec, key, seed, old, taken))
            s = Session(secrets.token_urlsafe(9), game, size, komi, sides, seed, timeout)
            for side in sides:
                if not side.human and not side.agent.plays_batches:
                    side.agent.reset(seed)  # an external engine: a new board
        except Exception:
            reused = {id(side.agent) for _, side in taken}
            for side in sides:
                if id(side.agent) not in reused:
                    side.close()
            for i, side in taken:
                old.sides[i] = side
            raise
        self._admit(s, old)
        return s

    def _side(self, spec, key, seed, old, taken):
        """A side for ``spec``: a person, an agent of the old game of the same key, or a new agent."""
        if spec is None:
            return Side()
        if old is not None and old.key == key and not old.busy:
            for i, side in enumerate(old.sides):
                if side.spec == spec and side.agent is not None and side.lock.acquire(blocking=False):
                    side.lock.release()
                    old.sides[i] = Side()  # taken over: the old game no longer closes it
                    taken.append((i, side))
                    return Side(spec, side.agent)
        game, size, komi, timeout = key
        return Side(spec, self.build(spec, game, size, komi, seed, timeout))

    def build(self, spec, game, size, komi, seed, move_timeout=None):
        """The agent ``spec`` names, for ``game``/``size`` (an external engine answers within
        ``move_timeout`` seconds, the server's by default); a bad spec is a :class:`Refused` (400)."""
        if spec.partition(":")[0].strip() == "gtp" and not self.allow_gtp:
            raise Refused(400, "gtp: engines are off on this server: it listens beyond this machine (start it with "
                               "--allow-gtp to run engine commands that a request names)")
        key = (spec, game, size, komi)
        with self.lock:
            resolved = self.resolved.get(key, spec)
        try:
            agent = make_agent(resolved, game, size, komi, seed=seed, move_timeout=move_timeout or self.move_timeout)
            sims = getattr(getattr(agent, "config", None), "simulations", 0)
            if sims > MAX_SIMULATIONS:
                raise ValueError(f"bad agent spec {spec!r}: at most {MAX_SIMULATIONS} simulations a move here, "
                                 f"not {sims}")
            check = getattr(agent, "check", None)  # an external engine starts now: a bad command fails here
            if check is not None:
                check()
        except Refused:
            raise
        except ValueError as e:
            raise Refused(400, e) from None
        except Exception as e:  # a file that is not a checkpoint, a model that will not load
            log.warning("cannot build %s", spec, exc_info=True)
            raise Refused(400, f"cannot build agent {spec!r}: {type(e).__name__}: {one_line(e)}") from None
        with self.lock:
            self.resolved[key] = getattr(agent, "resolved_spec", spec)
        if agent.plays_batches:
            # One move of a fresh game loads what the first search needs (Numba's kernels from their cache,
            # the net's first call), so that the move timeout measures thinking, not loading.
            try:
                agent.act(Game(game, size, komi=komi))
            except Exception as e:
                log.warning("warming up %s failed", spec, exc_info=True)
                raise Refused(400, f"agent {spec!r} fails on the start position: {type(e).__name__}: "
                                   f"{one_line(e)}") from None
        agent.reset(seed)
        return agent

    def _admit(self, s, old):
        now = time.monotonic()
        gone = []
        with self.lock:
            if old is not None and self.sessions.get(old.id) is old and not old.busy:
                gone.append(self.sessions.pop(old.id))
            for id, other in list(self.sessions.items()):
                if now - other.touched > self.idle_seconds and not other.busy:
                    gone.append(self.sessions.pop(id))
            while len(self.sessions) >= self.max_games:
                idle = next((i for i, o in self.sessions.items() if not o.busy), None)
                if idle is None:
                    gone.append(s)
                    break
                gone.append(self.sessions.pop(idle))
            else:
                self.sessions[s.id] = s
        for o in gone:
            o.close()
        if s in gone:
            raise Refused(503, f"{self.max_games} games are busy at once: try again when one is done")
